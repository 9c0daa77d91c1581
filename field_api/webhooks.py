"""Outgoing webhook: one signed POST per newly submitted order, delivered at least once.

What a receiver gets (``FIELDSYNC_WEBHOOK_URL``; nothing runs while it is unset)::

    POST <url>
    Content-Type: application/json
    X-Fieldsync-Event: order.submitted
    X-Fieldsync-Delivery: order:o-1:2-9f1c...       the order id and the revision delivered
    X-Fieldsync-Signature: sha256=<hex HMAC-SHA256 of the raw body, key FIELDSYNC_WEBHOOK_SECRET>

    {"event": "order.submitted", "delivery_id": "order:o-1:2-9f1c...", "order": {...}}

``order`` is the order document at that revision (``_id``, ``_rev`` and every field). The
receiver verifies the signature over the bytes it received, answers 2xx once it has stored the
order, and dedupes on ``X-Fieldsync-Delivery``: the same delivery is sent again after a timeout,
a crash or a 5xx, always with the same id and body.

One event per order: the first revision the worker sees with status ``submitted``. A rep's later
edit of a submitted order, or a merge of its conflict, does not fire again (an integration that
wants every change follows ``GET /api/v1/orders``); an order first seen already confirmed (the
back office was quicker than the worker) does not fire either.

How it works (crash-safe at every step):

1. Follow ``fs_orders/_changes`` from the checkpoint ``fs_ops/_local/webhook-checkpoint``
   (``{"seq"}``; from the start on first run, so orders already waiting are delivered).
2. For each submitted order without a delivery log entry, create one, status ``pending`` — the
   log is written BEFORE anything is sent, then the checkpoint moves past the batch. A crash in
   between re-reads the batch and finds the entries (creation is a 409, ignored).
3. Deliver the pending entries that are due: claim one by writing ``attempts + 1`` and a
   ``next_attempt_at`` a little past the timeout (a 409 means another process claimed it), POST,
   then record ``delivered`` (2xx), or ``pending`` again with the deliveries' back-off
   (:class:`notifications.retry.RetryPolicy`: ``backoff_s * 2**(n-1)``, at most
   ``backoff_max_s``, with jitter) after a network error, a timeout, 408, 429 or 5xx, or ``dead``
   after ``max_attempts`` attempts or on any other answer (3xx, 4xx: resending cannot help).
   A crash during a POST leaves the entry pending; it is sent again once its claim expires.

The delivery log, one entry per order, ``fs_ops/webhook_delivery:<order id>:submitted`` (the
id does not depend on the revision, so two workers that saw different revisions of the same
order cannot both log it: the second write is a conflict; entries written before this rule
are named ``...:<rev>`` and still count)::

    {"type": "webhook_delivery", "delivery_id": "<order id>:<rev>", "event": "order.submitted",
     "order_id", "order_rev", "status": "pending" | "delivered" | "dead", "attempts": 2,
     "last_error": "HTTP 503" | null, "last_status": 503 | null, "created_at", "updated_at",
     "next_attempt_at", "delivered_at" | null, "order": {... the payload's order ...}}

Pending entries are found through ``fs_ops/_design/fs_webhooks`` (``by_status``: key
``[status, next_attempt_at for pending else updated_at]``), which also serves
``GET /api/v1/webhooks/deliveries``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import httpx
import orjson
import structlog

from mobile_schema import format_timestamp, parse_timestamp, utc_now, utc_now_datetime
from notifications.retry import RetryPolicy
from sync_gateway.couch import (
    CheckpointStore,
    CouchClient,
    CouchConflict,
    CouchError,
    ensure_design,
)
from sync_gateway.databases import Databases

log = structlog.get_logger(__name__)

Doc = dict[str, Any]

EVENT: Final = "order.submitted"
DOC_PREFIX: Final = "webhook_delivery:"
CHECKPOINT: Final = "webhook-checkpoint"
DESIGN_ID: Final = "_design/fs_webhooks"
STATUSES: Final = ("pending", "delivered", "dead")
_REV = re.compile(r"^[1-9][0-9]*-[0-9A-Za-z]+$")
VIEWS: Final[dict[str, str]] = {
    "by_status": "function (doc) { if (doc.type === 'webhook_delivery') { emit([doc.status, "
    "doc.status === 'pending' ? doc.next_attempt_at : doc.updated_at], null); } }",
    "by_time": "function (doc) { if (doc.type === 'webhook_delivery') "
    "{ emit(doc.updated_at, null); } }",
}
RETRY_STATUSES: Final = frozenset({408, 429})


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: bytes
    max_attempts: int = 8
    backoff_s: float = 5.0
    backoff_max_s: float = 3600.0
    timeout_s: float = 10.0

    @property
    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            base=timedelta(seconds=self.backoff_s),
            cap=timedelta(seconds=self.backoff_max_s),
        )


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Fieldsync-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, signature: str) -> bool:
    """What a receiver does: compare in constant time."""
    return hmac.compare_digest(sign(secret, body), signature)


def backoff(attempts: int, base_s: float, max_s: float) -> float:
    """The longest wait in seconds after the ``attempts``-th failed attempt (1, 2, ...)."""
    policy = RetryPolicy(base=timedelta(seconds=base_s), cap=timedelta(seconds=max_s))
    return policy.ceiling(attempts).total_seconds()


def delivery_id(order_id: str, rev: str) -> str:
    return f"{order_id}:{rev}"


def doc_id_of(order_id: str) -> str:
    return f"{DOC_PREFIX}{order_id}:submitted"


def body_of(entry: Mapping[str, Any]) -> bytes:
    """The raw body POSTed for a delivery log entry (the same on every attempt)."""
    return orjson.dumps(
        {"event": entry["event"], "delivery_id": entry["delivery_id"], "order": entry["order"]}
    )


def _later(seconds: float) -> str:
    return format_timestamp(utc_now_datetime() + timedelta(seconds=seconds))


def _new_entry(order: Mapping[str, Any]) -> Doc:
    now = utc_now()
    body = {k: v for k, v in order.items() if k not in ("_revisions", "_conflicts")}
    return {
        "_id": doc_id_of(order["_id"]),
        "type": "webhook_delivery",
        "delivery_id": delivery_id(order["_id"], order["_rev"]),
        "event": EVENT,
        "order_id": order["_id"],
        "order_rev": order["_rev"],
        "status": "pending",
        "attempts": 0,
        "last_error": None,
        "last_status": None,
        "created_at": now,
        "updated_at": now,
        "next_attempt_at": now,
        "delivered_at": None,
        "order": body,
    }


class WebhookWorker:
    """Follows fs_orders and delivers ``order.submitted``; see the module docstring."""

    def __init__(
        self,
        couch: CouchClient,
        dbs: Databases,
        config: WebhookConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        wait_s: float = 20.0,
        batch_size: int = 200,
        concurrency: int = 4,
    ) -> None:
        self.couch = couch
        self.dbs = dbs
        self.config = config
        self.wait_s = wait_s
        self.batch_size = batch_size
        self._sem = asyncio.Semaphore(concurrency)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout_s), transport=transport, follow_redirects=False
        )
        self.policy = config.policy
        self._rand = random.Random()
        self._stopping = asyncio.Event()
        self._ready = False
        self._checkpoints = CheckpointStore(couch, dbs.ops)

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Enqueue and deliver until :meth:`stop`; waits on the orders feed between rounds."""
        while not self._stopping.is_set():
            await self.run_once()
            wait = await self._seconds_until_due()
            if wait > 0:
                await self._wait_for_orders(min(wait, self.wait_s))

    async def stop(self) -> None:
        self._stopping.set()
        await self._http.aclose()

    async def run_once(self) -> int:
        """Enqueue every new submitted order, then deliver what is due; the attempts made."""
        await self._ensure_ready()
        await self.enqueue_new()
        return await self.deliver_due()

    async def _ensure_ready(self) -> None:
        if not self._ready:
            await ensure_design(self.couch, self.dbs.ops, DESIGN_ID, VIEWS)
            self._ready = True

    async def _seconds_until_due(self) -> float:
        rows = await self.couch.view(
            self.dbs.ops,
            DESIGN_ID,
            "by_status",
            startkey=["pending"],
            endkey=["pending", {}],
            limit=1,
        )
        if not rows:
            return self.wait_s
        due = parse_timestamp(rows[0]["key"][1])
        return max(0.0, (due - utc_now_datetime()).total_seconds())

    async def _wait_for_orders(self, seconds: float) -> None:
        """Return when fs_orders changes after the checkpoint, ``seconds`` pass, or on stop."""
        since = await self._checkpoint()
        feed = asyncio.ensure_future(
            self.couch.changes(
                self.dbs.orders,
                since=since,
                feed="longpoll",
                limit=1,
                timeout=max(1, int(seconds * 1000)),
            )
        )
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({feed, stop}, timeout=seconds + 5, return_when="FIRST_COMPLETED")
        finally:
            for task in (feed, stop):
                task.cancel()
            await asyncio.gather(feed, stop, return_exceptions=True)

    # -- step 1 and 2: the feed into the log ---------------------------------------------------

    async def _checkpoint(self) -> Any:
        return await self._checkpoints.load(CHECKPOINT)

    async def _save_checkpoint(self, seq: Any) -> None:
        await self._checkpoints.save(CHECKPOINT, seq)

    async def enqueue_new(self) -> int:
        """Log a pending delivery for each new submitted order; the number logged."""
        since = await self._checkpoint()
        logged = 0
        async for page in self.couch.iter_changes(
            self.dbs.orders, since=since, batch_size=self.batch_size, include_docs=True
        ):
            orders = [
                row["doc"]
                for row in page.results
                if not row["id"].startswith("_design/")
                and not row.get("deleted")
                and isinstance(row.get("doc"), dict)
                and row["doc"].get("type") == "order"
                and row["doc"].get("status") == "submitted"
            ]
            fresh = [o for o in orders if not await self._has_entry(o["_id"])]
            if fresh:
                results = await self.couch.bulk_docs(self.dbs.ops, [_new_entry(o) for o in fresh])
                logged += sum(1 for r in results if "error" not in r)
                bad = [r for r in results if "error" in r and r.get("error") != "conflict"]
                if bad:  # the checkpoint must not move past an order that is not logged
                    raise CouchError(f"webhook log write failed: {bad[:3]}")
            await self._save_checkpoint(page.last_seq)
        if logged:
            log.info("webhook_enqueued", count=logged)
        return logged

    async def _has_entry(self, order_id: str) -> bool:
        """Whether any revision of the order already has a delivery log entry."""
        prefix = f"{DOC_PREFIX}{order_id}:"
        page = await self.couch.all_docs(
            self.dbs.ops, startkey=prefix, endkey=prefix + "\ufff0", limit=20
        )
        # an id containing ':' could share the prefix ("order:a" vs "order:a:b"): the rest of
        # ours is "submitted", or a bare revision id in entries from before that rule
        rests = (row["id"][len(prefix) :] for row in page["rows"])
        return any(rest == "submitted" or _REV.match(rest) for rest in rests)

    # -- step 3: delivery ----------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Attempt every pending delivery whose time has come; the number attempted."""
        attempted = 0
        while not self._stopping.is_set():
            rows = await self.couch.view(
                self.dbs.ops,
                DESIGN_ID,
                "by_status",
                startkey=["pending"],
                endkey=["pending", utc_now()],
                include_docs=True,
                limit=50,
            )
            entries = [r["doc"] for r in rows if isinstance(r.get("doc"), dict)]
            if not entries:
                return attempted
            done = await asyncio.gather(*(self._attempt(e) for e in entries))
            attempted += sum(done)
            if not any(done):
                return attempted  # everything was claimed by someone else
        return attempted

    async def _attempt(self, entry: Doc) -> bool:
        async with self._sem:
            claim = {
                **entry,
                "attempts": int(entry.get("attempts", 0)) + 1,
                "updated_at": utc_now(),
                # until this claim expires, no one else sends it (a crash: sent again after)
                "next_attempt_at": _later(self.config.timeout_s * 2 + 5),
            }
            try:
                claim["_rev"] = (await self.couch.put(self.dbs.ops, claim))["rev"]
            except CouchConflict:
                return False
            status, error = await self._post(claim)
            now = utc_now()
            result: Doc = {**claim, "updated_at": now, "last_status": status, "last_error": error}
            if error is None:
                result.update(status="delivered", delivered_at=now, next_attempt_at=None)
            elif self._retryable(status) and not self.policy.exhausted(claim["attempts"]):
                wait = self.policy.delay(claim["attempts"], self._rand)
                result.update(status="pending", next_attempt_at=_later(wait.total_seconds()))
            else:
                result.update(status="dead", next_attempt_at=None)
            try:
                await self.couch.put(self.dbs.ops, result)
            except CouchConflict:
                log.warning("webhook_log_conflict", delivery=entry["delivery_id"])
            log.info(
                "webhook_attempt",
                delivery=entry["delivery_id"],
                attempts=claim["attempts"],
                status=result["status"],
                http_status=status,
                error=error,
            )
            return True

    @staticmethod
    def _retryable(status: int | None) -> bool:
        return status is None or status >= 500 or status in RETRY_STATUSES

    async def _post(self, entry: Mapping[str, Any]) -> tuple[int | None, str | None]:
        """(HTTP status or None, error or None when acknowledged)."""
        body = body_of(entry)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "fieldsync-webhook/1",
            "X-Fieldsync-Event": str(entry["event"]),
            "X-Fieldsync-Delivery": str(entry["delivery_id"]),
            "X-Fieldsync-Signature": sign(self.config.secret, body),
        }
        try:
            resp = await self._http.post(self.config.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]
        if 200 <= resp.status_code < 300:
            return resp.status_code, None
        return resp.status_code, f"HTTP {resp.status_code}: {resp.text[:200]}"


# -- the delivery log, for the API ---------------------------------------------------------


async def list_deliveries(
    couch: CouchClient, dbs: Databases, *, status: str | None = None, limit: int = 100
) -> list[Doc]:
    """Log entries, newest first (pending ones by next attempt, latest first)."""
    await ensure_design(couch, dbs.ops, DESIGN_ID, VIEWS)
    if status is None:
        rows = await couch.view(
            dbs.ops, DESIGN_ID, "by_time", descending=True, include_docs=True, limit=limit
        )
    else:
        rows = await couch.view(
            dbs.ops,
            DESIGN_ID,
            "by_status",
            startkey=[status, {}],
            endkey=[status],
            descending=True,
            include_docs=True,
            limit=limit,
        )
    return [_public(r["doc"]) for r in rows if isinstance(r.get("doc"), dict)]


def _public(doc: Mapping[str, Any]) -> Doc:
    keep = (
        "delivery_id",
        "event",
        "order_id",
        "order_rev",
        "status",
        "attempts",
        "last_status",
        "last_error",
        "created_at",
        "updated_at",
        "next_attempt_at",
        "delivered_at",
    )
    return {k: doc.get(k) for k in keep}
