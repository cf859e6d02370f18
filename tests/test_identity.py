"""Real identities: one login mode at a time, no admin by typed name, and the command line under the same rules.

The command line's user is the operating-system account running it (never $USER);
limits, ownership and admin rights apply to it as they do in the app.
"""

from __future__ import annotations

import io
import os
import pwd
import stat
import subprocess
import sys

import pytest

from lib.cli.main import main
from lib.config import ConfigError, TrainConfig
from lib.data import custom
from lib.runs import access, accounts
from lib.teach import collect
from tests.conftest import ROOT
from tests.test_collect import fill
from tests.test_custom_datasets import class_members, make_zip

ME = pwd.getpwuid(os.getuid()).pw_name


def secrets(tmp_path, monkeypatch, text: str):
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(path))
    return path


# -- the policy: one way of logging in ------------------------------------------------------
def test_a_bare_shared_password_no_longer_makes_anyone_admin_it_is_refused_with_what_to_do(tmp_path, monkeypatch):
    path = secrets(tmp_path, monkeypatch, '[convstudio]\npassword = "s3cret"\nadmins = ["ada"]\n')
    with pytest.raises(ConfigError) as err:
        access.load_policy(path)
    assert "user add NAME" in str(err.value) and 'mode = "open_with_password"' in str(err.value)


def test_open_with_password_gives_no_admin_rights_to_anyone(tmp_path, monkeypatch, store):
    path = secrets(
        tmp_path, monkeypatch, '[convstudio]\nmode = "open_with_password"\npassword = "s"\nadmins = ["ada"]\n'
    )
    policy = access.load_policy(path)
    assert policy.mode == access.SHARED and policy.enabled and not policy.is_admin("ada")
    carol = store.get(store.create_run(TrainConfig(), owner="carol"))
    assert not access.can_manage(policy, "ada", carol)  # typing the admin's name with the shared password
    assert access.can_manage(policy, "carol", carol)


def test_accounts_mode_admins_are_the_listed_names(tmp_path, monkeypatch, store):
    path = secrets(tmp_path, monkeypatch, '[convstudio]\nadmins = ["ada"]\n[convstudio.users]\n')
    policy = access.load_policy(path)
    assert policy.mode == access.ACCOUNTS and policy.accounts.users == {} and policy.is_admin("ada")
    carol = store.get(store.create_run(TrainConfig(), owner="carol"))
    assert access.can_manage(policy, "ada", carol) and not access.can_manage(policy, "bob", carol)


@pytest.mark.parametrize(
    "text, words",
    [
        ('[convstudio]\npassword = "s"\n[convstudio.users]\n', "choose one way of logging in"),
        ("[auth]\nclient_id = 'x'\n[convstudio.users]\n", "choose one way of logging in"),
        ('[auth]\nclient_id = "x"\n[convstudio]\nmode = "open_with_password"\npassword = "s"\n', "choose one way"),
        ('[convstudio]\nmode = "accounts"\n', 'can only be "open_with_password"'),
        ('[convstudio]\nmode = "open_with_password"\n', "needs the shared password"),
        ('[convstudio]\nusers = "ada"\n', "must map user names"),
        ("convstudio = 1\n", "must be a table"),
    ],
)
def test_ambiguous_or_damaged_login_settings_are_refused(tmp_path, monkeypatch, text, words):
    with pytest.raises(ConfigError, match=words):
        access.load_policy(secrets(tmp_path, monkeypatch, text))


def test_things_without_an_owner_are_the_administrators_alone():
    locked = access.Policy(mode=access.ACCOUNTS, admins=("ada",))
    assert access.may_act_on(locked, "ada", None) and not access.may_act_on(locked, "bob", None)
    assert not access.may_act_on(locked, None, None) and not access.may_act_on(locked, "", "")
    assert access.may_act_on(access.Policy(), "anyone", None)  # an open server


