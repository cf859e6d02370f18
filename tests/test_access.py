"""Access control and administrator limits from secrets.toml."""

import pytest

from lib.config import ConfigError, TrainConfig
from lib.runs import access, resume
from lib.train import fit


def write(tmp_path, text):
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    return path


def test_no_secrets_means_an_open_server(tmp_path):
    policy = access.load_policy(tmp_path / "missing.toml")
    assert not policy.enabled and access.can_manage(policy, None, object())


def test_policy_is_read_and_checked(tmp_path):
    policy = access.load_policy(
        write(
            tmp_path,
            '[convstudio]\nmode = "open_with_password"\npassword = "s3cret"\nadmins = ["ada"]\n'
            "max_epochs = 10\nmax_run_minutes = 1.5\n",
        )
    )
    assert policy.enabled and policy.admins == ("ada",) and policy.max_epochs == 10 and policy.max_run_minutes == 1.5
    assert not policy.is_admin("ada")  # a shared password proves no name: no administrators
    assert access.password_matches("s3cret", policy.password)
    assert not access.password_matches("s3cre", policy.password) and not access.password_matches("", policy.password)
    with pytest.raises(ConfigError, match="max_epochs"):
        access.load_policy(write(tmp_path, "[convstudio]\nmax_epochs = -1\n"))
    with pytest.raises(ConfigError, match="cannot be read"):
        access.load_policy(write(tmp_path, "[convstudio\n"))
    assert access.load_policy(write(tmp_path, "[auth]\nredirect_uri = 'x'\n")).oidc


def test_only_owner_or_admin_may_manage_a_run(store, tmp_path):
    policy = access.Policy(mode="accounts", admins=("ada",))
    run = store.get(store.create_run(TrainConfig(), owner="bob"))
    assert access.can_manage(policy, "bob", run)
    assert access.can_manage(policy, "ada", run)
    assert not access.can_manage(policy, "eve", run)
    assert not access.can_manage(policy, None, run)


def test_limits_refuse_runs_naming_the_setting(store):
    policy = access.Policy(mode="accounts", max_epochs=5, max_queued_per_user=2)
    with pytest.raises(ConfigError) as err:
        access.check_submission(policy, store, "bob", TrainConfig(epochs=6))
    assert err.value.field == "epochs"
    for _ in range(2):
        access.check_submission(policy, store, "bob", TrainConfig())
        store.create_run(TrainConfig(), owner="bob")
    with pytest.raises(ConfigError) as err:
        access.check_submission(policy, store, "bob", TrainConfig())
    assert err.value.field == "queue"
    access.check_submission(policy, store, "carol", TrainConfig())  # others are not held back


@pytest.mark.slow
def test_the_run_time_limit_stops_a_run_and_says_why(store, tiny_data_dir):
    config = access.stamp_limits(
        access.Policy(max_run_minutes=0.05), TrainConfig(epochs=500, batch_size=8, data_dir=tiny_data_dir)
    )
    run_id = store.create_run(config)
    store.claim_next(["cpu"])
    fit.train_run(store, run_id)
    run = store.get(run_id)
    assert run.status == "stopped" and "time limit of 0.05 minutes" in run.error
    assert run.epochs_completed < 500 and store.model_path(run_id).exists()


def finished_run(store, owner, **config):
    """A run that completed with a checkpoint and a model file (empty files: nothing here loads them)."""
    run_id = store.create_run(TrainConfig(**config), owner=owner)
    store.claim_next(["cpu"])
    store.finish(run_id, "completed", epochs_completed=2)
    for which in ("last", "model"):
        store.model_path(run_id, which).write_bytes(b"")
    return run_id


def test_only_the_owner_or_an_admin_may_continue_a_run_and_only_within_the_limits(store):
    policy = access.Policy(mode="accounts", admins=("ada",), max_epochs=10, max_run_minutes=30)
    run_id = finished_run(store, "bob")
    with pytest.raises(ConfigError, match="only bob or an administrator"):
        resume.continue_run(store, run_id, 3, user="eve", policy=policy)
    assert store.get(run_id).status == "completed"  # nothing changed
    with pytest.raises(ConfigError) as err:
        resume.continue_run(store, run_id, 9, user="bob", policy=policy)  # 2 done + 9 more > 10
    assert err.value.field == "epochs" and store.get(run_id).status == "completed"
    resume.continue_run(store, run_id, 3, user="ada", policy=policy)
    run = store.get(run_id)
    assert run.status == "queued" and run.config.epochs == 5 and run.config.extra["max_run_minutes"] == 30


def test_fine_tunes_and_half_batch_retries_are_the_users_own_runs_within_the_limits(store):
    policy = access.Policy(mode="accounts", max_epochs=10, max_queued_per_user=1, max_run_minutes=30)
    parent = finished_run(store, "bob")
    with pytest.raises(ConfigError) as err:
        resume.finetune(store, parent, owner="eve", policy=policy, epochs=11)
    assert err.value.field == "epochs"
    child = store.get(resume.finetune(store, parent, owner="eve", policy=policy, epochs=4))
    assert child.owner == "eve" and child.parent_id == parent and child.config.extra["max_run_minutes"] == 30
    with pytest.raises(ConfigError) as err:  # eve's one queued run is the fine-tune
        resume.retry_with_half_batch(store, parent, owner="eve", policy=policy)
    assert err.value.field == "queue"
    retry = store.get(resume.retry_with_half_batch(store, parent, owner="carol", policy=policy))
    assert retry.owner == "carol" and retry.config.batch_size == TrainConfig().batch_size // 2


def test_only_the_owner_or_an_admin_may_resume_an_interrupted_run(store):
    policy = access.Policy(mode="accounts", admins=("ada",))
    run_id = finished_run(store, "bob")
    with pytest.raises(ConfigError, match="only an interrupted run"):
        resume.resume_interrupted(store, run_id, user="bob", policy=policy)
    store._write(lambda db: db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (run_id,)))
    with pytest.raises(ConfigError, match="only bob or an administrator"):
        resume.resume_interrupted(store, run_id, user="eve", policy=policy)
    assert store.get(run_id).status == "interrupted"
    resume.resume_interrupted(store, run_id, user="bob", policy=policy)
    assert store.get(run_id).status == "queued"
