"""A run as the store keeps it, and reading one back from a row written by any ConvStudio.

Reading is forgiving: columns this version does not know are ignored, config keys it
does not know are dropped (and named in `Run.ignored_keys`), and a row that cannot be
read at all becomes a BadRow that listings report instead of failing on.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import time
from dataclasses import dataclass, field

from lib.config import TrainConfig
from lib.runs.progress import Progress

STATUSES = ("queued", "running", "stopping", "completed", "stopped", "failed", "interrupted")
ACTIVE = ("running", "stopping")
FINISHED = ("completed", "stopped", "failed", "interrupted")
RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


class UnknownRun(KeyError):
    """No run has this id (or the id is not a run id at all)."""

    def __str__(self):
        return f"no run {self.args[0]!r}"


@dataclass
class Run:
    id: str
    seq: int
    created: float
    status: str
    config: TrainConfig
    dataset: str
    architecture: str
    started: float | None = None
    finished: float | None = None
    owner: str | None = None
    parent_id: str | None = None
    device: str | None = None
    slot: str | None = None
    pid: int | None = None
    progress: Progress = field(default_factory=Progress)
    metrics: dict = field(default_factory=dict)
    test_accuracy: float | None = None
    test_loss: float | None = None
    epochs_completed: int = 0
    error: str | None = None
    heartbeat: float | None = None  # when its worker last said it was alive (any machine's clock)
    claimed: float | None = None  # when a scheduler last claimed it
    attempt: int = 0  # claims so far; only the worker of the latest claim may write
    node: str | None = None  # the machine (or Ray node) its worker runs on
    gpu: str | None = None  # the GPUs its worker sees (CUDA_VISIBLE_DEVICES), 'cpu' for none
    executor: str | None = None  # 'local' or 'ray'
    ignored_keys: tuple[str, ...] = ()  # config keys from a newer (or foreign) writer, dropped

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration(self) -> float | None:
        if not self.started:
            return None
        return (self.finished or time.time()) - self.started

    @property
    def placement(self) -> str:
        """'gpu-a · GPU 0' / 'server1 · CPU': where it runs or ran, '' before it started."""
        if not self.node:
            return ""
        gpu = "CPU" if self.gpu in (None, "", "cpu") else f"GPU {self.gpu}"
        return f"{self.node} · {gpu}"


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read: listings skip it and say so."""

    run_id: str
    reason: str

    def __str__(self):
        return f"run {self.run_id} cannot be read ({self.reason})"


RUN_FIELDS = {f.name for f in dataclasses.fields(Run)} - {"ignored_keys"}
CONFIG_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def check_run_id(run_id) -> str:
    """Run ids go into paths and queries: anything but the exact pattern is refused."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise UnknownRun(run_id)
    return run_id


def read_config(text: str) -> tuple[TrainConfig, tuple[str, ...]]:
    """A stored config and the keys it had that this version does not know (dropped, not fatal)."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("its config is not a JSON object")
    unknown = tuple(sorted(set(data) - CONFIG_FIELDS))
    return TrainConfig.from_dict({k: v for k, v in data.items() if k in CONFIG_FIELDS}), unknown


def _json_object(text) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def row_to_run(row: dict) -> Run:
    """A Run from a row of any schema version; raises ValueError when the row is unusable."""
    d = {k: v for k, v in row.items() if k in RUN_FIELDS}
    d["config"], ignored = read_config(d["config"])
    d["progress"] = Progress.from_json(d.get("progress"))
    d["metrics"] = _json_object(d.get("metrics"))
    d["attempt"] = d.get("attempt") or 0
    return Run(**d, ignored_keys=ignored)


def try_row_to_run(row: dict) -> Run | BadRow:
    try:
        return row_to_run(row)
    except Exception as exc:  # noqa: BLE001 - one damaged row must not hide the others
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        return BadRow(str(row.get("id", "?")), reason)


# -- sweeps (lib/sweeps gives their spec and trials meaning; the store keeps and decodes them) --
SWEEP_STATES = ("running", "completed", "stopped", "failed")
SWEEP_ID = re.compile(r"^sw-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


class UnknownSweep(KeyError):
    """No sweep has this id (or the id is not a sweep id at all)."""

    def __str__(self):
        return f"no sweep {self.args[0]!r}"


def new_sweep_id() -> str:
    return "sw-" + time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def check_sweep_id(sweep_id) -> str:
    """Sweep ids go into queries and addresses: anything but the exact pattern is refused."""
    if not isinstance(sweep_id, str) or not SWEEP_ID.match(sweep_id):
        raise UnknownSweep(sweep_id)
    return sweep_id


@dataclass
class SweepRow:
    """A sweep as stored: its spec as the JSON object it was given, its state and its driver's lease."""

    id: str
    created: float
    state: str
    spec: dict
    owner: str | None = None
    driver: str | None = None  # the one process driving it now ("host:pid")
    heartbeat: float | None = None  # when that driver last renewed its lease
    finished: float | None = None
    error: str | None = None


@dataclass
class TrialRow:
    """One trial of a sweep as stored: the settings proposed, the run training them, how it went."""

    sweep_id: str
    number: int
    params: dict
    state: str = "running"
    run_id: str | None = None
    value: float | None = None  # its best validation accuracy, once complete
    intermediate: dict[int, float] = field(default_factory=dict)  # epoch -> validation accuracy
    system_attrs: dict = field(default_factory=dict)  # the sampler's and pruner's bookkeeping
    reason: str | None = None  # why it ended early


SWEEP_FIELDS = {f.name for f in dataclasses.fields(SweepRow)}
TRIAL_FIELDS = {f.name for f in dataclasses.fields(TrialRow)}


@dataclass(frozen=True)
class BadSweep:
    """A sweep row that could not be read: listings skip it and say so."""

    sweep_id: str
    reason: str

    def __str__(self):
        return f"sweep {self.sweep_id} cannot be read ({self.reason})"


def bad_sweep(sweep_id, exc: Exception) -> BadSweep:
    return BadSweep(str(sweep_id), f"{type(exc).__name__}: {exc}".splitlines()[0][:200])


def row_to_sweep(row: dict) -> SweepRow:
    """A SweepRow from a row (unknown columns ignored); a spec that is not a JSON object raises ValueError."""
    d = {k: v for k, v in row.items() if k in SWEEP_FIELDS}
    d["spec"] = json.loads(d["spec"])
    if not isinstance(d["spec"], dict):
        raise ValueError(f"sweep {d['id']}: its spec is not a JSON object")
    return SweepRow(**d)


def row_to_trial(row: dict) -> TrialRow:
    d = {k: v for k, v in row.items() if k in TRIAL_FIELDS}
    d["params"] = json.loads(d["params"])
    d["intermediate"] = {int(k): float(v) for k, v in _json_object(d.get("intermediate")).items()}
    d["system_attrs"] = _json_object(d.get("system_attrs"))
    return TrialRow(**d)


def try_row_to_sweep(row: dict) -> SweepRow | BadSweep:
    try:
        return row_to_sweep(row)
    except Exception as exc:  # noqa: BLE001 - one damaged row must not hide the others
        return bad_sweep(row.get("id", "?"), exc)
