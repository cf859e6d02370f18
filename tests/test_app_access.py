"""Access control in the app: a login form first; other people's runs cannot be stopped or deleted."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.test_app_pages import fake_run


@pytest.fixture
def locked(runs_dir, tiny_data_dir, tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[convstudio]\npassword = "open sesame"\nadmins = ["ada"]\nmax_epochs = 20\n')
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(secrets))
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", tiny_data_dir)
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    return runs_dir


def log_in(name: str, password: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.text_input[0].input(name)
    at.text_input[1].input(password)
    at.button[0].click().run()
    return at


def test_nothing_shows_until_the_password_is_right(locked):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    assert [t.value for t in at.title] == ["ConvStudio"] and len(at.text_input) == 2
    assert not any(s.key == "w_dataset" for s in at.selectbox)
    wrong = log_in("bob", "open sesam")
    assert wrong.error[0].value == "Wrong password." and not any(s.key == "w_dataset" for s in wrong.selectbox)
    right = log_in("bob", "open sesame")
    assert not right.exception and right.title[0].value == "Data"
    assert right.session_state["cs_owner"] == "bob"


def test_only_the_owner_or_an_admin_may_stop_or_delete(locked, store, tiny_data_dir):
    theirs = fake_run(store, tiny_data_dir, status="running")
    store._write(lambda db: db.execute("UPDATE runs SET owner = 'carol' WHERE id = ?", (theirs,)))
    at = log_in("bob", "open sesame")
    at.query_params["run"] = theirs
    at.switch_page("pages/train.py").run()
    stop = next(b for b in at.button if b.label == "Stop")
    assert stop.disabled
    admin = log_in("ada", "open sesame")
    admin.query_params["run"] = theirs
    admin.switch_page("pages/train.py").run()
    assert not next(b for b in admin.button if b.label == "Stop").disabled

    store.finish(theirs, "completed")
    at.switch_page("pages/runs.py").run()
    at.session_state["cs_runs_selected"] = [theirs]
    at.run()
    delete = next(b for b in at.button if b.label.startswith("Delete"))
    assert delete.disabled and "carol" not in (delete.help or "") and theirs in delete.help
