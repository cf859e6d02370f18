"""The door: who is using this session, and whether they may come in.

The modes, from .streamlit/secrets.toml (see lib/runs/access.py):
- open: everyone may do everything; the session gets an anonymous owner name so
  its runs can still be told apart;
- accounts: a name and that name's own password (argon2, lib/runs/accounts.py);
- open_with_password: a shared password at the door; the name is a label, and
  no one is an administrator;
- oidc: Streamlit's own st.login; the user is their e-mail.

Password logins are throttled per name and per client address (lib/runs/throttle.py),
with one throttle per server process whose counts survive a restart.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import streamlit as st

from lib import settings
from lib.config import ConfigError
from lib.runs import access, accounts
from lib.runs.throttle import LoginThrottle

USER_KEY = "cs_owner"  # the run owner recorded for this session (shared with pages/train.py)
AUTHED_KEY = "cs_authenticated"
MODE_KEY = "cs_auth_mode"  # the mode this session logged in under: a change of mode asks again
THROTTLE_FILE = "login_throttle.json"  # in the runs folder, which the server may always write
XSRF_COOKIE = "_streamlit_xsrf"  # one random token per browser, set by Streamlit's web server (tornado)


@st.cache_resource(max_entries=4)
def _policy(path: str, mtime: float) -> access.Policy:
    return access.load_policy(path)


def policy() -> access.Policy:
    """The server's policy, re-read whenever secrets.toml changes so an administrator's edit takes effect."""
    path = access.secrets_path()
    try:
        return _policy(str(path), path.stat().st_mtime if path.exists() else 0.0)
    except ConfigError as exc:
        st.title("ConvStudio")
        st.error(f"This server's settings cannot be used: {exc}. An administrator must fix {path}.")
        st.stop()


@st.cache_resource(max_entries=4)
def _throttle(path: str) -> LoginThrottle:
    return LoginThrottle(path)


def throttle() -> LoginThrottle:
    """One throttle for every session of this server (thread-safe), kept in the runs folder."""
    return _throttle(str(Path(settings.runs_dir()).resolve() / THROTTLE_FILE))


def user() -> str:
    if USER_KEY not in st.session_state:
        st.session_state[USER_KEY] = _guest_name()
    return st.session_state[USER_KEY]


def _guest_name() -> str:
    """An open server's name for this browser: the same in all its tabs, so each sees its runs as its own.

    Named after a hash of the browser's XSRF token (never the token itself); without the cookie
    (XSRF protection off, AppTest), one name per session as before.
    """
    token = browser_token(_cookie(XSRF_COOKIE))
    return "guest-" + (hashlib.sha256(token).hexdigest()[:8] if token else uuid.uuid4().hex[:6])


def browser_token(cookie: str | None) -> bytes | None:
    """The token in a tornado XSRF cookie ('2|mask|masked token|time'), or None for anything else.

    Tornado masks the token afresh on each page load, so the cookie differs between tabs; the
    unmasked token does not.
    """
    try:
        version, mask_hex, masked_hex, _ = cookie.split("|")
        mask, masked = bytes.fromhex(mask_hex), bytes.fromhex(masked_hex)
    except (AttributeError, ValueError):
        return None
    if version != "2" or len(mask) != 4 or len(masked) < 16:
        return None
    return bytes(b ^ mask[i % 4] for i, b in enumerate(masked))


def _cookie(name: str) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except (RuntimeError, AttributeError):  # no Streamlit runtime (a bare script run)
        return None
    return value if isinstance(value, str) else None  # AppTest's stand-in runtime answers a mock


def may_manage(run) -> bool:
    return access.can_manage(policy(), user() if st.session_state.get(AUTHED_KEY) else None, run)


def may_act_on(owner: str | None) -> bool:
    """May this session change or remove something `owner` made (a saved dataset, say)?"""
    return access.may_act_on(policy(), user() if st.session_state.get(AUTHED_KEY) else None, owner)


def gate() -> None:
    """Stop the script with a login form until this session may use the app."""
    rules = policy()
    _forget_if_outdated(rules)
    if not rules.enabled:
        st.session_state[AUTHED_KEY] = True
        st.session_state[MODE_KEY] = rules.mode
        user()
        return
    if rules.oidc:
        _oidc()
    elif not st.session_state.get(AUTHED_KEY):
        _password_form(rules)
    else:
        st.sidebar.button("Log out", on_click=log_out, icon=":material/logout:")


def _forget_if_outdated(rules: access.Policy) -> None:
    """A session logged in under another mode, or whose account was removed, must log in again."""
    if not st.session_state.get(AUTHED_KEY):
        return
    gone = rules.mode == access.ACCOUNTS and st.session_state.get(USER_KEY) not in rules.accounts.users
    if st.session_state.get(MODE_KEY) != rules.mode or gone:
        log_out()


def log_out() -> None:
    for key in (USER_KEY, AUTHED_KEY, MODE_KEY):
        st.session_state.pop(key, None)


def _oidc() -> None:
    if not getattr(st.user, "is_logged_in", False):
        st.title("ConvStudio")
        st.write("This server asks you to log in.")
        st.button("Log in", on_click=st.login, icon=":material/login:")
        st.stop()
    email = st.user.get("email")
    if not email or st.user.get("email_verified") is False:
        # the e-mail is the name runs are recorded under and admins are listed by: no e-mail, no identity
        st.title("ConvStudio")
        st.error("Your identity provider did not give a verified e-mail address, which is your name here.")
        st.button("Log out", on_click=st.logout, icon=":material/logout:")
        st.stop()
    st.session_state[USER_KEY] = email
    st.session_state[AUTHED_KEY] = True
    st.session_state[MODE_KEY] = access.OIDC
    st.sidebar.button("Log out", on_click=st.logout, icon=":material/logout:")


def _password_form(rules: access.Policy) -> None:
    shared = rules.mode == access.SHARED
    st.title("ConvStudio")
    with st.form("login"):
        name = st.text_input(
            "Your name" if shared else "User name",
            max_chars=accounts.MAX_NAME,
            help="Your runs are recorded under this name." if shared else None,
        )
        password = st.text_input("Password", type="password", max_chars=accounts.MAX_PASSWORD)
        submitted = st.form_submit_button("Enter", icon=":material/login:")
    if submitted:
        refusal = log_in(rules, name, password, _client_address())
        if refusal is None:
            st.rerun()
        st.error(refusal)
    st.stop()


def log_in(rules: access.Policy, name: str, password: str, address: str | None) -> str | None:
    """Sign this session in, or say why not. Each try passes the throttle before any password is checked."""
    if not name.strip():
        return "Enter your name: it marks which runs are yours."
    try:
        name = accounts.clean_name(name.strip())
    except accounts.AccountError as exc:
        return f"This name cannot be used: {exc}."
    verdict = throttle().attempt(name, address)
    if not verdict.allowed:
        return verdict.message()
    if rules.mode == access.ACCOUNTS:
        if not accounts.verify(rules.accounts, name, password):
            return "Wrong name or password."
    elif not access.password_matches(password, rules.password):
        return "Wrong password."
    throttle().succeeded(name, address)
    st.session_state[USER_KEY] = name
    st.session_state[AUTHED_KEY] = True
    st.session_state[MODE_KEY] = rules.mode
    return None


def _client_address() -> str | None:
    """The browser's address as Streamlit saw it (None on localhost, or outside a live session)."""
    try:
        address = st.context.ip_address
    except RuntimeError:  # no Streamlit runtime (a bare script run): throttle by name alone
        return None
    return address if isinstance(address, str) else None  # AppTest's stand-in runtime answers a mock
