"""Change feeds served to devices, streamed and never buffered whole.

A device's ``_changes`` request is first reduced to what a device may ask (``FeedRequest.parse``):
``feed`` normal | longpoll | continuous | eventsource, ``since``, ``limit``, ``heartbeat``,
``timeout``, ``style``, ``include_docs``, ``conflicts``, ``descending``, and ``doc_ids`` (by GET,
or by POST with ``filter=_doc_ids``). Other filters are refused; unknown parameters are dropped.

- normal: the gateway pages through CouchDB's normal feed ``BATCH`` rows at a time and streams
  each row as it arrives, in CouchDB's layout (one row a line), so memory holds one page.
- longpoll: like normal when changes are waiting; otherwise the feed waits on the
  :class:`~sync_gateway.hub.ChangeHub` (no CouchDB connection held per device), writing heartbeat
  newlines meanwhile, and answers with the first page of what changed.
- continuous / eventsource: pages of what is new, then a wait on the hub, in a loop; rows are
  emitted one by one (eventsource as ``data:``/``id:`` events), heartbeats as newlines.

Rows of design documents are never emitted.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .couch import CouchClient, CouchUnavailable, db_path
from .hub import ChangeHub, Mark, Subscription

BATCH = 500
MAX_TIMEOUT_MS = 60_000
DEFAULT_HEARTBEAT_MS = 10_000
FEEDS = ("normal", "longpoll", "continuous", "eventsource")


class FeedRequestError(ValueError):
    """The device asked for a feed it may not have; the message says why."""


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise FeedRequestError(f"expected true or false, got {value!r}")


def _int(name: str, value: str | None, low: int, high: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise FeedRequestError(f"{name} must be an integer, got {value!r}") from exc
    if number < low:
        raise FeedRequestError(f"{name} must be at least {low}")
    return min(number, high)


@dataclass(frozen=True)
class FeedRequest:
    feed: str = "normal"
    since: Any = 0
    limit: int | None = None
    heartbeat_ms: int | None = None
    timeout_ms: int = MAX_TIMEOUT_MS
    style: str | None = None
    include_docs: bool = False
    conflicts: bool = False
    descending: bool = False
    doc_ids: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str], body: Mapping[str, Any] | None = None) -> FeedRequest:
        feed = query.get("feed", "normal")
        if feed not in FEEDS:
            raise FeedRequestError(f"feed must be one of {', '.join(FEEDS)}")
        since: Any = query.get("since", "0")
        if not isinstance(since, str) or len(since) > 4000 or any(ord(c) < 32 for c in since):
            raise FeedRequestError("since is not a sequence")
        if since.isdigit():
            since = int(since)
        heartbeat = query.get("heartbeat")
        heartbeat_ms = (
            DEFAULT_HEARTBEAT_MS
            if heartbeat == "true"
            else _int("heartbeat", heartbeat, 0, MAX_TIMEOUT_MS)
        )
        if heartbeat_ms is not None:
            heartbeat_ms = max(heartbeat_ms, 1_000)
        style = query.get("style")
        if style not in (None, "main_only", "all_docs"):
            raise FeedRequestError("style must be main_only or all_docs")
        doc_ids = cls._doc_ids(query, body)
        return cls(
            feed=feed,
            since=since,
            limit=_int("limit", query.get("limit"), 0, 1_000_000_000),
            heartbeat_ms=heartbeat_ms,
            timeout_ms=_int("timeout", query.get("timeout"), 0, MAX_TIMEOUT_MS) or MAX_TIMEOUT_MS,
            style=style,
            include_docs=bool(_flag(query.get("include_docs"))),
            conflicts=bool(_flag(query.get("conflicts"))),
            descending=bool(_flag(query.get("descending"))),
            doc_ids=doc_ids,
        )

    @staticmethod
    def _doc_ids(
        query: Mapping[str, str], body: Mapping[str, Any] | None
    ) -> tuple[str, ...] | None:
        filt = query.get("filter")
        raw: Any = None
        if "doc_ids" in query:
            try:
                raw = orjson.loads(query["doc_ids"])
            except orjson.JSONDecodeError as exc:
                raise FeedRequestError("doc_ids must be a JSON array of ids") from exc
        elif body is not None and "doc_ids" in body:
            raw = body["doc_ids"]
        if filt not in (None, "_doc_ids"):
            raise FeedRequestError(f"filter {filt!r} is not available on the sync gateway")
        if raw is None:
            if filt == "_doc_ids":
                raise FeedRequestError("filter=_doc_ids needs doc_ids")
            return None
        if (
            not isinstance(raw, list)
            or not all(isinstance(i, str) for i in raw)
            or len(raw) > 10_000
        ):
            raise FeedRequestError("doc_ids must be a JSON array of at most 10,000 ids")
        return tuple(i for i in raw if not i.startswith("_design/"))

    def upstream_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.style:
            params["style"] = self.style
        if self.include_docs:
            params["include_docs"] = True
        if self.conflicts:
            params["conflicts"] = True
        if self.descending:
            params["descending"] = True
        if self.doc_ids is not None:
            params["filter"] = "_doc_ids"
        return params


def hidden(row: Mapping[str, Any]) -> bool:
    doc_id = row.get("id")
    return isinstance(doc_id, str) and doc_id.startswith("_design/")


class Feeds:
    """Serves change feeds of one CouchDB to devices."""

    def __init__(self, couch: CouchClient, hub: ChangeHub) -> None:
        self.couch = couch
        self.hub = hub

    async def page(
        self,
        db: str,
        req: FeedRequest,
        since: Any,
        limit: int,
        feed: str = "normal",
        timeout_ms: int | None = None,
    ) -> dict[str, Any]:
        params = {**req.upstream_params(), "since": since, "limit": limit, "feed": feed}
        if timeout_ms is not None:
            params["timeout"] = timeout_ms
        path = f"{db_path(db)}/_changes"
        # "now" is shared too: an answer read a moment before this request arrived only starts
        # the device's feed a change earlier, which replication tolerates
        if req.doc_ids is None:
            key = tuple(sorted(params.items()))
            shared: dict[str, Any] = await self.hub.shared(
                db, key, lambda: self.couch.request("GET", path, params=params)
            )
            return shared
        if req.doc_ids is not None:
            result: dict[str, Any] = await self.couch.request(
                "POST", path, params=params, json={"doc_ids": list(req.doc_ids)}
            )
        else:
            result = await self.couch.request("GET", path, params=params)
        return result

    async def first_page(self, db: str, req: FeedRequest) -> dict[str, Any]:
        """Fetched before the response starts, so CouchDB errors become proper statuses."""
        return await self.page(db, req, req.since, self._page_limit(req.limit))

    @staticmethod
    def _page_limit(remaining: int | None) -> int:
        return BATCH if remaining is None else max(1, min(BATCH, remaining))

    def is_complete(self, req: FeedRequest, first: dict[str, Any]) -> bool:
        """Whether the first page is the whole answer of a normal feed."""
        return len(first["results"]) < self._page_limit(req.limit) or (
            req.limit is not None and (req.limit <= len(first["results"]))
        )

    async def normal(
        self, db: str, req: FeedRequest, first: dict[str, Any]
    ) -> AsyncIterator[bytes]:
        # one chunk per page: a chunk per row would cost a send per row on slow links
        head = b'{"results":[\n'
        sep = b""
        remaining = req.limit
        page = first
        while True:
            rows = [orjson.dumps(row) for row in page["results"] if not hidden(row)]
            if rows:
                head += sep + b",\n".join(rows)
                sep = b",\n"
            asked = self._page_limit(remaining)
            count = len(page["results"])
            if remaining is not None:
                remaining -= count
            if count < asked or remaining == 0 or req.limit == 0:
                break
            yield head
            head = b""
            page = await self.page(db, req, page["last_seq"], self._page_limit(remaining))
        tail: dict[str, Any] = {"last_seq": page["last_seq"]}
        if "pending" in page:
            tail["pending"] = page["pending"]
        yield head + b"\n]," + orjson.dumps(tail)[1:] + b"\n"

    async def longpoll(
        self, db: str, req: FeedRequest, first: dict[str, Any], mark: Mark | None = None
    ) -> AsyncIterator[bytes]:
        """Answer ``first`` if it has rows, else wait for a change and answer it; ``mark`` is
        the hub's mark taken before ``first`` was read (then no second read is needed)."""
        if any(not hidden(r) for r in first["results"]) or req.limit == 0:
            async for chunk in self.normal(db, req, first):
                yield chunk
            return
        since = first["last_seq"]
        deadline = time.monotonic() + req.timeout_ms / 1000
        async with self.hub.subscribe(db, since, mark) as sub:
            # a change between the first read and the subscription must not be missed: the
            # subscription counts from the mark taken before that read, else read once more
            changed = sub.changed or not sub.from_mark
            while True:
                if changed:
                    try:
                        page = await self.page(db, req, since, self._page_limit(req.limit))
                    except CouchUnavailable:
                        return  # the device sees a cut feed and retries from its checkpoint
                    rows = [r for r in page["results"] if not hidden(r)]
                    since = page["last_seq"]
                    if rows:
                        yield orjson.dumps({"results": rows, "last_seq": since}) + b"\n"
                        return
                if not await self._wait(sub, deadline, req):
                    yield orjson.dumps({"results": [], "last_seq": since}) + b"\n"
                    return
                changed = sub.changed
                if req.heartbeat_ms and not changed:
                    yield b"\n"

    async def _wait(self, sub: Subscription, deadline: float, req: FeedRequest) -> bool:
        """Wait for a change or a heartbeat; False once the feed's timeout has passed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        step = min(remaining, (req.heartbeat_ms or req.timeout_ms) / 1000)
        await sub.wait(step)
        return True

    async def continuous(
        self, db: str, req: FeedRequest, *, eventsource: bool = False
    ) -> AsyncIterator[bytes]:
        since = req.since
        sent = 0
        if since == "now":
            since = (await self.page(db, req, "now", 1))["last_seq"]
        async with self.hub.subscribe(db, since) as sub:
            deadline = time.monotonic() + req.timeout_ms / 1000
            changed = True
            while True:
                if not changed:
                    if not await self._wait(
                        sub, float("inf") if req.heartbeat_ms else deadline, req
                    ):
                        if not eventsource:
                            yield orjson.dumps({"last_seq": since}) + b"\n"
                        return
                    changed = sub.changed
                    if req.heartbeat_ms and not changed:
                        yield b"\n"
                    continue
                try:
                    page = await self.page(db, req, since, BATCH)
                except CouchUnavailable:
                    return  # the device sees a cut feed and retries from its checkpoint
                for row in page["results"]:
                    if hidden(row):
                        continue
                    if eventsource:
                        seq = orjson.dumps(row.get("seq")).decode()
                        yield b"data: " + orjson.dumps(row) + f"\nid: {seq}\n\n".encode()
                    else:
                        yield orjson.dumps(row) + b"\n"
                    sent += 1
                    if req.limit is not None and sent >= req.limit:
                        if not eventsource:
                            yield orjson.dumps({"last_seq": row.get("seq")}) + b"\n"
                        return
                since = page["last_seq"]
                if page["results"]:
                    deadline = time.monotonic() + req.timeout_ms / 1000
                changed = len(page["results"]) == BATCH  # more waiting: read on at once
