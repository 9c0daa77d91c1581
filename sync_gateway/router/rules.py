"""Where each document goes: the routing rules of the router, in one pure module.

Fan-out (shared database -> the databases of field users), for the *winning* revision of a doc:

    product      every field user (the catalog)
    territory    the users in its ``rep_ids``
    account      the reps of its ``territory_id``, plus the assignees of the visits and work
                 orders that refer to it (an engineer with no territory still needs the address)
    contact      whoever gets its ``account_id``
    price_list   the reps of every territory in its ``territory_ids``
    order        its ``rep_id``
    visit        its ``assignee_id``
    work_order   its ``assignee_id`` (none while unassigned)
    visit_note   the assignee of its ``visit_id`` and its ``author_id``
    anything else nobody (notifications, conflict records, users ... are not routed)

Territories and price lists reach a user only through the territories that list them in
``rep_ids``; a visit makes its account and contacts reachable, not the account's territory.

Fan-in (a user's database -> a shared database) accepts only what that user owns (the owner
fields and the types a device may delete are ``mobile_schema.roles``' table, read from there):

    order        -> fs_orders   when ``rep_id`` is the user
    visit        -> fs_field    when ``assignee_id`` is the user
    work_order   -> fs_field    when ``assignee_id`` is the user
    visit_note   -> fs_field    when ``author_id`` is the user
    anything else: never (read-only types, notifications)

The relations a rule needs beyond the document itself come from an :class:`AssignmentView`
(``assignments.Assignments`` implements it), so a rule is a function of (document, snapshot).
Documents are plain dicts as CouchDB stores them, or the reduced form :func:`routing_fields`
keeps (``_id``, ``type`` and the fields above).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from mobile_schema import DEVICE_DELETABLE_TYPES, OWNER_FIELD, doc_type_of

SharedDb = Literal["master", "orders", "field"]

# Which shared database is the home of each routed type.
HOME_DB: Final[Mapping[str, SharedDb]] = {
    "product": "master",
    "price_list": "master",
    "account": "master",
    "contact": "master",
    "territory": "master",
    "order": "orders",
    "visit": "field",
    "visit_note": "field",
    "work_order": "field",
}

# The types a device may write and the router carries back, with the field naming the owner:
# mobile_schema's ownership table, for the types that have a shared home (a notification is
# marked read in the rep database only).
FAN_IN_OWNER_FIELD: Final[Mapping[str, str]] = {
    kind: owner for kind, owner in OWNER_FIELD.items() if kind in HOME_DB
}

# What the assignment index keeps of each type: the fields the rules read.
ROUTING_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "product": (),
    "territory": ("rep_ids",),
    "account": ("territory_id",),
    "contact": ("account_id",),
    "price_list": ("territory_ids",),
    "order": ("rep_id",),
    "visit": ("assignee_id", "account_id"),
    "work_order": ("assignee_id", "account_id"),
    "visit_note": ("visit_id", "author_id"),
}

# Types whose assignment to a user is worth an event ("assignment_gained" / "assignment_lost").
ASSIGNMENT_EVENT_TYPES: Final = frozenset({"visit", "work_order", "territory"})


@dataclass(frozen=True)
class Targets:
    """The field users a document goes to; ``everyone`` means every field user's database."""

    users: frozenset[str] = frozenset()
    everyone: bool = False

    def includes(self, user_id: str) -> bool:
        return self.everyone or user_id in self.users


NOBODY: Final = Targets()
EVERYONE: Final = Targets(everyone=True)


class AssignmentView(Protocol):
    """The relations between documents that routing needs (a read-only snapshot)."""

    def reps_of_territory(self, territory_id: str) -> frozenset[str]: ...

    def territory_of_account(self, account_id: str) -> str | None: ...

    def account_of_contact(self, contact_id: str) -> str | None: ...

    def field_users_of_account(self, account_id: str) -> frozenset[str]: ...

    def assignee_of_visit(self, visit_id: str) -> str | None: ...


def doc_type(doc: Mapping[str, Any]) -> str | None:
    """The type of a document: its ``type`` field, else the prefix of its id (tombstones)."""
    value = doc.get("type")
    if isinstance(value, str):
        return value
    doc_id = doc.get("_id")
    return doc_type_of(doc_id) if isinstance(doc_id, str) else None


def routing_fields(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The reduced form of ``doc`` the index keeps, or None for a type that is not routed."""
    kind = doc_type(doc)
    if kind is None or kind not in ROUTING_FIELDS:
        return None
    out: dict[str, Any] = {"_id": doc["_id"], "type": kind}
    for name in ROUTING_FIELDS[kind]:
        value = doc.get(name)
        if name.endswith("_ids"):
            value = (
                tuple(sorted({v for v in value if isinstance(v, str)}))
                if isinstance(value, list | tuple)
                else ()
            )
        elif not isinstance(value, str):
            value = None
        out[name] = value
    return out


def _str_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def _account_targets(account_id: str | None, view: AssignmentView) -> frozenset[str]:
    if account_id is None:
        return frozenset()
    territory = view.territory_of_account(account_id)
    reps = view.reps_of_territory(territory) if territory else frozenset()
    return reps | view.field_users_of_account(account_id)


def fan_out_targets(doc: Mapping[str, Any], view: AssignmentView) -> Targets:
    """The field users whose databases must hold ``doc`` (its winning revision)."""
    kind = doc_type(doc)
    if kind == "product":
        return EVERYONE
    users: frozenset[str]
    if kind == "territory":
        users = frozenset(_str_list(doc.get("rep_ids")))
    elif kind == "account":
        # The doc's own territory_id, not what the view remembers: the doc may be newer.
        territory = doc.get("territory_id")
        reps = view.reps_of_territory(territory) if isinstance(territory, str) else frozenset()
        users = reps | view.field_users_of_account(str(doc.get("_id")))
    elif kind == "contact":
        account = doc.get("account_id")
        users = _account_targets(account if isinstance(account, str) else None, view)
    elif kind == "price_list":
        users = frozenset().union(
            *(view.reps_of_territory(t) for t in _str_list(doc.get("territory_ids")))
        )
    elif kind in ("order", "visit", "work_order"):
        owner = doc.get(FAN_IN_OWNER_FIELD[kind])
        users = frozenset({owner}) if isinstance(owner, str) else frozenset()
    elif kind == "visit_note":
        found = set()
        author = doc.get(OWNER_FIELD["visit_note"])
        if isinstance(author, str):
            found.add(author)
        visit = doc.get("visit_id")
        assignee = view.assignee_of_visit(visit) if isinstance(visit, str) else None
        if assignee is not None:
            found.add(assignee)
        users = frozenset(found)
    else:
        return NOBODY
    return Targets(users) if users else NOBODY


def fan_in_target(doc: Mapping[str, Any], user_id: str) -> SharedDb | None:
    """The shared database a device-written revision of ``doc`` goes to, or None to keep it out.

    Only live revisions are judged here; deletions are decided by the worker, which knows
    whether the router wrote the tombstone and who owned the document before.
    """
    kind = doc_type(doc)
    if kind is None or kind not in FAN_IN_OWNER_FIELD:
        return None
    if doc.get(FAN_IN_OWNER_FIELD[kind]) != user_id:
        return None
    return HOME_DB[kind]


def device_may_delete(kind: str | None) -> bool:
    """Whether a deletion written on a device may travel back (drafts and own notes only)."""
    return kind in DEVICE_DELETABLE_TYPES
