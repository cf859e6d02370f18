"""`python -m lib.cli store check | backup | restore | migrate`: looking after the run store.

    store check                      is the store sound? (SQLite's quick_check, schema version, unreadable rows)
    store backup [--out FILE]        an online copy of a SQLite store (default: runs/backups/convstudio-DATE.db)
    store restore FILE               put a backup in place (a damaged store is moved aside, not deleted);
                                     refused while runs are training or a scheduler runs on the store
    store migrate --from URL --to URL   copy every run and its metrics (and sweeps) into an empty store

These open the store themselves (a damaged one must still be checkable), so the CLI
hands them no Store. Database URLs are printed without their password.
"""

from __future__ import annotations

import json

from lib.runs import store_admin
from lib.runs.store import Store, default_runs_dir
from lib.runs.store_errors import redact


def register(subparsers) -> dict:
    p = subparsers.add_parser("store", help="check, back up, restore or migrate the run store")
    sub = p.add_subparsers(dest="store_command", required=True)
    check = sub.add_parser("check", help="is the store sound? exit code 1 when it is not")
    check.add_argument("--json", action="store_true")
    backup = sub.add_parser("backup", help="an online copy of a SQLite store")
    backup.add_argument("--out", default=None, help="the backup file (default: runs/backups/convstudio-DATE.db)")
    restore = sub.add_parser("restore", help="put a backup in place of the store (stop workers and schedulers first)")
    restore.add_argument("file")
    migrate = sub.add_parser("migrate", help="copy every run and its metrics into another (empty) store")
    migrate.add_argument("--from", dest="source", default=None, metavar="URL",
                         help="default: the current store (--store, CONVSTUDIO_STORE, the runs folder)")  # fmt: skip
    migrate.add_argument("--to", dest="target", required=True, metavar="URL", help="e.g. postgresql://user@host/db")
    return {"store": cmd_store}


NEEDS_NO_STORE = ("store",)  # the CLI must not open (and refuse) the store before these run


def cmd_store(args, store: Store | None = None) -> int:
    runs_dir = args.runs_dir or default_runs_dir()
    url = getattr(args, "store", None)
    if args.store_command == "check":
        return _check(runs_dir, url, args.json)
    if args.store_command == "backup":
        opened = Store(runs_dir, url=url)
        try:
            print(f"backed up {opened.where} to {store_admin.backup(opened, args.out)}")
        finally:
            opened.close()
        return 0
    if args.store_command == "restore":
        moved = store_admin.restore(runs_dir, args.file, url)
        if moved:
            print(f"the damaged store was moved to {moved}")
        print(f"restored {args.file}")
        return 0
    counts = store_admin.migrate(args.source or url, args.target, runs_dir)
    print(
        f"copied {counts['runs']} runs, {counts['epoch_metrics']} epoch rows and {counts['batch_metrics']} batch rows"
        f" ({counts['sweeps']} sweeps, {counts['sweep_trials']} trials)"
        f" to {redact(args.target)}; use it with --store URL or CONVSTUDIO_STORE"
    )
    return 0


def _check(runs_dir, url, as_json: bool) -> int:
    report = store_admin.check(runs_dir, url)
    if as_json:
        print(json.dumps({"store": report.where, "ok": report.ok, "problems": report.problems, "notes": report.notes}))
    else:
        print(f"{report.where}: {'sound' if report.ok else 'PROBLEMS'}")
        for note in report.notes:
            print(f"  {note}")
        for problem in report.problems:
            print(f"  problem: {problem}")
    return 0 if report.ok else 1
