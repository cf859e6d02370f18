"""The app under a watch: first paint, memory over a long live view, many viewers of one job.

1. Seconds from `streamlit run app.py` to the first page painted in Chromium (target < 3 s).
2. The server's memory (RSS) after 200 one-second refreshes of the Train page watching a running
   job, against after 10 (target: within 50 MB).
3. 20 browser pages watching one running job: the job's images per second against no viewers
   (target: at most 10% lower) and the server's memory before and after.

The worker is pinned to CPU 0 and the server and Chromium to the others (on a GPU server the
browsers are elsewhere); so (3) measures what watching costs the job through the server and the
store, not the browsers' own CPU on this small machine. Exits non-zero if a target is missed.

    .venv/bin/python bench/app_load.py [--data-dir ../shared/data] [--viewers 20] [--refreshes 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM, start_app  # noqa: E402

from lib.config import TrainConfig  # noqa: E402
from lib.runs.store import Store  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def pin(pid: int, cpus: list[int]) -> None:
    try:
        psutil.Process(pid).cpu_affinity(cpus)
    except (psutil.Error, OSError):
        pass


def first_paint(browser, runs_dir: Path, data_dir: str | None) -> float:
    start = time.perf_counter()
    server, url = start_app(runs_dir, data_dir)
    page = browser.new_page()
    page.goto(url)
    page.get_by_role("heading", name="Data").first.wait_for(timeout=30000)
    seconds = time.perf_counter() - start
    page.close()
    server.kill()
    server.wait()
    return seconds


def epoch_rates(store: Store, run_id: str, after_epoch: int, count: int, timeout: float = 600) -> list[float]:
    """images/s of `count` epochs finishing after `after_epoch`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = [e for e in store.epochs(run_id) if e["epoch"] > after_epoch]
        if len(rows) >= count:
            return [e["images_per_second"] for e in rows[:count]]
        time.sleep(0.5)
    raise TimeoutError("the job did not finish its epochs in time")


def watch_with_viewers(browser, store, server_pid, url, run_id, args):
    """Open `args.viewers` pages on the running job; returns them, or None when the job slowed > 10%."""
    done = store.get(run_id).epochs_completed + 1  # skip the epoch in progress
    alone = statistics.median(epoch_rates(store, run_id, done, args.epochs_measured))
    before = rss_mb(server_pid)
    pages = [browser.new_page() for _ in range(args.viewers)]
    for viewer in pages:  # 20 Chromium tabs share one core here: be patient with each load
        viewer.goto(f"{url}/train?run={run_id}", wait_until="commit", timeout=180000)
    for viewer in pages:  # attached, not visible: background tabs in headless Chromium do not paint
        viewer.locator(".js-plotly-plot").nth(4).wait_for(state="attached", timeout=300000)
    done = store.get(run_id).epochs_completed + 1
    watched = statistics.median(epoch_rates(store, run_id, done, args.epochs_measured))
    drop = 1 - watched / alone
    print(f"job alone {alone:,.0f} images/s; with {args.viewers} viewers {watched:,.0f} images/s "
          f"(drop {drop:.1%}; target at most 10%)")  # fmt: skip
    print(f"server RSS with no viewers {before:.0f} MB, with {args.viewers}: {rss_mb(server_pid):.0f} MB")
    return pages if drop <= 0.10 else None


def main() -> int:
    from playwright.sync_api import sync_playwright

    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured, also in a log file
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--refreshes", type=int, default=200)
    parser.add_argument("--epochs-measured", type=int, default=4)
    parser.add_argument("--memory-only", action="store_true", help="only (2), e.g. with --refreshes 1800 for 30 min")
    args = parser.parse_args()
    others = list(range(1, os.cpu_count() or 2)) or [0]
    ok = True

    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        pin(os.getpid(), others)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        runs_dir = Path(tmp) / "runs"
        runs_dir.mkdir()

        if not args.memory_only:
            paint = statistics.median(first_paint(browser, runs_dir, args.data_dir) for _ in range(3))
            print(f"first page painted {paint:.2f} s after `streamlit run` (median of 3; target < 3 s)")
            ok &= paint < 3.0

        server, url = start_app(runs_dir, args.data_dir)
        pin(server.pid, others)
        page = browser.new_page()
        page.goto(url)  # the first session starts the server's scheduler
        page.get_by_role("heading", name="Data").first.wait_for(timeout=30000)
        store = Store(runs_dir)
        config = TrainConfig(dataset=args.dataset, architecture="simple_cnn", epochs=500, data_dir=args.data_dir)
        run_id = store.create_run(config)
        while not store.get(run_id).pid:
            time.sleep(0.2)
        pin(store.get(run_id).pid, [0])

        # (2) memory over a long live view
        page.goto(f"{url}/train?run={run_id}")
        page.locator(".js-plotly-plot").nth(4).wait_for(timeout=60000)  # all five live charts drawn
        time.sleep(10)
        after_10 = rss_mb(server.pid)
        time.sleep(max(0, args.refreshes - 10))
        after_n = rss_mb(server.pid)
        growth = after_n - after_10
        print(f"server RSS after 10 refreshes {after_10:.0f} MB, after {args.refreshes}: {after_n:.0f} MB "
              f"(growth {growth:+.0f} MB; target within 50 MB)")  # fmt: skip
        ok &= abs(growth) <= 50
        page.close()

        # (3) many viewers of one job
        pages = [] if args.memory_only else watch_with_viewers(browser, store, server.pid, url, run_id, args)
        ok &= pages is not None

        store.request_stop(run_id)
        for viewer in pages or []:
            viewer.close()
        browser.close()
        time.sleep(3)
        server.kill()
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB")
    print("OK" if ok else "FAIL: a target was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
