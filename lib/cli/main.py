"""The command line: python -m lib.cli train | runs | models | datasets | stop.

`train` goes through the same queue and worker as the dashboard: it enqueues a
run, runs a scheduler in the foreground until that run ends, and draws a
progress bar on stderr. Every refusal is one line on stderr and a non-zero
exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from lib import models, presets
from lib.cli import dataset, evaluate, predict, serve, sweep, teach, users
from lib.cli import store as store_command
from lib.cli.errors import CliError, Parser
from lib.config import LR_SCHEDULES, OPTIMIZERS, ConfigError, TrainConfig
from lib.data import datasets
from lib.model_files import ModelRefused
from lib.runs import access, outcome, resume, submit
from lib.runs.progress import format_seconds
from lib.runs.scheduler import Scheduler
from lib.runs.store import STATUSES, Store, UnknownRun, default_runs_dir
from lib.runs.store_errors import StoreError


# -- argument parsing -----------------------------------------------------
def build_parser() -> Parser:
    parser = Parser(
        prog="python -m lib.cli",
        description="ConvStudio from the command line. The options below (--runs-dir, --store, --data-dir) "
        "apply to every command and may come before or after it.",
    )
    parser.add_argument("--runs-dir", default=None, help="run store folder (default: $CONVSTUDIO_RUNS_DIR or ./runs)")
    parser.add_argument(
        "--data-dir", dest="global_data_dir", default=None, help="holds mnist/, ... ($CONVSTUDIO_DATA_DIR)"
    )
    parser.add_argument("--store", default=None, metavar="URL",
                        help="the store's database: sqlite:///FILE or postgresql://user@host/db"
                        " (default: $CONVSTUDIO_STORE, else SQLite in the runs folder)")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = sub.add_parser("train", help="train a model (through the shared queue)")
    add_train_arguments(train)

    runs = sub.add_parser("runs", help="list runs")
    runs.add_argument("--json", action="store_true")
    runs.add_argument("--status", choices=STATUSES)

    sub.add_parser("models", help="list architectures")
    ds = sub.add_parser("datasets", help="list datasets and where they were found")
    ds.add_argument("--data-dir", default=None)

    stop = sub.add_parser("stop", help="ask a queued or running run to stop")
    stop.add_argument("run_id")
    for module in COMMAND_MODULES:
        COMMANDS.update(module.register(sub))
    return parser


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Every setting defaults to None ("not given"): TrainConfig's default, or the parent's when fine-tuning."""
    d = TrainConfig()
    p.add_argument("--dataset", help=f"default {d.dataset}")
    p.add_argument("--model", dest="architecture", help=f"default {d.architecture}")
    p.add_argument("--epochs", type=int, help=f"default {d.epochs}; with --resume: how many more")
    p.add_argument("--batch-size", type=int, help=f"default {d.batch_size}")
    p.add_argument("--lr", dest="learning_rate", type=float, help=f"default {d.learning_rate}")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES)
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {d.optimizer}")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--dropout", type=float, help=f"default {d.dropout}")
    p.add_argument("--batchnorm", action=argparse.BooleanOptionalAction)
    p.add_argument("--width", type=float, help="width factor, default 1.0")
    p.add_argument(
        "--augment",
        metavar="SPEC",
        help="e.g. shift=0.1,rotation=10,zoom=0.1,flip  ('standard' = shift 0.1, rotation 10, zoom 0.1)",
    )
    p.add_argument("--validation-split", type=float, help=f"default {d.validation_split}")
    p.add_argument("--early-stopping", dest="early_stopping_patience", type=int, metavar="PATIENCE")
    p.add_argument("--seed", type=int)
    p.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction)
    p.add_argument("--steps-per-execution", type=int, help="batches per compiled call; 0 = auto (default)")
    p.add_argument("--multi-gpu", action=argparse.BooleanOptionalAction, help="one run across all visible GPUs")
    p.add_argument("--train-limit", type=int, help="train on this many images (stratified)")
    p.add_argument("--data-dir", default=None, help="holds mnist/, fashion-mnist/, ... ($CONVSTUDIO_DATA_DIR)")
    p.add_argument(
        "--preset", action="store_true", help="start from the dataset's recommended recipe (other options override it)"
    )
    keep = p.add_mutually_exclusive_group()
    keep.add_argument("--resume", metavar="RUN_ID", help="continue a finished run for --epochs more epochs")
    keep.add_argument("--finetune", metavar="RUN_ID", help="a new run starting from RUN_ID's weights")
    p.add_argument("--detach", action="store_true", help="queue the run and return at once")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results last")


