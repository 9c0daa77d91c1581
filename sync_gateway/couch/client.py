"""The one module that speaks HTTP to CouchDB.

An async client on a pooled ``aiohttp.ClientSession`` (measured: about 0.6 ms less per request
than httpx on this hop, which every device request crosses). Bodies are CouchDB's JSON documents
as plain dicts. Every transport failure becomes :class:`CouchUnavailable` and every error status
the matching :class:`CouchHTTPError` subclass (see ``errors.py``), carrying CouchDB's ``error``
and ``reason``. Change feeds are async iterators that read the response line by line, so a feed
is never held whole in memory: ``changes_stream`` for continuous feeds, ``iter_changes`` to page
through a normal feed in bounded batches. :meth:`CouchClient.open` hands the gateway an answer
whose body it passes on untouched (compressed or not). :meth:`CouchClient.view` reads a view's
rows; the read-modify-write and design-document building blocks live in ``blocks.py`` beside it.

Paths: database names are percent-encoded whole (``a/b`` → ``a%2Fb``); document ids keep the
slash of the ``_design/`` and ``_local/`` prefixes and encode the rest. URLs are sent exactly as
built here: no re-quoting and no dot-segment normalisation on the way out.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

import aiohttp
import orjson
from yarl import URL

from ..work import observe_request
from . import blocks
from .errors import CouchConflict, CouchError, CouchNotFound, CouchUnavailable, error_for_status

KEEPALIVE_S = 2.0
JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}
# A compressed feed is buffered by the server's gzip layer until it fills a block, which would
# hold back live changes and heartbeats: feeds are always asked for uncompressed.
STREAM_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}
# a kept-alive connection the server had just closed: a read may be sent again
STALE_CONNECTION = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
# CouchDB's documented _security semantics: a member role of "_admin" (which only server admins
# have) leaves no one else a member, so anonymous and non-admin users get 401 / 403 on every
# request to the database; PouchDB Server's pouchdb-security applies the same rule
ADMIN_ONLY: dict[str, Any] = {
    "admins": {"names": [], "roles": ["_admin"]},
    "members": {"names": [], "roles": ["_admin"]},
}


def segment(value: str) -> str:
    """One path segment, percent-encoded; ``.`` and ``..`` too, so no URL layer can read them
    as "this" or "parent" directory and send a request to another database."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def db_path(db: str) -> str:
    return "/" + segment(db)


def doc_path(db: str, doc_id: str) -> str:
    for prefix in ("_design/", "_local/"):
        if doc_id.startswith(prefix):
            return f"{db_path(db)}/{prefix}{segment(doc_id[len(prefix) :])}"
    return f"{db_path(db)}/{segment(doc_id)}"


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """Split ``http://user:pw@host:port/`` into the bare URL and the basic-auth pair."""
    parts = urlsplit(url)
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), auth


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


@dataclass(frozen=True)
class ChangesPage:
    """One page of a normal or longpoll ``_changes`` feed."""

    results: list[dict[str, Any]]
    last_seq: Any
    pending: int | None


class RawResponse:
    """CouchDB's answer with its body unread, to pass on as is. Read it or close it."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status_code = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read(self) -> bytes:
        """The whole body as sent (still compressed when CouchDB compressed it)."""
        try:
            return await self._resp.read()
        except TRANSPORT_ERRORS as exc:
            raise CouchUnavailable(f"CouchDB broke off an answer: {exc!r}") from exc
        finally:
            self._resp.release()

    async def iter_raw(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk as it arrives; the answer is closed at the end."""
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except TRANSPORT_ERRORS as exc:
            raise CouchUnavailable(f"CouchDB broke off an answer: {exc!r}") from exc
        finally:
            self.close()

    def close(self) -> None:
        """Give the connection back, or drop it when the body was not read to its end."""
        self._resp.release()


