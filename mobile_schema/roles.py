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

Still written out on their own (to be switched over when those files are reworked):
``sync_gateway/router/rules.py`` (``FAN_IN_OWNER_FIELD``, ``device_may_delete``) and
``sync_gateway/rest/sync.py`` (the field-role check); ``tests/mobile_schema/test_roles.py``
holds them to this table meanwhile.
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
