"""Every dashboard page through Streamlit's AppTest, on the tiny dataset, with no real training.

The scheduler is off (CONVSTUDIO_NO_SCHEDULER=1), so a started run stays
queued; live charts are checked against runs whose metrics are written
straight into the store, and one run that really trained (trained_run).
"""

from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest

from lib.config import TrainConfig
from lib.runs.progress import BatchRow, Progress
from lib.runs.store import Store
from tests.conftest import ROOT

TIMEOUT = 90  # the Model page imports TensorFlow on its first run


@pytest.fixture
def env(runs_dir, tiny_data_dir, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", tiny_data_dir)
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    return runs_dir


def open_page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.run()
    if page != "pages/data.py":
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def goto(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label))


def layer_table(at: AppTest):
    return at.main.dataframe[0].value


def fake_run(store, tiny_data_dir, status="completed", epochs=3, steps=50, **changes) -> str:
    """A run with epoch and batch metrics written as a worker would, without training."""
    config = TrainConfig(data_dir=tiny_data_dir, epochs=epochs, **changes)
    run_id = store.create_run(config)
    if status == "queued":
        return run_id
    store.claim_next(["cpu"])
    for e in range(1, epochs + 1):
        rows = [BatchRow(s, e, s % 10, 2.0 / s, 0.5, 0.0) for s in range((e - 1) * steps + 1, e * steps + 1)]
        store.update_progress(run_id, Progress("training"), rows)
        store.add_epoch(run_id, {"epoch": e, "loss": 1 / e, "accuracy": 1 - 0.1 / e, "val_loss": 1.2 / e,
                                 "val_accuracy": 1 - 0.2 / e, "learning_rate": 1e-3, "images_per_second": 900.0,
                                 "seconds": 1.0})  # fmt: skip
    if status == "running":
        progress = Progress("training", epoch=2, epochs=epochs, batch=40, steps=94, eta_seconds=75)
        store.update_progress(run_id, progress)
    else:
        store.finish(run_id, status, test_accuracy=0.875, test_loss=0.4, epochs_completed=epochs)
    return run_id


# -- Data ------------------------------------------------------------------------
def test_data_page_shows_size_classes_shape_samples_and_distribution(env):
    at = open_page("pages/data.py")
    assert at.selectbox(key="w_dataset").value == "mnist"
    assert metric(at, "Training images") == "600"
    assert metric(at, "Test images") == "200"
    assert metric(at, "Classes") == "10"
    assert metric(at, "Image shape") == "28 x 28 x 1"
    assert at.image[0].captions == [str(d) for d in range(10)]  # a strip of samples per class
    assert len(at.get("plotly_chart")) == 1


def test_unavailable_dataset_says_where_to_put_files_and_offers_the_available(env):
    at = open_page("pages/data.py")
    at.selectbox(key="w_dataset").set_value("cifar10").run()
    assert "not on this server" in at.error[0].value
    assert "cifar-10-batches-py" in at.code[0].value and "data_batch_1" in at.code[0].value
    offers = [b.label for b in at.button]
    assert "MNIST handwritten digits" in offers
    assert "CIFAR-10" not in offers
    at.button(key="use_mnist").click().run()
    assert at.selectbox(key="w_dataset").value == "mnist"
    assert metric(at, "Training images") == "600"


# -- Model -----------------------------------------------------------------------
def test_model_page_layer_table_params_and_memory_follow_the_knobs(env):
    at = open_page("pages/model.py")
    assert at.selectbox(key="w_architecture").value == "simple_cnn"
    assert metric(at, "Parameters") == "693,962"  # conv 320 + dense 692,352 + softmax 1,290
    table = layer_table(at)
    assert table["parameters"].sum() == 693_962
    assert "BatchNormalization" not in set(table["type"])
    memory = float(metric(at, "Memory per batch of 64").split()[0].replace(",", ""))
    assert memory > 4 * 693_962 * 4 / 2**20  # at least weights, gradients and two Adam slots

    at.toggle(key="w_batchnorm").set_value(True).run()
    assert "BatchNormalization" in set(layer_table(at)["type"])
    at.select_slider(key="w_width").set_value(0.5).run()
    assert int(metric(at, "Parameters").replace(",", "")) < 693_962 / 3


