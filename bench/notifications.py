"""Notifications: 10,000 through the dispatcher to the fake FCM endpoint; throughput and memory.

The outbox lives in the embedded PouchDB Server (or ``COUCHDB_URL``); firebase-admin (a real
``send_each`` with a generated service account) talks HTTP to the local fake FCM of
``tests/notifications/fake_fcm.py``. Steps, each timed:

1. enqueue ``--count`` (10,000) order notifications for ``--users`` (200) reps with one device
   each (outbox entries plus a ``notification`` document in each rep's database);
2. dispatch with :class:`FcmSender` until nothing is due (rounds of ``--limit`` entries);
3. the same count through the log sender (push disabled): the dispatcher's own cost, without
   HTTP to FCM, for the ratio.

Memory: peak RSS of the process and the RSS growth over the dispatch; with ``--tracemalloc``
also the Python allocation peak during it (slower). Checked: FCM received every message once
and every entry is ``sent``.

    .venv/bin/python -m bench notifications [--count 10000] [--users 200] [--limit 500]

Measured on the 2 shared cores of the dev machine with PouchDB Server: enqueue 522 entries/s;
dispatch through firebase-admin 113 messages/s, to the log 209 messages/s (1.85x the time: the
rest is the dispatcher's CouchDB round trips, among them one token read per user per round);
peak RSS 138 MB, +41 MB over the FCM dispatch.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime

import firebase_admin  # type: ignore[import-untyped]
from firebase_admin import credentials

from field_api.logging import configure
from mobile_schema import utc_now
from notifications.dispatcher import Dispatcher
from notifications.events import Event, EventKind
from notifications.outbox import Outbox
from notifications.sender import FcmSender, LogSender, Sender
from notifications.tokens import CouchTokenSource
from sync_gateway.config import REPO_ROOT
from sync_gateway.couch import CouchClient, chunked
from sync_gateway.databases import Databases

sys.path.append(str(REPO_ROOT / "tests" / "notifications"))
from fake_fcm import FakeFcm  # the tests' fake, not a copy

from .common import couch_server


def rss_mb() -> float:
    """The resident set size now (Linux /proc), in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # kB on Linux


def events(count: int, users: int, tag: str) -> list[Event]:
    return [
        Event(
            EventKind.ORDER_CONFIRMED,
            f"u{n % users}",
            data={"order_id": f"order:{tag}-{n}"},
            dedupe_key=f"bench:{tag}:{n}",
        )
        for n in range(count)
    ]


async def dispatch_all(dispatcher: Dispatcher, limit: int, trace: bool) -> tuple[float, int, int]:
    """Dispatch rounds until nothing is due: (seconds, messages, traced peak bytes)."""
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    messages = 0
    while True:
        report = await dispatcher.run_once(limit=limit)
        messages += report.messages
        if report.claimed == 0:
            break
    elapsed = time.perf_counter() - started
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return elapsed, messages, peak


async def run(count: int, users: int, limit: int, trace: bool) -> None:
    fake = FakeFcm()
    fake.start()
    app = firebase_admin.initialize_app(
        credentials.Certificate(fake.service_account()), name=f"bench-{uuid.uuid4().hex}"
    )
    async with couch_server() as url:
        couch = CouchClient(url, max_connections=50)
        dbs = Databases(f"benchnotify{int(time.time())}_")
        try:
            await couch.create_db(dbs.ops)
            for n in range(users):
                await couch.create_db(dbs.rep(f"u{n}"))
            devices = [
                {
                    "_id": f"device:u{n}:phone",
                    "type": "device",
                    "user_id": f"u{n}",
                    "device_id": "phone",
                    "platform": "android",
                    "fcm_token": f"tok-{n}",
                    "last_pull": utc_now(),
                }
                for n in range(users)
            ]
            await couch.bulk_docs(dbs.ops, devices)
            outbox = Outbox(couch, dbs.ops, dbs.rep)
            await outbox.setup()
            tokens = CouchTokenSource(couch, dbs.ops)

            async def enqueue(tag: str) -> float:
                started = time.perf_counter()
                for batch in chunked(events(count, users, tag), 500):
                    await outbox.enqueue(batch, datetime.now(UTC))
                return time.perf_counter() - started

            print(f"{count:,} notifications, {users} users with one device each")
            enqueue_s = await enqueue("fcm")
            print(f"enqueue:          {enqueue_s:7.2f} s  {count / enqueue_s:8.0f} entries/s")

            fcm_sender: Sender = FcmSender(app, endpoint=fake.url)
            rss_before = rss_mb()
            fcm_s, fcm_msgs, fcm_peak = await dispatch_all(
                Dispatcher(outbox, fcm_sender, tokens), limit, trace
            )
            rss_growth = rss_mb() - rss_before
            assert fcm_msgs == count, fcm_msgs
            assert len(fake.tokens_sent()) == count, len(fake.tokens_sent())
            print(f"dispatch via FCM: {fcm_s:7.2f} s  {count / fcm_s:8.0f} messages/s")

            await enqueue("log")
            log_s, log_msgs, _ = await dispatch_all(
                Dispatcher(outbox, LogSender(), tokens), limit, False
            )
            assert log_msgs == count, log_msgs
            print(f"dispatch to log:  {log_s:7.2f} s  {count / log_s:8.0f} messages/s")
            print(f"FCM path / log:   {fcm_s / log_s:7.2f}x the time (HTTP to FCM per message)")

            finished = await couch.all_docs(dbs.ops, startkey="outbox:", endkey="outbox:\ufff0")
            assert len(finished["rows"]) == 2 * count
            traced = f", traced peak {fcm_peak / 1e6:.1f} MB" if trace else ""
            print(
                f"memory: peak RSS {peak_rss_mb():.0f} MB, "
                f"growth over the FCM dispatch {rss_growth:+.0f} MB{traced}"
            )
        finally:
            for db in await couch.all_dbs():
                if db.startswith(dbs.prefix):
                    await couch.delete_db(db)
            await couch.aclose()
            await FcmSender(app).aclose()  # deletes the firebase app (off the event loop)
            fake.stop()


def cli(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench notifications", description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--limit", type=int, default=500, help="entries per dispatch round")
    parser.add_argument("--tracemalloc", action="store_true", help="trace Python allocations")
    args = parser.parse_args(argv)
    configure("WARNING")
    # firebase-admin sends a batch from more threads than its HTTP pool keeps connections
    # for; urllib3 warns about each connection it then discards
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    asyncio.run(run(args.count, args.users, args.limit, args.tracemalloc))
