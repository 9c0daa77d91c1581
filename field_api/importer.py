"""Master-data import from CSV: products, accounts, contacts and price lists into fs_master.

A file is UTF-8 (a BOM is fine), comma separated, with a header row naming its columns (any
order, case-insensitive); :data:`COLUMNS` lists them per kind, and docs/import.md shows examples.
Empty cells are "no value". Ids and references may be given with or without their type prefix
(``a1`` or ``account:a1``).

    products     id?, sku, name, unit, category?, active?      id defaults to product:<sku>;
                                                               active: true/false/yes/no/1/0
    accounts     id, name, territory_id?, address?, lat?, lon?, price_list_id?
    contacts     id, account_id, name, phone?, email?
    price-lists  price_list_id, currency, territory_ids?, name?, sku, unit_price
                 one row per item; the rows of one price_list_id make one price list, which
                 replaces the stored one; territory_ids are separated by ";"; currency,
                 territory_ids and name may be left empty after a list's first row

Every row becomes a document (``updated_by: "import"``) validated with mobile_schema; problems
are collected as :class:`RowError` (line number in the file — the header is line 1 — column,
reason) and reported together. A file with any bad row writes nothing, unless ``skip_bad_rows``:
then the good rows are written and the bad ones reported. A header that lacks a required column
or names an unknown one refuses the whole file either way (a typo in a header spoils every row).

Writing: batches of :data:`BATCH` documents, each one ``_all_docs`` read of the current
revisions and one ``_bulk_docs`` (``field_api.services.documents.update_docs``: conflicts are
re-read and retried). A row whose content equals the stored document is not written again, so
re-importing the nightly catalog does not send every product to every device. An accounts file
without a ``territory_id`` column keeps each account's territory (managers own membership); with
the column, an empty cell takes the account out of its territory.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from mobile_schema import CURRENT_SCHEMA_VERSION, SchemaError, utc_now, validate_document
from mobile_schema.errors import InvalidDocumentError
from sync_gateway.couch import CouchClient
from sync_gateway.couch.client import chunked

from .services.documents import Doc, same_content, update_docs

BATCH: Final = 500
IMPORTED_BY: Final = "import"
# kind on the command line -> document type
KINDS: Final[dict[str, str]] = {
    "products": "product",
    "accounts": "account",
    "contacts": "contact",
    "price-lists": "price_list",
}
# column -> (required, what it holds)
COLUMNS: Final[dict[str, dict[str, tuple[bool, str]]]] = {
    "products": {
        "id": (False, "document id; default product:<sku>"),
        "sku": (True, "stock keeping unit, e.g. SKU-1"),
        "name": (True, "product name"),
        "unit": (True, "unit of sale, e.g. pcs, kg"),
        "category": (False, "category name"),
        "active": (False, "true/false (yes/no, 1/0); default true"),
    },
    "accounts": {
        "id": (True, "account id, e.g. a1 or account:a1"),
        "name": (True, "account name"),
        "territory_id": (False, "territory; no column = keep, empty = none"),
        "address": (False, "postal address"),
        "lat": (False, "latitude (with lon)"),
        "lon": (False, "longitude (with lat)"),
        "price_list_id": (False, "price list of the account"),
    },
    "contacts": {
        "id": (True, "contact id"),
        "account_id": (True, "the contact's account"),
        "name": (True, "person's name"),
        "phone": (False, "phone number"),
        "email": (False, "e-mail address"),
    },
    "price-lists": {
        "price_list_id": (True, "the list this row's item belongs to"),
        "currency": (True, "ISO 4217 code, e.g. EUR (first row of a list)"),
        "territory_ids": (False, "territories, separated by ';' (first row of a list)"),
        "name": (False, "price list name (first row of a list)"),
        "sku": (True, "the item's SKU"),
        "unit_price": (True, "decimal, e.g. 12.50 (a dot, no thousands separator)"),
    },
}
# a validation problem's field path -> the column to blame
_FIELD_COLUMNS: Final = {
    "_id": "id",
    "location": "lat",
    "location.lat": "lat",
    "location.lon": "lon",
    "items": "sku",
}
_TRUE: Final = frozenset({"true", "yes", "1", "y"})
_FALSE: Final = frozenset({"false", "no", "0", "n"})


@dataclass(frozen=True)
class RowError:
    line: int  # 1 is the header
    column: str  # "" when the whole row or file is wrong
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass
class ImportResult:
    kind: str
    rows: int = 0  # data rows read
    documents: int = 0  # documents built from the good rows
    written: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    write_errors: list[Doc] = field(default_factory=list)  # CouchDB's per-document errors
    refused: bool = False  # nothing written because of errors

    @property
    def bad_rows(self) -> int:
        return len({e.line for e in self.errors})


class FileRefused(Exception):
    """The header is unusable: nothing in the file can be imported."""

    def __init__(self, error: RowError) -> None:
        super().__init__(str(error))
        self.error = error


Progress = Callable[[int, int], None]


# -- reading -------------------------------------------------------------------------------


def read_rows(
    path: Path, kind: str, header_out: list[str] | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, {column: cell})`` per data row; FileRefused for a bad header.

    ``header_out`` receives the header's column names.
    """
    columns = COLUMNS[kind]
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise FileRefused(RowError(1, "", "the file is empty; expected a header row")) from None
        unknown = [h for h in header if h not in columns]
        missing = [c for c, (required, _) in columns.items() if required and c not in header]
        twice = sorted({h for h in header if header.count(h) > 1})
        expected = ", ".join(columns)
        if unknown or missing or twice:
            parts = []
            if missing:
                parts.append(f"missing column(s) {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown column(s) {', '.join(unknown)}")
            if twice:
                parts.append(f"column(s) {', '.join(twice)} given twice")
            reason = "; ".join(parts) + f"; the columns of {kind} are: {expected}"
            raise FileRefused(RowError(1, "", reason))
        if header_out is not None:
            header_out.extend(header)
        end = reader.line_num
        for cells in reader:
            line, end = end + 1, reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield line, {"": f"has {len(cells)} cells, the header has {len(header)}"}
                continue
            yield line, {h: c.strip() for h, c in zip(header, cells, strict=True)}


