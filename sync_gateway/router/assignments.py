"""The assignment index: who may see what, kept in memory, and the deltas when that changes. Pure.

The index holds the reduced form (``rules.routing_fields``) of every routed document of
fs_master, fs_field and fs_orders, keyed by ``_id``, plus reverse maps to answer the rules'
questions without scanning::

    territory  -> rep_ids                   user       -> territories listing them
    account    -> territory_id              territory  -> accounts in it
    contact    -> account_id                account    -> contacts
    price_list -> territory_ids             territory  -> price lists
    visit / work_order -> assignee, account account    -> visits / work orders at it
                                            user       -> visits / work orders assigned
    visit_note -> visit_id, author_id       visit      -> notes;  user -> notes authored
    order      -> rep_id                    user       -> orders
    product    (presence only)

It is built at start from the shared databases and kept current from their change feeds:
``apply(doc_id, fields)`` (``fields`` None for a deleted document) updates it and returns a
:class:`Delta`: for each user, the ids of documents they gained or lost *because of this change*
-- the document itself and the documents whose targets depend on it (a territory's accounts,
contacts and price lists; an account's contacts; a visit's notes, account and contacts). The
worker applies a delta by reconciling those (user, id) pairs against the index as it is then,
which makes applying a delta twice, late or after a crash harmless.

Memory: a few short strings per routed document (about 200 bytes each in CPython), so 100,000
accounts, contacts, visits and orders cost some 20 MB.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .rules import EVERYONE, NOBODY, Targets, fan_out_targets, routing_fields

RoutingDoc = Mapping[str, Any]


@dataclass
class Delta:
    """Per user, the document ids gained and lost through one or more index changes."""

    gained: dict[str, set[str]] = field(default_factory=dict)
    lost: dict[str, set[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.gained or self.lost)

    def add(self, user_id: str, doc_id: str, *, gained: bool) -> None:
        into, other = (self.gained, self.lost) if gained else (self.lost, self.gained)
        # A gain then a loss in the same batch (or the reverse) cancels out: what counts is
        # the index at the end, which reconciliation reads anyway.
        if doc_id in other.get(user_id, ()):
            other[user_id].discard(doc_id)
            if not other[user_id]:
                del other[user_id]
        into.setdefault(user_id, set()).add(doc_id)

    def merge(self, other: Delta) -> None:
        for user_id, ids in other.gained.items():
            for doc_id in ids:
                self.add(user_id, doc_id, gained=True)
        for user_id, ids in other.lost.items():
            for doc_id in ids:
                self.add(user_id, doc_id, gained=False)

    def by_user(self) -> dict[str, set[str]]:
        """Every (user, id) pair to reconcile, gained or lost."""
        out: dict[str, set[str]] = {}
        for part in (self.gained, self.lost):
            for user_id, ids in part.items():
                out.setdefault(user_id, set()).update(ids)
        return out


def _index() -> defaultdict[str, set[str]]:
    return defaultdict(set)


class Assignments:
    """The in-memory assignment index; implements ``rules.AssignmentView``."""

    def __init__(self) -> None:
        self._docs: dict[str, RoutingDoc] = {}
        self._products: set[str] = set()
        self._accounts_by_territory = _index()
        self._contacts_by_account = _index()
        self._price_lists_by_territory = _index()
        self._field_by_account = _index()
        self._notes_by_visit = _index()
        self._territories_by_user = _index()
        self._field_by_user = _index()
        self._notes_by_author = _index()
        self._orders_by_rep = _index()

    def __len__(self) -> int:
        return len(self._docs)

    # -- the view the rules read -----------------------------------------------------------

    def reps_of_territory(self, territory_id: str) -> frozenset[str]:
        doc = self._docs.get(territory_id)
        if doc is None or doc["type"] != "territory":
            return frozenset()
        return frozenset(doc["rep_ids"])

    def territory_of_account(self, account_id: str) -> str | None:
        doc = self._docs.get(account_id)
        return doc["territory_id"] if doc is not None and doc["type"] == "account" else None

    def account_of_contact(self, contact_id: str) -> str | None:
        doc = self._docs.get(contact_id)
        return doc["account_id"] if doc is not None and doc["type"] == "contact" else None

    def field_users_of_account(self, account_id: str) -> frozenset[str]:
        users = (self._docs[f]["assignee_id"] for f in self._field_by_account.get(account_id, ()))
        return frozenset(u for u in users if u is not None)

    def assignee_of_visit(self, visit_id: str) -> str | None:
        doc = self._docs.get(visit_id)
        return doc["assignee_id"] if doc is not None and doc["type"] == "visit" else None

    # -- queries ---------------------------------------------------------------------------

    def get(self, doc_id: str) -> RoutingDoc | None:
        return self._docs.get(doc_id)

    def known(self, doc_id: str) -> bool:
        return doc_id in self._docs

    def targets(self, doc_id: str) -> Targets:
        """Where the current state of ``doc_id`` goes; NOBODY when it is unknown (or gone)."""
        doc = self._docs.get(doc_id)
        if doc is None:
            return NOBODY
        if doc["type"] == "product":
            return EVERYONE
        return fan_out_targets(doc, self)

    def members(self, user_id: str) -> set[str]:
        """Every document id the database of ``user_id`` must hold (products included)."""
        territories = self._territories_by_user.get(user_id, set())
        assigned = self._field_by_user.get(user_id, set())
        accounts: set[str] = set()
        price_lists: set[str] = set()
        for territory in territories:
            accounts |= self._accounts_by_territory.get(territory, set())
            price_lists |= self._price_lists_by_territory.get(territory, set())
        notes = set(self._notes_by_author.get(user_id, set()))
        for doc_id in assigned:
            doc = self._docs[doc_id]
            if doc["account_id"] is not None:
                accounts.add(doc["account_id"])
            if doc["type"] == "visit":
                notes |= self._notes_by_visit.get(doc_id, set())
        # The contacts of a visit's account travel even before the account itself does.
        contacts: set[str] = set()
        for account in accounts:
            contacts |= self._contacts_by_account.get(account, set())
        return (
            set(territories)
            | {a for a in accounts if a in self._docs}
            | contacts
            | price_lists
            | assigned
            | notes
            | self._orders_by_rep.get(user_id, set())
            | self._products
        )

    def orders_of(self, user_id: str) -> set[str]:
        return set(self._orders_by_rep.get(user_id, set()))

    def dependents(self, doc: RoutingDoc | None) -> set[str]:
        """Ids whose targets depend on ``doc`` (in the form given, not necessarily stored)."""
        if doc is None:
            return set()
        doc_id, kind = doc["_id"], doc["type"]
        out: set[str] = set()
        if kind == "territory":
            accounts = self._accounts_by_territory.get(doc_id, set())
            out |= accounts | self._price_lists_by_territory.get(doc_id, set())
            for account in accounts:
                out |= self._contacts_by_account.get(account, set())
        elif kind == "account":
            out |= self._contacts_by_account.get(doc_id, set())
        elif kind in ("visit", "work_order"):
            if kind == "visit":
                out |= self._notes_by_visit.get(doc_id, set())
            account = doc["account_id"]
            if account is not None:
                out.add(account)
                out |= self._contacts_by_account.get(account, set())
        return out

    # -- updates ---------------------------------------------------------------------------

    def load(self, docs: Iterable[Mapping[str, Any]]) -> None:
        """Add documents at start-up, without computing deltas."""
        for doc in docs:
            fields = routing_fields(doc)
            if fields is not None:
                self._put(str(fields["_id"]), fields)

    def apply_doc(self, doc: Mapping[str, Any], *, deleted: bool) -> Delta:
        """Apply the winning revision of a changed document (``deleted`` for a tombstone)."""
        fields = None if deleted else routing_fields(doc)
        return self.apply(str(doc["_id"]), fields)

    def apply(self, doc_id: str, fields: RoutingDoc | None) -> Delta:
        """Replace what the index knows of ``doc_id`` (None: it is gone); return the delta."""
        old = self._docs.get(doc_id)
        if old == fields:
            return Delta()
        affected = {doc_id} | self.dependents(old) | self.dependents(fields)
        before = {d: self.targets(d) for d in affected}
        if old is not None:
            self._remove(doc_id, old)
        if fields is not None:
            self._put(doc_id, fields)
        delta = Delta()
        for d in affected:
            was, now = before[d], self.targets(d)
            if was.everyone or now.everyone:
                continue  # products: the fan-out of the product itself covers everyone
            for user_id in now.users - was.users:
                delta.add(user_id, d, gained=True)
            for user_id in was.users - now.users:
                delta.add(user_id, d, gained=False)
        return delta

    def _reverse(self, doc: RoutingDoc) -> list[tuple[defaultdict[str, set[str]], str | None]]:
        """The (reverse map, key) entries that list ``doc``."""
        kind = doc["type"]
        if kind == "territory":
            return [(self._territories_by_user, user) for user in doc["rep_ids"]]
        if kind == "account":
            return [(self._accounts_by_territory, doc["territory_id"])]
        if kind == "contact":
            return [(self._contacts_by_account, doc["account_id"])]
        if kind == "price_list":
            return [(self._price_lists_by_territory, t) for t in doc["territory_ids"]]
        if kind == "order":
            return [(self._orders_by_rep, doc["rep_id"])]
        if kind in ("visit", "work_order"):
            return [
                (self._field_by_account, doc["account_id"]),
                (self._field_by_user, doc["assignee_id"]),
            ]
        if kind == "visit_note":
            return [
                (self._notes_by_visit, doc["visit_id"]),
                (self._notes_by_author, doc["author_id"]),
            ]
        return []

    def _put(self, doc_id: str, doc: RoutingDoc) -> None:
        old = self._docs.get(doc_id)
        if old is not None:
            self._remove(doc_id, old)
        self._docs[doc_id] = doc
        if doc["type"] == "product":
            self._products.add(doc_id)
        for index, key in self._reverse(doc):
            if key is not None:
                index[key].add(doc_id)

    def _remove(self, doc_id: str, doc: RoutingDoc) -> None:
        del self._docs[doc_id]
        self._products.discard(doc_id)
        for index, key in self._reverse(doc):
            if key is not None and key in index:
                index[key].discard(doc_id)
                if not index[key]:
                    del index[key]
