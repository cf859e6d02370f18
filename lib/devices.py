"""What accelerators this server has, asked of nvidia-smi so no TensorFlow is imported."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from lib import settings


@dataclass(frozen=True)
class Gpu:
    index: str
    name: str
    memory_used_mb: int
    memory_total_mb: int


def gpus(timeout: float = 5.0) -> list[Gpu]:
    """GPUs nvidia-smi reports, limited to CUDA_VISIBLE_DEVICES when it is set; [] without one."""
    if settings.force_cpu() or not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.used,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4 and parts[2].isdigit() and parts[3].isdigit():
            found.append(Gpu(parts[0], parts[1], int(parts[2]), int(parts[3])))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        allowed = {v.strip() for v in visible.split(",") if v.strip()}
        found = [g for g in found if g.index in allowed]
    return found


def worker_slots() -> list[str]:
    """One slot per GPU (its CUDA index), or a single 'cpu' slot: one run per slot at a time."""
    return [g.index for g in gpus()] or ["cpu"]


def summary() -> str:
    found = gpus()
    if not found:
        return f"CPU ({os.cpu_count()} cores)"
    return "; ".join(f"{g.name} ({g.memory_used_mb}/{g.memory_total_mb} MiB)" for g in found)
