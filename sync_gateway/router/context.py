"""What the router's jobs share: the store, the database names, the state, the leases.

The fan-out (``fanout.py``), the fan-in (``fanin.py``) and the reconciliation (``reconcile.py``)
each take one :class:`RouterContext`, built once by :class:`.worker.Router`. ``drop_user`` is
the router's own: the one way a job stops following a user's database it found deleted, so
everything kept for it goes in one place (``state.py``, ``worker.Router._drop_user``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..couch import CouchClient
from ..databases import Databases
from .checkpoints import Checkpoints
from .copier import Copier
from .emitter import Emitter
from .leases import Ownership
from .rules import SharedDb
from .state import RouterState


@dataclass(eq=False)
class RouterContext:
    couch: CouchClient
    dbs: Databases
    state: RouterState
    copier: Copier
    checkpoints: Checkpoints
    ownership: Ownership
    emitter: Emitter
    page_size: int
    copy_slots: asyncio.Semaphore  # the router's writes into rep databases at once
    drop_user: Callable[[str], Awaitable[None]]

    def home(self, home: SharedDb) -> str:
        """The name of a shared database."""
        return {"master": self.dbs.master, "orders": self.dbs.orders, "field": self.dbs.field}[home]
