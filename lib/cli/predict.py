"""`python -m lib.cli predict --run RUN_ID FILE... [--json]`: classify image files with a trained run.

The files go through the same preprocessing as the Predict page. Every file is
tried: a bad one (missing, not an image, damaged, blank) is one `error:` line
on stderr and makes the exit code 1, while the good ones are still answered.
"""

from __future__ import annotations

import json
import sys

from lib.cli.errors import CliError
from lib.data import datasets
from lib.inference import prediction, preprocess


def register(subparsers) -> dict:
    p = subparsers.add_parser("predict", help="classify image files with a trained run's model")
    p.add_argument("--run", dest="run_id", required=True, help="run id (see `runs`)")
    p.add_argument("files", nargs="+", metavar="FILE", help="PNG, JPEG, BMP, GIF or WebP images")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    return {"predict": cmd_predict}


def read_inputs(paths, input_shape, dataset) -> tuple[list, list]:
    """([(path, model input)], [(path, message)]): preprocess every file, keep the failures' reasons."""
    good, bad = [], []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read(preprocess.MAX_FILE_BYTES + 1)
            good.append((path, preprocess.prepare_bytes(data, input_shape, dataset).model_input))
        except preprocess.PreprocessError as exc:
            bad.append((path, str(exc)))
        except OSError as exc:
            bad.append((path, exc.strerror or str(exc)))
    return good, bad


def cmd_predict(args, store) -> int:
    try:
        path = prediction.model_file(store, args.run_id)
    except prediction.ModelUnavailable as exc:
        raise CliError(str(exc)) from None
    run = store.get(args.run_id)
    info = datasets.info(run.config.dataset)
    good, bad = read_inputs(args.files, info.input_shape, run.config.dataset)
    # Files are checked before the model loads (seconds), so a typo fails at once.
    predictions = {}
    if good:
        model = prediction.load_model(path)
        batch = [x for _, x in good]
        answers = prediction.predict(model, batch, info.class_names)
        for (file, _), answer in zip(good, answers, strict=True):
            predictions[file] = answer
    failures = dict(bad)
    for file in args.files:  # answers in the order the files were given
        if file in failures:
            print(f"error: {file}: {failures[file]}", file=sys.stderr)
        elif args.json:
            print(json.dumps({"file": file, **predictions[file].to_dict()}))
        else:
            p = predictions[file]
            print(f"{file}: {p.label} ({p.confidence:.1%})")
    return 1 if bad else 0
