"""Admitting work into the shared queue: every new, continued, fine-tuned or retried run passes here.

The administrator's limits (lib.runs.access) are checked and stamped into the run's config in one
place, so the Train page, the Runs page, the command line and sweeps cannot disagree about them.
"""

from __future__ import annotations

from lib.config import TrainConfig
from lib.runs import access
from lib.runs.store import Store


def admit(store: Store, config: TrainConfig, user: str | None, policy: access.Policy | None) -> TrainConfig:
    """The config as it may run here: refused (ConfigError) past a limit, stamped with the run-time limit.

    No policy means an open server: no limits.
    """
    if policy is None:
        return config
    access.check_submission(policy, store, user, config)
    return access.stamp_limits(policy, config)


def submit(
    store: Store, config: TrainConfig, owner: str | None, policy: access.Policy | None, parent_id: str | None = None
) -> str:
    """Queue a new run of `config` for `owner`; returns its id."""
    return store.create_run(admit(store, config.validate(), owner, policy), owner=owner, parent_id=parent_id)
