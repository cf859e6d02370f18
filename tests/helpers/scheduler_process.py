"""A stand-in for the Streamlit server: a process whose only job is to run the scheduler."""

import sys
import time

from lib.runs.scheduler import Scheduler
from lib.runs.store import Store

if __name__ == "__main__":
    scheduler = Scheduler(Store(sys.argv[1]), slots=["cpu"])
    scheduler.recover()
    while True:
        scheduler.tick()
        time.sleep(0.2)
