"""Who in the process is talking to CouchDB, and where a pushed batch's time goes.

Every request the CouchDB client sends is counted in ``fieldsync_couch_request_seconds``
(time to the answer's headers) labelled by

    actor   the part of the service on whose behalf it runs: ``gateway`` (device and API
            requests, the default), ``router``, ``resolver``, ``notifications``, ... — the
            context variable :data:`ACTOR`, set once where a worker starts (tasks inherit it)
    op      the CouchDB endpoint: ``_bulk_docs``, ``_all_docs``, ``_changes``, ``_local``, ``doc``
    db      the kind of database: ``rep``, ``orders``, ``field``, ``master``, ``ops``, ``other``

and the steps of a push (the gateway's screening, the router's fan-in) are timed in
``fieldsync_stage_seconds{actor, stage}`` with :func:`stage`. ``bench gateway_sync`` reads
both from ``/metrics`` to print the per-batch breakdown. Cost: one histogram observation per
request or step.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from contextvars import ContextVar

from prometheus_client import Histogram

ACTOR: ContextVar[str] = ContextVar("fieldsync_actor", default="gateway")

COUCH_REQUESTS = Histogram(
    "fieldsync_couch_request_seconds",
    "CouchDB requests of this process (to the answer's headers) by actor, endpoint, database",
    ["actor", "op", "db"],
)
STAGES = Histogram(
    "fieldsync_stage_seconds",
    "Steps of the push path (gateway screening, router fan-in) by actor and step",
    ["actor", "stage"],
)

_DB_KIND = re.compile(r"(?:^|_)(fs_(?P<shared>master|orders|field|ops)|(?P<rep>rep)_.*)$")


def classify(path: str) -> tuple[str, str]:
    """``(op, db kind)`` of a request path such as ``/bench_fs_orders/_bulk_docs``."""
    parts = path.lstrip("/").split("/")
    if not parts or not parts[0] or parts[0].startswith("_"):
        return (parts[0] if parts and parts[0] else "/"), "server"
    match = _DB_KIND.search(parts[0])
    kind = "other"
    if match:
        kind = match.group("shared") or "rep"
    if len(parts) == 1:
        return "db", kind
    op = parts[1] if parts[1].startswith("_") else "doc"
    return op, kind


def observe_request(path: str, seconds: float) -> None:
    op, kind = classify(path)
    COUCH_REQUESTS.labels(ACTOR.get(), op, kind).observe(seconds)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Time one step of the push path under the current actor."""
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGES.labels(ACTOR.get(), name).observe(time.perf_counter() - started)


@contextlib.contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Run a block (and the tasks it starts) as ``actor``."""
    token = ACTOR.set(actor)
    try:
        yield
    finally:
        ACTOR.reset(token)
