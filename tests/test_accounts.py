"""Per-user accounts: argon2 hashes in secrets.toml, written atomically, names checked."""

from __future__ import annotations

import os
import stat
import threading
import time
import tomllib

import pytest
from argon2.exceptions import VerifyMismatchError

from lib.runs import accounts
from lib.runs.accounts import AccountError

OTHER_CONTENT = """# the administrator's notes stay
[convstudio]
max_epochs = 20  # keep this comment
admins = ["root-admin"]

[auth]
client_id = "convstudio"
"""


@pytest.fixture
def secrets(tmp_path):
    path = tmp_path / ".streamlit" / "secrets.toml"
    path.parent.mkdir()
    path.write_text(OTHER_CONTENT)
    return path


def test_an_account_is_an_argon2_hash_and_the_rest_of_the_file_is_kept(secrets):
    accounts.add_user(secrets, "ada", "correct horse", admin=True)
    text = secrets.read_text()
    assert "correct horse" not in text
    assert text.startswith("# the administrator's notes stay\n[convstudio]\nmax_epochs = 20  # keep this comment\n")
    assert "# keep this comment" in text and '[auth]\nclient_id = "convstudio"' in text
    data = tomllib.loads(text)
    assert data["convstudio"]["users"]["ada"].startswith("$argon2id$")
    assert data["convstudio"]["admins"] == ["root-admin", "ada"] and data["convstudio"]["max_epochs"] == 20
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert sorted(os.listdir(secrets.parent)) == ["secrets.toml"]  # no temporary file left behind


def test_name_and_password_are_checked_together(secrets):
    accounts.add_user(secrets, "ada", "ada's long secret", admin=True)
    accounts.add_user(secrets, "bob", "bob's long secret")
    found = accounts.read_accounts(secrets)
    assert found.enabled and found.is_admin("ada") and not found.is_admin("bob")
    assert accounts.verify(found, "ada", "ada's long secret")
    assert accounts.verify(found, "bob", "bob's long secret")
    assert not accounts.verify(found, "ada", "bob's long secret")  # typing the admin's name is not enough
    assert not accounts.verify(found, "ada", "ADA'S LONG SECRET")
    assert not accounts.verify(found, "nobody", "ada's long secret")
    assert not accounts.verify(found, "Ada", "ada's long secret")
    assert not accounts.verify(found, "ada\x00", "ada's long secret")
    assert not accounts.verify(found, "ada", "")


def test_an_unknown_name_costs_one_argon2_check_like_a_known_one(secrets, monkeypatch):
    """So the answer's timing does not say which names exist."""
    accounts.add_user(secrets, "ada", "ada's long secret")
    found = accounts.read_accounts(secrets)
    calls = []
    real = accounts._hasher

    class Spy:
        hash = real.hash

        def verify(self, digest, password):
            calls.append(digest)
            return real.verify(digest, password)

    monkeypatch.setattr(accounts, "_hasher", Spy())
    for name in ("ada", "nobody", "", "x" * 500, "bad\x07name"):
        calls.clear()
        assert not accounts.verify(found, name, "wrong password")
        assert len(calls) == 1 and calls[0].startswith("$argon2id$")


def test_a_damaged_hash_refuses_that_user_only(secrets):
    accounts.add_user(secrets, "bob", "bob's long secret")
    found = accounts.read_accounts(secrets)
    damaged = accounts.Accounts(users={**found.users, "eve": "not a hash"}, enabled=True)
    assert not accounts.verify(damaged, "eve", "not a hash")
    assert accounts.verify(damaged, "bob", "bob's long secret")


def test_change_password_and_remove(secrets):
    accounts.add_user(secrets, "ada", "first password", admin=True)
    accounts.set_password(secrets, "ada", "second password")
    found = accounts.read_accounts(secrets)
    assert accounts.verify(found, "ada", "second password") and not accounts.verify(found, "ada", "first password")
    assert accounts.remove_user(secrets, "ada") is True  # taken off the admins list too
    found = accounts.read_accounts(secrets)
    assert found.users == {} and found.admins == ("root-admin",)
    assert found.enabled  # no accounts left locks the server; it does not open it
    with pytest.raises(AccountError, match="no user 'ada'"):
        accounts.set_password(secrets, "ada", "third password")
    with pytest.raises(AccountError, match="no user 'ada'"):
        accounts.remove_user(secrets, "ada")


