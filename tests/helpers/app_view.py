"""One Streamlit server's view of the store, as JSON: the Runs page's table and the sidebar's queue.

Run as its own program so two of them are two servers (two processes, two caches, two
connection pools), as two machines serving one team would be.
"""

import json
import sys

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

if __name__ == "__main__":
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/runs.py").run()
    if at.exception:
        print(json.dumps({"exception": [e.value for e in at.exception]}))
        sys.exit(1)
    table = at.main.dataframe[0].value
    queue = [c.value for c in at.sidebar.caption if c.value[:1].isdigit()]
    view = {"runs": list(table["run"]), "status": list(table["status"]), "where": list(table["where"])}
    print(json.dumps({**view, "queue": queue}))