TRAIN_FIELDS = (
    "dataset", "architecture", "epochs", "batch_size", "learning_rate", "lr_schedule", "optimizer",
    "weight_decay", "dropout", "batchnorm", "width", "validation_split", "early_stopping_patience",
    "seed", "mixed_precision", "steps_per_execution", "train_limit", "multi_gpu",
)  # fmt: skip


def parse_augment(spec: str) -> dict:
    if spec == "none":
        return {"augment_shift": 0.0, "augment_rotation": 0.0, "augment_zoom": 0.0, "augment_flip": False}
    if not spec:
        return {}
    if spec == "standard":
        spec = "shift=0.1,rotation=10,zoom=0.1"
    out = {}
    for part in spec.split(","):
        key, _, value = part.strip().partition("=")
        if key == "flip" and not value:
            out["augment_flip"] = True
        elif key in ("shift", "rotation", "zoom") and value:
            try:
                out[f"augment_{key}"] = float(value)
            except ValueError:
                raise CliError(f"--augment: {key} needs a number, got {value!r}") from None
        else:
            raise CliError(f"--augment: cannot read {part!r}; use shift=F,rotation=DEG,zoom=F,flip")
    return out


def given_settings(args) -> dict:
    """The settings the user typed (augmentation spelled out), without the ones left out."""
    fields = {k: getattr(args, k) for k in TRAIN_FIELDS if getattr(args, k) is not None}
    if args.augment is not None:
        fields.update(parse_augment(args.augment))
    return fields


def config_from_args(args) -> TrainConfig:
    if args.data_dir and not os.path.isdir(args.data_dir):
        raise CliError(f"data folder {args.data_dir!r} does not exist")
    fields = given_settings(args)
    fields["data_dir"] = os.path.abspath(args.data_dir) if args.data_dir else datasets.default_data_dir()
    if args.preset:
        dataset = fields.pop("dataset", TrainConfig().dataset)
        recipe = presets.get(dataset)
        if recipe is None:
            raise CliError(f"--preset: there is no recipe for {dataset!r} yet")
        return recipe.config(**fields)
    return TrainConfig.with_defaults(**fields).validate()


# -- commands -----------------------------------------------------------------
def ensure_dataset(config: TrainConfig) -> None:
    """Find (or download) the data in the foreground, so a missing dataset is said here, at once."""
    datasets.load_raw(config.dataset, config.data_dir)


def progress_line(run) -> str:
    p = run.progress
    if run.status == "queued":
        return "waiting in the queue"
    if not run.is_active:
        return run.status
    if p.phase != "training" or not p.steps:
        return p.describe()
    frac = p.batch / p.steps
    bar = "#" * int(frac * 20) + "." * (20 - int(frac * 20))
    eta_text = f" ETA {format_seconds(p.eta_seconds)}" if p.eta_seconds is not None else ""
    metrics = f" loss {p.loss:.4f} acc {p.accuracy:.4f}" if p.loss is not None and p.accuracy is not None else ""
    return f"epoch {p.epoch}/{p.epochs} [{bar}] {p.batch}/{p.steps}{metrics}{eta_text}"


def cmd_train(args, store: Store) -> int:
    run_id = queue_training(args, store)
    print(f"run {run_id} queued", file=sys.stderr)
    if args.detach:
        print(json.dumps({"run_id": run_id, "status": "queued"}) if args.json else run_id)
        return 0

    scheduler = Scheduler(store)
    show = ProgressDisplay(store, run_id)
    try:
        run = scheduler.wait(run_id, on_poll=show)
    except KeyboardInterrupt:
        stop = StopOnInterrupt(run_id)
        previous = signal.signal(signal.SIGINT, stop.on_second_interrupt)
        print("\nstopping (the model trained so far is kept)...", file=sys.stderr)
        stop.ask(store)
        run = scheduler.wait(run_id)
        signal.signal(signal.SIGINT, previous)
    show.close()
    return report_run(run, args.json)


