"""Make sure every page runs inside app.py's frame (navigation, sidebar, scheduler).

Streamlit keeps a fallback for apps with a `pages/` folder: until some session
has run the entry point's st.navigation, a deep link such as /train?run=ID
(a reload just after the server restarted) runs pages/train.py on its own,
without app.py: no sidebar, no scheduler, the old file-list navigation. Pages
call ensure() first; it switches the fallback off and reruns through app.py.
"""

from __future__ import annotations

import streamlit as st

FRAMED = "cs_framed"  # set by every run of app.py (ui.sidebar.render)


def mark_framed() -> None:
    st.session_state[FRAMED] = True


def ensure() -> None:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the fallback: nothing to do
        return
    if not getattr(PagesManager, "uses_pages_directory", False):
        return
    PagesManager.uses_pages_directory = False
    # Rerun only a session app.py has never framed (a fresh deep link): there is
    # no click to lose yet. (AppTest turns the fallback on before every run.)
    if not st.session_state.get(FRAMED):
        st.rerun()
    # A framed session back in the fallback happens only under AppTest, which
    # switches it on before every run: draw the frame here instead, door included.
    from ui import auth, resources, sidebar

    resources.get_scheduler()
    auth.gate()
    sidebar.render()
