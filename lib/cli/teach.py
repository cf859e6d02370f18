"""Teach it from the command line: corrections, collected datasets, label suspects, fine-tuning on corrections.

    correct --run RUN --label LABEL FILE... [--json]
    dataset add-images NAME --class CLASS FILE... [--image-size N] [--color grey|rgb] [--json]
    dataset suspects --run RUN [--top K] [--json]
    train --finetune RUN --with-corrections [--epochs N --lr F ...]
    train --finetune RUN --unfreeze-top N --lr F      (a pretrained run: its backbone's top N layers train too)

`register` adds `correct` (lib.cli.main's COMMAND_MODULES); `register_dataset`
adds the two `dataset` subcommands (lib.cli.dataset); `queue_finetune` is what
`train --finetune RUN --with-corrections` queues. Refusals are CliError: one
`error:` line and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lib.cli.errors import CliError
from lib.data import custom
from lib.inference import prediction, preprocess
from lib.runs import access, resume
from lib.runs.store import Store, default_runs_dir
from lib.teach import collect, corrections, finetune, review, suspects

MAX_FILE_BYTES = preprocess.MAX_FILE_BYTES


def register(subparsers) -> dict:
    p = subparsers.add_parser("correct", help="tell a run the right label for images it got wrong")
    p.add_argument("--run", required=True, metavar="RUN_ID")
    p.add_argument("--label", required=True, help="the right class, by name or number")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object per correction")
    train = subparsers.choices.get("train")
    if train is not None:
        train.add_argument(
            "--with-corrections", action="store_true",
            help="with --finetune RUN: train on RUN's corrections plus a replay of its training data",
        )  # fmt: skip
        train.add_argument(
            "--unfreeze-top", type=int, default=0, metavar="N",
            help="with --finetune RUN of a pretrained architecture: its backbone's top N layers train too",
        )  # fmt: skip
    return {"correct": cmd_correct}


def register_dataset(sub) -> dict:
    """The `dataset add-images` and `dataset suspects` subcommands; their handlers take (args, store)."""
    add = sub.add_parser("add-images", help="add image files to one class (creates the dataset when new)")
    add.add_argument("name")
    add.add_argument("--class", dest="class_name", required=True, metavar="CLASS")
    add.add_argument("files", nargs="+", metavar="FILE")
    add.add_argument("--image-size", type=int, choices=custom.IMAGE_SIZES, default=None)
    add.add_argument("--color", choices=custom.COLORS, default=None)
    add.add_argument("--json", action="store_true", help="print the saved manifest as JSON")

    sus = sub.add_parser("suspects", help="training images whose label is probably wrong, most suspect first")
    sus.add_argument("--run", required=True, metavar="RUN_ID")
    sus.add_argument("--top", type=int, default=20, metavar="K")
    sus.add_argument("--json", action="store_true")
    return {"add-images": cmd_add_images, "suspects": cmd_suspects}


def read_file(name: str) -> bytes:
    path = Path(name)
    if not path.is_file():
        raise CliError(f"{name}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise CliError(f"{name}: larger than {MAX_FILE_BYTES // 2**20} MB")
    return path.read_bytes()


# -- correct ---------------------------------------------------------------------------
def cmd_correct(args, store: Store) -> int:
    try:
        run, info, model = prediction.load_run_model(store, args.run)
        index = corrections.class_index(args.label, info.class_names)
        done = []
        for name in args.files:
            prepared = preprocess.prepare_bytes(read_file(name), info.input_shape, run.config.dataset)
            c = review.correct_prepared(store, args.run, prepared, index, Path(name).name, model, info)
            done.append(c)
            if args.json:
                print(json.dumps({"file": name, **c.to_dict()}))
    except (corrections.CorrectionRefused, prediction.ModelUnavailable) as exc:
        raise CliError(str(exc)) from None
    except preprocess.PreprocessError as exc:
        raise CliError(f"{name}: {exc}") from None
    total = len(finetune.box(store, args.run))
    if not args.json:
        print(
            f"{len(done)} correction(s) added to run {args.run} ({total} in all); "
            f"fine-tune with: python -m lib.cli train --finetune {args.run} --with-corrections"
        )
    return 0


def queue_finetune(args, store: Store, given: dict) -> str:
    """`train --finetune RUN --with-corrections | --unfreeze-top N`: the settings typed override the defaults."""
    parent = store.get(args.finetune)
    extra = {}
    if args.unfreeze_top:
        try:  # the Train page's rule, word for word
            extra["unfreeze_top"] = finetune.check_unfreeze(parent, args.unfreeze_top)
        except corrections.CorrectionRefused as exc:
            raise CliError(f"--unfreeze-top: {exc}") from None
    owner, policy = access.os_user(), access.load_policy()
    try:
        if args.with_corrections:
            return finetune.queue(store, args.finetune, owner=owner, policy=policy, **given, extra=extra)
        return resume.finetune(
            store, args.finetune, owner=owner, policy=policy, **given, extra={**parent.config.extra, **extra}
        )
    except corrections.CorrectionRefused as exc:
        raise CliError(str(exc)) from None


# -- dataset add-images / suspects --------------------------------------------------------
def cmd_add_images(args, store=None) -> int:
    try:
        files = [(name, read_file(name)) for name in args.files]
        policy, user = access.load_policy(), access.os_user()
        manifest, skipped = collect.add_files(
            args.name, args.class_name, files, args.image_size, args.color, owner=user,
            allowed=lambda owner: access.may_act_on(policy, user, owner),  # saving replaces the saved dataset
        )  # fmt: skip
    except collect.CollectRefused as exc:
        raise CliError(str(exc)) from None
    for s in skipped:
        print(f"skipped: {s['file']}: {s['reason']}", file=sys.stderr)
    if manifest is None:
        counts = collect.counts(args.name)
        print(
            f"collected {counts.get(args.class_name.strip(), 0)} image(s) of {args.class_name!r} for {args.name}; "
            "add a second class to save it as a dataset"
        )
        return 0 if len(skipped) < len(files) else 2
    for problem in manifest["problems"]:
        print(f"warning: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps(manifest))
    else:
        train, test = sum(manifest["counts"]["train"]), sum(manifest["counts"]["test"])
        print(f"saved {args.name}: {len(manifest['class_names'])} classes, {train} training and {test} test images")
    return 0 if len(skipped) < len(files) else 2


def cmd_suspects(args, store: Store | None = None) -> int:
    store = store or Store(getattr(args, "runs_dir", None) or default_runs_dir())
    if args.top < 1:
        raise CliError("--top must be at least 1")
    try:
        rows = review.find_suspects(store, args.run, top=args.top)
    except (prediction.ModelUnavailable, suspects.SuspectsRefused) as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps([r.to_dict() for r in rows]))
        return 0
    print(f"{'rank':>4} {'index':>6} {'given':14} {'model says':14} {'conf':>5}  file")
    for rank, r in enumerate(rows, 1):
        print(f"{rank:>4} {r.index:>6} {r.given[:14]:14} {r.predicted[:14]:14} {r.confidence:>5.0%}  {r.file or ''}")
    return 0
