"""Widgets bound to one TrainConfig field, with a slot for that field's error beside them.

Each widget's key is seeded from the session's config (ui/state.py) and its
value copied back after drawing, so values survive page changes even though
Streamlit forgets the keys of widgets that are not drawn. Limits come from
lib.config.LIMITS, the same ones validation uses.
"""

from __future__ import annotations

import streamlit as st

from lib.config import LIMITS, TrainConfig
from ui import state

_SLOTS = "cs_error_slots"


def _bind(field: str) -> str:
    key = state.WIDGET_PREFIX + field
    if key not in st.session_state:
        st.session_state[key] = state.values().get(field, getattr(TrainConfig(), field))
    return key


def _store(field: str, key: str):
    value = st.session_state[key]
    state.update(**{field: value})
    st.session_state.setdefault(_SLOTS, {})[field] = st.empty()  # filled by show_errors()
    return value


def _bind_number(field: str) -> tuple[str, float, float]:
    """Seed a numeric widget with a value of the limits' type, inside them (Streamlit refuses others)."""
    low, high = LIMITS[field]
    key = state.WIDGET_PREFIX + field
    if key not in st.session_state:
        try:
            value = type(low)(state.values().get(field))
        except (TypeError, ValueError):
            value = type(low)(getattr(TrainConfig(), field))
        st.session_state[key] = min(max(value, low), high)
    return key, low, high


def number(field: str, label: str, step=None, fmt: str | None = None, help: str | None = None):
    key, low, high = _bind_number(field)
    st.number_input(label, min_value=low, max_value=high, step=step, format=fmt, key=key, help=help)
    return _store(field, key)


def slider(field: str, label: str, step, help: str | None = None, fmt: str | None = None):
    key, low, high = _bind_number(field)
    st.slider(label, min_value=low, max_value=high, step=step, key=key, help=help, format=fmt)
    return _store(field, key)


def toggle(field: str, label: str, help: str | None = None, disabled: bool = False):
    key = _bind(field)
    st.toggle(label, key=key, help=help, disabled=disabled)
    return _store(field, key)


def select(field: str, label: str, options, format_func=str, help: str | None = None):
    key = _bind(field)
    if st.session_state[key] not in options:  # e.g. a past run's value this server no longer offers
        st.session_state[key] = options[0]
    st.selectbox(label, options, key=key, format_func=format_func, help=help)
    return _store(field, key)


def select_slider(field: str, label: str, options, help: str | None = None):
    key = _bind(field)
    if st.session_state[key] not in options:
        st.session_state[key] = min(options, key=lambda o: abs(o - st.session_state[key]))
    st.select_slider(label, options=options, key=key, help=help)
    return _store(field, key)


def begin() -> None:
    """Call before drawing a page's bound widgets: forget the previous run's error slots."""
    st.session_state[_SLOTS] = {}


def show_errors(errors: dict[str, str]) -> list[str]:
    """Write each error beside its widget; return the messages of fields with no widget on this page."""
    slots = st.session_state.get(_SLOTS, {})
    homeless = []
    for field, message in errors.items():
        if field in slots:
            slots[field].error(message, icon=":material/error:")
        else:
            homeless.append(f"{field.replace('_', ' ')}: {message}")
    return homeless
