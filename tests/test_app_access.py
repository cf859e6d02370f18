"""Access control in the app: a login form first; other people's runs cannot be stopped or deleted."""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from lib.runs import accounts
from lib.runs.store import Store
from tests.conftest import ROOT
from tests.test_app_pages import fake_run

PASSWORDS = {"ada": "ada's own password", "bob": "bob's own password"}


@pytest.fixture
def locked(runs_dir, tiny_data_dir, tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[convstudio]\nmax_epochs = 20\n")
    for name in ("ada", "bob"):  # each with their own password; ada is an administrator
        accounts.add_user(secrets, name, PASSWORDS[name], admin=name == "ada")
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
    wrong = log_in("bob", "bob's own passwort")
    assert wrong.error[0].value == "Wrong name or password." and not any(s.key == "w_dataset" for s in wrong.selectbox)
    right = log_in("bob", PASSWORDS["bob"])
    assert not right.exception and right.title[0].value == "Data"
    assert right.session_state["cs_owner"] == "bob"


def test_only_the_owner_or_an_admin_may_stop_or_delete(locked, store, tiny_data_dir):
    theirs = fake_run(store, tiny_data_dir, status="running")
    store._write(lambda db: db.execute("UPDATE runs SET owner = 'carol' WHERE id = ?", (theirs,)))
    at = log_in("bob", PASSWORDS["bob"])
    at.query_params["run"] = theirs
    at.switch_page("pages/train.py").run()
    stop = next(b for b in at.button if b.label == "Stop")
    assert stop.disabled
    admin = log_in("ada", PASSWORDS["ada"])
    admin.query_params["run"] = theirs
    admin.switch_page("pages/train.py").run()
    assert not next(b for b in admin.button if b.label == "Stop").disabled

    store.finish(theirs, "completed")
    at.switch_page("pages/runs.py").run()
    at.session_state["cs_runs_selected"] = [theirs]
    at.run()
    delete = next(b for b in at.button if b.label.startswith("Delete"))
    assert delete.disabled and "carol" not in (delete.help or "") and theirs in delete.help


def test_only_the_owner_or_an_admin_may_continue_a_run_but_anyone_may_fine_tune_it(
    locked, store, tiny_data_dir, trained_run
):
    theirs = fake_run(store, tiny_data_dir)
    store._write(lambda db: db.execute("UPDATE runs SET owner = 'carol' WHERE id = ?", (theirs,)))
    trained = Store(trained_run[0])
    for which in ("last", "model"):  # real model files: the page checks them before offering a fine-tune
        shutil.copyfile(trained.model_path(trained_run[1], which), store.model_path(theirs, which))
    at = log_in("bob", PASSWORDS["bob"])
    at.switch_page("pages/runs.py").run()
    at.session_state["cs_runs_selected"] = [theirs]
    at.run()
    again = at.button(key=f"continue_{theirs}")
    assert again.disabled and "Only carol or an administrator" in again.help
    at.button(key=f"finetune_{theirs}").click().run()
    mine = next(r for r in store.list_runs() if r.id != theirs)
    assert mine.owner == "bob" and mine.parent_id == theirs and store.get(theirs).status == "completed"


@pytest.fixture
def oidc(runs_dir, tiny_data_dir, tmp_path, monkeypatch):
    """A server whose secrets.toml configures Streamlit's login ([auth]) and names an administrator."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        '[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\ncookie_secret = "x"\n'
        'client_id = "convstudio"\nclient_secret = "y"\n'
        'server_metadata_url = "https://id.example.com/.well-known/openid-configuration"\n'
        '[convstudio]\nadmins = ["ada@example.com"]\n'
    )
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(secrets))
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", tiny_data_dir)
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    return runs_dir


def as_user(user: dict, page: str | None = None, run_id: str | None = None) -> AppTest:
    """A session whose identity provider said `user` (AppTest stands in for the provider's answer)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.user = user
    if run_id:
        at.query_params["run"] = run_id
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def test_with_oidc_a_visitor_sees_only_the_log_in_button(oidc):
    at = as_user({"is_logged_in": False})
    assert [t.value for t in at.title] == ["ConvStudio"]
    assert [b.label for b in at.button] == ["Log in"] and not at.text_input  # no password form either
    assert not any(s.key == "w_dataset" for s in at.selectbox)


def test_with_oidc_runs_belong_to_the_e_mail_and_only_it_or_an_admin_may_stop_them(oidc, store, tiny_data_dir):
    dana = as_user({"is_logged_in": True, "email": "dana@example.com"}, "pages/train.py")
    assert not dana.exception and dana.title[0].value == "Train"
    assert any(b.label == "Log out" for b in dana.sidebar.button)
    dana.button(key="start").click().run()
    run = store.list_runs()[0]
    assert run.owner == "dana@example.com" and run.status == "queued"

    other = as_user({"is_logged_in": True, "email": "eve@example.com"}, "pages/train.py", run.id)
    assert next(b for b in other.button if b.label == "Stop").disabled
    admin = as_user({"is_logged_in": True, "email": "ada@example.com"}, "pages/train.py", run.id)
    admin.button(key="stop_run").click().run()
    assert store.get(run.id).status == "stopped"
