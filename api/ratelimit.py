"""Per-client token buckets: ``per_minute`` requests of burst, refilled at ``per_minute / 60`` per second."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

MAX_CLIENTS = 10_000
"""Buckets kept at most (least recently used ones are dropped; a dropped client starts with a full bucket)."""


class RateLimiter:
    def __init__(self, per_minute: int, *, max_clients: int = MAX_CLIENTS) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, last refill time)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def acquire(self, key: str, now: float | None = None) -> int:
        """Take one token for ``key``: 0 if allowed, else the seconds to wait (for Retry-After)."""
        if not self.enabled:
            return 0
        now = time.monotonic() if now is None else now
        capacity = float(self.per_minute)
        with self._lock:
            tokens, last = self._buckets.pop(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0
            else:
                self._buckets[key] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / self._rate))
            while len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        return wait
