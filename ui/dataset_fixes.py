"""Train page: say when a built-in dataset's training split will be read with fixes (lib.data.overlay).

Fixes made on Evaluate (relabel, exclude) change what every later training on
that built-in reads here, so the page that starts a run says so, and where
they are undone.
"""

from __future__ import annotations

import streamlit as st

from lib.data import overlay


def note(dataset: str) -> None:
    count = overlay.kept(dataset)
    if count:
        st.caption(
            f"{dataset} has {count} fix(es) to its training labels on this server (relabelled or excluded images, "
            "made on Evaluate); training reads them. Undo them there: Evaluate -> Label suspects or Projector. "
            "The dataset's own files are unchanged."
        )
