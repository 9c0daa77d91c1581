"""The dispatcher: claims due outbox entries, pushes them in batches, records the outcome.

One :meth:`Dispatcher.run_once`:

1. read up to ``limit`` entries needing attention (:meth:`Outbox.due`);
2. claim them: write ``state=sending``, ``claimed_by``, ``claim_expires_at`` with their
   ``_rev``; an entry another dispatcher claimed first (409) is skipped;
3. one message per device token not in the entry's ``done_tokens``; send in batches of up to
   500 (``send_each``'s limit);
4. write each entry's outcome (``sent`` / ``failed`` with the next attempt / ``dead``), then
   clear the tokens FCM called dead from their device documents.

Delivery guarantee — chosen on purpose: **at most once for visible notifications, at least
once for data-only "sync now" hints.** FCM has no idempotency key, so after a crash between
step 3 and step 4 nobody can know whether the message went out. A visible push sent twice is a
visible duplicate, while one never sent loses nothing durable: the ``notification`` document is
already in the user's database and shows after the next sync. So an entry found still
``sending`` after its claim expired is not resent; it goes to ``dead`` with the reason. A
data-only "sync now" sent twice only triggers a second (cheap) sync, so it is claimed again.
Tokens already answered (``done_tokens``) are never sent again, so a retry after a partial
failure reaches only the devices that did not get the message.

Back-off: :class:`notifications.retry.RetryPolicy` (shared with the webhooks): attempt ``n``
(1-based) waits ``min(cap, base * 2**(n-1))`` scaled by a random factor in [0.5, 1); after
``max_attempts`` attempts with transient failures the entry is dead. Clock and randomness are
injectable.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from mobile_schema import format_timestamp, utc_now_datetime

from .outbox import Outbox
from .retry import RetryPolicy as RetryPolicy  # re-exported: callers configure it here
from .sender import MAX_BATCH, Outcome, PushMessage, Sender, SendResult
from .tokens import DeviceToken, TokenSource

log = structlog.get_logger(__name__)

TOKEN_LOOKUPS = 16  # device lookups in flight at once while planning a round
ABANDONED = "the dispatcher stopped while sending; not resent (visible pushes are at-most-once)"


@dataclass
class DispatchReport:
    claimed: int = 0
    messages: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)
    tokens_removed: int = 0
    abandoned: int = 0


@dataclass
class _Planned:
    entry: dict[str, Any]
    devices: list[DeviceToken]
    results: list[SendResult] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        sender: Sender,
        tokens: TokenSource,
        *,
        policy: RetryPolicy | None = None,
        claim_timeout: timedelta = timedelta(minutes=5),
        batch_size: int = MAX_BATCH,
        now: Callable[[], datetime] = utc_now_datetime,
        rand: random.Random | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.sender = sender
        self.tokens = tokens
        self.policy = policy or RetryPolicy()
        self.claim_timeout = claim_timeout
        self.batch_size = min(batch_size, MAX_BATCH)
        self.now = now
        self.rand = rand or random.Random()
        self.worker_id = worker_id or uuid.uuid4().hex[:12]

    async def run_once(self, limit: int = 500, now: datetime | None = None) -> DispatchReport:
        """One dispatch round at ``now`` (default: the dispatcher's clock); see the module doc."""
        report = DispatchReport()
        now = now or self.now()
        due = await self.outbox.due(now, limit)
        if not due:
            return report
        ts = format_timestamp(now)
        writes: list[dict[str, Any]] = []
        for entry in due:
            if entry["state"] == "sending" and not entry["message"].get("data_only"):
                writes.append({**entry, "state": "dead", "last_error": ABANDONED, "updated_at": ts})
                report.abandoned += 1
                continue
            writes.append(
                {
                    **entry,
                    "state": "sending",
                    "claimed_by": self.worker_id,
                    "claim_expires_at": format_timestamp(now + self.claim_timeout),
                    "updated_at": ts,
                }
            )
        stored = await self.outbox.write(writes)
        claimed = [e for e in stored if e["state"] == "sending"]
        report.claimed = len(claimed)
        if not claimed:
            return report
        try:
            planned = await self._plan(claimed)
        except Exception:
            # Nothing was sent: hand the entries back instead of leaving them to be abandoned.
            await self.outbox.write(
                [{**e, "state": "failed", "next_attempt_at": ts} for e in claimed]
            )
            raise
        await self._send(planned, report)
        await self._finish(planned, report, now)
        return report

    async def _plan(self, claimed: Sequence[dict[str, Any]]) -> list[_Planned]:
        # each user's devices looked up once, several at a time (a burst of confirmations
        # reaches hundreds of users; one after the other, their pushes waited on each other)
        users = sorted({entry["user_id"] for entry in claimed})
        limit = asyncio.Semaphore(TOKEN_LOOKUPS)

        async def lookup(user_id: str) -> list[DeviceToken]:
            async with limit:
                return await self.tokens.tokens(user_id)

        by_user = dict(zip(users, await asyncio.gather(*map(lookup, users)), strict=True))
        planned = []
        for entry in claimed:
            user_id = entry["user_id"]
            done = set(entry.get("done_tokens") or [])
            devices = [d for d in by_user[user_id] if d.token not in done]
            planned.append(_Planned(entry, devices))
        return planned

    async def _send(self, planned: Sequence[_Planned], report: DispatchReport) -> None:
        queue = [
            (p, PushMessage(token=d.token, **_fields(p.entry))) for p in planned for d in p.devices
        ]
        for start in range(0, len(queue), self.batch_size):
            chunk = queue[start : start + self.batch_size]
            messages = [m for _, m in chunk]
            try:
                results = await self.sender.send(messages)
            except Exception as exc:
                log.warning("push_batch_failed", error=repr(exc), messages=len(messages))
                results = [SendResult(Outcome.RETRY, error=repr(exc)) for _ in messages]
            for (p, _), result in zip(chunk, results, strict=True):
                p.results.append(result)
                report.outcomes[result.outcome.value] += 1
            report.messages += len(messages)

    async def _finish(
        self, planned: Sequence[_Planned], report: DispatchReport, started: datetime
    ) -> None:
        # The back-off counts from when the answers came (never before the round started).
        now = max(started, self.now())
        ts = format_timestamp(now)
        updates = []
        gone: list[DeviceToken] = []
        for p in planned:
            entry = p.entry
            attempts = int(entry.get("attempts", 0)) + 1
            done = list(entry.get("done_tokens") or [])
            outcomes = Counter(r.outcome for r in p.results)
            errors = [r.error for r in p.results if r.error]
            for device, result in zip(p.devices, p.results, strict=True):
                if result.outcome is not Outcome.RETRY:
                    done.append(device.token)
                if result.outcome is Outcome.TOKEN_GONE:
                    gone.append(device)
            update = {
                **entry,
                "attempts": attempts,
                "done_tokens": done,
                "claimed_by": None,
                "claim_expires_at": None,
                "last_error": errors[-1] if errors else None,
                "updated_at": ts,
                "delivered": int(entry.get("delivered", 0)) + outcomes[Outcome.SENT],
                "sender": self.sender.name,
            }
            if outcomes[Outcome.RETRY]:
                if self.policy.exhausted(attempts):
                    update["state"] = "dead"
                else:
                    delay = self.policy.delay(attempts, self.rand)
                    update.update(state="failed", next_attempt_at=format_timestamp(now + delay))
            elif outcomes[Outcome.FAILED] and not update["delivered"]:
                update["state"] = "dead"
            else:
                update.update(state="sent", sent_at=ts)
            updates.append(update)
        stored = await self.outbox.write(updates)
        for entry in stored:
            report.states[entry["state"]] += 1
        for device in gone:
            if await self.tokens.remove(device, "fcm reported the token dead", now):
                report.tokens_removed += 1
        log.info(
            "dispatch_round",
            claimed=report.claimed,
            messages=report.messages,
            outcomes=dict(report.outcomes),
            states=dict(report.states),
            tokens_removed=report.tokens_removed,
        )


def _fields(entry: dict[str, Any]) -> dict[str, Any]:
    message = entry["message"]
    return {
        "title": message["title"],
        "body": message["body"],
        "data": dict(message.get("data") or {}),
        "collapse_key": message.get("collapse_key"),
        "data_only": bool(message.get("data_only")),
    }