def test_settings_survive_page_changes_and_meet_on_the_train_page(env):
    at = open_page("pages/model.py")
    at.selectbox(key="w_architecture").set_value("lenet5").run()
    at.slider(key="w_dropout").set_value(0.5).run()
    goto(at, "pages/train.py")
    at.number_input(key="w_epochs").set_value(7).run()
    assert "**LeNet-5** on **MNIST handwritten digits** · dropout 0.5" in at.markdown[0].value
    goto(at, "pages/data.py")
    goto(at, "pages/model.py")
    assert at.slider(key="w_dropout").value == 0.5
    assert at.selectbox(key="w_architecture").value == "lenet5"
    goto(at, "pages/train.py")
    assert at.number_input(key="w_epochs").value == 7


def test_choosing_an_architecture_applies_its_own_defaults(env):
    """The Keras MNIST convnet is described as dropout 0.5; its slider used to show (and train) 0.25."""
    at = open_page("pages/model.py")
    at.selectbox(key="w_architecture").set_value("keras_convnet").run()
    assert not at.exception
    assert at.slider(key="w_dropout").value == 0.5
    at.selectbox(key="w_architecture").set_value("vgg_small").run()
    assert at.slider(key="w_dropout").value == 0.3 and at.toggle(key="w_batchnorm").value is True


# -- Train -----------------------------------------------------------------------
def test_start_enqueues_the_settings_and_shows_the_queue_place(env, store):
    busy = fake_run(store, None, status="running")
    at = open_page("pages/train.py")
    at.number_input(key="w_epochs").set_value(3).run()
    at.number_input(key="w_batch_size").set_value(32).run()
    at.selectbox(key="w_optimizer").set_value("sgd")
    at.button(key="start").click().run()  # typed and clicked at once: the new value must count
    queued = store.queue()
    assert len(queued) == 1
    config = queued[0].config
    assert (config.epochs, config.batch_size, config.optimizer, config.dataset) == (3, 32, "sgd", "mnist")
    assert "place **1** in the queue" in at.info[0].value
    assert busy[-6:] in at.info[0].value  # names the run that holds the machine

    at.run()  # AppTest reports a URL set in a callback one run later
    assert at.query_params["run"] == queued[0].id  # a reload finds the run

    at.button(key="stop_run").click().run()
    assert store.get(queued[0].id).status == "stopped"

    at.button(key="start").click().run()  # a second run from the same page replaces the first in view
    newest = store.queue()[0].id
    assert any(f"Run `{newest}` · queued" in m.value for m in at.markdown)
    at.run()
    assert at.query_params["run"] == newest


def test_clashing_settings_are_refused_beside_the_widget_and_start_is_disabled(env, store):
    at = open_page("pages/data.py")
    at.number_input(key="w_train_limit").set_value(100).run()
    goto(at, "pages/train.py")
    at.number_input(key="w_batch_size").set_value(256).run()
    assert any("larger than the 90 training images" in e.value for e in at.error)
    at.slider(key="w_validation_split").set_value(0.0).run()
    at.number_input(key="w_early_stopping_patience").set_value(3).run()
    assert any("needs a validation split" in e.value for e in at.error)
    assert at.button(key="start").disabled
    assert store.list_runs() == []

    at.number_input(key="w_batch_size").set_value(32).run()
    at.number_input(key="w_early_stopping_patience").set_value(0).run()
    assert not at.error
    assert not at.button(key="start").disabled


def test_train_page_draws_a_finished_runs_charts_from_the_url(env, tiny_data_dir, store):
    run_id = fake_run(store, tiny_data_dir, epochs=3, steps=50)
    at = open_page("pages/train.py", {"run": run_id})
    assert any(f"Run `{run_id}` · completed" in m.value for m in at.markdown)
    assert "87.50%" in at.success[0].value
    assert len(at.get("plotly_chart")) == 5  # batch loss, epoch loss, accuracy, learning rate, images/s
    assert len(at.session_state["cs_batch_buffer"]["rows"]) == 150
    assert "stop_run" not in [b.key for b in at.button]  # nothing left to stop


