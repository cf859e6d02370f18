"""Widgets bound to one TrainConfig field, with a slot for that field's error beside them.

Each widget's default is the session's config value (ui/state.py) and its
value is copied back after drawing, so values survive page changes even though
Streamlit forgets the keys of widgets that are not drawn. Limits come from
lib.config.LIMITS, the same ones validation uses.
"""

from __future__ import annotations

import streamlit as st

from lib.config import LIMITS, TrainConfig
from ui import state

_SLOTS = "cs_error_slots"


def _current(field: str):
    return state.values().get(field, getattr(TrainConfig(), field))


def _key(field: str) -> str:
    return state.WIDGET_PREFIX + field


def _store(field: str, value):
    state.update(**{field: value})
    st.session_state.setdefault(_SLOTS, {})[field] = st.empty()  # filled by show_errors()
    return value


def _number_value(field: str, clamp: bool = True):
    """The config's value as the limits' type (inside them for a slider, which cannot show more)."""
    low, high = LIMITS[field]
    try:
        value = type(low)(_current(field))
    except (TypeError, ValueError, OverflowError):
        value = type(low)(getattr(TrainConfig(), field))
    return (min(max(value, low), high) if clamp else value), low, high


# Every widget gets the config's value as its default; a callback that changes the config
# also writes the new value through st.session_state (ui/state.py), which the browser must
# show. The frontend falls back to the default whenever it redraws a widget from scratch
# (an expander folding, a page change), so the default must always be the current value.
def number(field: str, label: str, step=None, fmt: str | None = None, help: str | None = None):
    """A box that takes any number: an out-of-range value reaches the config and is refused there,
    with the reason beside the box and Start disabled (a bounded box would keep it in the browser
    only, and the last valid value would train)."""
    value, low, _ = _number_value(field, clamp=False)
    if isinstance(low, int):
        step = max(1, int(step or 1))
    widget = st.number_input(label, value=value, step=step, format=fmt, key=_key(field), help=help)
    return _store(field, widget)


def slider(field: str, label: str, step, help: str | None = None, fmt: str | None = None):
    """A slider whose steps hold every value the recipes use (0.08, 0.125, 8 degrees) exactly."""
    value, low, high = _number_value(field)
    widget = st.slider(
        label, min_value=low, max_value=high, value=value, step=step, key=_key(field), help=help, format=fmt
    )
    if isinstance(widget, float):
        widget = round(widget, 6)  # 0.08 as the browser's float arithmetic sends it back: 0.08
    return _store(field, widget)


def toggle(field: str, label: str, help: str | None = None, disabled: bool = False):
    widget = st.toggle(label, value=bool(_current(field)), key=_key(field), help=help, disabled=disabled)
    return _store(field, widget)


def select(field: str, label: str, options, format_func=str, help: str | None = None):
    options = list(options)
    current = _current(field)  # a past run's value this server no longer offers falls back to the first
    index = options.index(current) if current in options else 0
    widget = st.selectbox(label, options, index=index, key=_key(field), format_func=format_func, help=help)
    return _store(field, widget)


def select_slider(field: str, label: str, options, help: str | None = None):
    current = _current(field)
    value = current if current in options else min(options, key=lambda o: abs(o - float(current or 1.0)))
    widget = st.select_slider(label, options=options, value=value, key=_key(field), help=help)
    return _store(field, widget)


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
