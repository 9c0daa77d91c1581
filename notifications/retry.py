"""The retry and back-off policy of every delivery engine (the outbox dispatcher, webhooks).

Attempt ``n`` (1-based) that failed transiently waits ``min(cap, base * 2**(n-1))`` (the
ceiling) scaled by a random factor in [0.5, 1) ("equal jitter"), so retries of many entries
spread out instead of arriving together; after ``max_attempts`` attempts the entry is dead.
Randomness is passed in, so tests are reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)

    def ceiling(self, attempt: int) -> timedelta:
        """The longest wait after failed attempt number ``attempt`` (1-based)."""
        raw: timedelta = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        return raw

    def delay(self, attempt: int, rand: random.Random) -> timedelta:
        """The wait after failed attempt number ``attempt`` (1-based), with jitter."""
        return self.ceiling(attempt) * (0.5 + rand.random() / 2)

    def exhausted(self, attempts: int) -> bool:
        """Whether ``attempts`` attempts are all this policy allows."""
        return attempts >= self.max_attempts
