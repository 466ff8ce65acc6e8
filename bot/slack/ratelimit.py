"""Per-person rate limit: at most N questions in a sliding window, so one busy user (or a loop between two bots)
cannot slow the advisor down for everyone.

Counts are kept in the process: with several replicas each one counts the questions it receives, so the limit per
person is at most N times the number of replicas. That is enough for its purpose (fairness and protection), and it
keeps a database round trip off every question.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        """Count one question for `key` and say whether it is within the limit (refused ones do not count)."""
        now = self._clock()
        with self._lock:
            times = self._seen.setdefault(key, deque())
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if len(times) >= self.limit:
                return False
            times.append(now)
            self._forget_idle(now)
            return True

    def _forget_idle(self, now: float) -> None:
        # Keeps memory bounded by the number of people active in one window, not everyone ever seen.
        if len(self._seen) > 1000:
            for key in [k for k, t in self._seen.items() if not t or t[-1] <= now - self.window_s]:
                del self._seen[key]