# -- the command line's identity ----------------------------------------------------------
def test_the_cli_user_is_the_os_account_not_the_environment(monkeypatch):
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("LOGNAME", "alice")
    assert access.os_user() == ME != "alice"


def test_a_cli_run_belongs_to_the_os_account_even_with_user_alice(runs_dir, tiny_data_dir, store, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(runs_dir.parent / "absent.toml"))
    env = dict(os.environ, USER="alice", LOGNAME="alice", CONVSTUDIO_RUNS_DIR=str(runs_dir))
    out = subprocess.run(
        [sys.executable, "-m", "lib.cli", "train", "--data-dir", tiny_data_dir, "--epochs", "1", "--detach"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert store.get(out.stdout.strip()).owner == ME


@pytest.fixture
def locked_cli(tmp_path, monkeypatch, runs_dir, tiny_data_dir):
    """A server with accounts, ada as its only administrator, and limits; this process's user is no admin."""
    return secrets(
        tmp_path,
        monkeypatch,
        '[convstudio]\nadmins = ["ada"]\nmax_epochs = 3\nmax_queued_per_user = 1\n[convstudio.users]\n',
    )


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_the_cli_applies_the_limits(locked_cli, tiny_data_dir, store, capsys):
    train = ["train", "--data-dir", tiny_data_dir, "--detach"]
    assert main([*train, "--epochs", "4"]) == 2
    assert "at most 3 epochs" in one_error_line(capsys)
    assert main([*train, "--epochs", "2"]) == 0
    run = store.list_runs()[0]
    assert run.owner == ME and run.config.epochs == 2
    capsys.readouterr()
    assert main([*train, "--epochs", "2"]) == 2  # one queued run each on this server
    assert "this server allows 1" in one_error_line(capsys)


def test_a_non_owner_cannot_stop_or_continue_anothers_run_from_the_cli(locked_cli, store, capsys, monkeypatch):
    theirs = store.create_run(TrainConfig(epochs=2), owner="carol")
    monkeypatch.setenv("USER", "carol")  # changes nothing
    assert main(["stop", theirs]) == 2
    assert f"only carol or an administrator can stop run {theirs}" in one_error_line(capsys)
    assert store.get(theirs).status == "queued"  # a queued run would have been stopped at once

    store.claim_next(["cpu"])
    store.finish(theirs, "completed", epochs_completed=2)
    store.model_path(theirs, "last").write_bytes(b"")
    assert main(["train", "--resume", theirs, "--epochs", "1"]) == 2
    assert "only carol or an administrator can continue" in one_error_line(capsys)
    assert store.get(theirs).status == "completed"


def test_an_admin_listed_by_unix_name_may_stop_anyones_run(tmp_path, monkeypatch, runs_dir, store, capsys):
    secrets(tmp_path, monkeypatch, f'[convstudio]\nadmins = ["{ME}"]\n[convstudio.users]\n')
    theirs = store.create_run(TrainConfig(epochs=2), owner="carol")
    assert main(["stop", theirs]) == 0
    assert store.get(theirs).status == "stopped"


def test_ones_own_run_may_be_stopped(locked_cli, tiny_data_dir, store, capsys):
    assert main(["train", "--data-dir", tiny_data_dir, "--epochs", "1", "--detach"]) == 0
    mine = capsys.readouterr().out.strip()
    assert main(["stop", mine]) == 0 and store.get(mine).status == "stopped"


def test_a_broken_secrets_file_stops_the_cli_with_one_line(tmp_path, monkeypatch, store, capsys):
    secrets(tmp_path, monkeypatch, '[convstudio]\npassword = "old style"\nadmins = ["ada"]\n')
    theirs = store.create_run(TrainConfig(epochs=2), owner="carol")
    assert main(["stop", theirs]) == 2  # fails closed: no policy, no stopping
    assert "secrets.toml password" in one_error_line(capsys)
    assert store.get(theirs).status == "queued"


# -- user add | passwd | remove ------------------------------------------------------------
@pytest.fixture
def accounts_file(tmp_path, monkeypatch, runs_dir):
    return secrets(tmp_path, monkeypatch, "# the administrator's notes\n[convstudio]\nmax_epochs = 5\n")


def user(argv, password: str | None = None, monkeypatch=None) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO("" if password is None else password + "\n"))
    return main(["user", *argv])


def test_user_add_passwd_remove(accounts_file, monkeypatch, capsys):
    assert user(["add", "ada", "--admin", "--password-stdin"], "ada's password", monkeypatch) == 0
    assert capsys.readouterr().out == "added ada (administrator)\n"
    assert stat.S_IMODE(accounts_file.stat().st_mode) == 0o600
    assert (
        "# the administrator's notes" in accounts_file.read_text() and "ada's password" not in accounts_file.read_text()
    )
    policy = access.load_policy(accounts_file)
    assert policy.mode == access.ACCOUNTS and policy.is_admin("ada") and policy.max_epochs == 5
    assert accounts.verify(policy.accounts, "ada", "ada's password")

    assert user(["add", "ada", "--password-stdin"], "another one", monkeypatch) == 2
    assert "already exists" in one_error_line(capsys)

    assert user(["passwd", "ada", "--password-stdin"], "ada's new password", monkeypatch) == 0
    found = accounts.read_accounts(accounts_file)
    assert accounts.verify(found, "ada", "ada's new password") and not accounts.verify(found, "ada", "ada's password")

    assert user(["remove", "ada"], None, monkeypatch) == 0
    assert "removed ada and took it off the admins list" in capsys.readouterr().out
    assert access.load_policy(accounts_file).accounts.users == {}


@pytest.mark.parametrize(
    "argv, password, words",
    [
        (["add", "bob", "--password-stdin"], "short", "at least 8 characters"),
        (["add", "bo\x1bb", "--password-stdin"], "long enough", "U+001B"),
        (["add", "bob"], "long enough", "no terminal to ask for the password"),
        (["passwd", "nobody", "--password-stdin"], "long enough", "no user 'nobody'"),
        (["remove", "nobody"], None, "no user 'nobody'"),
        (["add"], None, "the following arguments are required: name"),
    ],
)
def test_user_refusals_are_one_line_and_change_nothing(accounts_file, monkeypatch, capsys, argv, password, words):
    before = accounts_file.read_text()
    assert user(argv, password, monkeypatch) == 2
    assert words in one_error_line(capsys)
    assert accounts_file.read_text() == before


def test_user_add_warns_while_an_old_shared_password_keeps_the_accounts_out_of_use(tmp_path, monkeypatch, capsys):
    path = secrets(tmp_path, monkeypatch, '[convstudio]\npassword = "old style"\n')
    assert user(["add", "ada", "--password-stdin"], "a long password", monkeypatch) == 0
    err = capsys.readouterr().err
    assert "warning: the app will refuse logins until" in err and "choose one way of logging in" in err
    assert "ada" in accounts.read_accounts(path).users


# -- removing a saved dataset --------------------------------------------------------------
@pytest.fixture
def data_root(tmp_path, monkeypatch):
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(path))
    return path


