"""The pages' side of the store boundary: a store that cannot be used is one st.error, not a traceback."""

import os

import pytest
from streamlit.testing.v1 import AppTest

from lib.config import TrainConfig
from lib.runs.store import Store
from tests.conftest import ROOT


def open_app(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    if page != "pages/data.py" and not at.error:
        at.switch_page(page).run()
    return at


@pytest.fixture
def damaged_store(runs_dir, tiny_data_dir, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", tiny_data_dir)
    store = Store(runs_dir)
    store.create_run(TrainConfig())
    store.close()
    store.db_path.write_bytes(os.urandom(32 * 1024))
    for suffix in ("-wal", "-shm"):
        store.db_path.with_name(store.db_path.name + suffix).unlink(missing_ok=True)
    return store.db_path


@pytest.mark.parametrize("page", ["pages/data.py", "pages/runs.py"])
def test_a_damaged_store_is_one_clear_error_on_every_page(damaged_store, page):
    at = open_app(page)
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any("damaged" in e and str(damaged_store) in e and "store restore" in e for e in errors), errors


def test_a_store_from_a_newer_convstudio_is_refused_on_the_page(runs_dir, tiny_data_dir, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", tiny_data_dir)
    store = Store(runs_dir)
    store.backend.run(lambda db: db.execute("PRAGMA user_version = 42"))
    store.close()
    at = open_app("pages/runs.py")
    assert not at.exception, [e.value for e in at.exception]
    assert any("newer ConvStudio" in e.value for e in at.error)
