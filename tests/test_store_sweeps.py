"""Sweeps in the run store: the public sweep API on both backends, the schema migration that
adds the sweep tables to an older store, and `store migrate` / backup / restore carrying them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lib.config import TrainConfig
from lib.runs import schema
from lib.runs.store import MARKER, Store, UnknownRun
from lib.runs.store_errors import StoreError
from lib.runs.store_rows import TrialRow, UnknownSweep
from lib.runs.store_url import open_backend
from lib.sweeps.record import SweepRecords, SweepSpec
from lib.sweeps.space import SearchSpace
from lib.sweeps.strategy import TrialRecord
from tests.conftest import ROOT

BACKENDS = ["sqlite", "postgresql"]
BASE = TrainConfig(dataset="mnist", architecture="lenet5", epochs=2, validation_split=0.1)


@pytest.fixture(params=BACKENDS)
def store_url(request, runs_dir, monkeypatch):
    """None for SQLite in the runs folder, else a fresh PostgreSQL database (also in CONVSTUDIO_STORE)."""
    if request.param == "sqlite":
        monkeypatch.delenv("CONVSTUDIO_STORE", raising=False)
        return None
    url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("CONVSTUDIO_STORE", url)
    return url


@pytest.fixture
def store(runs_dir, store_url):
    store = Store(runs_dir, url=store_url)
    yield store
    store.close()


def cli(runs_dir, *args):
    env = {k: v for k, v in os.environ.items() if k != "CONVSTUDIO_STORE"}
    env["CONVSTUDIO_RUNS_DIR"] = str(runs_dir)
    return subprocess.run(
        [sys.executable, "-m", "lib.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def a_sweep(store) -> tuple[str, list[str]]:
    """A TPE sweep with two trials: one complete (linked to a run), one running (linked), one not yet queued."""
    records = SweepRecords(store)
    spec = SweepSpec(
        BASE, SearchSpace.parse(["learning_rate=1e-4:1e-2:log", "batch_size=32,64"]), "tpe", "median", trials=5
    )
    sweep_id = records.create(spec, owner="ana")
    runs = [store.create_run(BASE, owner="ana") for _ in range(2)]
    for number, run_id in enumerate(runs):
        records.add_trial(sweep_id, TrialRecord(number, {"learning_rate": 0.001 * (number + 1), "batch_size": 32}))
        assert records.link_run(sweep_id, number, run_id)
    (done, running) = records.trials(sweep_id)
    done.record.state, done.record.value, done.record.intermediate = "complete", 0.91, {1: 0.85, 2: 0.91}
    done.record.system_attrs = {"sampler": "tpe"}
    records.save_trial(sweep_id, done)
    running.record.intermediate = {1: 0.5}
    records.save_trial(sweep_id, running)
    records.add_trial(sweep_id, TrialRecord(2, {"learning_rate": 0.0002, "batch_size": 64}))
    return sweep_id, runs


def described(store, sweep_id) -> dict:
    """Everything a sweep is, as plain data, to compare two stores."""
    records = SweepRecords(store)
    sweep = records.get(sweep_id)
    return {
        "sweep": (sweep.id, sweep.state, sweep.owner, sweep.created, sweep.spec.to_dict()),
        "strategy": (sweep.spec.strategy, sweep.spec.pruner, sweep.spec.trials, sweep.spec.space.names),
        "trials": [
            (t.number, t.run_id, t.state, t.record.params, t.record.value, t.record.intermediate, t.reason)
            for t in records.trials(sweep_id)
        ],
    }


# -- the API, on both backends -----------------------------------------------------------
def test_a_sweep_and_its_trials_round_trip_through_the_store(store):
    sweep_id, runs = a_sweep(store)
    row = store.get_sweep(sweep_id)
    assert (row.state, row.owner, row.driver) == ("running", "ana", None)
    assert SweepSpec.from_dict(row.spec).strategy == "tpe"
    assert [s.id for s in store.list_sweeps()] == [sweep_id]
    assert store.list_sweeps(["completed"]) == []
    trials = store.sweep_trials(sweep_id)
    assert [(t.number, t.run_id, t.state) for t in trials] == [
        (0, runs[0], "complete"),
        (1, runs[1], "running"),
        (2, None, "running"),
    ]
    assert trials[0].intermediate == {1: 0.85, 2: 0.91} and trials[0].value == 0.91
    assert trials[0].system_attrs == {"sampler": "tpe"}
    assert store.trial_of_run(runs[1]) == (sweep_id, 1)
    assert store.trial_of_run(store.create_run(BASE)) is None


def test_guarded_changes_happen_once(store):
    sweep_id, runs = a_sweep(store)
    assert not store.add_sweep_trial(TrialRow(sweep_id, 0, {"learning_rate": 0.5}))  # number taken
    assert not store.link_trial_run(sweep_id, 0, runs[1])  # already linked
    assert store.lease_sweep(sweep_id, "host:1")
    assert not store.lease_sweep(sweep_id, "host:2")  # held, and not named as the one replaced
    assert store.lease_sweep(sweep_id, "host:2", replacing="host:1")
    assert not store.renew_sweep_lease(sweep_id, "host:1") and store.renew_sweep_lease(sweep_id, "host:2")
    store.release_sweep(sweep_id, "host:2")
    assert store.get_sweep(sweep_id).driver is None
    assert store.note_run_error(runs[1], "Pruned: poor.") and store.get(runs[1]).error == "Pruned: poor."
    store.note_run_error(runs[1], "later")
    assert store.get(runs[1]).error == "Pruned: poor."  # the first reason stays
    assert store.finish_sweep(sweep_id, "stopped") and not store.finish_sweep(sweep_id, "completed")
    assert not store.lease_sweep(sweep_id, "host:3")  # a stopped sweep has no driver
    assert store.reopen_sweep(sweep_id) and store.get_sweep(sweep_id).state == "running"
    with pytest.raises(ValueError, match="not a final sweep state"):
        store.finish_sweep(sweep_id, "running")


@pytest.mark.parametrize("bad", ["sw-1", "'; DROP TABLE sweeps; --", None, "../sw-20250101-000000-abcdef"])
def test_hostile_sweep_and_run_ids_are_unknown(store, bad):
    with pytest.raises(UnknownSweep):
        store.get_sweep(bad)
    with pytest.raises(UnknownSweep):
        store.sweep_trials(bad)
    with pytest.raises(UnknownRun):
        store.trial_of_run(bad)
    assert store.list_sweeps() == []


# -- an older store gains the sweep tables in place -------------------------------------------
def make_v2_store(runs_dir, url, with_old_sweep: bool = False) -> str:
    """A store exactly as ConvStudio wrote it at schema version 2 (no sweep tables), with one run.

    with_old_sweep: as a version-2 ConvStudio that had run a sweep left it (it made the tables itself).
    """
    runs_dir.mkdir(parents=True, exist_ok=True)
    backend = open_backend(url, runs_dir.resolve())

    def build(db):
        for step in schema.STEPS[:2]:
            for sql in schema.statements(step, backend):
                db.execute(sql)
        backend.write_version(db, 2)
        db.execute("INSERT INTO meta (key, value) VALUES ('store_id', 'v2store')")
        db.execute(
            "INSERT INTO runs (id, created, status, config, dataset, architecture, owner)"
            " VALUES ('20250101-000000-abcdef', 1.0, 'completed', ?, 'mnist', 'lenet5', 'ana')",
            (BASE.to_json(),),
        )
        if with_old_sweep:
            for sql in schema.statements(schema.V3, backend):
                db.execute(sql)
            spec = SweepSpec(BASE, SearchSpace.parse(["batch_size=32,64"]), "grid").to_json()
            db.execute(
                "INSERT INTO sweeps (id, created, owner, state, spec) VALUES ('sw-20250101-000000-abcdef', 2.0,"
                " 'ana', 'completed', ?)",
                (spec,),
            )
            db.execute(
                "INSERT INTO sweep_trials (sweep_id, number, run_id, params, state, value)"
                " VALUES ('sw-20250101-000000-abcdef', 0, '20250101-000000-abcdef', '{\"batch_size\": 32}',"
                " 'complete', 0.9)"
            )

    backend.run(build, write=True)
    backend.close()
    (runs_dir / MARKER).write_text("v2store\n")  # the runs folder is this store's (checked for PostgreSQL)
    return "20250101-000000-abcdef"


def test_an_older_store_without_sweep_tables_is_upgraded_in_place(runs_dir, store_url):
    run_id = make_v2_store(runs_dir, store_url)
    store = Store(runs_dir, url=store_url)
    try:
        assert store.migrated_from == 2
        assert store.backend.run(lambda db: schema.stored_version(store.backend, db)) == schema.VERSION == 3
        assert store.get(run_id).status == "completed"  # the old run is still there
        assert store.list_sweeps() == []
        sweep_id, _ = a_sweep(store)  # and sweeps can be recorded at once
        assert len(store.sweep_trials(sweep_id)) == 3
    finally:
        store.close()
    if store_url is None:
        assert list(runs_dir.glob("convstudio.db.v2-*.bak"))  # backed up before the change


def test_sweeps_a_version_2_convstudio_recorded_are_kept_by_the_upgrade(runs_dir, store_url):
    run_id = make_v2_store(runs_dir, store_url, with_old_sweep=True)
    store = Store(runs_dir, url=store_url)
    try:
        assert store.migrated_from == 2
        (sweep,) = SweepRecords(store).list()
        assert (sweep.id, sweep.state, sweep.spec.strategy) == ("sw-20250101-000000-abcdef", "completed", "grid")
        assert store.trial_of_run(run_id) == (sweep.id, 0)
    finally:
        store.close()


# -- store migrate and backup / restore carry sweeps -------------------------------------------
def test_migrate_to_postgresql_carries_sweeps_and_their_trial_links(runs_dir, postgres_url, monkeypatch):
    monkeypatch.delenv("CONVSTUDIO_STORE", raising=False)
    source = Store(runs_dir, url=None)
    sweep_id, runs = a_sweep(source)
    SweepRecords(source).finish(sweep_id, "stopped")
    before = described(source, sweep_id)
    source.close()

    result = cli(runs_dir, "store", "migrate", "--to", postgres_url)
    assert result.returncode == 0, result.stderr
    assert "copied 2 runs" in result.stdout and "(1 sweeps, 3 trials)" in result.stdout

    target = Store(runs_dir, url=postgres_url)
    try:
        assert described(target, sweep_id) == before
        assert target.get_sweep(sweep_id).state == "stopped"
        assert [target.trial_of_run(r) for r in runs] == [(sweep_id, 0), (sweep_id, 1)]
        assert target.reopen_sweep(sweep_id)  # and it carries on there
    finally:
        target.close()


def test_backup_and_restore_carry_sweeps(runs_dir, monkeypatch):
    monkeypatch.delenv("CONVSTUDIO_STORE", raising=False)
    store = Store(runs_dir)
    sweep_id, _ = a_sweep(store)
    before = described(store, sweep_id)
    backup = runs_dir.parent / "before.db"
    result = cli(runs_dir, "store", "backup", "--out", str(backup))
    assert result.returncode == 0, result.stderr

    records = SweepRecords(store)  # changes after the backup: the restore undoes them
    records.finish(sweep_id, "stopped")
    other = records.create(SweepSpec(BASE, SearchSpace.parse(["batch_size=16,32"]), "grid"))
    store.close()

    result = cli(runs_dir, "store", "restore", str(backup))
    assert result.returncode == 0, result.stderr
    store = Store(runs_dir)
    try:
        assert described(store, sweep_id) == before
        assert [s.id for s in store.list_sweeps()] == [sweep_id]
        with pytest.raises(UnknownSweep):
            store.get_sweep(other)
    finally:
        store.close()


def test_sweeps_cli_lists_a_migrated_sweep(runs_dir, postgres_url, monkeypatch):
    monkeypatch.delenv("CONVSTUDIO_STORE", raising=False)
    source = Store(runs_dir, url=None)
    sweep_id, _ = a_sweep(source)
    source.close()
    assert cli(runs_dir, "store", "migrate", "--to", postgres_url).returncode == 0
    listing = cli(runs_dir, "--store", postgres_url, "sweeps", "--json")
    assert listing.returncode == 0, listing.stderr
    (summary,) = json.loads(listing.stdout)
    assert summary["sweep_id"] == sweep_id and len(summary["trials"]) == 3


# -- a damaged sweep record is said, never a traceback, and hides no other sweep ----------------
DAMAGED = {
    "sw-20250101-000000-aaaaaa": "{not json",  # the store cannot decode it
    "sw-20250101-000000-bbbbbb": '{"base": {"colour": 1}}',  # JSON, but not a sweep spec
}


def damage(store) -> str:
    """Two unreadable sweep rows beside a good sweep; returns the good one's id."""
    good, _ = a_sweep(store)
    for sweep_id, spec in DAMAGED.items():
        store._write(
            lambda db, i=sweep_id, s=spec: db.execute(
                "INSERT INTO sweeps (id, created, state, spec) VALUES (?, 1.0, 'running', ?)", (i, s)
            )
        )
    return good


