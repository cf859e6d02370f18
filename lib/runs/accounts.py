"""Per-user accounts: argon2 hashes in the app's secrets file.

The accounts share .streamlit/secrets.toml with the rest of the policy (see
lib/runs/access.py), in the same TOML the app already reads:

    [convstudio]
    admins = ["ada", "ada@example.com"]   # account names, OIDC e-mails, Unix user names

    [convstudio.users]
    ada = "$argon2id$v=19$m=65536,t=3,p=4$..."
    bob = "$argon2id$v=19$..."

The presence of the `[convstudio.users]` table, even empty, is what turns
accounts on, so removing the last account locks the server rather than opening
it. Only hashes are stored (argon2-cffi's RFC 9106 defaults), never passwords.

Writes keep every other line of the file (tomlkit keeps comments and layout),
go through a temporary file in the same folder that is fsynced and renamed
over the target (a kill leaves the old file or the new one, never half of
one), are serialised between processes by a lock on the folder, and leave the
file readable by its owner only (0600).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
import tomllib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from lib import atomic_files

SECTION = "convstudio"
USERS = "users"
ADMINS = "admins"
MAX_NAME = 64
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; a cap keeps a hostile megabyte form field cheap

_hasher = PasswordHasher()
# Each check takes argon2's 64 MiB: a flood of logins from many addresses waits here instead of
# filling the server's memory (4 at once: 256 MiB, and about as many as two cores can run anyway).
MAX_PARALLEL_CHECKS = 4
_checking = threading.BoundedSemaphore(MAX_PARALLEL_CHECKS)


class AccountError(ValueError):
    """A refused account operation, worded for the person who asked for it."""


@dataclass(frozen=True)
class Accounts:
    users: dict[str, str] = field(default_factory=dict)  # name -> argon2 hash
    admins: tuple[str, ...] = ()
    enabled: bool = False  # the [convstudio.users] table exists (possibly empty)

    def is_admin(self, name: str) -> bool:
        return name in self.admins


def clean_name(name: object) -> str:
    """The name as it will be stored, or AccountError saying what is wrong with it.

    Names are NFC-normalised so two spellings of "é" are one account; control,
    format (zero-width, bidi override), private-use and unassigned characters
    are refused because they make two different names look the same.
    """
    if not isinstance(name, str):
        raise AccountError("a user name must be text")
    name = unicodedata.normalize("NFC", name)
    if not name or not name.strip():
        raise AccountError("a user name cannot be empty")
    if name != name.strip():
        raise AccountError("a user name cannot start or end with spaces")
    if len(name) > MAX_NAME:
        raise AccountError(f"a user name has at most {MAX_NAME} characters")
    bad = next((ch for ch in name if unicodedata.category(ch).startswith("C")), None)
    if bad is not None:
        raise AccountError(f"a user name cannot contain the character U+{ord(bad):04X}")
    return name


def check_password(password: object) -> str:
    if not isinstance(password, str):
        raise AccountError("a password must be text")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"a password has at most {MAX_PASSWORD} characters")
    return password


def read_accounts(path: str | Path) -> Accounts:
    """The accounts in the secrets file; none (and accounts off) when the file or table is absent."""
    path = Path(path)
    if not path.is_file():
        return Accounts()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AccountError(f"{path} cannot be read ({exc})") from None
    return accounts_from(data.get(SECTION, {}))


def accounts_from(section: object) -> Accounts:
    """Accounts from an already parsed [convstudio] section (the policy loader shares this)."""
    if not isinstance(section, dict):
        raise AccountError(f"[{SECTION}] must be a table")
    admins = section.get(ADMINS, [])
    if not isinstance(admins, list) or not all(isinstance(a, str) for a in admins):
        raise AccountError(f"[{SECTION}] {ADMINS} must be a list of user names")
    if USERS not in section:
        return Accounts(admins=tuple(admins))
    users = section[USERS]
    if not isinstance(users, dict) or not all(isinstance(h, str) for h in users.values()):
        raise AccountError(f"[{SECTION}.{USERS}] must map user names to password hashes")
    return Accounts(users=dict(users), admins=tuple(admins), enabled=True)


@functools.cache
def _decoy_hash() -> str:
    """A hash nobody's password matches, made once with the same parameters as real ones."""
    return _hasher.hash(os.urandom(16).hex())


