"""The session's settings and current run, in one place.

The dataset, the model settings and the training settings together form one
TrainConfig, kept as a plain dict under CONFIG_KEY. Widgets never own it:
Streamlit deletes a widget's key when the widget is not rendered (another page
is open), so every widget is seeded from this dict and writes back into it
(see ui/widgets.py). The Train page, the 'train again' button and later pages
(Evaluate) all read and write the config through these functions.
"""

from __future__ import annotations

import streamlit as st

from lib.config import LIMITS, ConfigError, TrainConfig
from lib.data import datasets
from lib.runs.store import UnknownRun, check_run_id
from ui import auth

CONFIG_KEY = "cs_config"
RUN_KEY = "cs_run"
UNFINISHED = ("queued", "running", "stopping")
URL_RUN_KEY = "cs_url_run"  # the last ?run= this session has seen or written
WIDGET_PREFIX = "w_"


# -- the config ------------------------------------------------------------------
def values() -> dict:
    """The session's settings as a mutable dict of TrainConfig fields.

    A new session (a reload, a shared link) starts from the settings in the address
    (see keep_in_url), over the defaults.
    """
    if CONFIG_KEY not in st.session_state:
        given = settings_from_url(st.query_params.to_dict())
        defaults = TrainConfig.with_defaults(architecture=given.get("architecture", TrainConfig.architecture))
        st.session_state[CONFIG_KEY] = {**defaults.to_dict(), **given, "data_dir": datasets.default_data_dir()}
    return st.session_state[CONFIG_KEY]


# -- the settings in the address ------------------------------------------------------
_NOT_IN_URL = ("data_dir", "extra")  # this server's own folder; free-form notes


def _url_fields() -> dict:
    return {k: v for k, v in TrainConfig().to_dict().items() if k not in _NOT_IN_URL}


def settings_from_url(params: dict) -> dict:
    """The TrainConfig fields in query parameters, each read as its field's type; the rest ignored.

    The address is user input: a value that does not read as its type is dropped, and one
    that reads but is out of range is left for validation to refuse beside its box.
    """
    found = {}
    for field, default in _url_fields().items():
        text = params.get(field)
        if not isinstance(text, str) or len(text) > 100:
            continue
        try:
            if isinstance(default, bool):
                if text not in ("true", "false"):
                    continue
                found[field] = text == "true"
            elif isinstance(default, int | float):
                number = type(default)(text)
                if number == number and abs(number) != float("inf"):  # no NaN, no infinity
                    found[field] = number
            else:
                found[field] = text
        except (TypeError, ValueError, OverflowError):
            continue
    return found


def _url_text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def keep_in_url() -> None:
    """Write the settings that differ from the defaults into the address, so a reload keeps them.

    Call at the end of a page body (not in a callback): what the widgets just copied back counts.
    """
    current = values()
    # an architecture's own knobs (keras_convnet: dropout 0.5) are its defaults; the architecture is not
    defaults = TrainConfig.with_defaults(architecture=current.get("architecture", TrainConfig.architecture))
    defaults = {**defaults.to_dict(), "architecture": TrainConfig.architecture}
    for field in _url_fields():
        value = current.get(field)
        wanted = None if value == defaults.get(field) or value is None else _url_text(value)
        if wanted is None:
            if field in st.query_params:
                del st.query_params[field]
        elif st.query_params.get(field) != wanted:
            st.query_params[field] = wanted


def config() -> TrainConfig:
    """The current settings as a TrainConfig; may be invalid (see errors())."""
    return TrainConfig.from_dict(values())


def update(**changes) -> None:
    values().update(changes)


