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
"""

from __future__ import annotations

import os
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
