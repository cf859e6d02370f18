"""Login throttling: slower and slower answers to someone guessing, then a lock-out.

Failures are counted per user name (case-folded) and per client address.
After a few free tries each further failure makes the next attempt wait
longer (1 s, 2 s, 4 s ... up to a minute); after `lock_after` failures the key
is locked for `lock_s` (15 minutes), and every failure after that locks it
again, so a name under attack gets about one guess per lock-out.

The "delay" is a not-before time, never a sleep: an attempt that comes too
early is refused without looking at the password, so a guesser learns nothing
from it and no server thread is held asleep. An allowed attempt is counted as
a failure *before* the password is checked and forgiven on success, so many
sessions guessing in parallel cannot all slip through before the first failure
is recorded.

State lives in one object per server process (thread-safe) and, when given a
path, in a small JSON file written atomically after each change: a restart of
the server (or a crash an attacker provoked) does not hand out fresh tries.
The file is advisory: a damaged one is read as empty, as is a missing one.
Only checks that reach the password write it, and those are rate-limited by
the throttle itself, so the file costs nothing under a flood.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lib import atomic_files

MAX_KEYS = 10_000  # bounded memory when a flood uses a fresh name or address each time


@dataclass(frozen=True)
class Limits:
    free: int  # failures that cost nothing
    lock_after: int  # failures that lock the key
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    lock_s: float = 15 * 60
    forget_s: float = 24 * 3600  # a key with no failure for this long starts afresh

    def wait_after(self, failures: int) -> float:
        """Seconds the next attempt must wait after `failures` failures in a row."""
        if failures >= self.lock_after:
            return self.lock_s
        if failures < self.free:
            return 0.0
        return min(self.max_delay_s, self.base_delay_s * 2 ** (failures - self.free))


# A name is one person; an address may be an office behind one NAT, so it gets more room.
NAME_LIMITS = Limits(free=3, lock_after=10)
ADDRESS_LIMITS = Limits(free=10, lock_after=50, forget_s=3600)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    wait_s: float = 0.0  # when refused: how long until the next attempt may be made
    locked: bool = False  # refused because of a lock-out, not just a delay

    def message(self) -> str:
        if self.allowed:
            return ""
        if self.locked:
            return f"Too many failed logins: locked for {_minutes(self.wait_s)}. Try again later."
        return f"Too many failed logins: wait {math.ceil(self.wait_s)} s before trying again."


def _minutes(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)  # never promise less than the wait
    return f"{minutes} minute" + ("s" if minutes != 1 else "")


class LoginThrottle:
    def __init__(
        self,
        path: str | Path | None = None,
        clock: Callable[[], float] = time.time,  # wall clock: times in the file must survive a restart
        name_limits: Limits = NAME_LIMITS,
        address_limits: Limits = ADDRESS_LIMITS,
    ):
        self._path = Path(path) if path else None
        self._clock = clock
        self._limits = {"name": name_limits, "address": address_limits}
        self._lock = threading.Lock()
        self._state: dict[tuple[str, str], tuple[int, float]] = self._load()  # key -> (failures, last failure)

    def attempt(self, name: str, address: str | None = None) -> Verdict:
        """May this login be checked now? If so it is counted as a failure until `succeeded` forgives it."""
        keys = self._keys(name, address)
        with self._lock:
            now = self._clock()
            verdicts = [self._verdict(key, now) for key in keys]
            refused = [v for v in verdicts if not v.allowed]
            if refused:
                return max(refused, key=lambda v: (v.locked, v.wait_s))
            for key in keys:
                failures, _ = self._current(key, now)
                self._state[key] = (failures + 1, now)
            self._prune(now)
            self._save()
        return Verdict(True)

    def succeeded(self, name: str, address: str | None = None) -> None:
        """The password was right: the name starts afresh, the address is forgiven this one attempt.

        The address keeps its earlier failures (they age out), so someone holding
        one account cannot wipe their address's record by logging in between guesses.
        """
        with self._lock:
            self._state.pop(("name", _fold(name)), None)
            if address:
                key = ("address", address)
                failures, last = self._current(key, self._clock())
                if failures > 1:
                    self._state[key] = (failures - 1, last)
                else:
                    self._state.pop(key, None)
            self._save()

    def failures(self, name: str, address: str | None = None) -> dict[str, int]:
        """Current failure counts, for tests and for an administrator's eyes."""
        with self._lock:
            now = self._clock()
            return {key[0]: self._current(key, now)[0] for key in self._keys(name, address)}

    def _keys(self, name: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("name", _fold(name))]
        if address:
            keys.append(("address", address))
        return keys

    def _current(self, key: tuple[str, str], now: float) -> tuple[int, float]:
        failures, last = self._state.get(key, (0, 0.0))
        if failures and now - last >= self._limits[key[0]].forget_s:
            return 0, 0.0
        return failures, last

    def _verdict(self, key: tuple[str, str], now: float) -> Verdict:
        limits = self._limits[key[0]]
        failures, last = self._current(key, now)
        left = last + limits.wait_after(failures) - now
        if failures and left > 0:
            return Verdict(False, left, locked=failures >= limits.lock_after)
        return Verdict(True)

    def _prune(self, now: float) -> None:
        stale = [k for k in self._state if self._current(k, now)[0] == 0]
        for key in stale:
            del self._state[key]
        if len(self._state) > MAX_KEYS:  # drop the quietest keys, keep the ones under attack
            for key in sorted(self._state, key=lambda k: self._state[k][1])[: len(self._state) - MAX_KEYS]:
                del self._state[key]

    def _load(self) -> dict[tuple[str, str], tuple[int, float]]:
        if self._path is None:
            return {}
        try:
            rows = json.loads(self._path.read_text(encoding="utf-8"))["keys"]
            state = {}
            for kind, value, failures, last in rows:
                if kind in self._limits and isinstance(value, str) and int(failures) > 0:
                    state[(kind, value)] = (int(failures), float(last))
            return state
        except (OSError, ValueError, KeyError, TypeError):
            return {}  # missing or damaged: start afresh (it only ever held counters)

    def _save(self) -> None:
        if self._path is None:
            return
        rows = [[kind, value, failures, last] for (kind, value), (failures, last) in self._state.items()]
        with contextlib.suppress(OSError):  # a full disk must not stop people logging in
            atomic_files.write_text(self._path, json.dumps({"version": 1, "keys": rows}))


def _fold(name: str) -> str:
    return name.strip().casefold()
