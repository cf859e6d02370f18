"""Your own images: upload a zip or pick a server folder, preview what it holds, save it as a dataset."""

import streamlit as st

from lib.charts import curves
from lib.data import custom, datasets
from ui import auth, collect, dataset_removal, frame, state

frame.ensure()  # a deep link right after a server restart must still get app.py's frame (and its login)

SAMPLES_PER_CLASS = 8
MAX_CLASSES_SHOWN = 20

st.title("Your own images")
st.caption(
    "One folder per class (`cats/x.jpg`, `dogs/y.png`). A single top folder, and `train/` and `test/` "
    "folders, are fine; without a `test/` folder, 15% of each class is held out for testing."
)


# -- where the images come from ------------------------------------------------------------
def pick_source():
    kind = st.radio("Images from", ["Upload a zip", "A folder on this server"], horizontal=True, key="cd_kind")
    if kind == "Upload a zip":
        upload = st.file_uploader("Zip file", type=["zip"], key="cd_upload")
        limit = auth.policy().max_upload_mb
        if upload is not None and limit and upload.size > limit * 2**20:
            st.error(f"The zip is {upload.size / 2**20:,.0f} MB; this server accepts uploads up to {limit} MB.")
            return None
        return upload
    root = custom.data_root()
    folders = custom.server_folders()
    if not folders:
        st.info(f"No folders under the data root `{root}`. Copy a dataset there to import it without uploading.")
        return None
    chosen = st.selectbox(f"Folder under `{root}`", folders, index=None, key="cd_folder")
    return root / chosen if chosen else None


def show_problems(problems: list[str], skipped: list[dict]) -> None:
    for problem in problems:
        st.warning(problem, icon=":material/warning:")
    if skipped:
        with st.expander(f"Skipped files ({len(skipped)})"):
            st.dataframe(skipped, hide_index=True, width="stretch")


# -- preview and save ------------------------------------------------------------------------
def preview_and_save(source) -> None:
    try:
        preview = custom.inspect(source)
    except custom.Refused as exc:
        st.error(f"**This cannot become a dataset:** {exc}", icon=":material/block:")
        return
    counts = preview["counts"]
    cols = st.columns(3)
    cols[0].metric("Classes", len(preview["class_names"]))
    cols[1].metric("Training images", sum(counts["train"]))
    cols[2].metric("Test images", sum(counts["test"]))
    fig = curves.class_distribution_figure(preview["class_names"], counts["train"], counts["test"])
    st.plotly_chart(fig, key="cd_preview_distribution")
    show_problems(preview["problems"], preview["skipped"])

    with st.form("cd_save"):
        name = st.text_input("Dataset name", help="a-z, 0-9, '_' and '-'; the name used in --dataset NAME")
        left, right = st.columns(2)
        sizes = list(custom.IMAGE_SIZES)
        size = left.selectbox("Image size", sizes, index=sizes.index(preview["image_size"]), help="from the images")
        colour = right.radio("Colour", custom.COLORS, index=custom.COLORS.index(preview["color"]), horizontal=True)
        if not st.form_submit_button("Save dataset", type="primary"):
            return
    bar = st.progress(0.0, text="Importing images...")
    try:
        custom.add(
            name, source, size, colour, progress=lambda done, total: bar.progress(done / total), owner=auth.user()
        )
    except custom.Refused as exc:
        st.error(str(exc), icon=":material/block:")
        return
    bar.empty()
    st.success(f"Saved **{name}**. It is now listed beside MNIST on every page.", icon=":material/check_circle:")
    st.button("Train on it", key="cd_use_new", on_click=state.choose, kwargs={"dataset": name})


if st.toggle("Collect images one by one (camera, drawing, uploads)", key="cd_collect"):
    collect.render()
else:
    source = pick_source()
    if source is not None:
        preview_and_save(source)


# -- saved datasets --------------------------------------------------------------------------
st.header("Saved datasets")
saved = custom.listing()
if not saved:
    st.caption("None yet.")
for row in saved:
    meta = datasets.info(row["name"])
    with st.expander(f"{row['name']}: {row['classes']} classes, {row['train'] + row['test']} images"):
        st.caption(meta.description)
        manifest = custom.manifest(row["name"])
        show_problems(manifest["problems"], manifest["skipped"])
        (x_train, y_train), _ = datasets.load_raw(row["name"])
        shown = range(min(meta.num_classes, MAX_CLASSES_SHOWN))
        strips = [curves.sample_strip(x_train, y_train, c, SAMPLES_PER_CLASS) for c in shown]
        st.image(strips, caption=list(meta.class_names[: len(strips)]), width=420)
        use, remove = st.columns(2)
        use.button("Train on it", key=f"cd_use_{row['name']}", on_click=state.choose, kwargs={"dataset": row["name"]})
        dataset_removal.offer(remove, row)
