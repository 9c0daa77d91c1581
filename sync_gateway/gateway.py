"""The running gateway's services: what ``/sync`` (``rest/``) and the API find, by type.

The composition root (``field_api``) starts one :class:`Gateway` and puts it on
``app.state.gateway``; ``rest/`` handlers read it with :func:`of`. Nothing is looked up by name.

    runtime     config, CouchDB client, database names, the embedded server (runtime.py)
    auth        the user and device stores and the authenticator (auth/)
    activity    device pull / push times, kept in memory and flushed (activity.py)
    feeds       the change feeds served to devices; they wait on the change hub (feeds.py)
    live        LiveFeeds: the change hub, as writers see it (wake a database's live feeds)
    router      RouterLink: the router of this process, or NO_ROUTER when it runs elsewhere
    snapshots   SnapshotWants: the snapshot builder of this process, or None
    backend_crashes_on_latest   PouchDB Server's crash on ``latest=true`` (rest/sync.py)
    server_uuid                 the deployment's uuid (server_id.py), None until read

The router and the hub are reached only through the two small protocols below: ``/sync`` says
what happened on a user's database, it never reaches into them. A router in another process
(``FIELDSYNC_RUN_WORKERS=false`` here) learns of writes from CouchDB itself, so NO_ROUTER loses
nothing.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from starlette.requests import Request

from .activity import ActivityRecorder
from .auth import AuthServices
from .couch import CouchClient
from .feeds import Feeds
from .hub import ChangeHub
from .runtime import Runtime
from .server_id import server_uuid

FEED_TIMEOUT_S = 90.0  # the hub's watches hold long requests
FEED_MAX_CONNECTIONS = 20_000


class RouterLink(Protocol):
    """What ``/sync`` tells the router running in this process (router/settle.py)."""

    def push_request_ended(self, db: str) -> None:
        """A device's request in a push on ``db`` ended (``_revs_diff``, a checkpoint)."""

    def pushing(self, db: str) -> AbstractContextManager[None]:
        """A device's ``_bulk_docs`` on ``db`` is being screened and stored."""

    def notify_rep_changed(self, user_id: str) -> None:
        """A device wrote to the user's database: carry it in now, not at the next round."""


class LiveFeeds(Protocol):
    """The change hub (hub.py) as writers and probes see it."""

    def notify(self, db: str) -> None:
        """``db`` changed: wake the live feeds waiting on it."""

    def has_subscribers(self, db: str) -> bool:
        """Whether a live feed of ``db`` is open in this process."""

    def left_within(self, db: str, seconds: float) -> bool:
        """Whether no feed of ``db`` is open but the last one ended less than ``seconds`` ago
        (a longpoll just answered, most likely asked again at once)."""


class SnapshotWants(Protocol):
    """The snapshot builder (snapshots/builder.py) as ``GET /sync/{db}/_snapshot`` sees it."""

    def want(self, user_id: str) -> None:
        """The user's snapshot is missing or stale: build it soon."""


class NoRouter:
    """No router in this process: nothing to tell (the one elsewhere watches CouchDB)."""

    def push_request_ended(self, db: str) -> None:
        return None

    def pushing(self, db: str) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def notify_rep_changed(self, user_id: str) -> None:
        return None


NO_ROUTER = NoRouter()


@dataclass
class Gateway:
    """See the module docstring. ``router`` and ``snapshots`` are set by the composition root
    when it starts those workers in this process."""

    runtime: Runtime
    auth: AuthServices
    activity: ActivityRecorder
    feeds: Feeds
    live: LiveFeeds
    backend_crashes_on_latest: bool
    server_uuid: str | None = None
    router: RouterLink = NO_ROUTER
    snapshots: SnapshotWants | None = None
    _hub: ChangeHub | None = field(default=None, repr=False)
    _feed_couch: CouchClient | None = field(default=None, repr=False)

    @classmethod
    async def start(cls, runtime: Runtime, auth: AuthServices) -> Gateway:
        """Start the activity flusher and the change hub (on a CouchDB client of its own, since
        its watches hold long requests); learn the store's quirks and the server uuid."""
        recorder = ActivityRecorder(auth.devices.record_activity, runtime.config.activity_flush_s)
        feed_couch = CouchClient(
            runtime.couch_url, timeout=FEED_TIMEOUT_S, max_connections=FEED_MAX_CONNECTIONS
        )
        hub = ChangeHub(feed_couch)
        info = await runtime.couch.server_info()
        uuid = await server_uuid(runtime.couch, runtime.dbs)  # GET /sync/ answers it
        await hub.start()
        recorder.start()
        return cls(
            runtime=runtime,
            auth=auth,
            activity=recorder,
            feeds=Feeds(runtime.couch, hub),
            live=hub,
            backend_crashes_on_latest="express-pouchdb" in info,
            server_uuid=uuid,
            _hub=hub,
            _feed_couch=feed_couch,
        )

    async def stop(self) -> None:
        await self.activity.stop()
        if self._hub is not None:
            await self._hub.stop()
        if self._feed_couch is not None:
            await self._feed_couch.aclose()


def of(request: Request) -> Gateway:
    """The gateway of the app serving ``request``."""
    gateway: Gateway = request.app.state.gateway
    return gateway
