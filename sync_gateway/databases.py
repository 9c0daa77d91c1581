"""The databases of DESIGN.md and their names.

    fs_master   products, price lists, accounts, contacts, territories
    fs_orders   every order of every rep
    fs_field    visits, work orders, visit notes
    fs_ops      users, devices, conflict records, outbox, checkpoints, leases
    rep_<id>    one per field user (rep or engineer)

A deployment (or a test) may put a prefix before every name; user ids are restricted to
``[a-z][a-z0-9_-]*`` so that ``rep_<id>`` is always a legal CouchDB database name.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import structlog

from .couch import CouchClient, CouchNotFound

log = structlog.get_logger(__name__)

USER_ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Databases:
    prefix: str = ""

    @property
    def master(self) -> str:
        return f"{self.prefix}fs_master"

    @property
    def orders(self) -> str:
        return f"{self.prefix}fs_orders"

    @property
    def field(self) -> str:
        return f"{self.prefix}fs_field"

    @property
    def ops(self) -> str:
        return f"{self.prefix}fs_ops"

    @property
    def shared(self) -> tuple[str, str, str, str]:
        return (self.master, self.orders, self.field, self.ops)

    @property
    def rep_prefix(self) -> str:
        return f"{self.prefix}rep_"

    def rep(self, user_id: str) -> str:
        """The database of one field user."""
        if not USER_ID_RE.match(user_id):
            raise ValueError(f"not a valid user id: {user_id!r}")
        return f"{self.rep_prefix}{user_id}"

    def user_of(self, db: str) -> str | None:
        """The user id whose database ``db`` is, or None when it is not a rep database."""
        if not db.startswith(self.rep_prefix):
            return None
        user_id = db[len(self.rep_prefix) :]
        return user_id if USER_ID_RE.match(user_id) else None


async def ensure_databases(couch: CouchClient, dbs: Databases) -> list[str]:
    """Create the shared databases that do not exist yet; return the ones created.

    Databases made before every database was created admin-only (an older install) are made
    admin-only here too: the shared ones and every ``rep_<id>`` of this prefix."""
    created = [db for db in dbs.shared if await couch.create_db(db)]
    existing = [db for db in await couch.all_dbs() if db.startswith(dbs.prefix)]
    mine = [db for db in existing if db in dbs.shared or dbs.user_of(db) is not None]
    limit = asyncio.Semaphore(8)

    async def secure(db: str) -> None:
        async with limit:
            try:
                if await couch.set_admin_only(db):
                    log.warning("database_made_admin_only", db=db)
            except CouchNotFound:  # deleted meanwhile
                pass

    await asyncio.gather(*(secure(db) for db in mine if db not in created))
    return created
