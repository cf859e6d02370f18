"""`cli sweep`, `cli sweeps` and `cli lr-find`: searching settings through the shared queue.

    python -m lib.cli sweep --dataset mnist --model lenet5 --vary learning_rate=1e-4:1e-2:log \\
        --vary batch_size=32,64,128 --strategy tpe --trials 12 --epochs 3 [--prune] [--json]
    python -m lib.cli sweep --resume SWEEP_ID      # carry on after a crash (or a stop)
    python -m lib.cli sweep --stop SWEEP_ID
    python -m lib.cli sweeps [--json]
    python -m lib.cli lr-find --dataset mnist --model lenet5 [--start 1e-6 --end 1 --steps 200] [--json]

`sweep` drives the sweep in the foreground (and runs the queue, like `train`): a line
on stderr as each trial is queued and ends; with --json one object last. Ctrl-C
stops the sweep and its trials; `sweep --resume ID` carries on from there.

Every trial is a run admitted like `train`'s (lib.runs.submit): a sweep whose trials
would break a per-run limit (max_epochs) is refused before anything is recorded, and
under max_queued_per_user trials are queued one at a time as room frees, each wait
said once. Only the sweep's owner or an administrator may stop or resume it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from lib.cli.errors import CliError
from lib.config import OPTIMIZERS, TrainConfig
from lib.data import datasets
from lib.runs import access, submit
from lib.runs.scheduler import Scheduler
from lib.sweeps import lr_finder
from lib.sweeps.driver import Driver, SweepBusy, drive, reopen_sweep, stop_sweep
from lib.sweeps.record import Sweep, SweepRecords, SweepSpec, UnknownSweep
from lib.sweeps.space import SearchSpace, SpaceError
from lib.sweeps.strategy import PRUNERS, STRATEGIES

# the base settings a sweep or a finder run may be given: (option, field, type)
BASE_OPTIONS = (
    ("--dataset", "dataset", str), ("--model", "architecture", str), ("--batch-size", "batch_size", int),
    ("--lr", "learning_rate", float), ("--optimizer", "optimizer", str), ("--lr-schedule", "lr_schedule", str),
    ("--weight-decay", "weight_decay", float), ("--dropout", "dropout", float), ("--width", "width", float),
    ("--validation-split", "validation_split", float), ("--seed", "seed", int),
    ("--train-limit", "train_limit", int),
)  # fmt: skip


def register(sub) -> dict:
    sweep = sub.add_parser("sweep", help="search settings: a group of runs chosen by grid, random or TPE")
    _base_arguments(sweep)
    sweep.add_argument("--epochs", type=int, help="epochs per trial (default 3)")
    sweep.add_argument("--vary", action="append", metavar="FIELD=SPEC", help="e.g. learning_rate=1e-4:1e-2:log")
    sweep.add_argument("--strategy", choices=STRATEGIES, default="random")
    sweep.add_argument("--trials", type=int, help="how many trials (a grid: all its points by default)")
    sweep.add_argument(
        "--prune", nargs="?", const="median", choices=PRUNERS[1:], help="stop poor trials early (median | hyperband)"
    )
    sweep.add_argument("--parallel", type=int, help="trials at once (default: one per worker slot)")
    sweep.add_argument("--search-seed", type=int, default=0, help="seed of the sampler (the trials' own: --seed)")
    sweep.add_argument("--detach", action="store_true", help="record the sweep and return; the app drives it")
    keep = sweep.add_mutually_exclusive_group()
    keep.add_argument("--resume", metavar="SWEEP_ID", help="carry on a sweep whose driver stopped or crashed")
    keep.add_argument("--stop", metavar="SWEEP_ID", help="stop a sweep and its queued and running trials")
    sweep.add_argument("--json", action="store_true", help="print one JSON object with the outcome last")

    sweeps = sub.add_parser("sweeps", help="list sweeps")
    sweeps.add_argument("--json", action="store_true")

    finder = sub.add_parser("lr-find", help="the learning-rate finder: loss against an exponentially rising rate")
    _base_arguments(finder)
    finder.add_argument("--start", type=float, default=lr_finder.DEFAULT_START, help="first rate (default 1e-6)")
    finder.add_argument("--end", type=float, default=lr_finder.DEFAULT_END, help="last rate (default 1)")
    finder.add_argument("--steps", type=int, default=lr_finder.DEFAULT_STEPS, help="batches (default 200)")
    finder.add_argument("--json", action="store_true")
    return {"sweep": cmd_sweep, "sweeps": cmd_sweeps, "lr-find": cmd_lr_find}


def _base_arguments(p: argparse.ArgumentParser) -> None:
    for option, field, kind in BASE_OPTIONS:
        choices = OPTIMIZERS if field == "optimizer" else None
        p.add_argument(option, dest=field, type=kind, choices=choices)
    p.add_argument("--batchnorm", action=argparse.BooleanOptionalAction)
    p.add_argument("--data-dir", default=None, help="holds mnist/, fashion-mnist/, ... ($CONVSTUDIO_DATA_DIR)")


def base_config(args, **fixed) -> TrainConfig:
    """The settings every trial (or the finder run) starts from; found data, checked limits."""
    if args.data_dir and not os.path.isdir(args.data_dir):
        raise CliError(f"data folder {args.data_dir!r} does not exist")
    fields = {f: getattr(args, f) for _, f, _ in BASE_OPTIONS if getattr(args, f) is not None}
    if args.batchnorm is not None:
        fields["batchnorm"] = args.batchnorm
    fields.update(fixed)
    fields["data_dir"] = os.path.abspath(args.data_dir) if args.data_dir else datasets.default_data_dir()
    config = TrainConfig.with_defaults(**fields).validate()
    datasets.load_raw(config.dataset, config.data_dir)  # a missing dataset is said now, not by every trial
    return config


# -- sweep -----------------------------------------------------------------------------
def cmd_sweep(args, store) -> int:
    records = SweepRecords(store)
    policy = access.load_policy()  # the administrator's limits, as for `train`
    try:
        if args.stop:
            return _stop(store, records, args.stop, policy)
        if args.resume:
            sweep_id = _resume(store, records, args.resume, policy)
        else:
            sweep_id = _create(args, store, records, policy)
        if args.detach:
            print(json.dumps({"sweep_id": sweep_id, "state": "running"}) if args.json else sweep_id)
            return 0
        return _drive(store, records, sweep_id, args.json, policy)
    except (SpaceError, UnknownSweep, SweepBusy) as exc:
        raise CliError(str(exc)) from None


def _create(args, store, records: SweepRecords, policy: access.Policy) -> str:
    if not args.vary:
        raise CliError("say what to search: --vary FIELD=SPEC (e.g. --vary learning_rate=1e-4:1e-2:log)")
    if args.parallel is not None and not 1 <= args.parallel <= 64:
        raise CliError("--parallel must be between 1 and 64")
    space = SearchSpace.parse(args.vary)
    base = base_config(args, epochs=3 if args.epochs is None else args.epochs)
    if not base.validation_split:
        raise CliError("trials are compared on validation accuracy: give a --validation-split above 0")
    spec = SweepSpec(
        base=base,
        space=space,
        strategy=args.strategy,
        pruner=args.prune or "none",
        trials=args.trials,
        seed=args.search_seed,
        parallel=args.parallel or len(Scheduler(store).slots),
    )
    for point in space.grid() if args.strategy == "grid" else []:
        space.apply(base, point)  # every grid point is a valid config, or nothing is queued
    # every trial runs base.epochs (epochs cannot vary): a per-run limit refuses the whole sweep now;
    # without a user the queue limit is left to the driver, which admits trials one at a time
    access.check_submission(policy, store, None, base)
    sweep_id = records.create(spec, owner=access.os_user())  # the OS account, never $USER
    search = spec.search()
    print(f"sweep {sweep_id}: {search.trials} trials, {args.strategy}, {base.epochs} epochs each", file=sys.stderr)
    for line in space.describe():
        print(f"  {line}", file=sys.stderr)
    return sweep_id


def _check_may_act(policy: access.Policy, sweep: Sweep, verb: str) -> None:
    if not access.may_act_on(policy, access.os_user(), sweep.owner):
        who = f"{sweep.owner} or an administrator" if sweep.owner else "an administrator"
        raise CliError(f"only {who} can {verb} sweep {sweep.id}")


def _resume(store, records: SweepRecords, sweep_id: str, policy: access.Policy) -> str:
    sweep = records.get(sweep_id)
    _check_may_act(policy, sweep, "resume")
    if sweep.state == "completed":
        raise CliError(f"sweep {sweep_id} has completed; nothing to resume")
    if sweep.state in ("stopped", "failed"):
        reopen_sweep(store, records, sweep_id)
    done = sum(t.state in ("complete", "pruned", "fail") for t in records.trials(sweep_id))
    print(f"sweep {sweep_id}: resuming after {done} finished trials", file=sys.stderr)
    return sweep_id


def _stop(store, records: SweepRecords, sweep_id: str, policy: access.Policy) -> int:
    sweep = records.get(sweep_id)
    _check_may_act(policy, sweep, "stop")
    if not sweep.is_running:
        raise CliError(f"sweep {sweep_id} is {sweep.state}; nothing to stop")
    stopped = stop_sweep(store, records, sweep_id)
    print(f"sweep {sweep_id} stopped ({stopped} queued or running trials asked to stop)")
    return 0


def _drive(store, records: SweepRecords, sweep_id: str, as_json: bool, policy: access.Policy) -> int:
    total = records.get(sweep_id).search().trials

    def show(event) -> None:
        where = f"[{event.trial + 1}/{total}] " if event.trial is not None else ""
        print(where + event.text, file=sys.stderr, flush=True)

    driver = Driver(store, records, sweep_id, policy=policy)  # each trial admitted like `train`'s runs
    try:
        state = drive(driver, Scheduler(store), on_event=show)
    except KeyboardInterrupt:
        stop_sweep(store, records, sweep_id)
        print(f"\nsweep stopped; carry on with: python -m lib.cli sweep --resume {sweep_id}", file=sys.stderr)
        state = "stopped"
    summary = sweep_summary(records, records.get(sweep_id))
    if as_json:
        print(json.dumps(summary))
    elif summary["best_run_id"]:
        settings = ", ".join(f"{k}={v}" for k, v in summary["best_settings"].items())
        print(f"{sweep_id} {state}: best run {summary['best_run_id']} ({settings})"
              f" validation accuracy {summary['best_val_accuracy']:.4f}")  # fmt: skip
    else:
        print(f"{sweep_id} {state}: no trial finished with a score")
    return 0 if state == "completed" else 1


def sweep_summary(records: SweepRecords, sweep: Sweep) -> dict:
    trials = records.trials(sweep.id)
    best = sweep.search().best([t.record for t in trials])
    best_trial = next((t for t in trials if best and t.number == best.number), None)
    return {
        "sweep_id": sweep.id,
        "state": sweep.state,
        "trials": [
            {
                "number": t.number,
                "run_id": t.run_id,
                "state": t.state,
                "settings": t.record.params,
                "best_val_accuracy": t.best,
                "reason": t.reason,
            }
            for t in trials
        ],
        "best_run_id": best_trial.run_id if best_trial else None,
        "best_settings": best.params if best else None,
        "best_val_accuracy": best.value if best else None,
    }


def cmd_sweeps(args, store) -> int:
    records = SweepRecords(store)
    sweeps = records.list()
    for bad in records.bad:  # one damaged record is reported, not fatal for the listing
        print(f"warning: {bad}", file=sys.stderr)
    if args.json:
        print(json.dumps([sweep_summary(records, s) for s in sweeps]))
        return 0
    print(f"{'sweep':26} {'state':10} {'strategy':8} {'trials':>7} {'best val acc':>12}  varies")
    for s in sweeps:
        summary = sweep_summary(records, s)
        done = sum(t["state"] in ("complete", "pruned", "fail") for t in summary["trials"])
        best = f"{summary['best_val_accuracy']:.4f}" if summary["best_val_accuracy"] is not None else "-"
        varies = ", ".join(s.spec.space.names)
        total = s.search().trials
        print(f"{s.id:26} {s.state:10} {s.spec.strategy:8} {f'{done}/{total}':>7} {best:>12}  {varies}")
    return 0


# -- lr-find -----------------------------------------------------------------------------
def cmd_lr_find(args, store) -> int:
    try:
        config = lr_finder.finder_config(base_config(args), args.start, args.end, args.steps)
    except lr_finder.LRFinderError as exc:
        raise CliError(str(exc)) from None
    run_id = submit.submit(store, config, access.os_user(), access.load_policy())  # the app's limits
    print(f"learning-rate finder queued as run {run_id}", file=sys.stderr)
    scheduler = Scheduler(store)
    try:
        run = scheduler.wait(run_id, poll=0.5)
    except KeyboardInterrupt:
        store.request_stop(run_id)
        run = scheduler.wait(run_id)
    found = run.metrics.get("lr_find") or {}
    summary = {
        "run_id": run_id,
        "status": run.status,
        "suggested_rate": found.get("suggested"),
        "min_loss_rate": found.get("min_loss_rate"),
        "batches": found.get("batches"),
        "problem": found.get("problem") or (run.error if run.status == "failed" else None),
    }
    if as_problem := summary["problem"]:
        print(f"error: {as_problem}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    elif summary["suggested_rate"]:
        print(
            f"{run_id}: suggested learning rate {summary['suggested_rate']:.2e}"
            f" (the loss was lowest at {summary['min_loss_rate']:.2e})"
        )
    return 0 if summary["suggested_rate"] else 1