class CouchClient:
    """Async CouchDB HTTP client. Create once; close with :meth:`aclose`."""

    def __init__(self, url: str, *, timeout: float = 30.0, max_connections: int = 200) -> None:
        self.url, auth = split_credentials(url)
        self.auth = auth
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """Made on first use, inside the event loop that uses it."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                # below the server's own idle timeout (Node, so PouchDB Server: 5 s), or a
                # pooled connection can be closed by the server just as it is reused
                keepalive_timeout=KEEPALIVE_S,
            )
            headers = {"Accept-Encoding": "identity"}
            if self.auth:
                user, password = self.auth
                token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
                headers["Authorization"] = f"Basic {token}"
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                # bodies are passed on as CouchDB sent them; JSON is asked for uncompressed
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
                headers=headers,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url_for(self, path: str, params: Any = None) -> URL:
        """The URL exactly as given: ``path`` is already percent-encoded."""
        query = ""
        if params:
            items = params.items() if isinstance(params, Mapping) else params
            query = "?" + urlencode(list(items), quote_via=quote, safe="")
        return URL(self.url + path + query, encoded=True)

    # -- plumbing ---------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | IO[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON answer, raising our errors."""
        body = dumps(json) if json is not None else content
        resp = await self.open(
            method,
            path,
            params=_encode_params(params),
            headers=headers or JSON_HEADERS,
            content=body,
        )
        data = await resp.read()
        if resp.status_code >= 400:
            raise _error_from(resp.status_code, data, path)
        return orjson.loads(data) if data else None

    async def open(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | IO[bytes] | None = None,
        read_timeout: float | None = None,
    ) -> RawResponse:
        """Send a request as is; the answer comes back with its body unread and its status
        not raised (the gateway's pass-through). Read it to its end or close it."""
        timeout = self._timeout
        if read_timeout is not None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=read_timeout)
        url = self.url_for(path, params)
        attempts = 2 if method in ("GET", "HEAD") else 1
        started = time.perf_counter()
        for attempt in range(attempts):
            try:
                resp = await self.session.request(
                    method, url, data=content, headers=headers, timeout=timeout
                )
                observe_request(path, time.perf_counter() - started)
                return RawResponse(resp)
            except STALE_CONNECTION as exc:
                if attempt + 1 < attempts:
                    continue
                raise CouchUnavailable(f"CouchDB at {self.url} did not answer: {exc!r}") from exc
            except TRANSPORT_ERRORS as exc:
                raise CouchUnavailable(f"CouchDB at {self.url} did not answer: {exc!r}") from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    # -- server and databases ---------------------------------------------------------------

    async def server_info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/")
        return result

    async def all_dbs(self) -> list[str]:
        result: list[str] = await self.request("GET", "/_all_dbs")
        return result

    async def create_db(self, db: str, *, exist_ok: bool = True) -> bool:
        """Create a database that admits only admins; False when it already existed.

        The ``_security`` object is written right after the creation, so a new database is
        open to nobody but admins from its first document on (see :data:`ADMIN_ONLY`)."""
        from .errors import CouchPreconditionFailed

        try:
            await self.request("PUT", db_path(db))
        except CouchPreconditionFailed:
            if not exist_ok:
                raise
            return False
        await self.set_admin_only(db)
        return True

    async def set_admin_only(self, db: str) -> bool:
        """Make ``db`` admit only admins; True when its ``_security`` had to change."""
        path = f"{db_path(db)}/_security"
        if await self.request("GET", path) == ADMIN_ONLY:
            return False
        try:
            await self.request("PUT", path, json=ADMIN_ONLY)
        except CouchConflict:
            # PouchDB Server keeps _security as a revisioned document: two processes starting
            # together may race, and the loser finds the winner's (the same) object
            if await self.request("GET", path) != ADMIN_ONLY:
                raise
            return False
        return True

    async def delete_db(self, db: str, *, missing_ok: bool = True) -> None:
        try:
            await self.request("DELETE", db_path(db))
        except CouchNotFound:
            if not missing_ok:
                raise

    async def db_info(self, db: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", db_path(db))
        return result

    async def db_exists(self, db: str) -> bool:
        try:
            await self.db_info(db)
        except CouchNotFound:
            return False
        return True

    # -- documents ---------------------------------------------------------------------------

    async def get(self, db: str, doc_id: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", doc_path(db, doc_id), params=params)
        return result

    async def get_or_none(self, db: str, doc_id: str, **params: Any) -> dict[str, Any] | None:
        try:
            return await self.get(db, doc_id, **params)
        except CouchNotFound:
            return None

    async def put(self, db: str, doc: Mapping[str, Any], **params: Any) -> dict[str, Any]:
        """Create or update one document; 409 raises :class:`CouchConflict`."""
        result: dict[str, Any] = await self.request(
            "PUT", doc_path(db, doc["_id"]), json=doc, params=params
        )
        return result

    async def delete(self, db: str, doc_id: str, rev: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "DELETE", doc_path(db, doc_id), params={"rev": rev}
        )
        return result

    async def open_revs(
        self, db: str, doc_id: str, revs: Sequence[str] | str = "all", *, history: bool = True
    ) -> list[dict[str, Any]]:
        """The given (or all) leaf revisions: a list of ``{"ok": doc}`` / ``{"missing": rev}``."""
        params: dict[str, Any] = {"open_revs": revs if revs == "all" else list(revs)}
        if history:
            params["revs"] = True
        result: list[dict[str, Any]] = await self.request(
            "GET", doc_path(db, doc_id), params=params, headers={"Accept": "application/json"}
        )
        return result

    async def all_docs(
        self, db: str, *, keys: Sequence[str] | None = None, **params: Any
    ) -> dict[str, Any]:
        path = f"{db_path(db)}/_all_docs"
        if keys is not None:
            result: dict[str, Any] = await self.request(
                "POST", path, params=params, json={"keys": list(keys)}
            )
            return result
        result = await self.request("GET", path, params=params)
        return result

    async def bulk_docs(
        self, db: str, docs: Sequence[Mapping[str, Any]], *, new_edits: bool = True
    ) -> list[dict[str, Any]]:
        """Write many documents; the answer has one ``{"id","rev"}`` or ``{"id","error"}`` each."""
        body: dict[str, Any] = {"docs": list(docs)}
        if not new_edits:
            body["new_edits"] = False
        result: list[dict[str, Any]] = await self.request(
            "POST", f"{db_path(db)}/_bulk_docs", json=body
        )
        return result

    async def bulk_get(
        self, db: str, docs: Sequence[Mapping[str, str]], *, revs: bool = True
    ) -> list[dict[str, Any]]:
        """``_bulk_get``: the answer's ``results`` (each ``{"id", "docs": [{"ok"|"error"}]}``)."""
        result = await self.request(
            "POST",
            f"{db_path(db)}/_bulk_get",
            params={"revs": revs} if revs else None,
            json={"docs": list(docs)},
        )
        out: list[dict[str, Any]] = result["results"]
        return out

    async def put_attachment(
        self,
        db: str,
        doc_id: str,
        name: str,
        rev: str,
        body: bytes | IO[bytes],
        *,
        content_type: str,
        length: int | None = None,
    ) -> dict[str, Any]:
        """Add or replace one attachment; a file ``body`` is streamed, never read whole."""
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if length is not None:
            headers["Content-Length"] = str(length)
        result: dict[str, Any] = await self.request(
            "PUT",
            f"{doc_path(db, doc_id)}/{segment(name)}",
            params={"rev": rev},
            content=body,
            headers=headers,
        )
        return result

    async def revs_diff(self, db: str, revs: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", f"{db_path(db)}/_revs_diff", json={k: list(v) for k, v in revs.items()}
        )
        return result

    async def get_local(self, db: str, local_id: str) -> dict[str, Any] | None:
        return await self.get_or_none(db, f"_local/{local_id}")

    async def put_local(self, db: str, local_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        doc = {**body, "_id": f"_local/{local_id}"}
        return await self.put(db, doc)

    # -- views and the building blocks -------------------------------------------------------

    async def view(
        self,
        db: str,
        ddoc_id: str,
        name: str,
        *,
        keys: Sequence[Any] | None = None,
        **params: Any,
    ) -> list[dict[str, Any]]:
        """The ``rows`` of one view query; ``ddoc_id`` is ``_design/<x>`` (or just ``<x>``),
        params as CouchDB takes them (keys sent as JSON), ``keys`` in a POST body."""
        if not ddoc_id.startswith("_design/"):
            ddoc_id = f"_design/{ddoc_id}"
        path = f"{doc_path(db, ddoc_id)}/_view/{segment(name)}"
        if keys is not None:
            result = await self.request("POST", path, params=params, json={"keys": list(keys)})
        else:
            result = await self.request("GET", path, params=params)
        rows: list[dict[str, Any]] = result["rows"]
        return rows

    # The building blocks of blocks.py, offered here too so that a package taking its store as a
    # Protocol (notifications) reaches the one implementation through the client it is given.

    async def update_with_retry(
        self,
        db: str,
        doc_id: str,
        mutate: blocks.Mutate,
        *,
        attempts: int = blocks.UPDATE_ATTEMPTS,
    ) -> blocks.Updated:
        """:func:`blocks.update_with_retry` on this client."""
        return await blocks.update_with_retry(self, db, doc_id, mutate, attempts=attempts)

    async def ensure_design(
        self, db: str, ddoc_id: str, views: blocks.Views, *, version: int | None = None
    ) -> bool:
        """:func:`blocks.ensure_design` on this client."""
        return await blocks.ensure_design(self, db, ddoc_id, views, version=version)

    # -- change feeds ------------------------------------------------------------------------

    async def changes(
        self,
        db: str,
        *,
        since: Any = 0,
        limit: int | None = None,
        feed: str = "normal",
        **params: Any,
    ) -> ChangesPage:
        """One page of a normal (or longpoll) feed; ``limit`` bounds its size."""
        query: dict[str, Any] = {"since": since, "feed": feed, **params}
        if limit is not None:
            query["limit"] = limit
        result = await self.request(
            "GET",
            f"{db_path(db)}/_changes",
            params=query,
        )
        return ChangesPage(result["results"], result["last_seq"], result.get("pending"))

    async def iter_changes(
        self, db: str, *, since: Any = 0, batch_size: int = 500, **params: Any
    ) -> AsyncIterator[ChangesPage]:
        """Page through a normal feed from ``since`` to its end, ``batch_size`` rows at a time."""
        while True:
            page = await self.changes(db, since=since, limit=batch_size, **params)
            if page.results:
                yield page
            if len(page.results) < batch_size or page.last_seq == since:
                return
            since = page.last_seq

    async def changes_stream(
        self,
        db: str,
        *,
        since: Any = "now",
        heartbeat_ms: int = 10_000,
        **params: Any,
    ) -> AsyncIterator[dict[str, Any]]:
        """A continuous feed as an async iterator of change rows; runs until cancelled.

        Heartbeats keep the connection alive and are skipped; the read timeout is a few
        heartbeats, so a silently dead server is noticed as :class:`CouchUnavailable`.
        """
        async for row in self.stream_feed(
            f"{db_path(db)}/_changes", since=since, heartbeat_ms=heartbeat_ms, **params
        ):
            yield row

    async def stream_feed(
        self, path: str, *, since: Any = "now", heartbeat_ms: int = 10_000, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Any continuous feed (``_changes``, ``_db_updates``) as rows, line by line."""
        query = _encode_params(
            {"feed": "continuous", "since": since, "heartbeat": heartbeat_ms, **params}
        )
        resp = await self.open(
            "GET",
            path,
            params=query,
            headers=STREAM_HEADERS,
            read_timeout=heartbeat_ms / 1000 * 3 + 5,
        )
        try:
            if resp.status_code >= 400:
                raise _error_from(resp.status_code, await resp.read(), path)
            async for line in _lines(resp.iter_raw()):
                if not line.strip():
                    continue
                row = orjson.loads(line)
                if "last_seq" in row and "id" not in row and "db_name" not in row:
                    return
                yield row
        finally:
            resp.close()


def _encode_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """CouchDB wants JSON in query values: booleans ``true``, lists and keys as JSON text."""
    if params is None:
        return None
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, int | float):
            out[key] = str(value)
        elif isinstance(value, list | dict) or key in {
            "key",
            "startkey",
            "endkey",
            "start_key",
            "end_key",
        }:
            out[key] = orjson.dumps(value).decode()
        else:
            out[key] = str(value)
    return out


def _error_from(status: int, data: bytes, path: str) -> CouchError:
    try:
        body = orjson.loads(data)
        error, reason = str(body.get("error", "")), str(body.get("reason", ""))
    except (orjson.JSONDecodeError, AttributeError):
        error, reason = "unknown_error", data[:200].decode("utf-8", "replace")
    return error_for_status(status, error, reason, path)


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Split a byte stream into lines, however long (a row may hold a whole document)."""
    rest = b""
    async for chunk in chunks:
        rest += chunk
        *lines, rest = rest.split(b"\n")
        for line in lines:
            yield line
    if rest:
        yield rest


def chunked(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    """Split an iterable into lists of at most ``size`` items."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
