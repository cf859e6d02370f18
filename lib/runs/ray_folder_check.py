"""Which Ray nodes may take runs: those that see the same runs folder as the scheduler.

Run files (models, logs, datasets) live in the runs folder, which on a cluster is a shared
filesystem every node mounts at the same path. A node without it would take a run and fail
it. So the scheduler writes a token file under its runs folder and a tiny Ray task on each
node reads it there; only nodes that read the same token get runs. A node that does not is
named, with the folder, once (on stderr: the `serve` output or the app's log) and in
`problems()` (the sidebar), and gets nothing. Nodes are checked when they join, and again
if they leave and come back.
"""

from __future__ import annotations

import atexit
import os
import secrets
import time
from pathlib import Path

from lib import settings
from lib.atomic_files import write_text
from lib.runs.ray_node import unseen_reason
from lib.runs.store_errors import translate

CHECK_DIR = ".node-check"  # token files, one per scheduler process, under the runs folder
STALE_S = 86400.0  # a token file this old was left by a scheduler that was killed


class FolderCheck:
    """Probes nodes as they appear; `usable()` names the node ids that saw the token."""

    def __init__(self, ray, root: Path, report):
        self.ray, self.root, self.report = ray, root, report
        self.token = secrets.token_hex(16)
        self.path = root / CHECK_DIR / f"{settings.node_name()}-{os.getpid()}-{self.token[:8]}"
        try:
            self.path.parent.mkdir(exist_ok=True)
            _remove_stale(self.path.parent)
            write_text(self.path, self.token + "\n")
        except OSError as exc:
            raise translate(exc, str(self.path.parent)) from None
        atexit.register(self.close)  # the app's scheduler is never closed: its token goes with the process
        self._probe = ray.remote(unseen_reason)
        self.pending: dict[str, tuple] = {}  # node id -> (its probe's ObjectRef, node name)
        self.good: dict[str, str] = {}  # node id -> name
        self.blind: dict[str, str] = {}  # node id -> the message about it

    def refresh(self, nodes: list[dict]) -> None:
        """Probe alive nodes not checked yet, collect answers, forget nodes that left."""
        alive = {n["NodeID"]: n.get("NodeName") or n["NodeManagerAddress"] for n in nodes if n.get("Alive")}
        for known in (self.pending, self.good, self.blind):
            for node_id in set(known) - set(alive):
                del known[node_id]  # gone: checked afresh if it comes back
        for node_id, name in alive.items():
            if node_id not in self.pending and node_id not in self.good and node_id not in self.blind:
                # no CPU asked, so a node busy training still answers; pinned to that node by its id label
                ref = self._probe.options(num_cpus=0, max_retries=0, label_selector={"ray.io/node-id": node_id}).remote(
                    str(self.path), self.token
                )
                self.pending[node_id] = (ref, name)
        if not self.pending:
            return
        ready, _ = self.ray.wait([ref for ref, _ in self.pending.values()], num_returns=len(self.pending), timeout=0)
        for node_id, (ref, name) in list(self.pending.items()):
            if ref in ready:
                del self.pending[node_id]
                self._judge(node_id, name, ref)

    def _judge(self, node_id: str, name: str, ref) -> None:
        try:
            unseen = self.ray.get(ref, timeout=0)
        except self.ray.exceptions.RayError:
            return  # the node went away while answering: probed again if it comes back
        if unseen is None:
            self.good[node_id] = name
            return
        self.blind[node_id] = (
            f"node {name} does not see the runs folder {self.root} ({unseen}): no runs are sent to it."
            " Mount the shared runs folder there at the same path (NFS or similar)."
        )
        self.report(self.blind[node_id])

    def usable(self) -> dict[str, str]:
        """Node id -> name of the nodes that saw the runs folder."""
        return dict(self.good)

    def problems(self) -> list[str]:
        return list(self.blind.values())

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def _remove_stale(folder: Path) -> None:
    for old in folder.iterdir():
        try:
            if time.time() - old.stat().st_mtime > STALE_S:
                old.unlink()
        except OSError:
            pass  # another scheduler removed it first
