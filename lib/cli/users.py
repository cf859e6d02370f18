"""`python -m lib.cli user add NAME [--admin] | passwd NAME | remove NAME`: the server's login accounts.

    user add NAME [--admin] [--password-stdin]
    user passwd NAME [--password-stdin]
    user remove NAME

They edit `[convstudio.users]` in the secrets file (settings.secrets_path(),
CONVSTUDIO_SECRETS), which the app re-reads on its next page run. Who may run
them is who may write that file (it is kept 0600): the account that runs the
server, or root. The password is asked twice on the terminal (getpass), or read
from the first line of standard input with --password-stdin, for scripts.
"""

from __future__ import annotations

import getpass
import sys

from lib.cli.errors import CliError
from lib.config import ConfigError
from lib.runs import access, accounts


def register(subparsers) -> dict:
    p = subparsers.add_parser("user", help="add, change or remove login accounts (secrets.toml)")
    sub = p.add_subparsers(dest="user_command", required=True)

    add = sub.add_parser("add", help="create an account")
    add.add_argument("name", help="the name typed at the login form (runs are recorded under it)")
    add.add_argument("--admin", action="store_true", help="may stop, delete and resume anyone's runs")
    _password_source(add)

    passwd = sub.add_parser("passwd", help="set a new password")
    passwd.add_argument("name")
    _password_source(passwd)

    remove = sub.add_parser("remove", help="delete an account (its runs stay, under its name)")
    remove.add_argument("name")
    return {"user": cmd_user}


def _password_source(p) -> None:
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")


def cmd_user(args, store) -> int:
    path = access.secrets_path()
    handler = {"add": cmd_add, "passwd": cmd_passwd, "remove": cmd_remove}[args.user_command]
    try:
        handler(args, path)
    except accounts.AccountError as exc:
        raise CliError(str(exc)) from None
    except PermissionError:
        raise CliError(
            f"cannot write {path}: permission denied; accounts are managed by the account that runs the server"
        ) from None
    _warn_if_not_in_effect(path)
    return 0


def cmd_add(args, path) -> None:
    name = accounts.clean_name(args.name)
    if name in accounts.read_accounts(path).users:  # say so before asking for a password
        raise accounts.AccountError(f"user {name!r} already exists (change the password with: user passwd {name})")
    accounts.add_user(path, name, read_password(args, name), admin=args.admin)
    admin = accounts.read_accounts(path).is_admin(name)
    print(f"added {name}" + (" (administrator)" if admin else ""))


def cmd_passwd(args, path) -> None:
    name = accounts.clean_name(args.name)
    if name not in accounts.read_accounts(path).users:
        raise accounts.AccountError(f"no user {name!r}")
    accounts.set_password(path, name, read_password(args, name))
    print(f"password changed for {name}")


def cmd_remove(args, path) -> None:
    name = accounts.clean_name(args.name)
    was_admin = accounts.remove_user(path, name)
    print(f"removed {name}" + (" and took it off the admins list" if was_admin else ""))


def read_password(args, name: str) -> str:
    """The new password, checked for length before anything is written."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password on; pass --password-stdin to read it from stdin")
    else:
        try:
            password = getpass.getpass(f"New password for {name}: ")
            if getpass.getpass("Again: ") != password:
                raise CliError("the two passwords differ; nothing was changed")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            raise CliError("no password given; nothing was changed") from None
    return accounts.check_password(password)


def _warn_if_not_in_effect(path) -> None:
    """Say so when the file as now written does not give the accounts to the app (a leftover shared password)."""
    try:
        rules = access.load_policy(path)
    except ConfigError as exc:
        print(f"warning: the app will refuse logins until {path} is fixed: {exc}", file=sys.stderr)
        return
    if rules.mode != access.ACCOUNTS:
        print(f"warning: {path} logs in with {rules.mode}, so these accounts are not used", file=sys.stderr)
