"""A throw-away PostgreSQL cluster for tests: Debian's binaries, a temp folder, 127.0.0.1 only.

initdb refuses to run as root, so when the tests run as root the cluster belongs to the
`postgres` user (runuser -u postgres --) and lives in a temp folder that user owns. The
server listens on a random 127.0.0.1 port (and a Unix socket in its own folder), with a
password for TCP so tests can check credentials are never printed. It is stopped with its
own pg_ctl, never with anything that could touch another cluster.
"""

from __future__ import annotations

import gc
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

USER = "convstudio"


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<ver>/bin that has initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def missing_reason() -> str | None:
    """Why a cluster cannot be made here (a skip reason), or None when it can."""
    if find_bin_dir() is None:
        return "PostgreSQL is not installed (apt-get install postgresql; test.sh does)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -r requirements.txt)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cannot run initdb as the postgres user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """start() -> the admin URL; database(name) -> a URL for a fresh database; stop()."""

    def __init__(self):
        self.bin = find_bin_dir()
        if self.bin is None:
            raise RuntimeError(missing_reason())
        self.base = Path(tempfile.mkdtemp(prefix="convstudio-pg-"))
        self.data = self.base / "data"
        self.socket_dir = self.base / "sock"
        self.port = None
        self.password = secrets.token_urlsafe(12)
        self._as_postgres = os.geteuid() == 0
        self._running = False

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, cwd=self.base)

    def start(self, timeout: float = 60) -> str:
        self.socket_dir.mkdir()
        pwfile = self.base / "pw"
        pwfile.write_text(self.password + "\n")
        if self._as_postgres:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.socket_dir, "postgres")
            shutil.chown(pwfile, "postgres")
            self.base.chmod(0o755)
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile),
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        for _attempt in range(5):  # a random port can be taken between choosing and binding
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir}"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            result = self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "server.log"),
                "-o", options, "-w", "-t", str(int(timeout)), "start", check=False,
            )  # fmt: skip
            if result.returncode == 0:
                self._running = True
                return self.url()
            time.sleep(0.2)
        log = (self.base / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr.strip()}\n{log}")

    def url(self, dbname: str = "postgres", password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{dbname}"

    def database(self, name: str | None = None) -> str:
        """Create a fresh database and return its URL (each test gets an empty store)."""
        import psycopg

        name = name or "t_" + secrets.token_hex(6)
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self._running:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
            self._running = False
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# -- pytest fixtures (conftest.py re-exports them) ------------------------------------
@pytest.fixture(scope="session")
def postgres_cluster():
    """One throw-away cluster per test session; skipped with the reason where it cannot run."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        close_pools()
        cluster.stop()


def close_pools() -> None:
    """Close the pools of stores the tests left open (pages and helpers keep theirs for the process):
    after the server stops, an open pool would retry its connection and log an error until exit."""
    from lib.runs.store_pg import PostgresBackend

    for obj in gc.get_objects():
        if isinstance(obj, PostgresBackend):
            obj.close()


@pytest.fixture
def postgres_url(postgres_cluster) -> str:
    """A URL (with its password) for an empty database of its own."""
    return postgres_cluster.database()