class StopOnInterrupt:
    """After the first Ctrl-C: ask the run to stop; a second Ctrl-C stops the waiting, not the run's
    clean stop (one line, exit 130, no traceback).

    A second Ctrl-C that comes while the request is being recorded only marks the wish to leave:
    the command leaves once the request is recorded (or has failed), never in the middle of it.
    Blocking SIGINT meanwhile is not enough: the kernel hands a process's signal to any thread
    that does not block it, and Python then runs the handler in the main thread anyway (that
    left CI's run training with no stop recorded). A handler rather than a second `except
    KeyboardInterrupt`: the exception could land anywhere, even inside the print of the message.
    """

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.state = "asking"  # then "asked" or "failed"
        self.leave_wanted = False

    def ask(self, store: Store) -> None:
        try:
            store.request_stop(self.run_id)
        except BaseException:
            self.state = "failed"
            if self.leave_wanted:
                self.leave()
            raise
        self.state = "asked"
        if self.leave_wanted:
            self.leave()

    def on_second_interrupt(self, signum, frame) -> None:
        if self.state == "asking":
            if not self.leave_wanted:
                os.write(2, b"\n(leaving once the stop request is recorded)\n")
            self.leave_wanted = True
            return
        self.leave()

    def leave(self) -> None:
        if self.state == "asked":
            line = f"not waiting: run {self.run_id} stops on its own and keeps its model (see `runs`)"
        else:
            line = (
                f"not waiting: the stop of run {self.run_id} could not be recorded (the store did not answer);"
                f" it is still training: stop it with `python -m lib.cli stop {self.run_id}`"
            )
        os.write(2, f"\n{line}\n".encode())
        os._exit(130)


def queue_training(args, store: Store) -> str:
    """A new run, a continued one (--resume) or a fine-tune (--finetune); returns the queued run id.

    The app's rules apply (limits, ownership, admin rights) to the operating-system account running this.
    """
    user, policy = access.os_user(), access.load_policy()
    if args.resume:
        if args.epochs is None:
            raise CliError("--resume needs --epochs N (how many more epochs)")
        extra = set(given_settings(args)) - {"epochs"}
        if extra:
            raise CliError(f"--resume keeps the run's settings; use --finetune to change {', '.join(sorted(extra))}")
        return resume.continue_run(store, args.resume, args.epochs, user=user, policy=policy)
    if args.finetune and (args.with_corrections or args.unfreeze_top):
        return teach.queue_finetune(args, store, given_settings(args))
    if args.finetune:
        return resume.finetune(store, args.finetune, owner=user, policy=policy, **given_settings(args))
    config = config_from_args(args)
    ensure_dataset(config)
    return submit.submit(store, config, user, policy)


