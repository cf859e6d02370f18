"""Removing a saved dataset from the page: only its owner or an administrator, after a confirmation naming it."""

from __future__ import annotations

import streamlit as st

from lib.data import custom
from ui import auth

CONFIRM_KEY = "cd_confirm_remove"  # the dataset whose removal this session is being asked to confirm


def offer(column, row: dict) -> None:
    """The Remove button for one row of custom.listing(), and its confirmation once pressed."""
    name, holder = row["name"], row["owner"]
    allowed = auth.may_act_on(holder)
    if allowed:
        why = None
    elif holder:
        why = f"Only {holder} or an administrator can remove it."
    else:
        why = "Only an administrator can remove it (it was saved before owners were recorded)."
    column.button("Remove", key=f"cd_remove_{name}", disabled=not allowed, help=why, on_click=_ask, args=(name,))
    if allowed and st.session_state.get(CONFIRM_KEY) == name:
        _confirm(name, row["train"] + row["test"])


def _ask(name: str) -> None:
    st.session_state[CONFIRM_KEY] = name


def _cancel() -> None:
    st.session_state.pop(CONFIRM_KEY, None)


def _confirm(name: str, images: int) -> None:
    st.warning(
        f"Remove the dataset **{name}** and its {images:,} images for good? This cannot be undone; "
        "runs trained on it keep their models.",
        icon=":material/delete_forever:",
    )
    yes, no = st.columns(2)
    no.button("Cancel", key=f"cd_remove_no_{name}", on_click=_cancel)
    if not yes.button(f"Remove {name}", key=f"cd_remove_yes_{name}", type="primary"):
        return
    _cancel()
    try:
        custom.remove(name, allowed=auth.may_act_on)  # asked again: the owner or the rules may have changed
    except custom.Refused as exc:
        st.error(str(exc), icon=":material/block:")
        return
    st.toast(f"Removed {name}.", icon=":material/delete:")
    st.rerun()
