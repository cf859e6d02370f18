"""`python -m lib.train RUN_ID`: the worker process's entry point (started by lib.runs.scheduler)."""

import sys

from lib.train.worker import main

sys.exit(main())
