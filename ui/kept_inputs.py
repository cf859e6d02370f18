"""What the Predict page keeps for the session across page changes: the drawing, the uploads, the open tab.

Streamlit drops a widget's state when the widget is not drawn in a run (another page or another
tab is open), so the canvas came back empty and the uploader without its files. The inputs
themselves are kept here, in session state, and given back when the widgets are drawn again.
A widget whose key is missing from the session state before it is drawn is being mounted anew.
"""

from __future__ import annotations

import streamlit as st

DRAWING = "cs_kept_drawing"  # {"strokes": text, "objects": [...], "png": bytes}: the last drawing seen
INITIAL = "cs_canvas_initial"  # the initial drawing the canvas on screen was mounted with
UPLOADS = "cs_kept_uploads"  # [(name, bytes)]: the images last in the uploader
SHOWING_UPLOADS = "cs_showing_kept_uploads"  # the page shows kept uploads, not the (empty) uploader's
TAB = "cs_predict_tab"  # the source tab last open
KEEP_UPLOADS_MB = 50  # more than this stays with the uploader only: a session must not hoard memory


def is_new_mount(key: str) -> bool:
    """True when the widget `key` was not drawn in the last run: call before drawing it."""
    return key not in st.session_state


# -- the drawing -------------------------------------------------------------------------
def initial_drawing(canvas_key: str, clears: int) -> dict:
    """The canvas's initial drawing: fixed while the canvas stays on screen, the kept drawing when it mounts.

    A changed initial drawing makes the canvas load it, so passing each new stroke back would
    reload the drawing under the pen. It changes only on Clear (forget_drawing) and when the
    canvas is mounted anew, after the page or the tab was left.
    """
    if is_new_mount(canvas_key) or INITIAL not in st.session_state:
        kept = st.session_state.get(DRAWING)
        st.session_state[INITIAL] = {"objects": kept["objects"] if kept else [], "csClears": clears}
    return st.session_state[INITIAL]


def keep_drawing(strokes: str | None, objects: list, png: bytes | None) -> None:
    """Remember the canvas's drawing as last reported (or forget it when the canvas is empty)."""
    if strokes is None:
        st.session_state.pop(DRAWING, None)
    elif png:
        st.session_state[DRAWING] = {"strokes": strokes, "objects": objects, "png": png}


def drawing_png(strokes: str | None) -> bytes | None:
    """The kept picture of these strokes: a canvas mounted again reports its drawing without one."""
    kept = st.session_state.get(DRAWING)
    return kept["png"] if kept and strokes is not None and kept["strokes"] == strokes else None


def forget_drawing(clears: int) -> None:
    """Clear: an empty initial drawing (a new one, so the canvas loads it) and nothing kept."""
    st.session_state[INITIAL] = {"objects": [], "csClears": clears}
    st.session_state.pop(DRAWING, None)


# -- the uploads -------------------------------------------------------------------------
def uploads(files, new_mount: bool) -> tuple[list[tuple[str, bytes]], bool]:
    """([(name, bytes)], kept_from_before): the uploader's files, or those kept when it came back empty.

    Kept uploads are shown until new files are dropped or forget_uploads() runs; an uploader the
    user emptied with its own x (no new mount) forgets them.
    """
    if files:
        images = [(f.name, f.getvalue()) for f in files]
        small = sum(len(data) for _, data in images) <= KEEP_UPLOADS_MB * 2**20
        st.session_state[UPLOADS] = images if small else None
        st.session_state[SHOWING_UPLOADS] = False
        return images, False
    if new_mount:
        st.session_state[SHOWING_UPLOADS] = bool(st.session_state.get(UPLOADS))
    if st.session_state.get(SHOWING_UPLOADS):
        return st.session_state[UPLOADS], True
    st.session_state.pop(UPLOADS, None)
    return [], False


def forget_uploads() -> None:
    st.session_state.pop(UPLOADS, None)
    st.session_state[SHOWING_UPLOADS] = False


# -- the open tab ------------------------------------------------------------------------
def open_tab(default: str) -> str:
    return st.session_state.get(TAB, default)


def remember_tab(name: str) -> None:
    st.session_state[TAB] = name