def test_a_dataset_records_its_owner_the_os_account_from_the_cli(data_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("USER", "alice")
    assert main(["dataset", "add", "shapes", "--from", str(make_zip(tmp_path / "s.zip", class_members()))]) == 0
    assert custom.owner("shapes") == ME and custom.listing()[0]["owner"] == ME


def test_a_non_owner_cannot_remove_a_dataset_from_the_cli(data_root, tmp_path, monkeypatch, capsys):
    secrets(tmp_path, monkeypatch, '[convstudio]\nadmins = ["ada"]\n[convstudio.users]\n')
    custom.add("carols", make_zip(tmp_path / "c.zip", class_members()), owner="carol")
    custom.add("older", make_zip(tmp_path / "o.zip", class_members()))  # saved before owners were recorded
    assert main(["dataset", "remove", "carols"]) == 2
    assert "only carol or an administrator can remove dataset 'carols'" in one_error_line(capsys)
    assert main(["dataset", "remove", "older"]) == 2
    assert "only an administrator can remove dataset 'older'" in one_error_line(capsys)
    assert custom.saved_names() == ["carols", "older"]

    secrets(tmp_path, monkeypatch, f'[convstudio]\nadmins = ["{ME}"]\n[convstudio.users]\n')
    assert main(["dataset", "remove", "carols"]) == 0 and main(["dataset", "remove", "older"]) == 0
    assert custom.saved_names() == [] and not [p for p in (data_root / "custom").iterdir()]


def test_on_an_open_server_anyone_may_remove_any_dataset(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(tmp_path / "absent.toml"))
    custom.add("carols", make_zip(tmp_path / "c.zip", class_members()), owner="carol")
    assert main(["dataset", "remove", "carols"]) == 0 and custom.saved_names() == []


def test_no_module_takes_the_user_from_the_environment():
    """$USER and $LOGNAME are whatever the caller sets: identity comes from access.os_user() alone."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "lib").rglob("*.py"))
        if any(word in path.read_text() for word in ('"USER"', "'USER'", '"LOGNAME"', "getpass.getuser"))
    ]
    assert offenders == []


def test_saving_a_collection_over_anothers_dataset_is_a_removal_and_refused(data_root, tmp_path):
    locked = access.Policy(mode=access.ACCOUNTS, admins=("ada",))
    custom.add("pets", make_zip(tmp_path / "p.zip", class_members()), owner="carol")
    fill("pets")
    with pytest.raises(collect.CollectRefused, match="only carol or an administrator can remove dataset 'pets'"):
        collect.save("pets", owner="bob", allowed=lambda owner: access.may_act_on(locked, "bob", owner))
    assert custom.listing()[0]["train"] == 30  # carol's images, untouched
    collect.save("pets", owner="ada", allowed=lambda owner: access.may_act_on(locked, "ada", owner))
    assert custom.owner("pets") == "carol" and custom.listing()[0]["train"] > 30  # replaced; still carol's


def test_adding_images_from_the_cli_to_anothers_dataset_is_refused(data_root, tmp_path, monkeypatch, capsys):
    secrets(tmp_path, monkeypatch, '[convstudio]\nadmins = ["ada"]\n[convstudio.users]\n')
    custom.add("pets", make_zip(tmp_path / "p.zip", class_members()), owner="carol")
    fill("pets")  # a collection behind it, as the page or an earlier add-images leaves
    image = tmp_path / "cat.png"
    image.write_bytes(class_members(per_class=1)["shapes/red/0.png"])
    assert main(["dataset", "add-images", "pets", "--class", "cat", str(image)]) == 2
    assert "only carol or an administrator can remove dataset 'pets'" in one_error_line(capsys)
    assert custom.listing()[0]["train"] == 30 and custom.owner("pets") == "carol"


def test_relabelling_anothers_dataset_is_refused_before_anything_moves(data_root, tmp_path):
    locked = access.Policy(mode=access.ACCOUNTS, admins=("ada",))
    custom.add("pets", make_zip(tmp_path / "p.zip", class_members()), owner="carol")
    first = next((custom.folder("pets") / "train").rglob("*.png"))
    with pytest.raises(collect.CollectRefused, match="only carol or an administrator can change dataset 'pets'"):
        collect.fix("pets", [(str(first), None)], allowed=lambda owner: access.may_act_on(locked, "bob", owner))
    assert first.exists() and not collect.exists("pets")
    collect.fix("pets", [(str(first), None)], allowed=lambda owner: access.may_act_on(locked, "carol", owner))
    assert custom.listing()[0]["train"] == 29 and custom.owner("pets") == "carol"
