"""`python -m lib.cli dataset add | list | remove`: custom datasets from the command line.

    dataset add NAME --from FOLDER_OR_ZIP [--image-size N] [--color grey|rgb] [--json]
    dataset list [--json]
    dataset remove NAME

A refused dataset is one `error:` line and exit code 2, like every refusal of lib.cli;
problems worth knowing before training are `warning:` lines on stderr.
"""

from __future__ import annotations

import json
import sys

from lib.cli import teach
from lib.cli.errors import CliError
from lib.data import custom
from lib.runs import access


def register(subparsers) -> dict:
    p = subparsers.add_parser("dataset", help="add, list or remove your own image datasets")
    sub = p.add_subparsers(dest="dataset_command", required=True)

    add = sub.add_parser("add", help="import a zip or a folder (one sub-folder per class)")
    add.add_argument("name", help="a-z, 0-9, '_' and '-'; used as --dataset NAME")
    add.add_argument("--from", dest="source", required=True, metavar="FOLDER_OR_ZIP",
                     help="a .zip file, or a folder under the data root ($CONVSTUDIO_DATA_DIR)")  # fmt: skip
    add.add_argument("--image-size", type=int, choices=custom.IMAGE_SIZES, default=None,
                     help="side of the square images (default: from the images)")  # fmt: skip
    add.add_argument("--color", choices=custom.COLORS, default=None, help="default: from the images")
    add.add_argument("--json", action="store_true", help="print the saved manifest as JSON")

    listing = sub.add_parser("list", help="list saved custom datasets")
    listing.add_argument("--json", action="store_true")

    remove = sub.add_parser("remove", help="delete a saved custom dataset (its owner or an administrator)")
    remove.add_argument("name")
    TEACH_COMMANDS.update(teach.register_dataset(sub))
    return {"dataset": cmd_dataset}


TEACH_COMMANDS: dict = {}  # add-images, suspects (lib.cli.teach): they need the store


def cmd_dataset(args, store) -> int:
    if args.dataset_command in TEACH_COMMANDS:
        return TEACH_COMMANDS[args.dataset_command](args, store)
    handler = {"add": cmd_add, "list": cmd_list, "remove": cmd_remove}[args.dataset_command]
    try:
        return handler(args)
    except custom.Refused as exc:
        raise CliError(str(exc)) from None


def cmd_add(args) -> int:
    show = Progress() if sys.stderr.isatty() else None
    m = custom.add(args.name, args.source, args.image_size, args.color, progress=show, owner=access.os_user())
    if show:
        show.close()
    for problem in m["problems"]:
        print(f"warning: {problem}", file=sys.stderr)
    for skipped in m["skipped"]:
        print(f"skipped: {skipped['file']}: {skipped['reason']}", file=sys.stderr)
    if args.json:
        print(json.dumps(m))
    else:
        train, test = sum(m["counts"]["train"]), sum(m["counts"]["test"])
        print(
            f"saved {args.name}: {len(m['class_names'])} classes, {train} training and {test} test images, "
            f"{m['image_size']}x{m['image_size']} {m['color']}; train with --dataset {args.name}"
        )
    return 0


class Progress:
    """A one-line counter on a terminal; imports of thousands of images take a while."""

    def __call__(self, done: int, total: int) -> None:
        if done == total or done % 50 == 0:
            print(f"\rimporting {done}/{total} images", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        print(file=sys.stderr)


def cmd_list(args) -> int:
    rows = custom.listing()
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"no custom datasets under {custom.custom_root()}")
        return 0
    print(f"{'name':20} {'classes':>7} {'train':>7} {'test':>6} {'size':>5} {'colour':6} problems")
    for r in rows:
        print(
            f"{r['name']:20} {r['classes']:>7} {r['train']:>7} {r['test']:>6} {r['image_size']:>5} "
            f"{r['color']:6} {r['problems']}"
        )
    return 0


def cmd_remove(args) -> int:
    """Only the dataset's owner or an administrator, as on the page; the command itself names the dataset."""
    policy, user = access.load_policy(), access.os_user()
    custom.remove(args.name, allowed=lambda owner: access.may_act_on(policy, user, owner))
    print(f"removed {args.name}")
    return 0