def test_live_view_of_a_running_run_shows_progress_eta_and_stop(env, tiny_data_dir, store):
    run_id = fake_run(store, tiny_data_dir, status="running", epochs=5)
    at = open_page("pages/train.py", {"run": run_id})
    bars = [p for p in at.get("progress")]
    assert any("epoch 2/5 · batch 40/94 · 1:15 left" in str(p.proto.text) for p in bars)
    at.button(key="stop_run").click().run()
    assert store.get(run_id).status == "stopping"


def test_a_hostile_run_id_in_the_url_is_ignored(env):
    at = open_page("pages/train.py", {"run": "../../etc/passwd"})
    assert "No run yet" in at.info[0].value


def test_train_page_shows_a_really_trained_run(trained_run, tiny_data_dir, monkeypatch):
    runs, run_id = trained_run
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(runs))
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", tiny_data_dir)
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    at = open_page("pages/train.py", {"run": run_id})
    assert "Test accuracy" in at.success[0].value
    assert len(at.session_state["cs_batch_buffer"]["rows"]) > 0


# -- Runs ------------------------------------------------------------------------
def test_runs_table_filters_compares_and_trains_again(env, tiny_data_dir, store):
    first = fake_run(store, tiny_data_dir, epochs=2, batch_size=32, learning_rate=0.01, optimizer="rmsprop")
    second = fake_run(store, tiny_data_dir, epochs=3, architecture="lenet5")
    fake_run(store, tiny_data_dir, status="queued")
    at = open_page("pages/runs.py")
    assert len(at.dataframe[0].value) == 3
    at.multiselect(key="f_status").set_value(["completed"]).run()
    assert set(at.dataframe[0].value["run"]) == {first, second}

    at.session_state["cs_runs_selected"] = [first, second]
    at.run()
    overlay = at.get("plotly_chart")
    assert len(overlay) == 1
    train_again = next(b for b in at.button if b.label == "Train again")
    assert train_again.disabled  # two runs selected: which settings?

    at.session_state["cs_runs_selected"] = [first]
    at.run()
    next(b for b in at.button if b.label == "Train again").click().run()
    assert at.title[0].value == "Train"
    assert at.number_input(key="w_epochs").value == 2
    assert at.number_input(key="w_batch_size").value == 32
    assert at.selectbox(key="w_optimizer").value == "rmsprop"


def test_delete_asks_for_confirmation_first(env, tiny_data_dir, store):
    keep = fake_run(store, tiny_data_dir)
    doomed = fake_run(store, tiny_data_dir)
    at = open_page("pages/runs.py")
    at.session_state["cs_runs_selected"] = [doomed]
    at.run()
    next(b for b in at.button if b.label.startswith("Delete 1 run")).click().run()
    assert [r.id for r in store.list_runs()] == [doomed, keep]  # nothing gone before the confirmation
    assert "cannot be undone" in at.warning[0].value
    at.button(key="confirm_delete").click().run()
    assert [r.id for r in store.list_runs()] == [keep]
    assert list(at.dataframe[0].value["run"]) == [keep]


# -- Sidebar ---------------------------------------------------------------------
def test_sidebar_shows_device_the_running_run_and_the_queue(env, tiny_data_dir, store):
    running = fake_run(store, tiny_data_dir, status="running", epochs=5)
    waiting = fake_run(store, tiny_data_dir, status="queued", architecture="lenet5")
    at = open_page("pages/data.py")
    side = at.sidebar
    assert any("CPU" in c.value for c in side.caption)
    assert any(running[-6:] in str(p.proto.text) and "epoch 2/5" in str(p.proto.text) for p in side.get("progress"))
    queued = [c.value for c in side.caption if c.value.startswith("1. LeNet-5 on MNIST handwritten digits")]
    assert queued and waiting[-6:] in queued[0]


