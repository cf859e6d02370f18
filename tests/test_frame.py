"""The one place ConvStudio touches a private Streamlit attribute (ui/frame.py): fail loudly if it moves.

Streamlit runs pages/<name>.py on its own, without app.py, for a deep link that arrives before any
session has run the entry point's st.navigation (its fallback for apps with a pages/ folder).
ui.frame.ensure() switches that fallback off through PagesManager.uses_pages_directory. If a
Streamlit upgrade renames or removes it, this test fails, rather than deep links silently losing
the login door and the sidebar.
"""

from __future__ import annotations

import inspect

from streamlit.runtime import pages_manager


def test_streamlit_still_has_the_pages_directory_fallback_flag():
    assert hasattr(pages_manager.PagesManager, "uses_pages_directory")
    source = inspect.getsource(pages_manager.PagesManager)
    assert "uses_pages_directory" in source and "pages" in source


def test_every_page_enters_through_the_frame():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for page in sorted((root / "pages").glob("*.py")):
        assert "frame.ensure()" in page.read_text(), f"{page.name} does not call frame.ensure()"
