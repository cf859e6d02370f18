"""The worker's heartbeat: a thread that tells the store, every few seconds, that the run is alive.

Liveness is decided from the store, not from /proc, so it works for a worker on any
machine: a scheduler that sees no beat for longer than the limit marks the run
interrupted, whatever killed the worker (a crash, the OOM killer, a machine that went
away). The beat also carries news back: a stop requested from any machine (the run
is `stopping`) becomes the local STOP file the training callback checks every batch,
and a lost claim (the run was given up on and claimed again) ends this worker at once,
so one run never trains twice at the same time.
"""

from __future__ import annotations

import os
import sys
import threading

from lib import settings
from lib.runs.store_errors import StoreError

LOST_CLAIM_EXIT = 75  # the exit code of a worker whose claim was taken over


def visible_gpus() -> str:
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    return gpus if gpus not in (None, "", "-1") else "cpu"


class Heartbeat:
    """with Heartbeat(store, run_id, attempt): ... beats every `interval` seconds until the block ends."""

    def __init__(self, store, run_id: str, attempt: int, interval: float | None = None, on_lost=None):
        self.store, self.run_id, self.attempt = store, run_id, attempt
        self.interval = interval or settings.heartbeat_interval_s()
        self.on_lost = on_lost or self._exit_lost
        self.status: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="convstudio-heartbeat", daemon=True)

    def beat(self) -> str | None:
        self.status = self.store.heartbeat(self.run_id, node=settings.node_name(), gpu=visible_gpus(), pid=os.getpid())
        if self.status is None:
            self.on_lost()
        elif self.status == "stopping":
            self.store.stop_file(self.run_id).touch()
        return self.status

    def start(self) -> Heartbeat:
        """Bind the store to this claim and beat once now (the run records node and GPU at once)."""
        self.store.bind_attempt(self.run_id, self.attempt)
        self.beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 1)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except (StoreError, OSError) as exc:  # a locked store: this beat is late, the next one tries
                print(f"heartbeat: {exc}", file=sys.stderr, flush=True)

    def _exit_lost(self) -> None:
        print(
            f"error: run {self.run_id} is no longer this worker's (attempt {self.attempt}): it finished or was"
            " claimed again after this worker stopped reporting; stopping without writing anything more",
            file=sys.stderr,
            flush=True,
        )
        os._exit(LOST_CLAIM_EXIT)  # a thread cannot stop Keras gracefully; nothing of ours is half-written

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
