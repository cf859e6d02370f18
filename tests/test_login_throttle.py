"""Login throttling: growing delays, then a lock-out; shared between sessions; survives a restart.

Time is a fake clock: no test sleeps.
"""

from __future__ import annotations

import threading

import pytest

from lib.runs import accounts
from lib.runs.throttle import ADDRESS_LIMITS, NAME_LIMITS, Limits, LoginThrottle


class Clock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def real_ada(tmp_path_factory):
    path = tmp_path_factory.mktemp("secrets") / "secrets.toml"
    accounts.add_user(path, "ada", "the right password", admin=True)
    return accounts.read_accounts(path)


@pytest.fixture
def ada():
    return {"ada": "the right password"}


def log_in(throttle: LoginThrottle, found, name: str, password: str, address: str | None):
    """What the login form does: ask the throttle, then (only if allowed) check the password.

    `found` is real accounts (argon2, ~0.1 s a check) or a plain dict for the tests about counting.
    """
    verdict = throttle.attempt(name, address)
    if not verdict.allowed:
        return verdict
    right = found.get(name) == password if isinstance(found, dict) else accounts.verify(found, name, password)
    if right:
        throttle.succeeded(name, address)
        return True
    return False


@pytest.mark.slow  # fifty real argon2 checks: 5-15 s on two busy cores
def test_fifty_wrong_passwords_meet_growing_delays_then_a_lock_out(real_ada):
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    checked, waits, refused = 0, [], 0
    while checked < 50:
        answer = log_in(throttle, real_ada, "ada", f"guess {checked}", "203.0.113.7")
        if answer is False:
            checked += 1
            continue
        assert answer is not True
        refused += 1
        assert not throttle.attempt("ada", "203.0.113.7").allowed  # still refused a moment later
        waits.append((checked, answer.locked, round(answer.wait_s)))
        clock.advance(answer.wait_s)
    # three free guesses, then 1, 2, 4 ... 60 s, then locked for 15 minutes after each failure
    assert waits[:7] == [(3, False, 1), (4, False, 2), (5, False, 4), (6, False, 8), (7, False, 16), (8, False, 32),
                         (9, False, 60)]  # fmt: skip
    assert waits[7:] == [(n, True, 900) for n in range(10, 50)]
    assert refused == 47 and clock.now - Clock().now > 40 * 900  # fifty guesses took over ten hours
    print(f"50 wrong passwords: {refused} refusals, {(clock.now - Clock().now) / 3600:.1f} h of enforced waiting")


def test_during_a_lock_out_even_the_right_password_is_not_looked_at(ada, real_ada):
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(10):
        log_in(throttle, ada, "ada", "wrong", None)
        clock.advance(61)
    refused = log_in(throttle, ada, "ada", "the right password", None)
    assert refused.locked and "locked for 14 minutes" in refused.message()  # 61 s of it passed
    assert throttle.failures("ada") == {"name": 10}  # refused attempts do not count (or write anything)
    clock.advance(15 * 60)
    assert log_in(throttle, ada, "ada", "the right password", None) is True
    assert throttle.failures("ada") == {"name": 0}  # success starts the name afresh
    assert log_in(throttle, real_ada, "ada", "the right password", None) is True


def test_the_name_is_throttled_whatever_its_case_or_address(ada):
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for i, name in enumerate(["ada", "ADA", "Ada ", "aDa"]):
        answer = log_in(throttle, ada, name, "wrong", f"198.51.100.{i}")
        if i < 3:
            assert answer is False
        else:
            assert not answer.allowed and answer.wait_s == 1


def test_one_address_guessing_many_names_is_locked_out(ada):
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    checked, refusals = 0, []
    while len(refusals) < 45:
        answer = log_in(throttle, ada, f"user{checked}", "wrong", "203.0.113.9")
        if answer is False:
            checked += 1
        else:
            refusals.append(answer)
            clock.advance(answer.wait_s)
    # ten free guesses, a delay after each of the next 40 failures, then a lock-out after each one
    assert [r.locked for r in refusals] == [False] * 40 + [True] * 5
    assert refusals[0].wait_s == 1 and checked == 54
    # the lock is on the address: the same names from elsewhere are still allowed
    assert throttle.attempt("user0", "192.0.2.1").allowed


def test_logging_in_does_not_wipe_the_address_record(ada):
    """Someone holding one account cannot reset their address between guesses at other names."""
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for i in range(5):
        log_in(throttle, ada, f"victim{i}", "wrong", "203.0.113.5")
    assert log_in(throttle, ada, "ada", "the right password", "203.0.113.5") is True
    assert throttle.failures("x", "203.0.113.5")["address"] == 5


def test_sessions_guessing_in_parallel_get_only_the_free_tries(ada):
    """An attempt counts before its password is checked, so a burst cannot slip past the counter."""
    throttle = LoginThrottle(clock=Clock())
    start = threading.Barrier(20)
    allowed = []

    def guess():
        start.wait()
        allowed.append(throttle.attempt("ada", None).allowed)

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == NAME_LIMITS.free


def test_a_restart_does_not_hand_out_fresh_tries(tmp_path, ada):
    clock = Clock()
    path = tmp_path / "login_throttle.json"
    first = LoginThrottle(path, clock=clock)
    for _ in range(10):
        log_in(first, ada, "ada", "wrong", "203.0.113.7")
        clock.advance(61)
    restarted = LoginThrottle(path, clock=clock)
    assert restarted.attempt("ada", None).locked
    assert restarted.failures("ada", "203.0.113.7") == {"name": 10, "address": 10}


@pytest.mark.parametrize("content", ["", "{", "[]", '{"keys": [["name", "ada", "x", 1]]}', '{"keys": 5}', "\x00\xff"])
def test_a_damaged_state_file_starts_afresh(tmp_path, content):
    path = tmp_path / "login_throttle.json"
    path.write_text(content, errors="surrogateescape")
    throttle = LoginThrottle(path, clock=Clock())
    assert throttle.attempt("ada", None).allowed
    assert LoginThrottle(path, clock=Clock()).failures("ada") == {"name": 1}  # and the file is whole again


def test_an_unwritable_state_file_does_not_stop_logins(tmp_path):
    folder = tmp_path / "gone"
    folder.write_text("a file where the folder should be")
    throttle = LoginThrottle(folder / "login_throttle.json", clock=Clock())
    assert throttle.attempt("ada", None).allowed  # counted in memory all the same
    assert throttle.failures("ada") == {"name": 1}


def test_failures_are_forgotten_after_a_quiet_day(ada):
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(5):
        log_in(throttle, ada, "ada", "wrong", None)
        clock.advance(61)
    clock.advance(NAME_LIMITS.forget_s)
    assert throttle.failures("ada") == {"name": 0} and throttle.attempt("ada", None).allowed


def test_memory_stays_bounded_under_a_flood_of_fresh_names(monkeypatch):
    from lib.runs import throttle as module

    monkeypatch.setattr(module, "MAX_KEYS", 100)
    clock = Clock()
    throttle = LoginThrottle(clock=clock, address_limits=Limits(free=10**9, lock_after=10**9))
    for i in range(1000):
        throttle.attempt(f"name{i}", "203.0.113.7")
        clock.advance(0.01)
    assert len(throttle._state) <= 100
    assert throttle.failures("x", "203.0.113.7")["address"] == 1000  # the busy key is the one kept


def test_the_schedule():
    assert [NAME_LIMITS.wait_after(n) for n in range(12)] == [0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 900, 900]
    assert ADDRESS_LIMITS.wait_after(9) == 0 and ADDRESS_LIMITS.wait_after(50) == 900
