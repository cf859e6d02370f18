"""The frame around every page: the scheduler, the login door and the sidebar.

app.py draws it on every run. Streamlit also keeps a fallback for apps with a
`pages/` folder: until some session has run the entry point's st.navigation, a
deep link such as /train?run=ID (a reload just after the server restarted) runs
pages/train.py on its own, without app.py: no sidebar, no scheduler, no login.
Pages call ensure() first; it switches that fallback off (the one place that
touches Streamlit's private PagesManager; tests/test_frame.py fails loudly if a
Streamlit upgrade moves it) and reruns through app.py, or draws the frame here.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from ui import auth, resources, sidebar

FRAMED = "cs_framed"  # set by every draw(): this session has been through the frame

# Streamlit's running indicator (top right, with its own Stop) shows whenever a rerun takes over
# half a second: every second while a page polls a busy store, and its Stop does nothing to a run.
# config.toml's minimal toolbar hides it only where that file is read (a server started from
# another folder showed it). Hidden only while it shows a run: a lost connection is still shown.
# A style-only st.html goes to Streamlit's event container and takes no room on the page.
HIDE_RUNNING_INDICATOR = (
    '<style>[data-testid="stStatusWidget"]:has([data-testid="stStatusWidgetRunningIcon"]) {display: none;}</style>'
)


def draw(pages=None):
    """Scheduler, login door (nothing below it until the session may use the app), navigation, sidebar.

    app.py passes its pages and runs the page this returns. The navigation comes before the
    sidebar: the sidebar's links to pages need the pages registered in this very run.
    """
    st.html(HIDE_RUNNING_INDICATOR)  # first: also over the login door
    resources.get_scheduler()  # starts the one background scheduler of this server
    auth.gate()
    st.session_state[FRAMED] = True
    page = st.navigation(pages) if pages is not None else None
    sidebar.render()
    return page


def ensure() -> None:
    if not PagesManager.uses_pages_directory:
        return
    PagesManager.uses_pages_directory = False
    # Rerun only a session app.py has never framed (a fresh deep link): there is
    # no click to lose yet. (AppTest turns the fallback on before every run.)
    if not st.session_state.get(FRAMED):
        st.rerun()
    # A framed session back in the fallback happens only under AppTest, which
    # switches it on before every run: draw the frame here instead, door included.
    draw()