# -- building documents --------------------------------------------------------------------


class _RowProblem(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _ref(doc_type: str, value: str) -> str:
    return value if value.startswith(f"{doc_type}:") else f"{doc_type}:{value}"


def _opt(row: Mapping[str, str], column: str) -> str | None:
    return row.get(column) or None


def _number(row: Mapping[str, str], column: str) -> float | None:
    text = _opt(row, column)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise _RowProblem(column, f"must be a number like 59.91, got {text!r}") from None


def _base(doc_type: str, doc_id: str) -> Doc:
    return {
        "_id": doc_id,
        "type": doc_type,
        "schema_version": CURRENT_SCHEMA_VERSION[doc_type],
        "updated_at": utc_now(),
        "updated_by": IMPORTED_BY,
    }


def _product(row: Mapping[str, str]) -> Doc:
    sku = row.get("sku", "")
    doc = _base("product", _ref("product", row.get("id") or sku))
    doc.update(sku=sku, name=row.get("name", ""), unit=row.get("unit", ""))
    doc["category"] = _opt(row, "category")
    active = (row.get("active") or "true").lower()
    if active not in _TRUE | _FALSE:
        raise _RowProblem("active", f"must be true or false, got {row.get('active')!r}")
    doc["active"] = active in _TRUE
    return doc


def _account(row: Mapping[str, str]) -> Doc:
    doc = _base("account", _ref("account", row.get("id", "")))
    doc["name"] = row.get("name", "")
    if "territory_id" in row:
        territory = _opt(row, "territory_id")
        doc["territory_id"] = _ref("territory", territory) if territory else None
    doc["address"] = _opt(row, "address")
    lat, lon = _number(row, "lat"), _number(row, "lon")
    if (lat is None) != (lon is None):
        raise _RowProblem("lat" if lat is None else "lon", "give both lat and lon, or neither")
    doc["location"] = {"lat": lat, "lon": lon} if lat is not None else None
    price_list = _opt(row, "price_list_id")
    doc["price_list_id"] = _ref("price_list", price_list) if price_list else None
    return doc


def _contact(row: Mapping[str, str]) -> Doc:
    doc = _base("contact", _ref("contact", row.get("id", "")))
    doc.update(account_id=_ref("account", row.get("account_id", "")), name=row.get("name", ""))
    doc["phone"] = _opt(row, "phone")
    doc["email"] = _opt(row, "email")
    return doc


def _territories(row: Mapping[str, str]) -> list[str] | None:
    text = _opt(row, "territory_ids")
    if text is None:
        return None
    return [_ref("territory", t.strip()) for t in text.split(";") if t.strip()]


def _price_row(row: Mapping[str, str]) -> Doc:
    """A one-item price list: validating it checks every cell of the row."""
    doc = _base("price_list", _ref("price_list", row.get("price_list_id", "")))
    doc["currency"] = row.get("currency", "")
    doc["territory_ids"] = _territories(row) or []
    doc["name"] = _opt(row, "name")
    doc["items"] = [{"sku": row.get("sku", ""), "unit_price": row.get("unit_price", "")}]
    return doc


BUILDERS: Final[dict[str, Callable[[Mapping[str, str]], Doc]]] = {
    "products": _product,
    "accounts": _account,
    "contacts": _contact,
    "price-lists": _price_row,
}


def _problems(exc: SchemaError) -> list[tuple[str, str]]:
    """(column, reason) per problem of a mobile_schema error."""
    problems = exc.problems if isinstance(exc, InvalidDocumentError) else (exc.reason,)
    out = []
    for problem in problems:
        path, sep, reason = problem.partition(": ")
        if not sep:
            out.append(("", problem))
            continue
        path = path.partition(".")[2]  # drop the "<type>." root
        bare = path.split("[")[0]
        if bare == "items":  # items[0].unit_price -> unit_price
            bare = path.rpartition(".")[2] if "." in path else "sku"
        column = _FIELD_COLUMNS.get(path) or _FIELD_COLUMNS.get(bare) or bare
        out.append((column, reason))
    return out


def build_documents(
    kind: str, rows: Iterator[tuple[int, dict[str, str]]]
) -> tuple[list[Doc], list[RowError], int]:
    """The documents of the good rows, the errors, the number of rows read (pure)."""
    build = BUILDERS[kind]
    docs: list[Doc] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    lists: dict[str, Doc] = {}  # price lists by id
    skus: dict[tuple[str, str], int] = {}
    count = 0
    for line, row in rows:
        count += 1
        if "" in row:
            errors.append(RowError(line, "", row[""]))
            continue
        if kind == "price-lists":
            row = _inherit(row, lists)
        try:
            doc = build(row)
            validate_document(doc)
        except _RowProblem as exc:
            errors.append(RowError(line, exc.column, exc.reason))
            continue
        except SchemaError as exc:
            # the id is built from another column when it has no column of its own
            id_column = {
                "price-lists": "price_list_id",
                "products": "id" if row.get("id") else "sku",
            }
            found: dict[str, str] = {}
            for column, reason in _problems(exc):
                if column == "id":  # one error per cell: the cell's own reason wins
                    found.setdefault(id_column.get(kind, "id"), reason)
                else:
                    found[column] = reason
            errors.extend(RowError(line, c, r) for c, r in found.items())
            continue
        doc_id = doc["_id"]
        if kind != "price-lists":
            if doc_id in first_line:
                errors.append(
                    RowError(line, "id", f"{doc_id} is also on line {first_line[doc_id]}")
                )
                continue
            first_line[doc_id] = line
            docs.append(doc)
            continue
        problem = _add_item(lists, skus, first_line, line, row, doc)
        if problem is not None:
            errors.append(problem)
    docs.extend(lists.values())
    return docs, errors, count


def _inherit(row: dict[str, str], lists: Mapping[str, Doc]) -> dict[str, str]:
    """A later row of a price list takes the empty list-level cells from the list's first row."""
    head = lists.get(_ref("price_list", row.get("price_list_id", "")))
    if head is None:
        return row
    row = dict(row)
    if not row.get("currency"):
        row["currency"] = head["currency"]
    if not row.get("territory_ids"):
        row["territory_ids"] = ";".join(head["territory_ids"])
    if not row.get("name") and head["name"]:
        row["name"] = head["name"]
    return row


def _add_item(
    lists: dict[str, Doc],
    skus: dict[tuple[str, str], int],
    first_line: dict[str, int],
    line: int,
    row: Mapping[str, str],
    doc: Doc,
) -> RowError | None:
    """Add a validated one-item price list row to its list; the error when it disagrees."""
    doc_id = doc["_id"]
    item = doc["items"][0]
    current = lists.get(doc_id)
    if current is None:
        lists[doc_id] = doc
        first_line[doc_id] = line
        skus[(doc_id, item["sku"])] = line
        return None
    head = first_line[doc_id]
    for column, value, mine in (
        ("currency", current["currency"], doc["currency"]),
        ("territory_ids", current["territory_ids"], _territories(row)),
        ("name", current["name"], doc["name"]),
    ):
        if row.get(column) and mine != value:
            return RowError(
                line, column, f"differs from line {head} of {doc_id}; leave it empty or repeat it"
            )
    if (doc_id, item["sku"]) in skus:
        return RowError(
            line,
            "sku",
            f"{item['sku']} is already in {doc_id} (line {skus[(doc_id, item['sku'])]})",
        )
    skus[(doc_id, item["sku"])] = line
    current["items"].append(item)
    return None


# -- writing -------------------------------------------------------------------------------


async def write_documents(
    couch: CouchClient,
    db: str,
    docs: list[Doc],
    *,
    keep_territory: bool,
    progress: Progress | None = None,
) -> tuple[int, int, list[Doc]]:
    """(written, unchanged, errors) after writing ``docs`` in batches of :data:`BATCH`."""
    written = unchanged = 0
    errors: list[Doc] = []
    done = 0
    for batch in chunked(docs, BATCH):
        by_id = {d["_id"]: d for d in batch}

        def change(doc_id: str, current: Doc | None, by_id: dict[str, Doc] = by_id) -> Doc | None:
            new = by_id[doc_id]
            if current is None and keep_territory:
                new = {**new, "territory_id": None}
            if current is not None:
                if keep_territory:
                    new = {**new, "territory_id": current.get("territory_id")}
                if same_content(current, new):
                    return None
            return new

        for row in (await update_docs(couch, db, list(by_id), change)).values():
            if "error" in row:
                errors.append(row)
            elif row.get("unchanged"):
                unchanged += 1
            else:
                written += 1
        done += len(batch)
        if progress is not None:
            progress(done, len(docs))
    return written, unchanged, errors


async def import_file(
    couch: CouchClient,
    master_db: str,
    kind: str,
    path: Path,
    *,
    skip_bad_rows: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Read, validate and (unless refused) write one CSV file; see the module docstring."""
    result = ImportResult(kind)
    try:
        header: list[str] = []
        docs, errors, count = build_documents(kind, read_rows(path, kind, header))
    except FileRefused as exc:
        result.errors.append(exc.error)
        result.refused = True
        return result
    except UnicodeDecodeError as exc:
        result.errors.append(RowError(1, "", f"the file is not UTF-8 text: {exc}"))
        result.refused = True
        return result
    result.rows, result.documents, result.errors = count, len(docs), errors
    if errors and not skip_bad_rows:
        result.refused = True
        return result
    keep = kind == "accounts" and "territory_id" not in header
    result.written, result.unchanged, result.write_errors = await write_documents(
        couch, master_db, docs, keep_territory=keep, progress=progress
    )
    return result


def columns_help(kind: str) -> str:
    """The columns of ``kind`` for --help."""
    lines = [f"columns of {kind} (* required):"]
    for column, (required, what) in COLUMNS[kind].items():
        lines.append(f"  {column}{' *' if required else ''}: {what}")
    return "\n".join(lines)
