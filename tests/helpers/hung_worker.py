"""A worker that hangs: it never beats and never ends (a stuck NFS read, a deadlock in a library).

It writes its pid to `hung.pid` in its run folder, so a test can see it go when its Ray actor is ended.
"""

import os
import sys
import time
from pathlib import Path


def main() -> int:
    run_id, runs_dir = sys.argv[1], sys.argv[sys.argv.index("--runs-dir") + 1]
    (Path(runs_dir) / run_id / "hung.pid").write_text(str(os.getpid()))
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
