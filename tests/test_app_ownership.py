"""Issue 14: a second tab said "No run yet" while a run trained, and "(yours)" counted only the runs
started in that tab. Whose a run is comes from the store's owner field, not from a tab's session."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lib.config import TrainConfig
from tests.test_app_pages import ROOT, TIMEOUT, fake_run
from ui.auth import browser_token


@pytest.fixture
def env(runs_dir, tiny_data_dir, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_DATA_DIR", tiny_data_dir)
    monkeypatch.setenv("CONVSTUDIO_NO_SCHEDULER", "1")  # runs stay queued
    return runs_dir


def session_of(user: str, page: str = "pages/train.py") -> AppTest:
    """A new session (another tab, another login) of `user` on an open server, opened on `page`."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["cs_owner"] = user
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def queue_captions(at) -> list[str]:
    return [c.value for c in at.sidebar.caption if c.value[:2] in ("1.", "2.")]


def test_a_second_tab_shows_the_users_run_and_marks_it_as_theirs(env, store, tiny_data_dir):
    first = session_of("ada")
    first.button(key="start").click().run()  # queued (no scheduler here), started in the first tab
    (run_id,) = [r.id for r in store.queue()]
    other = store.create_run(TrainConfig(data_dir=tiny_data_dir), owner="bob")

    second = session_of("ada")  # the same user in another tab: nothing started here
    assert not any("No run yet" in i.value for i in second.info)
    assert any(run_id in m.value for m in second.markdown)  # the live view of the run it owns
    assert second.query_params["run"] in ([run_id], run_id)
    second.run()
    queue = queue_captions(second)
    assert len(queue) == 2 and queue[0].endswith("(yours)") and not queue[1].endswith("(yours)"), queue
    assert other not in "".join(m.value for m in second.markdown)


def test_a_user_with_no_run_sees_the_servers_current_runs(env, store, tiny_data_dir):
    running = fake_run(store, tiny_data_dir, status="running", epochs=5)
    queued = store.create_run(TrainConfig(data_dir=tiny_data_dir), owner="ada")
    at = session_of("bob")
    assert not any("No run yet" in i.value for i in at.info)
    assert any("None of your runs is training" in i.value for i in at.info)
    links = [link.proto.query_string for link in at.main.get("page_link")]
    assert any(running in q for q in links) and any(queued in q for q in links), links
    at.run()
    assert not any(c.endswith("(yours)") for c in queue_captions(at))


def test_an_empty_server_still_says_no_run_yet(env):
    at = session_of("carol")
    assert any("No run yet" in i.value for i in at.info)


def test_the_browser_token_is_the_same_in_every_tab_and_junk_is_refused():
    token = bytes(range(1, 33))
    cookies = []
    for mask in (b"\x01\x02\x03\x04", b"\xaa\xbb\xcc\xdd"):  # tornado masks the token afresh per page load
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(token))
        cookies.append(f"2|{mask.hex()}|{masked.hex()}|1795443134")
    assert cookies[0] != cookies[1]
    assert browser_token(cookies[0]) == browser_token(cookies[1]) == token
    for junk in (None, "", "2|zz|00|1", "1|01020304|" + "00" * 16 + "|1", "2|0102|" + "00" * 16 + "|1", "a|b|c"):
        assert browser_token(junk) is None
