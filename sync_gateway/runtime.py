"""What the running service holds: settings, CouchDB client, database names, embedded server.

Built once at start-up by ``field_api.app`` (or a worker's CLI) and passed down; handlers reach it
through ``request.app.state.runtime``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from .couch import CouchClient, CouchError
from .couch.embedded import EmbeddedCouch
from .databases import Databases
from .settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    couch: CouchClient
    dbs: Databases
    embedded: EmbeddedCouch | None = None
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def couch_url(self) -> str:
        """The CouchDB URL with credentials, for clients of their own (feeds, workers)."""
        if self.embedded is not None:
            return self.embedded.admin_url
        return self.settings.couchdb_url or ""

    async def couch_status(self) -> tuple[bool, str]:
        """(answers, reason) for health checks and the gateway's 503.

        The reason is for anyone who can reach ``/healthz``: it never carries the store's URL
        or the exception text (both go to the log, for the operator)."""
        if self.embedded is not None and not self.embedded.available:
            return False, "the embedded CouchDB is restarting"
        try:
            await self.couch.server_info()
        except CouchError as exc:
            log.warning("couchdb_health_failed", couchdb=self.couch.url, error=str(exc))
            return False, "CouchDB does not answer"
        return True, "ok"

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        """Start the embedded CouchDB when no external one is configured; connect the client."""
        embedded = None
        url = settings.couchdb_url
        if not url:
            embedded = EmbeddedCouch(
                settings.embedded_node_modules,
                settings.data_dir / "couchdb",
                port=settings.embedded_port,
            )
            url = await embedded.start()
        couch = CouchClient(
            url, timeout=settings.couch_timeout_s, max_connections=settings.couch_max_connections
        )
        return cls(
            settings=settings, couch=couch, dbs=Databases(settings.db_prefix), embedded=embedded
        )

    async def stop(self) -> None:
        await self.couch.aclose()
        if self.embedded is not None:
            await self.embedded.stop()
