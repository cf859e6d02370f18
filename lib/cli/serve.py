"""`python -m lib.cli serve`: the scheduler as a long-running process, no browser needed.

    serve [--interval SECONDS] [--for SECONDS]

It claims queued runs, starts their workers (locally, or on Ray with
CONVSTUDIO_EXECUTOR=ray), notices workers that died, and keeps doing so until it is
stopped (Ctrl-C, SIGTERM: systemd's stop). Several may run on one store: they take
turns through a lease in the store, so a second `serve` (or the app's own scheduler)
stands by instead of starting anything twice, and takes over within seconds when the
first one stops. Workers it started keep training when it stops, or is killed: local
workers are sessions of their own, Ray runs detached actors that the next `serve` finds
again. On Ray, a node that does not see the runs folder is named here and gets no runs.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from lib.runs.scheduler import Scheduler
from lib.runs.store import Store


def register(subparsers) -> dict:
    p = subparsers.add_parser("serve", help="run the scheduler until stopped (no app needed)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between scheduler ticks (default 1)")
    p.add_argument("--for", dest="duration", type=float, default=None, metavar="SECONDS",
                   help="stop after this long (default: until Ctrl-C or SIGTERM)")  # fmt: skip
    return {"serve": cmd_serve}


def cmd_serve(args, store: Store) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.duration:
        timer = threading.Timer(args.duration, stop.set)
        timer.daemon = True  # a SIGTERM before the time is up must not wait for it
        timer.start()
    scheduler = Scheduler(store)
    executor = scheduler.executor
    print(f"serving {store.where} with the {executor.name} executor; Ctrl-C to stop", file=sys.stderr, flush=True)
    reporter = threading.Thread(target=_report_role, args=(scheduler, stop), daemon=True)
    reporter.start()
    try:
        scheduler.run_forever(interval=max(0.2, args.interval), stop=stop)
    finally:
        scheduler.close()
    print("stopped; workers that were training keep going", file=sys.stderr, flush=True)
    return 0


def _report_role(scheduler: Scheduler, stop: threading.Event) -> None:
    """One line whenever this process starts or stops being the scheduler that starts work."""
    leading = None
    while not stop.wait(0.5):
        if scheduler.leading != leading:
            leading = scheduler.leading
            role = "scheduling" if leading else "standing by: another scheduler holds this store's lease"
            print(f"{time.strftime('%H:%M:%S')} {role}", file=sys.stderr, flush=True)
