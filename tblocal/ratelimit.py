"""Requests-per-second limits (a JWT's limits.rps): one-second windows per key, 429 with Tinybird's headers."""

import math
import time

from .errors import TooManyRequests

MAX_KEYS = 10_000  # past this many keys, windows that have ended are forgotten


class RateLimiter:
    """Counts calls per key in the current wall-clock second."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self.windows: dict = {}  # key -> (second, calls)

    def hit(self, key, limit: int) -> None:
        """Count one call of key; 429 (nothing counted) once key has made limit calls this second."""
        now = self.clock()
        second = math.floor(now)
        start, calls = self.windows.get(key, (second, 0))
        if start != second:
            calls = 0
        if calls >= limit:
            raise TooManyRequests(
                f"Too many requests: this token is limited to {limit} requests per second (limits.rps); retry after the "
                "Retry-After seconds", headers={
                    "X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(max(1, math.ceil(second + 1 - now))), "Retry-After": "1",
                })
        if len(self.windows) >= MAX_KEYS:
            self.windows = {k: w for k, w in self.windows.items() if w[0] == second}
        self.windows[key] = (second, calls + 1)
