"""Fixtures for the notifications tests: the fake FCM, a real firebase-admin app, a clock.

The outbox and devices live on the session's real CouchDB-protocol server (``couch``, ``dbs``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import firebase_admin
import pytest
from fake_fcm import FakeFcm
from firebase_admin import credentials
from notify_world import Clock, World

from notifications.sender import FcmSender


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2024, 5, 1, 8, 0, tzinfo=UTC))


@pytest.fixture
def fcm() -> Iterator[FakeFcm]:
    fake = FakeFcm()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fcm_sender(fcm: FakeFcm) -> Iterator[FcmSender]:
    """firebase-admin with a generated service account, its URLs pointed at the fake."""
    cred = credentials.Certificate(fcm.service_account())
    app = firebase_admin.initialize_app(cred, name=f"test-{uuid.uuid4().hex}")
    yield FcmSender(app, endpoint=fcm.url)
    firebase_admin.delete_app(app)


@pytest.fixture
async def world(couch: Any, dbs: Any, fcm_sender: FcmSender, clock: Clock) -> AsyncIterator[World]:
    await couch.create_db(dbs.ops)
    w = World(couch, dbs, fcm_sender, clock)
    await w.outbox.setup()
    yield w
