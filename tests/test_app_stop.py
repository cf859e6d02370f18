"""Issue 14, defect 4: Stop gives an outcome, at once and in the same words everywhere."""

from __future__ import annotations

from lib.config import TrainConfig
from lib.runs.progress import Progress
from tests.test_app_pages import env, open_page  # noqa: F401 - env is a fixture


def running_run(store, tiny_data_dir) -> str:
    run_id = store.create_run(TrainConfig(data_dir=tiny_data_dir, epochs=3))
    store.claim_next(["cpu"])
    store.update_progress(run_id, Progress("training", epoch=2, epochs=3, batch=10, steps=20))
    return run_id


def test_stop_says_stopping_at_once_in_the_main_view_and_the_sidebar(env, store, tiny_data_dir):  # noqa: F811
    run_id = running_run(store, tiny_data_dir)
    at = open_page("pages/train.py", {"run": run_id})
    at.button(key="stop_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert store.get(run_id).status == "stopping"
    assert any(f"{run_id}` · stopping" in m.value for m in at.markdown)
    assert any(i.value.startswith("Stopping...") for i in at.info)
    assert not [b for b in at.button if b.key == "stop_run"]  # pressed once is enough
    at.run()
    sidebar = [str(p.proto.text) for p in at.sidebar.get("progress")]
    assert any("stopping: finishing the current batch" in t for t in sidebar), sidebar


def test_the_sidebar_and_the_page_agree_while_the_kept_model_is_tested(env, store, tiny_data_dir):  # noqa: F811
    run_id = running_run(store, tiny_data_dir)
    store.request_stop(run_id)
    store.update_progress(run_id, Progress("evaluating"))
    at = open_page("pages/train.py", {"run": run_id})
    main = [str(p.proto.text) for p in at.main.get("progress")]
    side = [str(p.proto.text) for p in at.sidebar.get("progress")]
    assert any("stopping: testing the kept model" in t for t in main), main
    assert any("stopping: testing the kept model" in t for t in side), side
    assert not any("evaluating" in t for t in main + side)


def test_a_stopped_run_shows_the_kept_models_test_accuracy(env, store, tiny_data_dir):  # noqa: F811
    run_id = running_run(store, tiny_data_dir)
    store.request_stop(run_id)
    store.model_path(run_id).parent.mkdir(parents=True, exist_ok=True)
    store.model_path(run_id).write_bytes(b"kept")
    store.finish(run_id, "stopped", test_accuracy=0.9125, epochs_completed=2)
    at = open_page("pages/train.py", {"run": run_id})
    text = " ".join(s.value for s in at.success)
    assert "Stopped on request after 2 of 3 epochs" in text and "Model kept" in text, text
    assert "Test accuracy **91.25%**" in text


def test_a_run_stopped_before_any_model_says_so(env, store, tiny_data_dir):  # noqa: F811
    run_id = running_run(store, tiny_data_dir)
    store.request_stop(run_id)
    store.finish(run_id, "stopped", epochs_completed=0)
    at = open_page("pages/train.py", {"run": run_id})
    assert any("before any model was saved" in i.value for i in at.info)


def test_the_live_view_never_shows_a_batch_past_the_epochs_end(env, store, tiny_data_dir):  # noqa: F811
    """Issue 14, defect 5: 'epoch 1/3 · batch 72/71' (Keras counted a partial last execution in full)."""
    run_id = store.create_run(TrainConfig(data_dir=tiny_data_dir, epochs=3))
    store.claim_next(["cpu"])
    store.update_progress(run_id, Progress("training", epoch=1, epochs=3, batch=72, steps=71))
    at = open_page("pages/train.py", {"run": run_id})
    texts = [str(p.proto.text) for p in at.get("progress")]
    assert any("epoch 1/3 · batch 71/71" in t for t in texts), texts
    assert not any("72/71" in t for t in texts)
