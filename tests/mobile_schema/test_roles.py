"""The roles and ownership table (mobile_schema/roles.py) is the one every package reads; the
copies not yet switched over (router/rules.py, rest/sync.py's role check) and the API's
``Role`` literal must agree with it until they are."""

from __future__ import annotations

from typing import get_args

from mobile_schema import (
    DEVICE_DELETABLE_TYPES,
    DOCUMENT_TYPES,
    FIELD_ROLES,
    OFFICE_ROLES,
    OWNER_FIELD,
    ROLES,
    is_field_role,
)


def test_the_table() -> None:
    assert FIELD_ROLES | OFFICE_ROLES == set(ROLES) and not FIELD_ROLES & OFFICE_ROLES
    assert [r for r in ROLES if is_field_role(r)] == ["rep", "engineer"]
    assert not is_field_role(None)
    assert set(OWNER_FIELD) <= set(DOCUMENT_TYPES)
    assert DEVICE_DELETABLE_TYPES <= set(OWNER_FIELD)


def test_the_api_role_literal_is_the_table() -> None:
    from field_api.routes.users import Role

    assert get_args(Role) == ROLES


def test_the_routers_copies_agree_with_the_table() -> None:
    from sync_gateway.router.rules import FAN_IN_OWNER_FIELD, device_may_delete

    # fan-in carries back what devices write; notifications are marked read in the rep db only
    assert dict(FAN_IN_OWNER_FIELD) == {t: f for t, f in OWNER_FIELD.items() if t != "notification"}
    assert {t for t in DOCUMENT_TYPES if device_may_delete(t)} == DEVICE_DELETABLE_TYPES
