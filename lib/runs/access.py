"""Who may do what on a shared server, and the limits an administrator sets.

Configured in .streamlit/secrets.toml (the file Streamlit already keeps out of
git), read here with tomllib so the worker and the command line see the same
policy as the app:

    [convstudio]
    password = "a shared secret"      # omit for an open server (and use [auth] for OIDC login)
    admins = ["alice"]                # may stop, delete and resume anyone's runs
    max_epochs = 100
    max_queued_per_user = 3
    max_upload_mb = 200
    max_run_minutes = 240

With access control on, every run records its owner; only the owner or an
admin may stop, delete or resume it. Everyone sees the queue.
"""

from __future__ import annotations

import hmac
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from lib import settings
from lib.config import ConfigError



@dataclass(frozen=True)
class Policy:
    password: str | None = None
    oidc: bool = False  # [auth] is configured: Streamlit's st.login does the logging in
    admins: tuple[str, ...] = ()
    max_epochs: int | None = None
    max_queued_per_user: int | None = None
    max_upload_mb: int | None = None
    max_run_minutes: float | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.password) or self.oidc


def secrets_path() -> Path:
    return settings.secrets_path()


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy in secrets.toml; an open server without limits when the file or section is absent."""
    path = Path(path) if path else secrets_path()
    if not path.is_file():
        return Policy()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("secrets.toml", f"cannot be read ({exc})") from None
    section = data.get("convstudio", {})
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
    password = section.get("password")
    if password is not None and (not isinstance(password, str) or not password):
        raise ConfigError("secrets.toml password", "must be a non-empty string")
    admins = section.get("admins", [])
    if not isinstance(admins, list) or not all(isinstance(a, str) for a in admins):
        raise ConfigError("secrets.toml admins", "must be a list of user names")
    return Policy(password=password, oidc="auth" in data, admins=tuple(admins), **limits)


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so response time says nothing about how much was right."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def can_manage(policy: Policy, user: str | None, run) -> bool:
    """May `user` stop, delete or resume `run`? Everyone may on an open server."""
    if not policy.enabled:
        return True
    return bool(user) and (user in policy.admins or run.owner == user)


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
