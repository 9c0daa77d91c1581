"""A small bounded cache whose entries expire after a fixed time.

Entries live at most ``ttl_s`` seconds and the cache holds at most ``max_entries``; when full,
expired entries go first, then the oldest insertions (a dict keeps insertion order). The clock is
a parameter so the expiry rule can be tested without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._items: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if self._clock() >= expires:
            del self._items[key]
            return None
        return value

    def set(self, key: K, value: V) -> None:
        self._items.pop(key, None)
        if len(self._items) >= self.max_entries:
            self._evict()
        self._items[key] = (self._clock() + self.ttl_s, value)

    def discard(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def _evict(self) -> None:
        now = self._clock()
        for key in [k for k, (expires, _) in self._items.items() if now >= expires]:
            del self._items[key]
        while len(self._items) >= self.max_entries:
            del self._items[next(iter(self._items))]
