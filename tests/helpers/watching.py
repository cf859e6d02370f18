"""20 browser sessions watching one running job, shared by tests/test_load_watchers.py and bench/watchers.py.

Each session is the real Train page of the running job in Streamlit's AppTest (20 Chromium tabs
are too heavy for a 2-core machine; bench/app_load.py tries them), rerun once a second as the
live view's fragment is: the run, its new batch rows into the session's bounded buffer, its
epochs, the five Plotly figures, the sidebar. The worker runs on one core and this process (the
server side) on the other, as on a server where browsers and the app do not share the training
job's feeding core; what is measured is what watching costs the job through the store (readers
must never block the writer; a reader that held the write lock 50 ms per refresh cut the job to
a third).

Four things made earlier versions of this measurement unreliable inside the full suite:
- CPU affinity in Linux is per thread. Pinning a running process pins only its main thread, so
  the worker's TensorFlow thread pools, made before the pin, could still run on the watchers'
  core. Now the worker inherits its core from the thread that starts it, and every thread of
  this process is moved off it (checked at the end).
- Single epochs of a tiny dataset at batch 16 swing by 2x in speed on this VM with nobody watching
  (work moves across epoch boundaries; the worker waits on its own thread hand-offs). Now epochs
  last about a second at batch 128 and a phase's rate is its images over its seconds.
- This VM's speed drifts, and jumps between regimes a third apart, for minutes at a time, with or
  without watchers. Now watched phases alternate with quiet ones (the sessions idle, as closed
  tabs); each watched phase is compared with the mean of the quiet phases on either side and the
  median of those ratios is judged.
- In a test process carrying a large heap, garbage collections over it slowed the sessions
  threefold. The heap is frozen while they watch.
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil
from streamlit.testing.v1 import AppTest

from lib.config import TrainConfig
from lib.runs.scheduler import Scheduler
from lib.runs.store import Store
from tests.conftest import ROOT
from ui import live

WATCHERS = 20
EPOCHS = 4  # epochs per phase (about a second each)
WORKER_CORE, WATCHER_CORE = 0, 1


def has_two_cores() -> bool:
    return {WORKER_CORE, WATCHER_CORE} <= os.sched_getaffinity(0)


@contextmanager
def frozen_heap():
    """Keep the garbage collector off what is already allocated.

    The test suite's heap (TensorFlow, hundreds of AppTests) is not a server's: without this, full
    collections over it cut the sessions' page runs from ~15 to ~5 a second in CI.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def pinned(core: int):
    """Run every thread of this process, and any process it starts, on `core` only."""
    tids = [t.id for t in psutil.Process().threads()]
    before = {tid: os.sched_getaffinity(tid) for tid in tids}
    try:
        for tid in tids:
            os.sched_setaffinity(tid, {core})
        yield
    finally:
        for tid, cpus in before.items():
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:  # the thread has ended
                pass


class Session:
    """One browser tab on the Train page of the run: Streamlit's AppTest, refreshed once a second.

    AppTest swaps process-wide Streamlit state (its mock Runtime) in and out around each run, so
    runs take turns under one lock; a real server's script threads take turns for the GIL the same
    way. Each session keeps its own session state, so its bounded batch buffer is the page's own.
    """

    turn = threading.Lock()

    def __init__(self, run_id: str):
        self.app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        self.app.query_params["run"] = run_id
        self.refreshes, self.errors = 0, []
        with self.turn:
            self.app.run()
            self.app.switch_page("pages/train.py").run()

    def refresh(self) -> None:
        with self.turn:
            self.app.run()
        self.refreshes += 1
        self.errors += [e.value for e in self.app.exception]

    def buffered_points(self) -> int:
        return len(self.app.session_state[live.BUFFER_KEY]["rows"])

    def watch(self, active: threading.Event, stop: threading.Event) -> None:
        """Refresh every second while `active`; idle (a closed tab) otherwise."""
        while not stop.is_set():
            if active.wait(0.2) and not stop.is_set():
                started = time.monotonic()
                self.refresh()
                stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def phase_rate(store: Store, run_id: str, scheduler: Scheduler, count: int = EPOCHS) -> float:
    """Images/s over the next `count` whole epochs (the one in progress is skipped).

    Whole phases, not a median of epochs: single epochs' times swing by 2x on this VM (work moves
    across the epoch boundary), while the sum over a few epochs holds steady.
    """
    start = store.get(run_id).epochs_completed + 1
    while True:
        scheduler.tick()
        rows = [e for e in store.epochs(run_id) if e["epoch"] > start][:count]
        if len(rows) == count:
            images = sum(e["images_per_second"] * e["seconds"] for e in rows)
            return images / sum(e["seconds"] for e in rows)
        time.sleep(0.2)


