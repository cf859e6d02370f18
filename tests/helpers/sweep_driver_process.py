"""Drive one sweep in its own process (so a test can kill it): python -m tests.helpers.sweep_driver_process DIR ID."""

import sys

from lib.runs.scheduler import Scheduler
from lib.runs.store import Store
from lib.sweeps.driver import Driver, drive
from lib.sweeps.record import SweepRecords

if __name__ == "__main__":
    runs_dir, sweep_id = sys.argv[1], sys.argv[2]
    store = Store(runs_dir)
    scheduler = Scheduler(store, ["cpu"], worker_module="tests.helpers.sweep_worker")
    print(drive(Driver(store, SweepRecords(store), sweep_id), scheduler, poll=0.05), flush=True)
