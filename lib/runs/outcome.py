"""How far a run got, in the same words on the command line, the Runs page and the Train page.

Only whole epochs count: an epoch that a stop cut short is not a completed epoch (the worker
records how many of its batches ran, in the run's metrics as `partial_epoch`).
"""

from __future__ import annotations


def epochs_done(run) -> str:
    """'2/3': whole epochs trained of the epochs asked for."""
    return f"{run.epochs_completed}/{run.config.epochs}"


def partial_epoch(run) -> str:
    """'40 of 94 batches of epoch 3' for a run stopped mid-epoch, else ''."""
    cut = run.metrics.get("partial_epoch")
    if not isinstance(cut, dict) or not cut.get("batches"):
        return ""
    return f"{cut['batches']} of {cut.get('steps', '?')} batches of epoch {cut.get('epoch', '?')}"


def outcome(run) -> str:
    """'completed 3 of 3 epochs' / 'stopped after 2 of 3 epochs (and 40 of 94 batches of epoch 3)'."""
    asked = run.config.epochs
    epochs = f"{run.epochs_completed} of {asked} epoch{'' if asked == 1 else 's'}"
    if run.status == "completed":
        return f"completed {epochs}"
    if run.status in ("stopped", "failed", "interrupted"):
        cut = partial_epoch(run)
        return f"{run.status} after {epochs}" + (f" (and {cut})" if cut else "")
    return run.status
