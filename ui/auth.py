"""The door: who is using this session, and whether they may come in.

Three modes, from .streamlit/secrets.toml (see lib/access.py):
- open (no [convstudio] password, no [auth]): everyone may do everything; the
  session gets an anonymous owner name so its runs can still be told apart;
- a shared password: a name and the password, checked in constant time;
- OIDC ([auth] configured): Streamlit's own st.login; the user is their e-mail.
"""

from __future__ import annotations

import uuid

import streamlit as st

from lib.runs import access

USER_KEY = "cs_owner"  # the run owner recorded for this session (shared with pages/train.py)
AUTHED_KEY = "cs_authenticated"


@st.cache_resource(max_entries=4)
def _policy(path: str, mtime: float) -> access.Policy:
    return access.load_policy(path)


def policy() -> access.Policy:
    """The server's policy, re-read whenever secrets.toml changes so an administrator's edit takes effect."""
    path = access.secrets_path()
    return _policy(str(path), path.stat().st_mtime if path.exists() else 0.0)


def user() -> str:
    return st.session_state.setdefault(USER_KEY, "guest-" + uuid.uuid4().hex[:6])


def may_manage(run) -> bool:
    return access.can_manage(policy(), user() if st.session_state.get(AUTHED_KEY) else None, run)


def gate() -> None:
    """Stop the script with a login form until this session may use the app."""
    rules = policy()
    if not rules.enabled:
        st.session_state[AUTHED_KEY] = True
        user()
        return
    if rules.oidc:
        _oidc()
    elif not st.session_state.get(AUTHED_KEY):
        _password_form(rules)


def _oidc() -> None:
    if not getattr(st.user, "is_logged_in", False):
        st.title("ConvStudio")
        st.write("This server asks you to log in.")
        st.button("Log in", on_click=st.login, icon=":material/login:")
        st.stop()
    st.session_state[USER_KEY] = st.user.get("email") or st.user.get("name") or "user"
    st.session_state[AUTHED_KEY] = True
    st.sidebar.button("Log out", on_click=st.logout, icon=":material/logout:")


def _password_form(rules: access.Policy) -> None:
    st.title("ConvStudio")
    with st.form("login"):
        name = st.text_input("Your name", max_chars=40, help="Your runs are recorded under this name.")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Enter", icon=":material/login:")
    if submitted:
        clean = name.strip()
        if not clean:
            st.error("Enter your name: it marks which runs are yours.")
        elif access.password_matches(password, rules.password):
            st.session_state[USER_KEY] = clean
            st.session_state[AUTHED_KEY] = True
            st.rerun()
        else:
            st.error("Wrong password.")
    st.stop()
