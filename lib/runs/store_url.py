"""Which database holds the run store: CONVSTUDIO_STORE / --store URL, or SQLite in the runs folder."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from lib.runs.store_errors import StoreError, redact
from lib.runs.store_pg import PostgresBackend
from lib.runs.store_sql import Backend, SqliteBackend


def parse_store_url(url: str | None, runs_root: Path) -> tuple[str, str]:
    """(dialect, target): ('sqlite', file path) or ('postgresql', url). None = SQLite in the runs folder."""
    if not url:
        return "sqlite", str(runs_root / "convstudio.db")
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///relative/or/absolute per SQLAlchemy's convention: sqlite:////abs, sqlite:///rel
        path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
        if not path:
            raise StoreError(f"store URL {url!r} names no file: use sqlite:///path/to/convstudio.db")
        return "sqlite", path
    if parts.scheme in ("postgresql", "postgres"):
        if not parts.hostname and "host=" not in parts.query:
            raise StoreError(f"store URL {redact(url)} names no server: use postgresql://user@host:port/database")
        return "postgresql", url
    raise StoreError(
        f"store URL {redact(url)} is not understood: use sqlite:///path/convstudio.db or postgresql://user@host/db"
    )


def open_backend(url: str | None, runs_root: Path, wait_s: float | None = None) -> Backend:
    dialect, target = parse_store_url(url, runs_root)
    if dialect == "sqlite":
        return SqliteBackend(target, wait_s)
    return PostgresBackend(target, wait_s)