def test_damaged_sweep_records_are_skipped_and_named(store):
    good = damage(store)
    assert [s.id for s in store.list_sweeps()] == [good, "sw-20250101-000000-bbbbbb"]  # the store decodes JSON
    assert [b.sweep_id for b in store.bad_sweeps] == ["sw-20250101-000000-aaaaaa"]
    records = SweepRecords(store)
    assert [s.id for s in records.list()] == [good]  # the spec is read here
    assert sorted(b.sweep_id for b in records.bad) == sorted(DAMAGED)
    assert [s.id for s in records.list(["running"])] == [good]  # what the app's background driver drives
    for sweep_id in DAMAGED:
        with pytest.raises(StoreError, match=f"sweep {sweep_id} cannot be read"):
            records.get(sweep_id)


def test_the_cli_says_a_damaged_sweep_in_one_line(runs_dir, monkeypatch):
    monkeypatch.delenv("CONVSTUDIO_STORE", raising=False)
    store = Store(runs_dir)
    good = damage(store)
    store.close()
    listing = cli(runs_dir, "sweeps", "--json")
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    assert [s["sweep_id"] for s in json.loads(listing.stdout)] == [good]
    warnings = listing.stderr.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("warning: sweep sw-2025") for w in warnings), warnings
    for verb in ("--resume", "--stop"):
        out = cli(runs_dir, "sweep", verb, "sw-20250101-000000-aaaaaa")
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and "cannot be read" in lines[0], out.stderr
        assert lines[0].startswith("error: ") and "Traceback" not in out.stderr


def test_store_check_counts_sweeps_and_names_a_damaged_one(runs_dir, monkeypatch):
    monkeypatch.delenv("CONVSTUDIO_STORE", raising=False)
    store = Store(runs_dir)
    a_sweep(store)
    store.close()
    report = json.loads(cli(runs_dir, "store", "check", "--json").stdout)
    assert report["ok"] and "1 sweeps, 1 running" in report["notes"], report
    store = Store(runs_dir)
    damage(store)
    store.close()
    check = cli(runs_dir, "store", "check", "--json")
    report = json.loads(check.stdout)
    assert not report["ok"] and any("sweep sw-20250101-000000-aaaaaa cannot be read" in p for p in report["problems"])