def busiest_processes() -> str:
    """What else was using the machine, for the failure message."""
    procs = list(psutil.process_iter(["pid", "name"]))
    for p in procs:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(1.0)
    usage = []
    for p in procs:
        try:
            usage.append((p.cpu_percent(None), p.info["pid"], p.info["name"]))
        except psutil.Error:
            pass
    return ", ".join(f"{name} ({pid}) {cpu:.0f}%" for cpu, pid, name in sorted(usage, reverse=True)[:5])


def cost_ratio(quiet: list[float], watched: list[float]) -> float:
    """Median over watched phases of its rate against the mean of the quiet phases on either side.

    Paired neighbours, because this VM's speed drifts and jumps between regimes (a third apart)
    for minutes at a time; the median, because a single phase can be an outlier either way.
    """
    neighbours = zip(quiet[:-1], quiet[1:], strict=True)
    return statistics.median(2 * w / (before + after) for w, (before, after) in zip(watched, neighbours, strict=True))


@dataclass
class Watch:
    """What a watch measured: images/s of quiet and watched phases, the sessions, memory, cores."""

    quiet: list[float] = field(default_factory=list)
    watched: list[float] = field(default_factory=list)
    memory: list[int] = field(default_factory=list)
    watching_s: float = 0.0
    sessions: list[Session] = field(default_factory=list)
    worker_cores: set[int] = field(default_factory=set)
    others: str = ""

    @property
    def ratio(self) -> float:
        return cost_ratio(self.quiet, self.watched)

    @property
    def refreshes_per_s(self) -> float:
        return sum(s.refreshes for s in self.sessions) / self.watching_s

    @property
    def growth(self) -> int:
        return self.memory[-1] - self.memory[0]

    def figures(self) -> str:
        return (
            f"watched/quiet {self.ratio:.3f}: quiet {[round(q) for q in self.quiet]} images/s, "
            f"watched {[round(w) for w in self.watched]}, {self.refreshes_per_s:.1f} page runs/s while watched, "
            f"RSS {self.growth / 2**20:+.1f} MB; busiest: {self.others}"
        )


def watch_job(store: Store, data_dir: str, rounds: tuple[int, int], watchers: int = WATCHERS) -> Watch:
    """Train LeNet-5 on `data_dir` and watch it: at least rounds[0] watched phases, each followed by a
    quiet one, and more (up to rounds[1]) while the ratio is below 0.9. Needs CONVSTUDIO_DATA_DIR and
    CONVSTUDIO_NO_SCHEDULER set by the caller (this function's scheduler is the only one)."""
    config = TrainConfig(dataset="mnist", architecture="lenet5", epochs=500, batch_size=128, data_dir=data_dir)
    run_id = store.create_run(config)
    scheduler = Scheduler(store, slots=["cpu"])
    with pinned(WORKER_CORE):
        scheduler.tick()  # the worker inherits this thread's core from birth, TensorFlow pools included
    worker = psutil.Process(store.get(run_id).pid)
    watch = Watch()
    with frozen_heap(), pinned(WATCHER_CORE):
        watch.sessions = [Session(run_id) for _ in range(watchers)]
        for s in watch.sessions:
            assert f"Run `{run_id}` · running" in "".join(m.value for m in s.app.markdown)
        active, stop = threading.Event(), threading.Event()
        threads = [threading.Thread(target=s.watch, args=(active, stop)) for s in watch.sessions]
        for t in threads:
            t.start()
        phase_rate(store, run_id, scheduler, 2)  # warm up
        watch.quiet.append(phase_rate(store, run_id, scheduler))
        while len(watch.watched) < rounds[1] and (len(watch.watched) < rounds[0] or watch.ratio < 0.9):
            active.set()
            began = time.monotonic()
            watch.watched.append(phase_rate(store, run_id, scheduler))
            watch.watching_s += time.monotonic() - began
            watch.memory.append(psutil.Process().memory_info().rss)
            active.clear()
            watch.quiet.append(phase_rate(store, run_id, scheduler))
        stop.set()
        for t in threads:
            t.join()
        watch.worker_cores = {c for t in worker.threads() for c in os.sched_getaffinity(t.id)}
        watch.others = busiest_processes()
        store.request_stop(run_id)
        while not store.get(run_id).is_finished:
            scheduler.tick()
            time.sleep(0.2)
    return watch
