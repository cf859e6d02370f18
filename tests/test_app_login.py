"""The login door through AppTest: accounts, the shared-password mode, throttling, and removing a dataset.

The throttle's clock is a fake one handed to the app's throttle: no test waits.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lib.data import custom
from lib.runs import accounts
from lib.runs.throttle import LoginThrottle
from tests.conftest import ROOT
from tests.test_app_pages import fake_run
from tests.test_custom_datasets import class_members, make_zip
from tests.test_login_throttle import Clock
from ui import auth

PASSWORDS = {"ada": "ada's own password", "bob": "bob's own password"}


@pytest.fixture
def env(runs_dir, tiny_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", tiny_data_dir)
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    return tmp_path


@pytest.fixture
def with_accounts(env, monkeypatch):
    """ada (administrator) and bob, each with their own password."""
    secrets = env / "secrets.toml"
    secrets.write_text("[convstudio]\n")
    for name, password in PASSWORDS.items():
        accounts.add_user(secrets, name, password, admin=name == "ada")
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(secrets))
    return secrets


@pytest.fixture
def clock(monkeypatch):
    """The app's throttle, on a clock the test moves."""
    now = Clock()
    throttle = LoginThrottle(clock=now)
    monkeypatch.setattr(auth, "throttle", lambda: throttle)
    return now


def log_in(name: str, password: str, at: AppTest | None = None) -> AppTest:
    if at is None:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
        at.run()
    at.text_input[0].input(name)
    at.text_input[1].input(password)
    at.button[0].click().run()
    return at


def logged_in(at: AppTest) -> bool:
    return not at.exception and bool(at.title) and at.title[0].value != "ConvStudio"


def test_an_admins_name_with_another_users_password_is_refused(with_accounts, clock):
    at = log_in("ada", PASSWORDS["bob"])
    assert [e.value for e in at.error] == ["Wrong name or password."] and not logged_in(at)
    at = log_in("nobody", PASSWORDS["bob"])
    assert [e.value for e in at.error] == ["Wrong name or password."]
    at = log_in("bob\u200b", PASSWORDS["bob"])  # looks like bob
    assert "cannot contain the character U+200B" in at.error[0].value
    at = log_in("ada", PASSWORDS["ada"])
    assert logged_in(at) and at.session_state["cs_owner"] == "ada"
    assert any(b.label == "Log out" for b in at.sidebar.button)


def test_typing_the_admins_name_with_the_shared_password_does_not_make_you_admin(env, monkeypatch, store, clock):
    secrets = env / "secrets.toml"
    secrets.write_text('[convstudio]\nmode = "open_with_password"\npassword = "open sesame"\nadmins = ["ada"]\n')
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(secrets))
    theirs = fake_run(store, str(env), status="running")
    store._write(lambda db: db.execute("UPDATE runs SET owner = 'carol' WHERE id = ?", (theirs,)))
    at = log_in("ada", "open sesame")
    assert logged_in(at) and at.session_state["cs_owner"] == "ada"
    at.query_params["run"] = theirs
    at.switch_page("pages/train.py").run()
    assert next(b for b in at.button if b.label == "Stop").disabled  # ada is no administrator here


def test_a_bare_shared_password_shows_what_to_do_instead_of_a_form(env, monkeypatch):
    secrets = env / "secrets.toml"
    secrets.write_text('[convstudio]\npassword = "open sesame"\nadmins = ["ada"]\n')
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(secrets))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
    assert not at.exception and not at.text_input
    assert "user add NAME" in at.error[0].value and str(secrets) in at.error[0].value


