"""The roles and ownership table (mobile_schema/roles.py) is the one every package reads: the
router's fan-in rules are derived from it, the API's ``Role`` literal must agree with it, and
``sync_gateway/router/`` and ``sync_gateway/rest/`` (every module, whatever the file layout)
hold no copy of it: no role name compared as a literal, no map of types to owner fields, no
literal set of the deletable types."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest

from mobile_schema import (
    DEVICE_DELETABLE_TYPES,
    DOCUMENT_TYPES,
    FIELD_ROLES,
    OFFICE_ROLES,
    OWNER_FIELD,
    ROLES,
    is_field_role,
)

ROOT = Path(__file__).resolve().parents[2]
HELD = ("sync_gateway/router", "sync_gateway/rest")


def test_the_table() -> None:
    assert FIELD_ROLES | OFFICE_ROLES == set(ROLES) and not FIELD_ROLES & OFFICE_ROLES
    assert [r for r in ROLES if is_field_role(r)] == ["rep", "engineer"]
    assert not is_field_role(None)
    assert set(OWNER_FIELD) <= set(DOCUMENT_TYPES)
    assert DEVICE_DELETABLE_TYPES <= set(OWNER_FIELD)


def test_the_api_role_literal_is_the_table() -> None:
    from field_api.routes.users import Role

    assert get_args(Role) == ROLES


def test_the_routers_rules_are_the_table() -> None:
    from sync_gateway.router.rules import FAN_IN_OWNER_FIELD, device_may_delete

    # fan-in carries back what devices write; notifications are marked read in the rep db only
    assert dict(FAN_IN_OWNER_FIELD) == {t: f for t, f in OWNER_FIELD.items() if t != "notification"}
    assert {t for t in DOCUMENT_TYPES if device_may_delete(t)} == DEVICE_DELETABLE_TYPES


def _modules() -> list[Path]:
    found = sorted(p for held in HELD for p in (ROOT / held).rglob("*.py"))
    assert len(found) > 10, found  # the folders moved: point HELD at them
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            ids.add(id(body[0].value))
    return ids


def _strings(node: ast.AST) -> list[str]:
    elts = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def _copies(source: str, name: str) -> Iterator[str]:
    """Where the module ``source`` writes out part of the table instead of reading it."""
    tree = ast.parse(source, name)
    docstrings = _docstrings(tree)
    owner_fields = set(OWNER_FIELD.values())
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Compare):
            # role == "rep", role in ("rep", "engineer"), ...
            named = [s for part in (node.left, *node.comparators) for s in _strings(part)]
            if set(named) & set(ROLES):
                yield f"{where}: compares a role with {sorted(set(named) & set(ROLES))}"
        elif isinstance(node, ast.Dict):
            pairs = [
                (k.value, v.value)
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
            ]
            if any(k in DOCUMENT_TYPES and v in owner_fields for k, v in pairs):
                yield f"{where}: a map of document types to owner fields"
        elif isinstance(node, ast.Tuple | ast.List | ast.Set) and id(node) not in docstrings:
            if set(_strings(node)) == DEVICE_DELETABLE_TYPES and len(node.elts) == len(
                DEVICE_DELETABLE_TYPES
            ):
                yield f"{where}: the deletable types written out"


def test_router_and_rest_hold_no_copy_of_the_table() -> None:
    found = [
        copy
        for path in _modules()
        for copy in _copies(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        'if principal.role in ("rep", "engineer"):\n    pass\n',
        'OWNERS = {"order": "rep_id", "visit": "assignee_id"}\n',
        'def may(kind):\n    return kind in ("order", "visit_note")\n',
    ],
)
def test_the_guard_sees_a_copy(source: str) -> None:
    assert list(_copies(source, "example.py"))
