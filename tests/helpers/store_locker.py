"""Hold a SQLite run store's write lock for N seconds, as another program (a stuck tool, a backup) might.

In WAL mode readers still read; every writer waits.
"""

import sqlite3
import sys
import time

if __name__ == "__main__":
    path, seconds = sys.argv[1], float(sys.argv[2])
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("BEGIN IMMEDIATE")
    db.execute("UPDATE runs SET error = error")
    print("locked", flush=True)
    time.sleep(seconds)
    db.execute("COMMIT")
    db.close()
