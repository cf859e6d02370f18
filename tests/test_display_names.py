"""Issue 14, rough edge 'names differ between places': one display name per architecture and dataset
on every page ('LeNet-5', 'MNIST handwritten digits'); the ids (lenet5, mnist) only where a user types
them (the command line). The Keras convnet's description says the dropout it starts with."""

from __future__ import annotations

import pytest

from lib import models, names
from lib.cli import main as cli_main
from lib.config import TrainConfig
from lib.data import datasets
from tests.test_app_pages import env, fake_run, open_page  # noqa: F401 - env is a fixture

IDS = ("lenet5", "simple_cnn", "mnist")


def shown_text(at) -> str:
    """Everything a page shows in words: text elements, metrics, table cells, widget labels and options."""
    parts = [e.value for kind in ("markdown", "caption", "info", "success", "warning", "error") for e in at.get(kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [str(p.proto.text) for p in at.get("progress")]
    for table in at.dataframe:
        parts += [str(v) for v in table.value.to_numpy().ravel()]
    for box in [*at.selectbox, *at.multiselect]:
        parts += [box.label, *box.options]
    return "\n".join(parts)


def assert_no_ids(text: str) -> None:
    for raw in IDS:  # as a word: 'mnist' inside 'MNIST handwritten digits' is the title, not the id
        assert f" {raw} " not in f" {text.replace('·', ' ').replace(',', ' ')} ".replace("\n", " "), (raw, text)


def test_one_title_per_thing_and_the_id_when_unknown():
    assert names.subject("lenet5", "mnist") == "LeNet-5 on MNIST handwritten digits"
    assert names.architecture("resnet_small") == "ResNet-20" == models.title("resnet_small")
    assert names.dataset("cifar10") == "CIFAR-10" == datasets.title("cifar10")
    assert names.dataset("a_deleted_one") == "a_deleted_one" and models.title("gone") == "gone"


@pytest.mark.parametrize("name", models.names())
def test_each_description_states_the_dropout_its_builder_starts_with(name):
    knobs = models.defaults(name)
    assert f"dropout {knobs['dropout']:g}" in models.description(name)
    assert "dropout 0.5" in models.description("keras_convnet")  # the slider starts there (TrainConfig says 0.25)


def test_titles_fit_their_labels():
    """Titles go into table cells, the sidebar and Predict's metrics, where 19 characters fit at 1400 px
    (measured in Chromium: 'Keras MNIST convnet' whole, 'Small VGG (normalised)' cut off)."""
    assert max(len(models.title(n)) for n in models.names()) <= 19
    assert max(len(datasets.title(n)) for n in datasets.BUILTIN) <= 24


def test_the_command_line_lists_ids_with_their_titles(tmp_path, capsys):
    assert cli_main.main(["--runs-dir", str(tmp_path / "runs"), "models"]) == 0
    out = capsys.readouterr().out
    assert "resnet_small       ResNet-20: " in out and "Defaults: dropout 0.5" in out
    assert cli_main.main(["--runs-dir", str(tmp_path / "runs"), "datasets", "--data-dir", str(tmp_path)]) == 0
    assert "(MNIST handwritten digits)" in capsys.readouterr().out


def test_the_runs_table_and_its_filters_show_titles(env, store, tiny_data_dir):  # noqa: F811
    fake_run(store, tiny_data_dir, architecture="lenet5")
    fake_run(store, tiny_data_dir, architecture="simple_cnn")
    at = open_page("pages/runs.py")
    table = at.dataframe[0].value
    assert sorted(table["architecture"]) == ["LeNet-5", "Simple CNN"]
    assert set(table["dataset"]) == {"MNIST handwritten digits"}
    at.multiselect(key="f_arch").select("lenet5").run()  # the value is still the id
    assert list(at.dataframe[0].value["architecture"]) == ["LeNet-5"]
    assert_no_ids(shown_text(at))


def test_the_run_picker_and_the_comparison_show_titles(store, tiny_data_dir):
    from ui import compare, run_picker

    run = store.get(fake_run(store, tiny_data_dir, architecture="lenet5"))
    assert f"{run.id} · LeNet-5 on MNIST handwritten digits · 87.50%" == run_picker.label(run)
    settings = compare._settings(run)
    assert (settings["architecture"], settings["dataset"]) == ("LeNet-5", "MNIST handwritten digits")


def test_the_model_page_describes_the_defaults_it_sets(env):  # noqa: F811
    at = open_page("pages/model.py")
    at.selectbox(key="w_architecture").set_value("keras_convnet").run()
    assert at.slider(key="w_dropout").value == 0.5
    assert any("Defaults: dropout 0.5, BatchNorm off." in c.value for c in at.caption)


def test_a_title_for_a_custom_dataset_and_for_one_removed():
    config = TrainConfig(dataset="gone_now", architecture="lenet5")
    assert names.subject(config.architecture, config.dataset) == "LeNet-5 on gone_now"


def test_the_sidebar_and_the_train_page_show_titles(env, store, tiny_data_dir):  # noqa: F811
    running = fake_run(store, tiny_data_dir, status="running", architecture="simple_cnn")
    fake_run(store, tiny_data_dir, status="queued", architecture="lenet5")
    at = open_page("pages/train.py", {"run": running})
    side = "\n".join([c.value for c in at.sidebar.caption] + [str(p.proto.text) for p in at.sidebar.get("progress")])
    assert "1. LeNet-5 on MNIST handwritten digits" in side and "Simple CNN on MNIST handwritten digits" in side
    assert any(c.value.startswith("Simple CNN on MNIST handwritten digits · 3 epochs") for c in at.caption), [
        c.value for c in at.caption
    ]
    assert_no_ids(shown_text(at))


def test_the_sweep_form_names_the_base_settings_by_title(env):  # noqa: F811
    at = open_page("pages/sweep.py")
    assert any("(Simple CNN on MNIST handwritten digits," in c.value for c in at.caption), [c.value for c in at.caption]
