"""A per-visitor rate limit: at most ``limit`` attempts in any ``window`` seconds (a sliding log of times)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from ..errors import BusyError

MAX_KEYS = 100_000  # visitors remembered at once; idle ones are forgotten first


class RateLimiter:
    """Sliding-window limit per key, safe to share between request threads."""

    def __init__(self, limit: int, window: float = 60.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        """At most ``limit`` calls of ``check`` per key in any ``window`` seconds (``clock`` is for tests)."""
        self.limit, self.window, self._clock = limit, window, clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Count one attempt for ``key``, or refuse it.

        Raises:
            BusyError: ``key`` already made ``limit`` attempts in the last ``window`` seconds; says when to retry.
        """
        now = self._clock()
        with self._lock:
            times = self._seen.setdefault(key, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                wait = math.ceil(times[0] + self.window - now)
                raise BusyError(
                    f"too many corrections from this visitor: at most {self.limit} in {self.window:g} s; "
                    f"try again in {wait} s"
                )
            times.append(now)
            if len(self._seen) > MAX_KEYS:
                self._forget(now)

    def _forget(self, now: float) -> None:
        for key in [k for k, t in self._seen.items() if not t or t[-1] <= now - self.window]:
            del self._seen[key]
        while len(self._seen) > MAX_KEYS:  # all active: drop the oldest-inserted
            del self._seen[next(iter(self._seen))]