def _show_in_widgets(changes: dict) -> None:
    """Make the drawn widgets show new values: call from a callback, before the widgets are drawn.

    Dropping a widget's key is not enough: a keyed widget keeps its identity, and the
    browser keeps showing (and sends back) what it showed. A value written through
    st.session_state is pushed to the browser. Only widgets now on screen have keys;
    the others are drawn later from the config itself.
    """
    for field, value in changes.items():
        key = WIDGET_PREFIX + field
        if key not in st.session_state:
            continue
        shown = st.session_state[key]
        if isinstance(shown, bool) or not isinstance(shown, int | float) or isinstance(value, bool):
            if isinstance(value, type(shown)):
                st.session_state[key] = value
            else:
                del st.session_state[key]
            continue
        try:
            number = type(shown)(value)
        except (TypeError, ValueError):
            del st.session_state[key]
            continue
        low, high = LIMITS.get(field, (number, number))
        if low <= number <= high and number == value:
            st.session_state[key] = number
        else:
            del st.session_state[key]  # not showable as it is: the widget redraws from the config


def choose(**changes) -> None:
    """Change settings from a button callback so the bound widgets show the new values too."""
    update(**changes)
    _show_in_widgets(changes)


def replace_config(new: TrainConfig) -> None:
    """Adopt a whole config (e.g. a past run's) and make every widget show it.

    Call from a button's on_click callback: widget keys may only be dropped
    before the widgets are drawn. The data folder stays this server's own.
    """
    data = new.to_dict()
    data["data_dir"] = datasets.default_data_dir()
    st.session_state[CONFIG_KEY] = data
    _show_in_widgets(data)
    for key in [k for k in st.session_state if str(k).startswith(WIDGET_PREFIX)]:
        if key[len(WIDGET_PREFIX) :] not in data:
            del st.session_state[key]


def errors(extra_checks: dict[str, str] | None = None) -> dict[str, str]:
    """Every refused field of the current settings: field -> message.

    TrainConfig.validate stops at the first bad field; to show a message next
    to each bad widget at once, the bad field is set back to its default and
    validation runs again until it passes.
    """
    found = dict(extra_checks or {})
    trial, defaults = dict(values()), TrainConfig().to_dict()
    for _ in range(len(defaults) + 1):
        try:
            TrainConfig.from_dict(trial).validate()
            break
        except ConfigError as exc:
            found.setdefault(exc.field, exc.message)
            if exc.field not in defaults or trial.get(exc.field) == defaults[exc.field]:
                break
            trial[exc.field] = defaults[exc.field]
    return found


# -- the run this session is watching ------------------------------------------------
def current_run_id(store) -> str | None:
    """The run this session watches: the last one it started or opened, or the one a URL names.

    A ?run=ID the session has not seen yet (a reload, a shared link, a sidebar
    link) takes over; otherwise the session's own choice wins, so a run
    started after the URL was set is not hidden by the older one. The URL is
    user input: anything that is not an existing run id is dropped. A session
    with no run of its own (a second tab, a new login) watches the user's newest
    unfinished run, found by its owner in the store.
    """
    url = st.query_params.get("run")
    if url and url != st.session_state.get(URL_RUN_KEY):
        st.session_state[URL_RUN_KEY] = url
        if _exists(store, url):
            st.session_state[RUN_KEY] = url
    run_id = st.session_state.get(RUN_KEY)
    if run_id and _exists(store, run_id):
        return run_id
    own = users_unfinished_run(store, auth.user())
    if own:
        remember_run(own)  # watched from now on, also once it has finished
    return own


def users_unfinished_run(store, user: str) -> str | None:
    """The newest queued, running or stopping run `user` owns, by the store's owner field."""
    return next((r.id for r in store.list_runs(UNFINISHED) if r.owner == user), None)


def _exists(store, run_id) -> bool:
    try:
        store.get(check_run_id(run_id))
    except UnknownRun:
        return False
    return True


def remember_run(run_id: str | None) -> None:
    """Make run_id this session's current run. Safe in callbacks (see show_run_in_url)."""
    st.session_state[RUN_KEY] = run_id


def show_run_in_url(run_id: str) -> None:
    """Put ?run=ID in the address bar so a reload finds the run.

    Call from the page body, not a callback: a URL change made in a callback
    does not reach the browser, while the server believes it did.
    """
    remember_run(run_id)
    st.session_state[URL_RUN_KEY] = run_id
    if st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id


# The name other pages (Evaluate) call; remembering is all a callback can do reliably.
watch_run = remember_run