def test_an_out_of_range_value_never_reaches_a_run(env, store):
    """The box shows what was typed, Start is off with the reason beside it; nothing trains meanwhile."""
    at = open_page("pages/train.py")
    at.number_input(key="w_learning_rate").set_value(5.0).run()  # past the limit of 1
    assert not at.exception
    assert at.number_input(key="w_learning_rate").value == 5.0  # what the user typed, not a stale value
    assert at.button(key="start").disabled
    assert any("Start is off until" in m.value and "learning rate" in m.value for m in at.markdown)
    at.number_input(key="w_learning_rate").set_value(1e-3).run()
    assert not at.button(key="start").disabled
    at.button(key="start").click().run()
    assert store.queue()[0].config.learning_rate == 1e-3


def test_epochs_and_batch_size_out_of_range_disable_start(env, store):
    """Issue 14: Epochs 100000 and Batch size 0 turned red but Start trained the last valid values."""
    at = open_page("pages/train.py")
    at.number_input(key="w_epochs").set_value(100000).run()
    at.number_input(key="w_batch_size").set_value(0).run()
    assert at.number_input(key="w_epochs").value == 100000 and at.number_input(key="w_batch_size").value == 0
    assert at.button(key="start").disabled
    why = " ".join(m.value for m in at.markdown if "Start is off until" in m.value)
    assert "**epochs**" in why and "**batch size**" in why
    assert not store.list_runs()


def test_the_recommended_recipe_is_applied_whole_and_shown(env, store):
    """Issue 14: after typing Epochs 3 and Batch size 32 the recipe left both boxes (and the run) at 3 / 32."""
    from lib import presets

    recipe = presets.get("mnist").settings
    at = open_page("pages/train.py")
    at.number_input(key="w_epochs").set_value(3).run()
    at.number_input(key="w_batch_size").set_value(32).run()
    at.button(key="preset").click().run()
    assert at.number_input(key="w_epochs").value == recipe["epochs"]
    assert at.number_input(key="w_batch_size").value == recipe["batch_size"]
    assert at.number_input(key="w_learning_rate").value == recipe["learning_rate"]
    for field in ("augment_shift", "augment_rotation", "augment_zoom", "validation_split"):
        assert at.slider(key=f"w_{field}").value == recipe[field], field  # exactly: no snapping to 0.10 / 10
    at.button(key="start").click().run()
    config = store.queue()[0].config
    for field, value in recipe.items():
        if field != "mixed_precision":  # off on a server without a GPU
            assert getattr(config, field) == value, field


def test_settings_come_back_from_the_address_after_a_reload(env, store):
    """A reload is a new session: the settings written into the address are read back (hostile values dropped)."""
    at = open_page("pages/train.py")
    at.number_input(key="w_epochs").set_value(7).run()
    at.number_input(key="w_train_limit").set_value(3000).run()
    params = {k: at.query_params[k] for k in at.query_params}
    assert params["epochs"] == ["7"] or params["epochs"] == "7"
    again = open_page("pages/train.py", {"epochs": "7", "train_limit": "3000", "seed": "x", "dropout": "nan"})
    assert again.number_input(key="w_epochs").value == 7
    assert again.number_input(key="w_train_limit").value == 3000
    assert again.number_input(key="w_seed").value == 42  # 'x' is not a number: the default stands
    assert not again.exception


def test_two_sessions_see_their_own_runs_and_the_shared_queue(env, store):
    first, second = open_page("pages/train.py"), open_page("pages/train.py")
    first.button(key="start").click().run()
    second.number_input(key="w_epochs").set_value(2)
    second.button(key="start").click().run()
    mine, theirs = [r.id for r in store.queue()]
    assert any(mine in m.value for m in first.markdown) and not any(theirs in m.value for m in first.markdown)
    assert any(theirs in m.value for m in second.markdown) and "place **2**" in second.info[0].value
    second.run()  # the sidebar lists both, and marks the session's own
    queue = [c.value for c in second.sidebar.caption if c.value[:2] in ("1.", "2.")]
    assert len(queue) == 2 and queue[1].endswith("(yours)") and not queue[0].endswith("(yours)")


def test_a_gpu_server_shows_the_gpu_and_offers_mixed_precision(env, tmp_path, monkeypatch):
    from ui import cached

    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho '0, NVIDIA H100 80GB HBM3, 1024, 81559'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    cached.device.clear()
    try:
        at = open_page("pages/train.py")
        bars = [str(p.proto.text) for p in at.sidebar.get("progress")]
        assert any("NVIDIA H100 80GB HBM3: 1,024/81,559 MiB" in b for b in bars)
        at.toggle(key="w_mixed_precision").set_value(True).run()
        at.button(key="start").click().run()
    finally:
        cached.device.clear()
    assert Store(env).queue()[0].config.mixed_precision is True


