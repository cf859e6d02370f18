"""Train page: unfreeze the top layers of a finished pretrained run's backbone (issue 16), as the CLI does."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.config import TrainConfig
from lib.runs.store import Store
from lib.teach import corrections, finetune

ROOT = Path(__file__).resolve().parent.parent


def finished_run(store: Store, data_dir: str, architecture: str) -> str:
    """A completed run with a model file (its contents do not matter until the fine-tune trains)."""
    config = TrainConfig(dataset="mnist", architecture=architecture, epochs=4, learning_rate=1e-3, data_dir=data_dir)
    run_id = store.create_run(config)
    store.claim_next(["cpu"])
    store.finish(run_id, "completed")
    store.model_path(run_id, "model").parent.mkdir(parents=True, exist_ok=True)
    store.model_path(run_id, "model").write_bytes(b"a model")
    return run_id


def train_page(monkeypatch, runs_dir, run_id: str, url: dict | None = None) -> AppTest:
    monkeypatch.setenv("CONVSTUDIO_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")
    monkeypatch.syspath_prepend(str(ROOT))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["run"] = run_id
    for key, value in (url or {}).items():
        at.query_params[key] = value
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_finished_pretrained_run_offers_to_unfreeze_its_top_layers(monkeypatch, store, runs_dir, tiny_data_dir):
    run_id = finished_run(store, tiny_data_dir, "mobilenet_v3_small")
    at = train_page(monkeypatch, runs_dir, run_id, url={"architecture": "mobilenet_v3_small"})
    assert any("the backbone trains frozen" in c.value for c in at.caption)  # beside the pretrained choice
    assert at.number_input(key=f"unfreeze_n_{run_id}").value == finetune.UNFREEZE_DEFAULT
    assert at.number_input(key=f"unfreeze_lr_{run_id}").value == pytest.approx(1e-4)
    at.number_input(key=f"unfreeze_n_{run_id}").set_value(12)
    at.number_input(key=f"unfreeze_epochs_{run_id}").set_value(2)
    at.button(key=f"unfreeze_go_{run_id}").click().run()
    assert not at.exception, at.exception
    child = next(r for r in store.list_runs() if r.id != run_id)
    assert child.parent_id == run_id and child.status == "queued"
    assert child.config.extra["unfreeze_top"] == 12 and child.config.extra["finetuned_from"] == run_id
    assert child.config.learning_rate == pytest.approx(1e-4) and child.config.epochs == 2
    assert at.session_state["cs_run"] == child.id  # the page now watches the new run


def test_a_run_of_a_from_scratch_network_offers_nothing(monkeypatch, store, runs_dir, tiny_data_dir):
    run_id = finished_run(store, tiny_data_dir, "simple_cnn")
    at = train_page(monkeypatch, runs_dir, run_id)
    assert not [b for b in at.button if b.key == f"unfreeze_go_{run_id}"]
    assert not any("the backbone trains frozen" in c.value for c in at.caption)


def test_the_servers_limits_refuse_it_on_the_page(monkeypatch, store, runs_dir, tiny_data_dir, tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[convstudio]\nmax_epochs = 3\n")
    monkeypatch.setenv("CONVSTUDIO_SECRETS", str(secrets))
    run_id = finished_run(store, tiny_data_dir, "efficientnet_b0")
    at = train_page(monkeypatch, runs_dir, run_id)
    at.number_input(key=f"unfreeze_epochs_{run_id}").set_value(5)
    at.button(key=f"unfreeze_go_{run_id}").click().run()
    assert not at.exception, at.exception
    assert any("Cannot fine-tune: epochs this server allows at most 3" in e.value for e in at.error)
    assert [r.id for r in store.list_runs()] == [run_id]


def test_the_rule_is_the_clis(store, tiny_data_dir):
    scratch = finished_run(store, tiny_data_dir, "simple_cnn")
    pretrained_run = finished_run(store, tiny_data_dir, "mobilenet_v3_small")
    with pytest.raises(corrections.CorrectionRefused, match="needs a run of a pretrained architecture"):
        finetune.queue_unfreeze(store, scratch, 5)
    for bad in (0, -3, True, 2.5, "7"):
        with pytest.raises(corrections.CorrectionRefused, match="N >= 1"):
            finetune.queue_unfreeze(store, pretrained_run, bad)
    assert len(store.list_runs()) == 2  # nothing was queued
