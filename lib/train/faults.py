"""Fault injection for the reliability tests: CONVSTUDIO_FAULT=<point> makes that point fail.

Points: "oom" (an out-of-memory error at the first training batch), "disk-full"
(saving a checkpoint fails with ENOSPC). Unset, every check is one dict lookup.
"""

from __future__ import annotations

import errno

from lib import settings


def inject(point: str) -> None:
    if settings.fault() != point:
        return
    if point == "oom":
        import tensorflow as tf

        raise tf.errors.ResourceExhaustedError(
            None, None, "OOM when allocating tensor with shape[4096,32,26,26] (simulated by CONVSTUDIO_FAULT)"
        )
    if point == "disk-full":
        raise OSError(errno.ENOSPC, "No space left on device (simulated by CONVSTUDIO_FAULT)")
