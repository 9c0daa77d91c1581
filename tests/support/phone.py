"""A phone for tests: PouchDB 9 in Node.js (tests/phone/phone.js) driven from asyncio.

One :class:`Phone` is one Node process holding one local LevelDB-backed PouchDB database.
They talk JSON lines (the full protocol is in the header of ``tests/phone/phone.js``)::

    -> {"id": 7, "cmd": "pull", "url": "...", "headers": {...}, "options": {...}}
    <- {"id": 7, "ok": true, "result": {"docs_written": 3, ...}}
    <- {"id": 7, "ok": false, "error": {"name", "message", "status"?, "result"?}}
    <- {"event": "change", "name": "live", "doc_ids": [...], ...}     (unsolicited)

Every call has a timeout (``timeout_s``); a failure carries the tail of Node's stderr. Errors::

    PhoneError
     +-- PhoneCommandError   the command failed in PouchDB (.error is the JSON error, .status)
     +-- PhoneTimeout        no reply (or no matching event) in time
     +-- PhoneCrashed        the Node process is gone

This module depends only on the standard library, so any test can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypedDict

JSON = dict[str, Any]
Direction = Literal["pull", "push", "both"]

PHONE_JS = Path(__file__).resolve().parent.parent / "phone" / "phone.js"
STDERR_LINES = 200
# all_docs of a 20,000-document database is one line; asyncio's default limit is 64 KiB.
LINE_LIMIT = 256 * 1024 * 1024


class PhoneError(Exception):
    """Base of every error raised by :class:`Phone`."""


class PhoneCommandError(PhoneError):
    """PouchDB rejected the command; ``error`` is the serialized JS error."""

    def __init__(self, cmd: str, error: JSON, stderr: str) -> None:
        self.cmd = cmd
        self.error = error
        self.status: int | None = error.get("status")
        self.name: str | None = error.get("name")
        self.result: JSON | None = error.get("result")
        message = f"phone {cmd} failed: {json.dumps(error)}"
        if stderr and not self.status:
            message += f"\n--- node stderr (tail) ---\n{stderr}"
        super().__init__(message)


class PhoneTimeout(PhoneError, TimeoutError):
    """No reply or no matching event within the deadline."""


class PhoneCrashed(PhoneError):
    """The Node process exited or could not be started."""


class ReplicationResult(TypedDict, total=False):
    """PouchDB's replication result (one direction); ``errors`` are serialized JS errors."""

    ok: bool
    status: str  # complete | cancelled | aborting
    docs_read: int
    docs_written: int
    doc_write_failures: int
    errors: list[JSON]
    denied: list[JSON]  # per-document 401/403 refusals, also counted in doc_write_failures
    last_seq: Any
    start_time: str
    end_time: str


class RequestRecord(TypedDict, total=False):
    """One HTTP request a replication made (``requests()``)."""

    replication: str
    method: str
    path: str  # percent-decoded, e.g. "/sync/rep_u1/_bulk_get"
    query: dict[str, str]
    search: str  # the raw "?a=b" part
    status: int
    blocked: bool  # answered locally (no_bulk_get), never sent
    error: str


def node_path(repo_root: Path | None = None) -> Path:
    """Return ``couchdb_embedded/node_modules`` (override with ``FIELDSYNC_NODE_MODULES``)."""
    override = os.environ.get("FIELDSYNC_NODE_MODULES")
    if override:
        return Path(override)
    starts = [repo_root] if repo_root else list(Path(__file__).resolve().parents)
    for root in starts:
        candidate = root / "couchdb_embedded" / "node_modules"
        if (candidate / "pouchdb").is_dir():
            return candidate
    raise PhoneError(
        "PouchDB is not installed in couchdb_embedded/node_modules; run `make setup` "
        "(npm ci in couchdb_embedded/)"
    )


def _matcher(predicate: Callable[[JSON], bool] | Mapping[str, Any]) -> Callable[[JSON], bool]:
    if callable(predicate):
        return predicate
    wanted = dict(predicate)
    return lambda event: all(event.get(k) == v for k, v in wanted.items())