def test_without_the_users_table_accounts_are_off(secrets, tmp_path):
    assert not accounts.read_accounts(secrets).enabled
    assert accounts.read_accounts(secrets).admins == ("root-admin",)
    assert accounts.read_accounts(tmp_path / "absent.toml") == accounts.Accounts()


def test_the_file_is_created_when_absent_owner_only(tmp_path):
    path = tmp_path / "new" / "secrets.toml"
    accounts.add_user(path, "ada@example.com", "a long password")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text())["convstudio"]["users"]["ada@example.com"].startswith("$argon2")


def test_duplicates_and_names_differing_only_in_case_are_refused(secrets):
    accounts.add_user(secrets, "ada", "a long password")
    with pytest.raises(AccountError, match="already exists"):
        accounts.add_user(secrets, "ada", "another password")
    with pytest.raises(AccountError, match="letter case"):
        accounts.add_user(secrets, "ADA", "another password")


@pytest.mark.parametrize(
    "name, why",
    [
        ("", "empty"),
        ("   ", "empty"),
        (" ada", "spaces"),
        ("ada\n", "spaces"),
        ("a\x1bda", "U\\+001B"),
        ("ad\u200ba", "U\\+200B"),  # zero-width space: looks like "ada"
        ("ad\u202ea", "U\\+202E"),  # right-to-left override
        ("x" * 65, "at most 64"),
        (None, "text"),
    ],
)
def test_hostile_names_are_refused_with_the_reason(secrets, name, why):
    before = secrets.read_text()
    with pytest.raises(AccountError, match=why):
        accounts.add_user(secrets, name, "a long password")
    assert secrets.read_text() == before


def test_names_are_normalised_so_one_spelling_is_one_account(secrets):
    composed, decomposed = "jos\u00e9", "jose\u0301"
    assert accounts.add_user(secrets, decomposed, "a long password") == composed
    assert accounts.verify(accounts.read_accounts(secrets), decomposed, "a long password")


@pytest.mark.parametrize("password, why", [("short", "at least 8"), ("x" * 1025, "at most 1024"), (None, "text")])
def test_hostile_passwords_are_refused(secrets, password, why):
    with pytest.raises(AccountError, match=why):
        accounts.add_user(secrets, "ada", password)


@pytest.mark.parametrize(
    "content, why",
    [
        ("[convstudio\n", "cannot be read"),
        ('[convstudio]\nusers = "ada"\n', "must be a table"),
        ('[convstudio]\nadmins = "ada"\n', "admins must be a list"),
        ("convstudio = 3\n", "must be a table"),
    ],
)
def test_a_damaged_secrets_file_is_a_message_and_is_left_as_it_was(secrets, content, why):
    secrets.write_text(content)
    with pytest.raises(AccountError, match=why):
        accounts.add_user(secrets, "ada", "a long password")
    assert secrets.read_text() == content


def test_a_failed_write_leaves_the_old_file_whole(secrets, monkeypatch):
    accounts.add_user(secrets, "ada", "a long password")
    before = secrets.read_text()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(accounts.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        accounts.add_user(secrets, "bob", "a long password")
    assert secrets.read_text() == before
    assert sorted(os.listdir(secrets.parent)) == ["secrets.toml"]


def test_concurrent_additions_lose_no_account(secrets):
    names = [f"user{i}" for i in range(6)]
    threads = [threading.Thread(target=accounts.add_user, args=(secrets, n, "a long password")) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(accounts.read_accounts(secrets).users) == names


def test_a_flood_of_logins_runs_only_a_few_argon2_checks_at_once(secrets, monkeypatch):
    """Each check takes 64 MiB; a hundred parallel logins must not take 6 GiB."""
    accounts.add_user(secrets, "ada", "ada's long secret")
    found = accounts.read_accounts(secrets)
    real, lock, running, most = accounts._hasher, threading.Lock(), [0], [0]

    class Counting:
        hash = real.hash

        def verify(self, digest, password):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                time.sleep(0.01)  # long enough for the others to pile up
                raise VerifyMismatchError
            finally:
                with lock:
                    running[0] -= 1

    monkeypatch.setattr(accounts, "_hasher", Counting())
    threads = [threading.Thread(target=accounts.verify, args=(found, f"user{i}", "guess")) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 1 < most[0] <= accounts.MAX_PARALLEL_CHECKS