def test_no_mixed_precision_switch_without_a_gpu(env, monkeypatch):
    from ui import cached

    monkeypatch.setenv("CONVSTUDIO_FORCE_CPU", "1")
    cached.device.clear()
    at = open_page("pages/train.py")
    assert "w_mixed_precision" not in [t.key for t in at.toggle]


def test_a_failed_download_says_why_and_keeps_the_page(env, monkeypatch):
    from lib.data import datasets

    def offline(name, data_dir=None, allow_download=True):
        raise datasets.DatasetUnavailable(f"{name}: put the files somewhere\n(download failed: no route to host)")

    monkeypatch.delenv("CONVSTUDIO_OFFLINE", raising=False)
    monkeypatch.setattr(datasets, "load_raw", offline)
    at = open_page("pages/data.py")
    at.selectbox(key="w_dataset").set_value("cifar10").run()
    at.button(key="download").click().run()
    assert not at.exception
    assert any("no route to host" in e.value for e in at.error)
    assert "cifar-10-batches-py" in at.code[0].value  # the instructions stay


def test_progress_text_reads_like_a_progress_bar():
    from lib.runs.store import Run
    from ui.sidebar import progress_text

    def run(status, progress):
        return Run(id="x", seq=1, created=0.0, status=status, config=TrainConfig(), dataset="mnist",
                   architecture="simple_cnn", progress=Progress.from_dict(progress))  # fmt: skip

    assert progress_text(run("queued", {})) == (0.0, "waiting in the queue")
    assert progress_text(run("running", {"phase": "loading data"})) == (0.0, "loading data")
    assert progress_text(run("running", {"phase": "training", "epoch": 0, "epochs": 3}))[1] == "starting 3 epoch(s)"
    done, text = progress_text(
        run("running", {"phase": "training", "epoch": 2, "epochs": 4, "batch": 50, "steps": 100, "eta_seconds": 3725})
    )
    assert done == pytest.approx(1.5 / 4)
    assert text == "epoch 2/4 · batch 50/100 · 1:02:05 left"


def test_the_data_page_says_how_many_images_this_server_has(env):
    """Issue 14: the caption said '70,000 (60,000 train, 10,000 test)' above metrics of another size."""
    at = open_page("pages/data.py")
    captions = [c.value for c in at.caption]
    assert any(c.startswith("The published dataset:") for c in captions)
    assert any("600 training and 200 test images" in c for c in captions), captions


def test_a_first_visit_is_welcomed_with_the_steps_and_a_one_click_first_run(env, store):
    """Issue 14: the app opened on Data with no word on what to do."""
    at = open_page("pages/data.py")
    assert any("Welcome to ConvStudio" in m.value for m in at.markdown)
    at.button(key="quick_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = store.list_runs()[0]
    assert (run.config.dataset, run.config.architecture, run.config.epochs) == ("mnist", "lenet5", 2)
    assert any(run.id in m.value for m in at.markdown)  # the Train page, watching it
    at.switch_page("pages/data.py").run()
    assert not any("Welcome to ConvStudio" in m.value for m in at.markdown)  # once there are runs


def test_the_sidebar_sums_up_a_ray_cluster():
    """Issue 15: cluster capacity in the sidebar (Scheduler.capacity() is measured in test_ray_executor)."""
    from ui.sidebar import cluster_caption

    assert cluster_caption(None) is None  # local executor: the device line says it all
    text = cluster_caption({"nodes": 3, "gpus": 2, "gpus_free": 1, "cpus": 3, "cpus_free": 2})
    assert text.endswith("Ray cluster: 3 nodes · GPUs 1 of 2 free · CPUs 2 of 3 free")
    assert "GPUs" not in cluster_caption({"nodes": 1, "gpus": 0, "gpus_free": 0, "cpus": 4, "cpus_free": 4})