class Phone:
    """One PouchDB database in a Node process, with typed async commands."""

    def __init__(
        self,
        *,
        node_modules: Path | None = None,
        node: str = "node",
        call_timeout: float = 30.0,
        replication_timeout: float = 120.0,
    ) -> None:
        self.node_modules = node_modules
        self.node = node
        self.call_timeout = call_timeout
        self.replication_timeout = replication_timeout
        self.events_seen: list[JSON] = []  # every event since start, in arrival order
        self._proc: asyncio.subprocess.Process | None = None
        self._pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._next_id = 0
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._tasks: list[asyncio.Task[None]] = []
        self._event_arrived = asyncio.Event()
        self._ready: asyncio.Future[JSON] | None = None
        self._dead: PhoneCrashed | None = None

    # ---- life cycle ------------------------------------------------------------------------

    async def start(self, tmpdir: Path | str, *, timeout_s: float = 30.0) -> Phone:
        """Start Node with its database under ``tmpdir``; return once it says it is ready."""
        node = shutil.which(self.node)
        if node is None:
            raise PhoneCrashed(f"{self.node!r} is not on PATH; the phone needs Node.js 18+")
        modules = self.node_modules or node_path()
        env = dict(os.environ, NODE_PATH=str(modules))
        self._ready = asyncio.get_running_loop().create_future()
        self._proc = await asyncio.create_subprocess_exec(
            node,
            str(PHONE_JS),
            "--dir",
            str(Path(tmpdir)),
            "--node-modules",
            str(modules),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            limit=LINE_LIMIT,
        )
        self._tasks = [
            asyncio.create_task(self._read_stdout(), name="phone-stdout"),
            asyncio.create_task(self._read_stderr(), name="phone-stderr"),
        ]
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout_s)
        except TimeoutError:
            await self.kill()
            raise PhoneTimeout(
                f"phone did not start in {timeout_s} s\n{self.stderr_tail()}"
            ) from None
        return self

    async def close(self, timeout_s: float = 15.0) -> None:
        """Stop live replications, close the database and wait for Node to exit."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None and self._dead is None:
            with contextlib.suppress(PhoneError):
                await self.call("close", timeout_s=timeout_s)
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            await self.kill()
        await self._finish_tasks()

    async def kill(self) -> None:
        """Kill the Node process now (a phone switched off mid-sync)."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        await self._finish_tasks()

    async def _finish_tasks(self) -> None:
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5.0)
        self._tasks = []

    async def __aenter__(self) -> Phone:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    # ---- transport -------------------------------------------------------------------------

    async def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        while True:
            try:
                line = await stdout.readline()
            except (ValueError, asyncio.LimitOverrunError) as exc:
                self._stderr.append(f"[phone.py] unreadable stdout line: {exc}")
                break
            if not line:
                break
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                self._stderr.append(f"[phone.py] stray stdout: {line[:500]!r}")
                continue
            self._dispatch(msg)
        code = await self._proc.wait()
        self._dead = PhoneCrashed(f"phone exited with code {code}\n{self.stderr_tail()}")
        for _cmd, fut in self._pending.values():
            if not fut.done():
                fut.set_exception(self._dead)
        self._pending.clear()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(self._dead)
        self._event_arrived.set()

    def _dispatch(self, msg: JSON) -> None:
        if "event" in msg:
            if msg["event"] == "ready" and self._ready is not None and not self._ready.done():
                self._ready.set_result(msg)
            self.events_seen.append(msg)
            self._event_arrived.set()
            return
        entry = self._pending.pop(msg.get("id", -1), None)
        if entry is None:
            self._stderr.append(f"[phone.py] reply to nobody: {json.dumps(msg)[:500]}")
            return
        cmd, fut = entry
        if fut.done():
            return
        if msg.get("ok"):
            fut.set_result(msg.get("result"))
        else:
            fut.set_exception(PhoneCommandError(cmd, msg.get("error") or {}, self.stderr_tail()))

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for raw in self._proc.stderr:
            self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    async def call(self, cmd: str, *, timeout_s: float | None = None, **args: Any) -> Any:
        """Send one command and return its result; raise a :class:`PhoneError` otherwise."""
        if self._proc is None or self._proc.stdin is None:
            raise PhoneCrashed("phone is not started")
        if self._dead is not None:
            raise self._dead
        self._next_id += 1
        msg_id = self._next_id
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = (cmd, fut)
        line = json.dumps({"id": msg_id, "cmd": cmd, **args}) + "\n"
        try:
            self._proc.stdin.write(line.encode())
            await self._proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            self._pending.pop(msg_id, None)
            raise PhoneCrashed(f"phone stdin closed\n{self.stderr_tail()}") from exc
        limit = self.call_timeout if timeout_s is None else timeout_s
        try:
            return await asyncio.wait_for(fut, limit)
        except TimeoutError:
            self._pending.pop(msg_id, None)
            raise PhoneTimeout(
                f"phone {cmd} gave no reply in {limit} s\n{self.stderr_tail()}"
            ) from None

    # ---- local database --------------------------------------------------------------------

    async def info(self) -> JSON:
        result: JSON = await self.call("info")
        return result

    async def put(self, doc: JSON, **options: Any) -> JSON:
        result: JSON = await self.call("put", doc=doc, options=options)
        return result

    async def bulk_docs(self, docs: list[JSON], *, new_edits: bool = True) -> list[JSON]:
        """Write several docs; ``new_edits=False`` stores given revisions (makes conflicts)."""
        result: list[JSON] = await self.call(
            "bulk_docs", docs=docs, options={"new_edits": new_edits}
        )
        return result

    async def get(self, doc_id: str, **options: Any) -> JSON:
        """PouchDB ``get``: options such as ``conflicts=True``, ``revs=True``, ``rev=...``."""
        result: JSON = await self.call("get", doc_id=doc_id, options=options)
        return result

    async def get_or_none(self, doc_id: str, **options: Any) -> JSON | None:
        try:
            return await self.get(doc_id, **options)
        except PhoneCommandError as exc:
            if exc.status == 404:
                return None
            raise

    async def all_docs(self, **options: Any) -> JSON:
        """PouchDB ``allDocs``, e.g. ``include_docs=True``, ``keys=[...]``."""
        result: JSON = await self.call("all_docs", options=options)
        return result

    async def remote_all_docs(
        self, url: str, *, headers: Mapping[str, str] | None = None, **options: Any
    ) -> JSON:
        """PouchDB ``allDocs`` on the remote database at ``url`` (not the phone's own copy)."""
        result: JSON = await self.call(
            "remote_all_docs", url=url, headers=dict(headers or {}), options=options
        )
        return result

    async def remove(self, doc_id: str, rev: str) -> JSON:
        result: JSON = await self.call("remove", doc_id=doc_id, rev=rev)
        return result

    async def changes(self, **options: Any) -> JSON:
        """One-shot local changes feed (``since``, ``include_docs``, ``style``...)."""
        result: JSON = await self.call("changes", options=options)
        return result

    async def wait_for_doc(
        self, doc_id: str, predicate: Mapping[str, Any] | None = None, *, timeout_s: float = 10.0
    ) -> JSON:
        """Wait until the local doc exists and every ``predicate`` field (dotted paths allowed)
        equals the given value; ``{"_deleted": True}`` waits for a deletion. Returns the doc
        with ``_conflicts``. Raises :class:`PhoneTimeout` with the last revision seen."""
        try:
            result: JSON = await self.call(
                "wait_for_doc",
                doc_id=doc_id,
                predicate=dict(predicate or {}),
                timeout_ms=int(timeout_s * 1000),
                timeout_s=timeout_s + 10.0,
            )
        except PhoneCommandError as exc:
            if exc.name == "timeout":
                raise PhoneTimeout(str(exc.error.get("message"))) from None
            raise
        return result

    # ---- replication -----------------------------------------------------------------------

    @staticmethod
    def _remote_args(
        url: str,
        headers: Mapping[str, str] | None,
        options: Mapping[str, Any] | None,
        no_bulk_get: bool,
        skip_setup: bool,
        log_requests: bool,
        name: str | None,
    ) -> JSON:
        args: JSON = {
            "url": url,
            "headers": dict(headers or {}),
            "options": dict(options or {}),
            "no_bulk_get": no_bulk_get,
            "skip_setup": skip_setup,
            "log_requests": log_requests,
        }
        if name is not None:
            args["name"] = name
        return args

    async def _replicate(
        self,
        cmd: str,
        url: str,
        headers: Mapping[str, str] | None,
        options: Mapping[str, Any] | None,
        no_bulk_get: bool,
        skip_setup: bool,
        log_requests: bool,
        name: str | None,
        timeout_s: float | None,
    ) -> Any:
        args = self._remote_args(url, headers, options, no_bulk_get, skip_setup, log_requests, name)
        return await self.call(cmd, timeout_s=timeout_s or self.replication_timeout, **args)

    async def pull(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        no_bulk_get: bool = False,
        skip_setup: bool = False,
        log_requests: bool = True,
        name: str | None = None,
        timeout_s: float | None = None,
    ) -> ReplicationResult:
        """One-off replication remote -> phone. A fatal failure raises PhoneCommandError whose
        ``.result`` holds the partial result; per-document refusals do not."""
        result: ReplicationResult = await self._replicate(
            "pull", url, headers, options, no_bulk_get, skip_setup, log_requests, name, timeout_s
        )
        return result

    async def push(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        skip_setup: bool = False,
        log_requests: bool = True,
        name: str | None = None,
        timeout_s: float | None = None,
    ) -> ReplicationResult:
        """One-off replication phone -> remote; refused docs land in ``doc_write_failures``,
        ``errors`` and ``denied``."""
        result: ReplicationResult = await self._replicate(
            "push", url, headers, options, False, skip_setup, log_requests, name, timeout_s
        )
        return result

    async def sync(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        no_bulk_get: bool = False,
        skip_setup: bool = False,
        log_requests: bool = True,
        name: str | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, ReplicationResult]:
        """One-off push and pull at once; returns ``{"push": ..., "pull": ...}``."""
        result: dict[str, ReplicationResult] = await self._replicate(
            "sync", url, headers, options, no_bulk_get, skip_setup, log_requests, name, timeout_s
        )
        return result

    async def load(
        self,
        snapshot_url: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        loader: Literal["lines", "pouchdb-load", "replication-stream"] = "lines",
        name: str | None = None,
        log_requests: bool = True,
        timeout_s: float | None = None,
    ) -> JSON:
        """Prime the database from a snapshot (``GET snapshot_url``), as an app does on a new
        device: ``lines`` (one bulkDocs per dump line, then pouchdb-load with ``proxy=url`` on
        the last seq line, which writes the replication checkpoint for ``url``), ``pouchdb-load``
        on the whole dump, or pouchdb-replication-stream's ``load()`` (no checkpoint). Returns
        ``{status, bytes, headers}``; a non-200 answer raises PhoneCommandError (``status``)."""
        args = self._remote_args(url, headers, None, False, True, log_requests, name)
        result: JSON = await self.call(
            "load",
            snapshot_url=snapshot_url,
            loader=loader,
            timeout_s=timeout_s or self.replication_timeout,
            **args,
        )
        return result

    async def live_start(
        self,
        name: str,
        url: str,
        *,
        direction: Direction = "pull",
        headers: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        retry: bool = True,
        no_bulk_get: bool = False,
        skip_setup: bool = False,
        log_requests: bool = True,
    ) -> JSON:
        """Start a continuous replication (``live``, ``retry``). Its events arrive as
        ``{"event": "change"|"paused"|"active"|"denied"|"error"|"complete", "name": name}``;
        ``options={"back_off_ms": 200}`` makes retries quick."""
        args = self._remote_args(url, headers, options, no_bulk_get, skip_setup, log_requests, name)
        result: JSON = await self.call("live_start", direction=direction, retry=retry, **args)
        return result

    async def live_stop(self, name: str, *, timeout_s: float = 15.0) -> JSON:
        """Cancel a live replication; return its final result (or its error)."""
        result: JSON = await self.call(
            "live_stop", name=name, timeout_ms=int(timeout_s * 1000), timeout_s=timeout_s + 5.0
        )
        return result

    async def set_headers(self, name: str, headers: Mapping[str, str]) -> None:
        """Replace the headers of a live replication (e.g. a refreshed token)."""
        await self.call("set_headers", name=name, headers=dict(headers))

    async def requests(
        self, name: str | None = None, *, clear: bool = False
    ) -> list[RequestRecord]:
        """HTTP requests the replications made, oldest first (optionally of one replication)."""
        args: JSON = {"clear": clear}
        if name is not None:
            args["name"] = name
        result: list[RequestRecord] = await self.call("requests", **args)
        return result

    # ---- events ----------------------------------------------------------------------------

    def mark(self) -> int:
        """The index of the next event; pass it as ``since`` to ignore earlier events."""
        return len(self.events_seen)

    async def wait_event(
        self,
        predicate: Callable[[JSON], bool] | Mapping[str, Any],
        *,
        timeout_s: float = 10.0,
        since: int = 0,
    ) -> JSON:
        """Return the first event at index >= ``since`` that matches; a mapping matches when
        every key equals (``{"event": "paused", "name": "live"}``)."""
        match = _matcher(predicate)
        index = since
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            while index < len(self.events_seen):
                event = self.events_seen[index]
                index += 1
                if match(event):
                    return event
            if self._dead is not None:
                raise self._dead
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = self.events_seen[since:][-10:]
                raise PhoneTimeout(f"no matching phone event in {timeout_s} s; last: {recent}")
            self._event_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event_arrived.wait(), remaining)

    async def events(
        self, *, since: int | None = None, timeout_s: float = 10.0
    ) -> AsyncIterator[JSON]:
        """Yield events from ``since`` (default: from now) on; raise PhoneTimeout when none
        arrives for ``timeout_s`` seconds."""
        index = self.mark() if since is None else since
        while True:
            # The first event at or after `index` is events_seen[index] itself.
            yield await self.wait_event(lambda _e: True, timeout_s=timeout_s, since=index)
            index += 1


@contextlib.asynccontextmanager
async def open_phone(tmpdir: Path | str, **kwargs: Any) -> AsyncIterator[Phone]:
    """``async with open_phone(tmp_path) as phone:`` starts a phone and always closes it."""
    phone = Phone(**kwargs)
    try:
        await phone.start(tmpdir)
        yield phone
    finally:
        await phone.close()
