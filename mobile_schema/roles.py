"""Roles, and who owns which document: the one table every package reads.

    role        kind     writes through
    rep         field    /sync (their own database, rep_<id>)
    engineer    field    /sync
    manager     office   /api
    backoffice  office   /api
    admin       office   /api

    type          owner field   a device may delete it
    order         rep_id        yes (own drafts)
    visit         assignee_id   no
    work_order    assignee_id   no
    visit_note    author_id     yes (own notes)
    notification  user_id       no

Every other type (product, price_list, account, contact, territory, conflict_record) has no
owner in the field: devices only read it.

Read from here, never written out again: the gateway's write rules (``access.py``), its
``/sync`` role check and attachment rule (``rest/``), the router's fan-in
(``router/rules.py``), the merges (``conflict/``). ``tests/mobile_schema/test_roles.py`` holds
``sync_gateway/router/`` and ``sync_gateway/rest/`` to it: no literal role name, owner-field
map or deletable-type set there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

ROLES: Final = ("rep", "engineer", "manager", "backoffice", "admin")
FIELD_ROLES: Final = frozenset({"rep", "engineer"})
OFFICE_ROLES: Final = frozenset(ROLES) - FIELD_ROLES

OWNER_FIELD: Final[Mapping[str, str]] = {
    "order": "rep_id",
    "visit": "assignee_id",
    "work_order": "assignee_id",
    "visit_note": "author_id",
    "notification": "user_id",
}
DEVICE_DELETABLE_TYPES: Final = frozenset({"order", "visit_note"})


def is_field_role(role: str | None) -> bool:
    """Whether the role syncs a database of its own (rep, engineer)."""
    return role in FIELD_ROLES
