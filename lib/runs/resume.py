"""Keep training: continue a run for more epochs, or fine-tune it as a new, linked run."""

from __future__ import annotations

from lib.runs import access
from lib.config import ConfigError, TrainConfig
from lib.runs.store import Store
from lib.runs.submit import admit, submit

# A fine-tune reuses the parent's weights, so what shapes the network must stay as it was.
FIXED_IN_FINETUNE = ("dataset", "architecture", "batchnorm", "width", "data_dir")


def _check_may_manage(run, user: str | None, policy: access.Policy | None, action: str) -> None:
    if policy is not None and not access.can_manage(policy, user, run):
        raise ConfigError("run", f"only {run.owner} or an administrator can {action} run {run.id}")


def _requeue(store: Store, run, config: TrainConfig) -> str:
    """Save the run's (possibly changed) settings and put it back in the queue."""
    if config != run.config:
        store.update_config(run.id, config)
    if not store.requeue(run.id):
        raise ConfigError("run", f"run {run.id} could not be queued again")
    return run.id


def continue_run(
    store: Store, run_id: str, more_epochs: int, user: str | None = None, policy: access.Policy | None = None
) -> str:
    """Queue a finished run again for `more_epochs`; its epoch count and optimizer state carry on.

    With a policy, only the run's owner or an administrator may, within the server's limits.
    """
    run = store.get(run_id)
    _check_may_manage(run, user, policy, "continue")
    if not run.is_finished:
        raise ConfigError("run", f"run {run_id} is {run.status}; only a finished run can continue")
    if not store.model_path(run_id, "last").exists() or not run.epochs_completed:
        raise ConfigError("run", f"run {run_id} has no epoch checkpoint to continue from")
    if run.config.lr_schedule == "cosine":
        raise ConfigError(
            "lr_schedule", "this run's cosine schedule has decayed to its end; fine-tune it with a new learning rate"
        )
    config = run.config.replace(epochs=run.epochs_completed + int(more_epochs)).validate()
    return _requeue(store, run, admit(store, config, user, policy))


def resume_interrupted(store: Store, run_id: str, user: str | None = None, policy: access.Policy | None = None) -> str:
    """Queue an interrupted run again: it picks up after its last saved epoch and runs to its planned end."""
    run = store.get(run_id)
    if run.status != "interrupted":
        raise ConfigError("run", f"run {run_id} is {run.status}; only an interrupted run resumes where it stopped")
    _check_may_manage(run, user, policy, "resume")
    return _requeue(store, run, admit(store, run.config, user, policy))


def finetune(
    store: Store, run_id: str, owner: str | None = None, policy: access.Policy | None = None, **changes
) -> str:
    """A new run starting from `run_id`'s final weights with new training settings."""
    parent = store.get(run_id)
    if not store.model_path(run_id, "model").exists():
        raise ConfigError("run", f"run {run_id} has no saved model to fine-tune")
    for name in FIXED_IN_FINETUNE:
        if name in changes and changes[name] != getattr(parent.config, name):
            raise ConfigError(name, "cannot change when fine-tuning (the weights are the parent's)")
    config = parent.config.replace(**changes)
    config.extra = {**config.extra, "finetuned_from": run_id}
    return submit(store, config, owner, policy, parent_id=run_id)


def offers_half_batch(run) -> bool:
    """A run that failed for want of memory, with a batch that can still be halved."""
    return run.status == "failed" and (run.error or "").startswith("Out of memory") and run.config.batch_size >= 2


def retry_with_half_batch(
    store: Store, run_id: str, owner: str | None = None, policy: access.Policy | None = None
) -> str:
    """After an out-of-memory failure: the same settings with half the batch size, as a new run."""
    run = store.get(run_id)
    if run.config.batch_size < 2:
        raise ConfigError("batch_size", "is already 1; choose a narrower model instead")
    config = run.config.replace(batch_size=run.config.batch_size // 2)
    config.extra = {**config.extra, "retry_of": run_id}
    return submit(store, config, owner, policy)