def verify(accounts: Accounts, name: str, password: str) -> bool:
    """Do this name and this password belong together?

    Always runs one argon2 verification, against a decoy hash when the name is
    unknown or its hash damaged, so the time taken does not tell which names exist.
    """
    try:
        name = clean_name(name)
        password = check_password(password)
    except AccountError:
        name, password = "", ""
    stored = accounts.users.get(name) if name else None
    decoy = _decoy_hash()
    with _checking:
        try:
            _hasher.verify(stored or decoy, password)
        except InvalidHashError:
            with contextlib.suppress(VerificationError, InvalidHashError):
                _hasher.verify(decoy, password)  # a damaged stored hash: same time as a wrong password
            return False
        except VerificationError:
            return False
    return stored is not None


def add_user(path: str | Path, name: str, password: str, admin: bool = False) -> str:
    """Create an account (and make it an administrator when asked); returns the stored name."""
    name, password = clean_name(name), check_password(password)
    digest = _hasher.hash(password)
    with _editing(path) as section:
        users = _users_table(section)
        clash = next((u for u in users if u.casefold() == name.casefold()), None)
        if clash == name:
            raise AccountError(f"user {name!r} already exists (change the password with: user passwd {name})")
        if clash is not None:
            raise AccountError(f"user {clash!r} already exists; {name!r} differs only in letter case")
        users[name] = digest
        if admin and name not in section.get(ADMINS, []):
            section.setdefault(ADMINS, tomlkit.array()).append(name)
    return name


def set_password(path: str | Path, name: str, password: str) -> None:
    name, password = clean_name(name), check_password(password)
    digest = _hasher.hash(password)
    with _editing(path) as section:
        users = _users_table(section)
        if name not in users:
            raise AccountError(f"no user {name!r}")
        users[name] = digest


def remove_user(path: str | Path, name: str) -> bool:
    """Remove an account; returns whether the name was also taken off the admins list.

    Its admin rights go with it, so re-creating the name later does not
    silently bring them back. The table stays, even empty: no accounts means
    nobody logs in, not an open server.
    """
    name = clean_name(name)
    with _editing(path) as section:
        users = _users_table(section)
        if name not in users:
            raise AccountError(f"no user {name!r}")
        del users[name]
        admins = section.get(ADMINS)
        if admins is not None and name in admins:
            admins.remove(name)
            return True
    return False


def _users_table(section) -> tomlkit.items.Table:
    users = section.get(USERS)
    if users is None:
        users = section[USERS] = tomlkit.table()
    if not isinstance(users, dict):
        raise AccountError(f"[{SECTION}.{USERS}] must be a table of user names and hashes")
    return users


@contextlib.contextmanager
def _editing(path: str | Path) -> Iterator[tomlkit.items.Table]:
    """Yield the [convstudio] table of the file for editing; write it back atomically on success."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _folder_lock(path.parent):
        try:
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            doc = tomlkit.parse(text)
        except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
            raise AccountError(f"{path} cannot be read ({exc})") from None
        section = doc.get(SECTION)
        if section is None:
            section = doc[SECTION] = tomlkit.table()
        if not isinstance(section, dict):
            raise AccountError(f"{path}: [{SECTION}] must be a table")
        if not isinstance(section.get(ADMINS, []), list):
            raise AccountError(f"{path}: [{SECTION}] {ADMINS} must be a list of user names")
        yield section
        atomic_files.write_text(path, tomlkit.dumps(doc), keep_owner=True)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Serialise read-modify-write between processes (two `user add` at once must not lose one)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
