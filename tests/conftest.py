"""Shared fixtures: temporary stores, the real-data folders, a trained tiny run, the app, Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# the throw-away PostgreSQL cluster and the loopback Ray cluster (fixtures of the store and executor tests)
pytest_plugins = ["tests.helpers.postgres", "tests.helpers.ray_cluster"]

SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()
SHARED_MNIST = SHARED_DATA / "mnist"
FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
CHROMIUM = "/usr/bin/chromium"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CONVSTUDIO_OFFLINE", "1")  # never try a download from a test


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    """An empty run store folder, also set as CONVSTUDIO_RUNS_DIR."""
    path = tmp_path / "runs"
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(path))
    return path


@pytest.fixture
def store(runs_dir):
    from lib.runs.store import Store

    return Store(runs_dir)


@pytest.fixture(scope="session")
def shared_data_dir() -> str:
    """../shared/data (10,000 real MNIST digits); the test is skipped where it is absent."""
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("../shared/data/mnist is not present on this machine")
    return str(SHARED_DATA)


@pytest.fixture(scope="session")
def fashion_available():
    if not (FASHION_DEBIAN / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail("Fashion-MNIST from Debian is missing: apt-get install dataset-fashion-mnist (test.sh does)")


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> str:
    """A data folder with a small synthetic 'mnist' in IDX format: 10 classes of separable blobs.

    Lets unit and app tests train for real in a second without any dataset installed.
    """
    from tests.helpers.blob_data import write_blob_mnist

    return write_blob_mnist(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_data_dir):
    """(runs_dir, run_id): a completed simple_cnn run on the tiny dataset, trained in-process."""
    from lib.config import TrainConfig
    from lib.runs.store import Store
    from lib.train import fit

    runs = tmp_path_factory.mktemp("trained") / "runs"
    store = Store(runs)
    config = TrainConfig(
        dataset="mnist", architecture="simple_cnn", epochs=2, batch_size=32, data_dir=tiny_data_dir, dropout=0.0
    )
    run_id = store.create_run(config)
    store.claim_next(["cpu"])
    fit.train_run(store, run_id)
    return runs, run_id


# -- the app and the browser -------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(runs_dir: Path, data_dir: str | None = None, extra_env: dict | None = None, timeout: float = 60):
    """Start `streamlit run app.py` on a free port; returns (process, url) once it answers."""
    port = free_port()
    env = dict(os.environ, CONVSTUDIO_RUNS_DIR=str(runs_dir), **(extra_env or {}))
    if data_dir:
        env["CONVSTUDIO_DATA_DIR"] = data_dir
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log = open(runs_dir.parent / f"streamlit-{port}.log", "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"streamlit did not start; see {log.name}")


@pytest.fixture
def browser():
    """Headless Debian Chromium driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install chromium (test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        yield b
        b.close()


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    path = ROOT / "artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
