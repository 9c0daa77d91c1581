"""The running services of the service process, typed: what the composition root built.

``create_app``'s start-up builds one :class:`Services` and puts it on ``app.state.services``
(and its gateway on ``app.state.gateway``, where ``/sync`` finds it); API handlers receive what
they use through the dependencies in ``deps.py``. Nothing is looked up by name.

    settings     the service's settings (settings.py), the per-package configs built from them
    runtime      storage: the CouchDB client, database names, the embedded server
    gateway      the gateway's services (sync_gateway/gateway.py): auth, feeds, hub, activity
    conflicts    the conflict record store (GET /api/v1/conflicts; the resolver writes it)
    workers      notifier, router, resolver, snapshots, webhook (workers.py); None with
                 ``FIELDSYNC_RUN_WORKERS=false``, when they run in another process
    background   tasks a request started and nobody awaits (held so they are not collected)
    views_ready  design documents this process has installed already (team, reports, listing)
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sync_gateway.conflict_store import CouchConflictStore
from sync_gateway.gateway import Gateway
from sync_gateway.runtime import Runtime

if TYPE_CHECKING:
    from .settings import Settings
    from .workers import Workers


@dataclass
class Services:
    """See the module docstring."""

    settings: Settings
    runtime: Runtime
    gateway: Gateway
    conflicts: CouchConflictStore
    workers: Workers | None = None
    background: set[asyncio.Task[None]] = field(default_factory=set)
    views_ready: set[str] = field(default_factory=set)

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the answer; held here until it ends (errors: the task's own)."""
        task = asyncio.create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
