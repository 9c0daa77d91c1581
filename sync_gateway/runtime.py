"""The storage a process runs on: the gateway's config, CouchDB client, database names, and
the embedded server when no external CouchDB is configured.

Started once by the composition root (``field_api``: the app factory or the CLI) and passed
down; the services built on it are in ``sync_gateway.gateway.Gateway`` (and field_api's
``Services``), never in here.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from .config import GatewayConfig
from .couch import CouchClient, CouchError
from .couch.embedded import EmbeddedCouch
from .databases import Databases

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    config: GatewayConfig
    couch: CouchClient
    dbs: Databases
    embedded: EmbeddedCouch | None = None

    @property
    def couch_url(self) -> str:
        """The CouchDB URL with credentials, for clients of their own (feeds, workers)."""
        if self.embedded is not None:
            return self.embedded.admin_url
        return self.config.couchdb_url or ""

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
    async def start(cls, config: GatewayConfig) -> Runtime:
        """Start the embedded CouchDB when no external one is configured; connect the client."""
        embedded = None
        url = config.couchdb_url
        if not url:
            embedded = EmbeddedCouch(
                config.embedded_node_modules,
                config.data_dir / "couchdb",
                port=config.embedded_port,
            )
            url = await embedded.start()
        couch = CouchClient(
            url, timeout=config.couch_timeout_s, max_connections=config.couch_max_connections
        )
        return cls(config=config, couch=couch, dbs=Databases(config.db_prefix), embedded=embedded)

    async def stop(self) -> None:
        await self.couch.aclose()
        if self.embedded is not None:
            await self.embedded.stop()
