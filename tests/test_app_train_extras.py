"""Train page: the one-click recipe, and the administrator's limits shown next to the widget."""

from __future__ import annotations

from lib import presets
from lib.config import TrainConfig
from lib.runs.progress import Progress
from lib.train.worker import describe_error
from tests.test_app_access import PASSWORDS, locked, log_in  # noqa: F401 - locked is a fixture
from tests.test_app_pages import env, open_page  # noqa: F401 - env is a fixture


def test_the_recommended_recipe_fills_every_setting_in_one_click(env):  # noqa: F811
    at = open_page("pages/train.py")
    recipe = presets.get("mnist")
    assert any(c.value == recipe.summary for c in at.caption)
    next(b for b in at.button if b.label == "Use the recommended recipe").click().run()
    assert not at.exception
    assert at.number_input(key="w_epochs").value == recipe.settings["epochs"]
    assert at.number_input(key="w_batch_size").value == recipe.settings["batch_size"]
    assert at.selectbox(key="w_optimizer").value == "adamw"
    assert at.session_state["cs_config"]["architecture"] == "vgg_small"


def test_too_many_epochs_for_this_server_is_refused_beside_the_widget(locked):  # noqa: F811
    at = log_in("bob", PASSWORDS["bob"])
    at.switch_page("pages/train.py").run()
    at.number_input(key="w_epochs").set_value(50).run()
    assert any("at most 20 epochs" in e.value for e in at.error)
    assert next(b for b in at.button if b.key == "start").disabled


def test_an_out_of_memory_failure_offers_a_retry_at_half_the_batch(env, store, tiny_data_dir):  # noqa: F811
    run_id = store.create_run(TrainConfig(data_dir=tiny_data_dir, batch_size=64))
    store.claim_next(["cpu"])
    store.finish(run_id, "failed", error=describe_error(MemoryError("Unable to allocate 12 GiB"), batch_size=64))
    at = open_page("pages/train.py", {"run": run_id})
    assert any(e.value.startswith("Out of memory: use a smaller batch size (try 32)") for e in at.error)
    at.button(key="retry_half_batch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    retry = next(r for r in store.list_runs() if r.id != run_id)
    assert retry.status == "queued" and retry.config.batch_size == 32
    assert retry.config.replace(batch_size=64, extra={}) == store.get(run_id).config.replace(extra={})
    assert retry.owner == at.session_state["cs_owner"]
    assert any(f"Run `{retry.id}` · queued" in m.value for m in at.markdown)  # the page follows the new run
    assert at.query_params["run"] == retry.id  # a reload finds it


def test_no_retry_is_offered_for_other_failures(env, store, tiny_data_dir):  # noqa: F811
    run_id = store.create_run(TrainConfig(data_dir=tiny_data_dir))
    store.claim_next(["cpu"])
    store.finish(run_id, "failed", error="mnist is not available offline")
    at = open_page("pages/train.py", {"run": run_id})
    assert "retry_half_batch" not in [b.key for b in at.button]


def test_an_interrupted_run_resumes_from_its_page(env, store, tiny_data_dir):  # noqa: F811
    run_id = store.create_run(TrainConfig(data_dir=tiny_data_dir, epochs=5))
    store.claim_next(["cpu"])
    store.update_progress(run_id, Progress("training"), epochs_completed=2)
    store.finish(run_id, "interrupted", error="The server stopped while this run was training (after epoch 2).")
    at = open_page("pages/train.py", {"run": run_id})
    assert any("after epoch 2" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Resume from epoch 3").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = store.get(run_id)
    assert run.status == "queued" and run.config.epochs == 5 and run.epochs_completed == 2
    assert any(f"Run `{run_id}` · queued" in m.value for m in at.markdown)
