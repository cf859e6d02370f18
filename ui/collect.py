"""Collect mode on "Your images": name a dataset and its classes, add examples one by one, save.

Examples come from the camera (one click per photo), the drawing canvas (for
doodle classes) or uploads; each class shows its count and its images, and can
be renamed or deleted, as can each image. Saving runs the ordinary import
(lib.teach.collect.save), so a collected dataset is like any other.
"""

from __future__ import annotations

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from lib.data import custom
from lib.teach import collect
from ui import auth, state

UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp"]
THUMB_PX = 72
THUMBS_SHOWN = 24
CANVAS_PX = 224


def render() -> None:
    name = st.text_input(
        "Dataset name", key="collect_name", help="a-z, 0-9, '_' and '-'; an existing custom dataset gets more images"
    ).strip()
    if not name:
        st.info("Name the dataset, then add its classes and a few examples of each (10 or more is a good start).")
        return
    try:
        known = collect.classes(name)
    except collect.CollectRefused as exc:
        st.error(str(exc))
        return
    wanted = st.session_state.setdefault(f"collect_classes_{name}", [])
    add_class_form(name, known, wanted)
    for class_name in list(dict.fromkeys([*known, *wanted])):
        class_panel(name, class_name, known.get(class_name))
    save_form(name)


def add_class_form(name: str, known: dict, wanted: list) -> None:
    with st.form(f"collect_new_class_{name}", clear_on_submit=True, border=False):
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        new = left.text_input("New class", placeholder="e.g. thumbs up")
        if right.form_submit_button("Add class", icon=":material/add:"):
            try:
                new = collect.check_class(new)
            except collect.CollectRefused as exc:
                st.error(str(exc))
                return
            if new not in known and new not in wanted:
                wanted.append(new)


def class_panel(name: str, class_name: str, images: dict | None) -> None:
    paths = [] if images is None else images["train"] + images["test"]
    with st.expander(f"**{class_name}**: {len(paths)} image(s)", expanded=len(paths) < 10):
        source = st.radio(
            "Add from", ["Camera", "Canvas", "Upload"], horizontal=True, key=f"collect_src_{name}_{class_name}"
        )
        {"Camera": camera_input, "Canvas": canvas_input, "Upload": upload_input}[source](name, class_name)
        thumbnails(name, class_name, sorted(paths, key=lambda p: p.name))
        manage_class(name, class_name)


def add(name: str, class_name: str, data: bytes, what: str) -> bool:
    try:
        collect.add_image(name, class_name, data)
    except collect.CollectRefused as exc:
        st.error(f"{what}: {exc}")
        return False
    return True


def camera_input(name: str, class_name: str) -> None:
    counter = f"collect_shots_{name}_{class_name}"
    shot = st.camera_input(
        f"Take a photo of {class_name}", key=f"collect_cam_{name}_{class_name}_{st.session_state.get(counter, 0)}"
    )
    if shot is not None and add(name, class_name, shot.getvalue(), "This photo"):
        st.session_state[counter] = st.session_state.get(counter, 0) + 1  # a fresh camera for the next one
        st.rerun()


def canvas_input(name: str, class_name: str) -> None:
    counter = f"collect_drawings_{name}_{class_name}"
    canvas = st_canvas(
        stroke_width=14, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS_PX, width=CANVAS_PX,
        drawing_mode="freedraw", update_streamlit=True, return_image_data=True,
        key=f"collect_canvas_{name}_{class_name}_{st.session_state.get(counter, 0)}",
    )  # fmt: skip
    if st.button("Add this drawing", key=f"collect_draw_add_{name}_{class_name}", disabled=not canvas.image_bytes):
        if add(name, class_name, canvas.image_bytes, "This drawing"):
            st.session_state[counter] = st.session_state.get(counter, 0) + 1
            st.rerun()


def upload_input(name: str, class_name: str) -> None:
    counter = f"collect_uploads_{name}_{class_name}"
    files = st.file_uploader(
        f"Images of {class_name}", type=UPLOAD_TYPES, accept_multiple_files=True,
        key=f"collect_up_{name}_{class_name}_{st.session_state.get(counter, 0)}",
    )  # fmt: skip
    if files and st.button(f"Add {len(files)} image(s)", key=f"collect_up_add_{name}_{class_name}"):
        limit = auth.policy().max_upload_mb
        added = 0
        for f in files:
            if limit and f.size > limit * 2**20:
                st.error(f"{f.name}: this server accepts uploads up to {limit} MB")
                continue
            added += add(name, class_name, f.getvalue(), f.name)
        st.session_state[counter] = st.session_state.get(counter, 0) + 1
        if added == len(files):
            st.rerun()


def thumbnails(name: str, class_name: str, paths) -> None:
    if not paths:
        return
    shown = paths[-THUMBS_SHOWN:]
    columns = st.columns(8)
    for slot, path in enumerate(shown):
        with columns[slot % 8]:
            st.image(str(path), width=THUMB_PX)
            if st.button("Delete", key=f"collect_rm_{name}_{class_name}_{path.name}", type="tertiary"):
                collect.remove_image(name, class_name, path.name)
                st.rerun()
    if len(paths) > len(shown):
        st.caption(f"The last {len(shown)} of {len(paths)}.")


def manage_class(name: str, class_name: str) -> None:
    left, mid, right = st.columns([3, 1, 1], vertical_alignment="bottom")
    new = left.text_input("Rename to", key=f"collect_rename_{name}_{class_name}", placeholder=class_name)
    if mid.button("Rename", key=f"collect_rename_go_{name}_{class_name}", disabled=not new.strip()):
        try:
            if class_name in collect.classes(name):
                collect.rename_class(name, class_name, new)
            wanted = st.session_state.get(f"collect_classes_{name}", [])
            st.session_state[f"collect_classes_{name}"] = [collect.check_class(new) if c == class_name else c
                                                           for c in wanted]  # fmt: skip
        except collect.CollectRefused as exc:
            st.error(str(exc))
            return
        st.rerun()
    if right.button("Delete class", key=f"collect_rmclass_{name}_{class_name}"):
        if class_name in collect.classes(name):
            collect.remove_class(name, class_name)
        wanted = st.session_state.get(f"collect_classes_{name}", [])
        st.session_state[f"collect_classes_{name}"] = [c for c in wanted if c != class_name]
        st.rerun()


def save_form(name: str) -> None:
    if not collect.exists(name) or not collect.ready(name):
        st.caption("Add images to at least two classes to save the dataset.")
        return
    with st.form(f"collect_save_{name}", border=True):
        left, right = st.columns(2)
        sizes = list(custom.IMAGE_SIZES)
        size = left.selectbox("Image size", sizes, index=sizes.index(64), key=f"collect_size_{name}")
        colour = right.radio("Colour", custom.COLORS, index=1, horizontal=True, key=f"collect_colour_{name}")
        saved = st.form_submit_button("Save dataset", type="primary")
    if not saved:
        return
    try:
        m = collect.save(
            name,
            size if not custom.is_saved(name) else None,
            colour if not custom.is_saved(name) else None,
            owner=auth.user(),
            allowed=auth.may_act_on,  # replacing someone else's saved dataset is removing it
        )
    except collect.CollectRefused as exc:
        st.error(str(exc), icon=":material/block:")
        return
    for problem in m["problems"]:
        st.warning(problem, icon=":material/warning:")
    st.success(f"Saved **{name}** ({sum(m['counts']['train'])} training images).", icon=":material/check_circle:")
    st.button("Train on it", key=f"collect_train_{name}", on_click=state.choose, kwargs={"dataset": name})