def test_fifty_wrong_passwords_in_the_form_meet_delays_then_a_lock_out(with_accounts, clock):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    answers = []
    for i in range(50):
        log_in("ada", f"guess {i}", at)
        answers.append(at.error[0].value)
        if answers[-1].startswith("Too many failed logins: wait"):
            clock.advance(60)  # past the delay (a lock-out, though, is sat out at once)
    assert answers[:3] == ["Wrong name or password."] * 3
    assert answers[3] == "Too many failed logins: wait 1 s before trying again."
    assert answers.count("Wrong name or password.") == 10  # only ten passwords were ever checked
    assert "Too many failed logins: locked for 15 minutes. Try again later." in answers
    log_in("ada", PASSWORDS["ada"], at)  # the right password is not even looked at while locked
    assert at.error[0].value.startswith("Too many failed logins: locked") and not logged_in(at)
    clock.advance(15 * 60)
    log_in("ada", PASSWORDS["ada"], at)
    assert logged_in(at) and at.session_state["cs_owner"] == "ada"


def test_a_removed_account_is_logged_out_on_its_next_click(with_accounts, clock):
    at = log_in("bob", PASSWORDS["bob"])
    assert logged_in(at)
    accounts.remove_user(with_accounts, "bob")
    at.run()
    assert not logged_in(at) and len(at.text_input) == 2


def test_oidc_without_a_verified_e_mail_is_refused(env, monkeypatch):
    secrets = env / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\ncookie_secret = "x"\n')
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(secrets))
    for user in (
        {"is_logged_in": True, "name": "Ada"},
        {"is_logged_in": True, "email": "a@x", "email_verified": False},
    ):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
        at.user = user
        at.run()
        assert not at.exception and "verified e-mail" in at.error[0].value
        assert "cs_owner" not in at.session_state


# -- removing a saved dataset -------------------------------------------------------------
@pytest.fixture
def saved(with_accounts, tmp_path, monkeypatch):
    """A data root holding bob's dataset and one saved before owners were recorded."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(root))
    custom.add("bobs", make_zip(tmp_path / "b.zip", class_members()), owner="bob")
    custom.add("older", make_zip(tmp_path / "o.zip", class_members()))
    return root


def custom_page_as(name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "custom_data.py"), default_timeout=90)
    at.session_state["cs_owner"] = name
    at.session_state["cs_authenticated"] = True
    at.session_state["cs_auth_mode"] = "accounts"
    return at.run()


def test_a_non_owner_cannot_remove_a_dataset_on_the_page(saved):
    at = custom_page_as("bob")
    older = at.button(key="cd_remove_older")
    assert older.disabled and "Only an administrator" in older.help
    assert not at.button(key="cd_remove_bobs").disabled
    accounts.add_user(saved.parent / "secrets.toml", "eve", "eve's own password")
    at = custom_page_as("eve")
    bobs = at.button(key="cd_remove_bobs")
    assert bobs.disabled and bobs.help == "Only bob or an administrator can remove it."
    assert custom.saved_names() == ["bobs", "older"]


def test_the_owner_removes_a_dataset_after_a_confirmation_naming_it(saved):
    at = custom_page_as("bob")
    at.button(key="cd_remove_bobs").click().run()
    assert custom.saved_names() == ["bobs", "older"]  # nothing yet: first the question
    assert any("Remove the dataset **bobs**" in w.value for w in at.warning)
    at.button(key="cd_remove_no_bobs").click().run()  # cancel
    assert not any("Remove the dataset" in w.value for w in at.warning)
    at.button(key="cd_remove_bobs").click().run()
    confirm = at.button(key="cd_remove_yes_bobs")
    assert confirm.label == "Remove bobs"
    confirm.click().run()
    assert not at.exception and custom.saved_names() == ["older"]


def test_an_admin_may_remove_a_dataset_without_an_owner(saved):
    at = custom_page_as("ada")
    at.button(key="cd_remove_older").click().run()
    at.button(key="cd_remove_yes_older").click().run()
    assert not at.exception and custom.saved_names() == ["bobs"]


def test_a_dataset_saved_on_the_page_records_its_owner(saved, tmp_path):
    at = custom_page_as("bob")
    data = make_zip(tmp_path / "upload.zip", class_members()).read_bytes()
    at.file_uploader(key="cd_upload").set_value(("shapes.zip", data, "application/zip")).run()
    at.text_input[0].input("fresh")
    at.button[0].click().run()
    assert not at.exception and custom.owner("fresh") == "bob"
