"""Teach it in the app (AppTest): collect mode, correct on Predict, projector and suspects on Evaluate."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from lib.data import custom
from lib.runs.store import Store
from lib.teach import collect, finetune

ROOT = Path(__file__).resolve().parent.parent


def png(colour, size=(48, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def app_on(monkeypatch, page: str, runs_dir, state: dict | None = None) -> AppTest:
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    monkeypatch.syspath_prepend(str(ROOT))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def own_run(trained_run, tmp_path):
    """A private copy of the trained tiny run (corrections are written beside it)."""
    runs, run_id = trained_run
    shutil.copytree(runs, tmp_path / "runs")
    return tmp_path / "runs", run_id


# -- collect ---------------------------------------------------------------------------------
def test_collect_mode_adds_uploads_to_a_class_and_saves_an_ordinary_dataset(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(tmp_path / "data"))
    for i in range(3):
        collect.add_image("pets", "dog", png((0, 40 * i, 200)))  # one class collected earlier
    at = app_on(monkeypatch, "pages/custom_data.py", tmp_path / "runs", state={"cd_collect": True})
    at.text_input(key="collect_name").input("pets").run()
    form_input = next(t for t in at.text_input if t.label == "New class")
    form_input.input("cat")
    next(b for b in at.button if b.label == "Add class").click().run()
    assert not at.exception, at.exception
    assert any(e.label.startswith("**cat**: 0 image") for e in at.expander)
    at.radio(key="collect_src_pets_cat").set_value("Upload").run()
    uploader = next(u for u in at.get("file_uploader") if "cat" in u.proto.label)
    uploader.set_value([("a.png", png("red"), "image/png"), ("b.png", png("orange"), "image/png")]).run()
    at.button(key="collect_up_add_pets_cat").click().run()
    assert not at.exception, at.exception
    assert collect.counts("pets") == {"cat": 2, "dog": 3}
    next(b for b in at.button if b.label == "Save dataset").click().run()
    assert not at.exception, at.exception
    assert custom.is_saved("pets") and custom.manifest("pets")["class_names"] == ["cat", "dog"]
    assert any("Saved **pets**" in s.value for s in at.success)


# -- correct on Predict --------------------------------------------------------------------------
def test_a_wrong_prediction_becomes_a_correction_and_a_fine_tune_run(monkeypatch, own_run):
    import base64

    runs_dir, run_id = own_run
    image = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(image).line([(100, 60), (180, 60), (120, 220)], fill=255, width=18)
    buffer = io.BytesIO()
    image.convert("RGBA").save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    drawn = {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}}
    at = app_on(monkeypatch, "pages/predict.py", runs_dir, state={"predict_canvas": drawn})
    at.selectbox(key="correct_to_canvas").set_value(7).run()
    at.button(key="correct_add_canvas").click().run()
    assert not at.exception, at.exception
    store = Store(runs_dir)
    records = finetune.box(store, run_id).records()
    assert [(c.label, c.source) for c in records] == [(7, "canvas")]
    assert any(m.value.startswith("#### Corrections for this model (1)") for m in at.markdown)
    at.button(key=f"correct_finetune_{run_id}").click().run()
    assert not at.exception, at.exception
    children = [r for r in store.list_runs() if r.config.extra.get("corrections_from") == run_id]
    assert len(children) == 1 and children[0].status == "queued" and children[0].parent_id == run_id
    assert any("Queued run" in s.value for s in at.success)


# -- projector and suspects on Evaluate ------------------------------------------------------------
def test_the_projector_draws_a_webgl_map_of_the_test_images(monkeypatch, trained_run):
    runs_dir, run_id = trained_run
    state = {"eval_section": "Projector", f"proj_method_{run_id}": "PCA (instant)"}
    at = app_on(monkeypatch, "pages/evaluate.py", runs_dir, state=state)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    scatter = [c for c in charts if c["data"] and c["data"][0]["type"] == "scattergl"]
    assert scatter and scatter[0]["layout"]["dragmode"] == "pan"
    assert any("penultimate-layer features" in c.value for c in at.caption)


def test_a_built_in_suspect_is_relabelled_as_an_overlay_and_undone(monkeypatch, trained_run, tmp_path):
    import hashlib

    from lib.data import datasets, overlay

    runs_dir, run_id = trained_run
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(tmp_path / "data"))  # where the overlay is kept
    data_dir = Store(runs_dir).get(run_id).config.data_dir
    files = {p: hashlib.sha256(p.read_bytes()).digest() for p in sorted((Path(data_dir) / "mnist").iterdir())}
    state = {"eval_section": "Label suspects", f"sus_on_{run_id}": True}
    at = app_on(monkeypatch, "pages/evaluate.py", runs_dir, state=state)
    assert any("most suspect labels" in m.value for m in at.markdown)
    at.checkbox[0].check().run()
    given = next(m.value for m in at.markdown if m.value.startswith("label **")).split("**")[1]
    target = (int(given) + 1) % 10
    at.selectbox(key=f"sus_{run_id}_to").set_value(target).run()
    at.button(key=f"sus_{run_id}_relabel").click().run()
    assert not at.exception, at.exception
    assert any(f"relabelled as {target}, kept as a fix beside MNIST handwritten digits" in s.value for s in at.success)
    (x, y), _ = datasets.load_raw("mnist", data_dir)
    assert overlay.summary("mnist", x, y) == {"relabelled": 1, "excluded": 0, "batches": 1}
    assert {p: hashlib.sha256(p.read_bytes()).digest() for p in files} == files  # the built-in is unchanged
    at.run()  # the list again: the suspect now carries its fixed label
    assert any("1 training image(s) relabelled" in c.value for c in at.caption)
    at.button(key=f"sus_{run_id}_undo").click().run()
    assert not at.exception, at.exception
    assert overlay.summary("mnist", x, y)["batches"] == 0
    assert not any("training image(s) relabelled" in c.value for c in at.caption)


@pytest.mark.slow
def test_the_fine_tuned_run_shows_each_correction_before_and_after(monkeypatch, own_run):
    import numpy as np

    from lib.train import fit

    runs_dir, run_id = own_run
    store = Store(runs_dir)
    x = np.zeros((28, 28, 1), np.float32)
    x[2:4, 4:24] = 1.0  # the tiny dataset's class 0 is a bar near the top
    finetune.box(store, run_id).add(Image.new("L", (28, 28)), x, 0, [str(d) for d in range(10)], run_id, "bar", 3, 0.6)
    child = finetune.queue(store, run_id)
    store.claim_next(["test"])
    assert fit.train_run(store, child)["status"] == "completed"
    at = app_on(monkeypatch, "pages/predict.py", runs_dir, state={"predict_run": child})
    assert at.selectbox(key="predict_run").value == child
    heading = [m.value for m in at.markdown if m.value.startswith("#### Before -> after")]
    assert heading and heading[0].endswith("of 1 corrected images now read right")
    assert any(m.value.startswith("3 -> **") for m in at.markdown)


@pytest.mark.slow
def test_relabelling_a_suspect_saves_a_new_version_of_the_custom_dataset(monkeypatch, tmp_path):
    from lib.config import TrainConfig
    from lib.train import fit
    from tests.helpers import shapes

    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(tmp_path / "data"))
    images, labels = shapes.make(12, seed=3, size=32)
    for pixels, label in zip(images, labels, strict=True):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        collect.add_image("toys", shapes.CLASSES[label], buffer.getvalue())
    before = collect.save("toys", image_size=32, color="rgb")["counts"]["train"]
    store = Store(tmp_path / "runs")
    run_id = store.create_run(TrainConfig(dataset="toys", architecture="lenet5", epochs=1, validation_split=0.0))
    store.claim_next(["test"])
    assert fit.train_run(store, run_id)["status"] == "completed"

    state = {"eval_section": "Label suspects", f"sus_on_{run_id}": True}
    at = app_on(monkeypatch, "pages/evaluate.py", tmp_path / "runs", state=state)
    assert any("most suspect labels" in m.value for m in at.markdown)
    at.checkbox[0].check().run()
    given = next(m.value for m in at.markdown if m.value.startswith("label **")).split("**")[1]
    target = next(i for i, name in enumerate(shapes.CLASSES) if name != given)
    at.selectbox(key=f"sus_{run_id}_to").set_value(target).run()
    at.button(key=f"sus_{run_id}_relabel").click().run()
    assert not at.exception, at.exception
    assert any(f"relabelled as {shapes.CLASSES[target]}" in s.value for s in at.success)
    after = custom.manifest("toys")["counts"]["train"]
    assert sum(after) == sum(before) and after[target] == before[target] + 1


def test_with_accounts_only_an_administrator_may_fix_a_built_in(monkeypatch, trained_run, tmp_path):
    from lib.runs import accounts

    runs_dir, run_id = trained_run
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[convstudio]\n")
    for name in ("ada", "bob"):
        accounts.add_user(secrets, name, f"{name}'s own password", admin=name == "ada")
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(secrets))
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    monkeypatch.syspath_prepend(str(ROOT))
    for name, may in (("bob", False), ("ada", True)):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at.text_input[0].input(name)
        at.text_input[1].input(f"{name}'s own password")
        at.button[0].click().run()
        at.session_state["eval_section"] = "Label suspects"
        at.session_state[f"sus_on_{run_id}"] = True
        at.switch_page("pages/evaluate.py").run()
        at.checkbox[0].check().run()
        assert not at.exception, at.exception
        refused = any("only an administrator can make them" in i.value for i in at.info)
        assert refused is not may and bool([b for b in at.button if b.key == f"sus_{run_id}_relabel"]) is may