class ProgressDisplay:
    """A live bar on a terminal (one line per finished epoch either way) on stderr."""

    def __init__(self, store: Store, run_id: str):
        self.store, self.run_id = store, run_id
        self.tty = sys.stderr.isatty()
        self.epochs_shown = 0
        self.last_line = None

    def __call__(self, run) -> None:
        if run.epochs_completed > self.epochs_shown:
            for e in self.store.epochs(self.run_id)[self.epochs_shown :]:
                self._print(epoch_line(e, run.config.epochs), final=True)
            self.epochs_shown = run.epochs_completed
        line = progress_line(run)
        if self.tty:
            self._print(line, final=False)
        elif line != self.last_line and run.progress.phase != "training":
            self._print(line, final=True)  # phases (queued, loading data, evaluating) once each
        self.last_line = line

    def _print(self, line: str, final: bool) -> None:
        if self.tty:
            print("\r" + line[:120].ljust(120), end="\n" if final else "", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def epoch_line(e: dict, epochs: int) -> str:
    def fmt(key):
        return f"{e[key]:.4f}" if e.get(key) is not None else "-"

    return (
        f"epoch {e['epoch']}/{epochs}: loss {fmt('loss')} acc {fmt('accuracy')}"
        f" val_loss {fmt('val_loss')} val_acc {fmt('val_accuracy')} ({e.get('seconds') or 0:.1f}s)"
    )


def report_run(run, as_json: bool) -> int:
    summary = {
        "run_id": run.id,
        "status": run.status,
        "test_accuracy": run.test_accuracy,
        "test_loss": run.test_loss,
        "epochs_completed": run.epochs_completed,
        "train_seconds": run.metrics.get("train_seconds"),
        "images_per_second": run.metrics.get("images_per_second"),
    }
    if run.error:
        summary["error"] = run.error
        print(f"error: {run.error}", file=sys.stderr)
    if as_json:
        print(json.dumps(summary))
    else:
        acc = f"{run.test_accuracy:.4f}" if run.test_accuracy is not None else "-"
        print(f"{run.id} {outcome.outcome(run)}: test accuracy {acc}")
    return 0 if run.status in ("completed", "stopped") else 1


def cmd_runs(args, store: Store) -> int:
    runs = store.list_runs([args.status] if args.status else None)
    for bad in store.bad_rows:  # one damaged row is reported, not fatal for the listing
        print(f"warning: {bad}", file=sys.stderr)
    if args.json:
        print(json.dumps([run_summary(r) for r in runs]))
        return 0
    print(f"{'run':24} {'status':11} {'dataset':14} {'model':14} {'epochs':>6} {'test acc':>8}  where")
    for r in runs:
        acc = f"{r.test_accuracy:.4f}" if r.test_accuracy is not None else "-"
        epochs = outcome.epochs_done(r)  # whole epochs of those asked: a stop mid-epoch is not 3/3
        line = f"{r.id:24} {r.status:11} {r.dataset:14} {r.architecture:14} {epochs:>6} {acc:>8}"
        print(f"{line}  {r.placement}")
    return 0


def run_summary(r) -> dict:
    return {
        "run_id": r.id,
        "status": r.status,
        "dataset": r.dataset,
        "architecture": r.architecture,
        "created": r.created,
        "epochs_completed": r.epochs_completed,
        "test_accuracy": r.test_accuracy,
        "test_loss": r.test_loss,
        "error": r.error,
        "node": r.node,
        "gpu": r.gpu,
        "config": r.config.to_dict(),
    }


def cmd_models(args, store) -> int:
    for a in models.REGISTRY.values():  # the id to type, then the name the pages show
        print(f"{a.name:18} {a.title}: {models.description(a.name)}")
    return 0


def cmd_datasets(args, store) -> int:
    for name in datasets.names():
        where = datasets.locate(name, args.data_dir)
        found = f"available at {where}" if where else "not found offline (download on first use)"
        print(f"{name:14} {found}  ({datasets.title(name)})")
    return 0


def cmd_stop(args, store: Store) -> int:
    run = store.get(args.run_id)
    if not access.can_manage(access.load_policy(), access.os_user(), run):
        who = f"{run.owner} or an administrator" if run.owner else "an administrator (the run has no owner)"
        raise CliError(f"only {who} can stop run {run.id}")
    if not store.request_stop(args.run_id):
        raise CliError(f"run {args.run_id} is {store.get(args.run_id).status}; nothing to stop")
    print(f"stop requested for {args.run_id}")
    return 0


# Modules adding subcommands: each has register(subparsers) -> {name: handler(args, store) -> exit code}.
COMMAND_MODULES = (predict, evaluate, dataset, sweep, users, teach, store_command, serve)

COMMANDS = {"train": cmd_train, "runs": cmd_runs, "models": cmd_models, "datasets": cmd_datasets, "stop": cmd_stop}


GLOBAL_OPTIONS = ("--runs-dir", "--store", "--data-dir")


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move the options of every command in front of the subcommand, where the main parser reads them.

    argparse only takes a parser's options before its subcommand; users write them on
    either side (`train --runs-dir X`), and --data-dir was accepted after it only.
    """
    front, rest, i = [], [], 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest += argv[i:]
            break
        if token.split("=", 1)[0] in GLOBAL_OPTIONS:
            taken = 1 if "=" in token else 2
            front += argv[i : i + taken]
            i += taken
            continue
        rest.append(token)
        i += 1
    return front + rest


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(hoist_global_options(list(sys.argv[1:] if argv is None else argv)))
        if getattr(args, "data_dir", None) is None and args.global_data_dir:  # commands that read data
            args.data_dir = args.global_data_dir
        if args.command in store_command.NEEDS_NO_STORE:  # they open the store themselves
            return COMMANDS[args.command](args, None)
        store = Store(args.runs_dir or default_runs_dir(), url=args.store)
        return COMMANDS[args.command](args, store)
    except (CliError, ConfigError, datasets.DatasetUnavailable, UnknownRun, ModelRefused, StoreError) as exc:
        message = " ".join(str(exc).split())  # one line, even for multi-line explanations
        print(f"error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
