"""Test helpers for the notifications tests: a hand-moved clock and an outbox world."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from mobile_schema import format_timestamp
from notifications.dispatcher import Dispatcher, RetryPolicy
from notifications.outbox import Outbox
from notifications.tokens import CouchTokenSource


class Clock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **delta: float) -> datetime:
        self.value += timedelta(**delta)
        return self.value


class World:
    """An outbox on fresh databases with a dispatcher sending through ``sender``."""

    def __init__(self, couch: Any, dbs: Any, sender: Any, clock: Clock) -> None:
        self.couch = couch
        self.dbs = dbs
        self.clock = clock
        self.sender = sender
        self.outbox = Outbox(couch, dbs.ops, dbs.rep)
        self.tokens = CouchTokenSource(couch, dbs.ops)
        self.policy = RetryPolicy(max_attempts=3, base=timedelta(seconds=10))

    def dispatcher(self, sender: Any = None, **kwargs: Any) -> Dispatcher:
        return Dispatcher(
            self.outbox,
            sender or self.sender,
            self.tokens,
            policy=self.policy,
            now=self.clock,
            rand=random.Random(7),
            **kwargs,
        )

    async def add_device(self, user_id: str, device_id: str, token: str | None) -> str:
        doc_id = f"device:{user_id}:{device_id}"
        await self.couch.put(
            self.dbs.ops,
            {
                "_id": doc_id,
                "type": "device",
                "user_id": user_id,
                "device_id": device_id,
                "platform": "android",
                "fcm_token": token,
                "last_pull": format_timestamp(self.clock()),
            },
        )
        return doc_id
