"""Master data in fs_master: back-office bulk upserts, price lists, and territories.

Bulk upserts (``upsert_many``) take a JSON array of documents of one type, without ``_rev``::

    [{"_id": "product:SKU-1", "sku": "SKU-1", "name": "Espresso 1 kg", "unit": "kg"}, ...]

Each item gets ``type``, ``schema_version`` (the current one, when absent), ``updated_at`` and
``updated_by`` filled in; ``_id`` may be given without its ``<type>:`` prefix, and a product
without ``_id`` gets ``product:<sku>``. The item is validated with mobile_schema; an existing
document is replaced by it (its ``_rev`` read by the server), except that an account upsert that
does not mention ``territory_id`` keeps the account's territory: territory membership belongs to
the managers (``PUT /territories/{id}/accounts``), and an ERP export knows nothing about it. An
item whose content equals the stored one is not written again (``"unchanged": true``), so a
nightly full catalog export does not push a new revision of every product to every device.
The answer is one row per item, in input order (see :mod:`.documents`), and the count of errors.

Territories: ``territory:<id>`` documents (name, rep_ids); an account belongs to the territory
in its ``territory_id``. ``set_accounts`` makes a territory hold exactly the given accounts:
it validates everything first (unknown ids -> 422 listing them, nothing written), then writes
the changed accounts in one ``_bulk_docs`` (retrying only the ones that hit a conflict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mobile_schema import CURRENT_SCHEMA_VERSION, FIELD_ROLES
from sync_gateway.auth.users import user_doc_id
from sync_gateway.couch import CouchClient, CouchConflict
from sync_gateway.databases import Databases

from ..problems import ApiError, BadInput, Conflicting, NotFound
from .documents import (
    Doc,
    checked,
    full_id,
    local_id,
    read_doc,
    read_docs,
    same_content,
    scan,
    stamp,
    update_docs,
)

MAX_BULK_ITEMS = 5_000
# Fields of CouchDB's own that a caller may not set: deletions, attachments and histories are
# not part of an upsert (a product is retired with "active": false).
REFUSED_UNDERSCORE = "only _id may start with an underscore (the server reads _rev itself)"
BULK_TYPES = ("product", "account", "contact", "price_list")


class TooMany(ApiError):
    status = 413
    title = "Too many items"


@dataclass(frozen=True)
class BulkResult:
    items: list[Doc]

    @property
    def errors(self) -> int:
        return sum(1 for item in self.items if "error" in item)


def prepare(doc_type: str, item: Mapping[str, Any], user_id: str) -> Doc:
    """The item as a complete, validated document of ``doc_type``; BadInput with the reason."""
    if not isinstance(item, Mapping):
        raise BadInput("each item must be a JSON object")
    extra = sorted(k for k in item if k.startswith("_") and k not in ("_id", "_rev"))
    if extra:
        raise BadInput(f"{', '.join(extra)}: {REFUSED_UNDERSCORE}")
    if item.get("type", doc_type) != doc_type:
        raise BadInput(f"type: must be {doc_type!r} here, got {item['type']!r}")
    doc = {k: v for k, v in item.items() if k != "_rev"}
    raw_id = doc.get("_id")
    if raw_id is None and doc_type == "product" and isinstance(doc.get("sku"), str):
        raw_id = doc["sku"]
    if not isinstance(raw_id, str):
        raise BadInput(f'_id: is required (e.g. "{doc_type}:x1" or "x1")')
    doc["_id"] = full_id(doc_type, raw_id)
    doc["type"] = doc_type
    doc.setdefault("schema_version", CURRENT_SCHEMA_VERSION[doc_type])
    return checked(stamp(doc, user_id))


def _merged(doc_type: str, new: Doc, current: Doc | None) -> Doc | None:
    """The body to write over ``current`` (None: same content, nothing to write)."""
    if current is not None:
        if doc_type == "account" and "territory_id" not in new:
            new = {**new, "territory_id": current.get("territory_id")}
        if same_content(current, new):
            return None
    return checked(new)


async def upsert_many(
    couch: CouchClient, db: str, doc_type: str, items: Sequence[Any], user_id: str
) -> BulkResult:
    """Validate and write a batch of one type; per-item results in input order."""
    if len(items) > MAX_BULK_ITEMS:
        raise TooMany(
            f"{len(items)} items in one request; send at most {MAX_BULK_ITEMS} per request"
        )
    out: list[Doc | None] = [None] * len(items)
    prepared: dict[str, Doc] = {}
    slots: dict[str, int] = {}
    for index, item in enumerate(items):
        try:
            doc = prepare(doc_type, item, user_id)
        except BadInput as exc:
            given = item.get("_id") if isinstance(item, Mapping) else None
            out[index] = {"id": given, "error": "invalid", "reason": exc.detail}
            continue
        if doc["_id"] in slots:
            out[index] = {
                "id": doc["_id"],
                "error": "duplicate",
                "reason": f"{doc['_id']} appears twice in this request (first at index "
                f"{slots[doc['_id']]}); send each document once",
            }
            continue
        slots[doc["_id"]] = index
        prepared[doc["_id"]] = doc

    def change(doc_id: str, current: Doc | None) -> Doc | None:
        return _merged(doc_type, prepared[doc_id], current)

    written = await update_docs(couch, db, list(prepared), change)
    for doc_id, index in slots.items():
        out[index] = written[doc_id]
    return BulkResult([row for row in out if row is not None])


async def put_price_list(
    couch: CouchClient, dbs: Databases, list_id: str, body: Mapping[str, Any], user_id: str
) -> tuple[Doc, bool]:
    """Create or replace one price list; (result row, created). 422 / 409 as problems."""
    doc_id = full_id("price_list", list_id)
    given = body.get("_id")
    if given is not None and (not isinstance(given, str) or full_id("price_list", given) != doc_id):
        raise BadInput(f"_id: {given!r} does not match the URL's {doc_id!r}; leave it out")
    existed = await read_doc(couch, dbs.master, doc_id) is not None
    result = await upsert_many(couch, dbs.master, "price_list", [{**body, "_id": doc_id}], user_id)
    row = result.items[0]
    if row.get("error") == "conflict":
        raise Conflicting(row["reason"])
    if "error" in row:
        raise BadInput(row["reason"])
    return row, not existed


# -- territories --------------------------------------------------------------------------


def territory_view(doc: Doc, account_ids: Sequence[str]) -> Doc:
    return {
        "id": local_id(doc["_id"]),
        "doc_id": doc["_id"],
        "name": doc["name"],
        "rep_ids": list(doc.get("rep_ids") or []),
        "account_ids": sorted(account_ids),
        "updated_at": doc.get("updated_at"),
        "updated_by": doc.get("updated_by"),
    }


async def _accounts_by_territory(couch: CouchClient, dbs: Databases) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    async for account in scan(couch, dbs.master, "account"):
        territory = account.get("territory_id")
        if isinstance(territory, str):
            members.setdefault(territory, []).append(account["_id"])
    return members


async def create_territory(
    couch: CouchClient, dbs: Databases, territory_id: str, name: str, user_id: str
) -> Doc:
    doc_id = full_id("territory", territory_id)
    doc = checked(
        stamp(
            {
                "_id": doc_id,
                "type": "territory",
                "schema_version": CURRENT_SCHEMA_VERSION["territory"],
                "name": name,
                "rep_ids": [],
            },
            user_id,
        )
    )
    existing = await read_doc(couch, dbs.master, doc_id)
    if existing is not None:
        raise Conflicting(f"territory {doc_id} already exists; rename it with PUT or pick an id")
    try:
        # over a deleted territory's tombstone no _rev is needed; a racing creator gets 409
        await couch.put(dbs.master, doc)
    except CouchConflict as exc:
        raise Conflicting(f"territory {doc_id} already exists") from exc
    return territory_view(doc, [])


async def require_territory(couch: CouchClient, dbs: Databases, territory_id: str) -> Doc:
    doc_id = full_id("territory", territory_id)
    doc = await read_doc(couch, dbs.master, doc_id)
    if doc is None:
        raise NotFound(f"there is no territory {doc_id}; create it with POST /api/v1/territories")
    return doc


async def get_territory(couch: CouchClient, dbs: Databases, territory_id: str) -> Doc:
    doc = await require_territory(couch, dbs, territory_id)
    members = await _accounts_by_territory(couch, dbs)
    return territory_view(doc, members.get(doc["_id"], []))


async def list_territories(couch: CouchClient, dbs: Databases) -> list[Doc]:
    members = await _accounts_by_territory(couch, dbs)
    return [
        territory_view(doc, members.get(doc["_id"], []))
        async for doc in scan(couch, dbs.master, "territory")
    ]


def unknown_accounts(wanted: Sequence[str], found: Mapping[str, Doc | None]) -> None:
    """BadInput listing the ids of ``wanted`` that ``found`` does not hold."""
    unknown = [a for a in wanted if found.get(a) is None]
    if unknown:
        raise BadInput(
            f"{len(unknown)} account id(s) do not exist: {', '.join(unknown[:20])}; "
            "create them with PUT /api/v1/accounts first",
            unknown_account_ids=unknown,
        )


async def set_accounts(
    couch: CouchClient, dbs: Databases, territory_id: str, account_ids: Sequence[str], user_id: str
) -> Doc:
    """Make the territory hold exactly ``account_ids``; see the module docstring."""
    territory = await require_territory(couch, dbs, territory_id)
    tid = territory["_id"]
    wanted = list(dict.fromkeys(full_id("account", a) for a in account_ids))
    found = await read_docs(couch, dbs.master, wanted)
    unknown_accounts(wanted, found)
    members = (await _accounts_by_territory(couch, dbs)).get(tid, [])
    wanted_set = set(wanted)
    targets = {a: tid for a in wanted} | {a: None for a in members if a not in wanted_set}

    def change(doc_id: str, current: Doc | None) -> Doc | None:
        if current is None:
            raise BadInput(f"{doc_id} was deleted meanwhile")
        if current.get("territory_id") == targets[doc_id]:
            return None
        return checked(stamp({**current, "territory_id": targets[doc_id]}, user_id))

    # everything is checked before the first write: a bad account stops the whole request
    for doc_id in wanted:
        change(doc_id, found[doc_id])
    results = await update_docs(couch, dbs.master, list(targets), change)
    failed = [row for row in results.values() if "error" in row]
    if failed:
        raise Conflicting(
            "some accounts could not be written; send the request again: "
            + "; ".join(f"{r['id']}: {r['reason']}" for r in failed[:10]),
            failed=failed,
        )
    return territory_view(territory, wanted)


async def set_reps(
    couch: CouchClient, dbs: Databases, territory_id: str, rep_ids: Sequence[str], user_id: str
) -> Doc:
    """Set the territory's field users (reps or engineers, active); 422 names the bad ones."""
    tid = (await require_territory(couch, dbs, territory_id))["_id"]
    wanted = list(dict.fromkeys(rep_ids))
    await require_field_users(couch, dbs, wanted)

    def change(doc_id: str, current: Doc | None) -> Doc | None:
        if current is None:
            raise BadInput(f"territory {doc_id} was deleted meanwhile")
        if list(current.get("rep_ids") or []) == wanted:
            return None
        return checked(stamp({**current, "rep_ids": wanted}, user_id))

    row = (await update_docs(couch, dbs.master, [tid], change))[tid]
    if "error" in row:
        raise Conflicting(row["reason"]) if row["error"] == "conflict" else BadInput(row["reason"])
    return await get_territory(couch, dbs, tid)


async def require_field_users(couch: CouchClient, dbs: Databases, user_ids: Sequence[str]) -> None:
    """BadInput unless every id is an active rep or engineer (one read for all of them)."""
    if not user_ids:
        return
    docs = await read_docs(couch, dbs.ops, [user_doc_id(u) for u in user_ids])
    bad: dict[str, str] = {}
    for user_id in user_ids:
        doc = docs[user_doc_id(user_id)]
        if doc is None:
            bad[user_id] = f"{user_id!r} is not a user"
        elif doc.get("role") not in FIELD_ROLES:
            bad[user_id] = f"{user_id!r} is a {doc.get('role')}, not a rep or engineer"
        elif doc.get("active") is False:
            bad[user_id] = f"{user_id!r} is disabled"
    if bad:
        raise BadInput("; ".join(bad.values()), invalid_user_ids=list(bad))
