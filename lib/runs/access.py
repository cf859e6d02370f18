"""Who may do what on a shared server, and the limits an administrator sets.

Configured in .streamlit/secrets.toml (the file Streamlit already keeps out of
git), read here with tomllib so the worker and the command line see the same
policy as the app:

    [convstudio]
    admins = ["ada", "ada@example.com"]   # may stop, delete and resume anyone's runs
    max_epochs = 100
    max_queued_per_user = 3
    max_upload_mb = 200
    max_run_minutes = 240

    [convstudio.users]                    # written by: python -m lib.cli user add NAME [--admin]
    ada = "$argon2id$..."

One way of logging in, chosen by what the file holds:
- accounts: a `[convstudio.users]` table (even empty); a name and its own password;
- oidc: an `[auth]` section; Streamlit's st.login, the user is their e-mail;
- open_with_password: `mode = "open_with_password"` and `password = "..."`; a
  shared password at the door, the name typed is a label, and no one is an
  administrator (a typed name proves nothing);
- open: none of these; everyone may do everything.

With access control on, every run records its owner; only the owner or an
admin may stop, delete or resume it. Everyone sees the queue. The command line
applies the same rules to the operating-system account running it (os_user).
"""

from __future__ import annotations

import hmac
import os
import pwd
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lib import settings
from lib.config import ConfigError
from lib.runs.accounts import AccountError, Accounts, accounts_from

OPEN, ACCOUNTS, SHARED, OIDC = "open", "accounts", "open_with_password", "oidc"


@dataclass(frozen=True)
class Policy:
    mode: str = OPEN
    password: str | None = None  # the shared password of open_with_password
    accounts: Accounts = field(default_factory=Accounts)  # name -> argon2 hash, in accounts mode
    admins: tuple[str, ...] = ()
    max_epochs: int | None = None
    max_queued_per_user: int | None = None
    max_upload_mb: int | None = None
    max_run_minutes: float | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != OPEN

    @property
    def oidc(self) -> bool:
        return self.mode == OIDC

    def is_admin(self, user: str | None) -> bool:
        """Listed in `admins`, and signed in some way that proves the name (not a shared password)."""
        return bool(user) and self.mode != SHARED and user in self.admins


def secrets_path() -> Path:
    return settings.secrets_path()


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy in secrets.toml; an open server without limits when the file or section is absent."""
    path = Path(path) if path else secrets_path()
    if not path.is_file():
        return Policy()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("secrets.toml", f"cannot be read ({exc})") from None
    section = data.get("convstudio", {})
    if not isinstance(section, dict):
        raise ConfigError("secrets.toml [convstudio]", "must be a table")
    try:
        found = accounts_from(section)
    except AccountError as exc:
        raise ConfigError("secrets.toml", str(exc)) from None
    password = section.get("password")
    if password is not None and (not isinstance(password, str) or not password):
        raise ConfigError("secrets.toml password", "must be a non-empty string")
    mode = _login_mode(section.get("mode"), password, found.enabled, "auth" in data)
    return Policy(mode=mode, password=password, accounts=found, admins=found.admins, **_limits(section))


def _login_mode(mode: object, password: str | None, accounts_on: bool, oidc: bool) -> str:
    """Exactly one way of logging in; a bare shared password is refused, since it used to make admins."""
    if mode not in (None, SHARED):
        raise ConfigError("secrets.toml mode", f'can only be "{SHARED}" (accounts and OIDC need no mode)')
    ways = [w for w, on in (("[auth]", oidc), ("[convstudio.users]", accounts_on), ("a password", password)) if on]
    if len(ways) > 1:
        raise ConfigError("secrets.toml", f"choose one way of logging in, not {' and '.join(ways)}")
    if mode == SHARED and password is None:
        raise ConfigError("secrets.toml password", f'mode = "{SHARED}" needs the shared password')
    if password is not None and mode != SHARED:
        raise ConfigError(
            "secrets.toml password",
            "a shared password proves no one's name, so it no longer signs anyone in as a user or administrator: "
            "add accounts with `python -m lib.cli user add NAME [--admin]` and remove the password, "
            f'or keep it with mode = "{SHARED}" (then no one is an administrator)',
        )
    return OIDC if oidc else ACCOUNTS if accounts_on else SHARED if password else OPEN


def _limits(section: dict) -> dict:
    limits = {}
    for key, kind in (
        ("max_epochs", int),
        ("max_queued_per_user", int),
        ("max_upload_mb", int),
        ("max_run_minutes", float),
    ):
        value = section.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"secrets.toml {key}", "must be a positive number")
            limits[key] = kind(value)
    return limits


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so response time says nothing about how much was right."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def os_user() -> str:
    """The operating-system account running this process: the command line's identity.

    Looked up from the real user id, never $USER or $LOGNAME, which anyone can set.
    """
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (some containers)
        return f"uid-{uid}"


def may_act_on(policy: Policy, user: str | None, owner: str | None) -> bool:
    """May `user` change or remove something `owner` made? Everyone may on an open server.

    Things without a recorded owner (made before owners were recorded) are the administrators' alone.
    """
    if not policy.enabled:
        return True
    return policy.is_admin(user) or (bool(user) and owner is not None and owner == user)


def can_manage(policy: Policy, user: str | None, run) -> bool:
    """May `user` stop, delete or resume `run`? Everyone may on an open server."""
    return not policy.enabled or may_act_on(policy, user, run.owner)


def check_submission(policy: Policy, store, user: str | None, config) -> None:
    """Refuse a new run that breaks the administrator's limits, naming the setting."""
    if policy.max_epochs and config.epochs > policy.max_epochs:
        raise ConfigError("epochs", f"this server allows at most {policy.max_epochs} epochs per run")
    if policy.max_queued_per_user and user:
        waiting = sum(1 for r in store.queue() if r.owner == user)
        if waiting >= policy.max_queued_per_user:
            raise ConfigError(
                "queue", f"you already have {waiting} runs waiting; this server allows {policy.max_queued_per_user}"
            )


def stamp_limits(policy: Policy, config):
    """Copy the run-time limit into the run's config, where the worker enforces it."""
    if policy.max_run_minutes:
        config.extra = {**config.extra, "max_run_minutes": policy.max_run_minutes}
    return config
