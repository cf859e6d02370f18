"""`cli evaluate` and `cli export`: where a finished model is wrong, and taking it away."""

from __future__ import annotations

import json

from lib.cli.errors import CliError
from lib.inference import evaluation
from lib.runs import export


def register(sub) -> dict:
    ev = sub.add_parser("evaluate", help="test accuracy, per-class metrics and the confusion matrix of a run")
    ev.add_argument("--run", required=True, metavar="RUN_ID")
    ev.add_argument("--json", action="store_true")
    ex = sub.add_parser("export", help="export a run's model as .keras, a TensorFlow SavedModel or TFLite")
    ex.add_argument("--run", required=True, metavar="RUN_ID")
    ex.add_argument("--format", required=True, choices=export.FORMATS)
    ex.add_argument("--out", required=True, metavar="PATH")
    return {"evaluate": cmd_evaluate, "export": cmd_export}


def cmd_evaluate(args, store) -> int:
    try:
        result = evaluation.evaluate_run(store, args.run)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps({"run_id": args.run, **result.to_dict()}))
        return 0
    print(f"run {args.run}: test accuracy {result.accuracy:.4f}, loss {result.loss:.4f}")
    print(f"{'class':16} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}")
    for row in result.per_class:
        print(
            f"{row['class'][:16]:16} {row['precision']:9.4f} {row['recall']:9.4f} {row['f1']:9.4f} {row['support']:8d}"
        )
    print("confusion matrix (rows: true class, columns: predicted):")
    for row in result.confusion:
        print(" ".join(f"{v:5d}" for v in row))
    return 0


def cmd_export(args, store) -> int:
    try:
        path = export.export_model(store, args.run, args.format, args.out)
    except export.ExportError as exc:
        raise CliError(str(exc)) from None
    print(f"exported {args.format} to {path}")
    return 0
