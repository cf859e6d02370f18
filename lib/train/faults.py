"""Fault injection for the reliability tests: CONVSTUDIO_FAULT=<point> makes that point fail.

Points: "oom" (an out-of-memory error at the first training batch), "disk-full"
(saving a checkpoint fails with ENOSPC), "kill-during-checkpoint-save" and
"kill-during-model-save" (the worker dies at once, as by SIGKILL, while the new file is
still a temporary file). Unset, every check is one dict lookup.
"""

from __future__ import annotations

import errno
import os

from lib import settings


def inject(point: str) -> None:
    if settings.fault() != point:
        return
    if point == "oom":
        import tensorflow as tf

        raise tf.errors.ResourceExhaustedError(
            None, None, "OOM when allocating tensor with shape[4096,32,26,26] (simulated by CONVSTUDIO_FAULT)"
        )
    if point.startswith("kill-during-"):
        os._exit(137)  # no cleanup, no finally blocks: what a SIGKILL leaves behind
    if point == "disk-full":
        raise OSError(errno.ENOSPC, "No space left on device (simulated by CONVSTUDIO_FAULT)")
