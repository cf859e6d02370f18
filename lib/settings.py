"""Every CONVSTUDIO_* environment variable and every default path, read in one place.

Read on each call (not at import), so a test or a worker started with another
environment sees its own values.

| variable | meaning | default |
| --- | --- | --- |
| CONVSTUDIO_RUNS_DIR | the run store folder (database, one folder per run) | ./runs |
| CONVSTUDIO_DATA_DIR | the data root: built-in datasets' folders; your own images in custom/ | <project>/data |
| CONVSTUDIO_SECRETS | the server's secrets file (accounts, limits, sign-in) | <project>/.streamlit/secrets.toml |
| CONVSTUDIO_OFFLINE | 1: never try a download | off |
| CONVSTUDIO_FORCE_CPU | 1: the scheduler ignores GPUs | off |
| CONVSTUDIO_NO_SCHEDULER | 1: the app starts no scheduler (tests; a server leaving training to others) | off |
| CONVSTUDIO_FAULT | a fault to inject, for the reliability tests (lib/train/faults.py) | none |
| CONVSTUDIO_STORE | the database: sqlite:///FILE or postgresql://user:pw@host/db (or secrets: store) | runs folder |
| CONVSTUDIO_STORE_WAIT_S | how long a busy (locked, unreachable) store is retried before a clear error | 30 |
| CONVSTUDIO_STORE_POOL | PostgreSQL connections one process may hold | 4 |
| CONVSTUDIO_EXECUTOR | where workers run: local (subprocesses) or ray | local |
| CONVSTUDIO_RAY_ADDRESS | the Ray cluster (host:port or ray://host:port) for the ray executor | none |
| CONVSTUDIO_NODE | this machine's name in the store (the Ray executor sets the Ray node's) | the host name |
| CONVSTUDIO_ATTEMPT | set by the scheduler for a worker: the claim it holds | none |
| CONVSTUDIO_HEARTBEAT_S | seconds between a worker's heartbeats | 3 |
| CONVSTUDIO_HEARTBEAT_LIMIT_S | a run whose worker is silent this long is interrupted | 30 |
"""

from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the project folder: workers start here


def _flag(name: str) -> bool:
    return os.environ.get(name) == "1"


def runs_dir() -> str:
    return os.environ.get("CONVSTUDIO_RUNS_DIR") or "runs"


def data_root() -> Path:
    """Absolute, so a worker and a page started in other folders agree."""
    return Path(os.environ.get("CONVSTUDIO_DATA_DIR") or ROOT / "data").resolve()


def secrets_path() -> Path:
    return Path(os.environ.get("CONVSTUDIO_SECRETS") or ROOT / ".streamlit" / "secrets.toml")


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def offline() -> bool:
    return _flag("CONVSTUDIO_OFFLINE")


def force_cpu() -> bool:
    return _flag("CONVSTUDIO_FORCE_CPU")


def no_scheduler() -> bool:
    return _flag("CONVSTUDIO_NO_SCHEDULER")


def fault() -> str | None:
    return os.environ.get("CONVSTUDIO_FAULT") or None


def store_url() -> str | None:
    """CONVSTUDIO_STORE, else `store` in the secrets file's [convstudio] section; None = SQLite in the runs folder."""
    url = os.environ.get("CONVSTUDIO_STORE")
    if url:
        return url
    try:
        with open(secrets_path(), "rb") as f:
            url = tomllib.load(f).get("convstudio", {}).get("store")
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return None  # no secrets file, or one the app itself will complain about
    return url if isinstance(url, str) and url else None


def _number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def store_wait_s() -> float:
    return _number("CONVSTUDIO_STORE_WAIT_S", 30.0)


def store_pool_size() -> int:
    return int(_number("CONVSTUDIO_STORE_POOL", 4))


def executor() -> str:
    return os.environ.get("CONVSTUDIO_EXECUTOR") or "local"


def ray_address() -> str | None:
    return os.environ.get("CONVSTUDIO_RAY_ADDRESS") or None


def node_name() -> str:
    return os.environ.get("CONVSTUDIO_NODE") or socket.gethostname()


def attempt() -> int | None:
    value = os.environ.get("CONVSTUDIO_ATTEMPT")
    return int(value) if value and value.isdigit() else None


def heartbeat_interval_s() -> float:
    return _number("CONVSTUDIO_HEARTBEAT_S", 3.0)


def heartbeat_limit_s() -> float:
    return _number("CONVSTUDIO_HEARTBEAT_LIMIT_S", 30.0)
