"""CSV import of master data: good and bad files, line numbers, all-or-nothing, --skip-bad-rows.

Runs against the test's databases on the real CouchDB-protocol server; the last tests run the
``fieldsync import`` command itself in a subprocess.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from field_api.importer import ImportResult, RowError, import_file
from mobile_schema import sample, validate_document
from sync_gateway.config import REPO_ROOT
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases, ensure_databases


@pytest.fixture
async def ready(couch: CouchClient, dbs: Databases) -> Databases:
    await ensure_databases(couch, dbs)
    return dbs


def csv_file(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


async def stored(couch: CouchClient, dbs: Databases, doc_type: str) -> dict[str, Any]:
    page = await couch.all_docs(
        dbs.master, startkey=f"{doc_type}:", endkey=f"{doc_type}:\ufff0", include_docs=True
    )
    return {row["id"]: row["doc"] for row in page["rows"]}


def where(result: ImportResult) -> list[tuple[int, str]]:
    return [(e.line, e.column) for e in result.errors]


GOOD_PRODUCTS = """
sku,name,unit,category,active
SKU-1,Espresso beans 1 kg,kg,coffee,true
SKU-2,"Filter papers, 100",pcs,,
SKU-3,Old grinder,pcs,machines,no
"""


async def test_good_products_are_written_once(
    couch: CouchClient, ready: Databases, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, GOOD_PRODUCTS)
    result = await import_file(couch, ready.master, "products", path)
    assert (result.rows, result.documents, result.written, result.errors) == (3, 3, 3, [])
    docs = await stored(couch, ready, "product")
    assert sorted(docs) == ["product:SKU-1", "product:SKU-2", "product:SKU-3"]
    two = docs["product:SKU-2"]
    assert (two["name"], two["unit"], two["category"], two["active"]) == (
        "Filter papers, 100", "pcs", None, True,
    )  # fmt: skip
    assert docs["product:SKU-3"]["active"] is False
    for doc in docs.values():
        assert doc["updated_by"] == "import"
        validate_document(doc)
    # the nightly re-import of the same file writes nothing (no new revision for devices)
    again = await import_file(couch, ready.master, "products", path)
    assert (again.written, again.unchanged) == (0, 3)
    assert (await stored(couch, ready, "product"))["product:SKU-1"]["_rev"].startswith("1-")


BAD_PRODUCTS = """
sku,name,unit,active
SKU-1,"A name over
two lines",kg,true
SKU-2,,kg,true
SKU-3,Grinder,pcs,maybe
SKU-1,Espresso again,kg,true
SKU-4,Good one,pcs,
bad sku!,Beans,kg,true
SKU-5,Too,many,cells,here
"""


async def test_a_bad_file_writes_nothing_and_names_each_line(
    couch: CouchClient, ready: Databases, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, BAD_PRODUCTS)
    result = await import_file(couch, ready.master, "products", path)
    assert result.refused
    # line 2-3 is one record (a quoted newline); the header is line 1
    assert where(result) == [(4, "name"), (5, "active"), (6, "id"), (8, "sku"), (9, "")]
    assert "line 2" in result.errors[2].reason  # the duplicate names the first line
    assert "maybe" in result.errors[1].reason
    assert "5 cells" in result.errors[4].reason
    assert "bad sku!" in result.errors[3].reason and "_id" not in result.errors[3].reason
    assert str(result.errors[1]).startswith("line 5, active: ")
    assert (result.rows, result.bad_rows, result.written) == (7, 5, 0)
    assert await stored(couch, ready, "product") == {}


async def test_skip_bad_rows_writes_the_good_ones(
    couch: CouchClient, ready: Databases, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, BAD_PRODUCTS)
    result = await import_file(couch, ready.master, "products", path, skip_bad_rows=True)
    assert not result.refused and result.bad_rows == 5
    assert result.written == 2
    assert sorted(await stored(couch, ready, "product")) == ["product:SKU-1", "product:SKU-4"]


@pytest.mark.parametrize(
    ("kind", "header", "words"),
    [
        ("products", "sku,name,unti", ["missing column(s) unit", "unknown column(s) unti"]),
        ("contacts", "id,name,account_id,name", ["name given twice"]),
        ("price-lists", "price_list_id,sku,unit_price", ["missing column(s) currency"]),
        ("accounts", "", ["the file is empty"]),
    ],
)
async def test_a_bad_header_refuses_the_file_even_when_skipping(
    couch: CouchClient, ready: Databases, tmp_path: Path, kind: str, header: str, words: list[str]
) -> None:
    path = csv_file(tmp_path, header + ("\nx,y,z,w\n" if header else ""))
    result = await import_file(couch, ready.master, kind, path, skip_bad_rows=True)
    assert result.refused and result.written == 0
    [error] = result.errors
    assert error.line == 1
    for word in words:
        assert word in error.reason


async def test_accounts_locations_references_and_territory(
    couch: CouchClient, ready: Databases, tmp_path: Path
) -> None:
    dbs = ready
    await couch.put(dbs.master, sample("account", _id="account:a1", territory_id="territory:north"))
    keep = csv_file(tmp_path, """
id,name,address,lat,lon,price_list_id
a1,Café Nord,"Storgata 1, Oslo",59.91,10.75,std
account:a2,Kiosk,,,,
a3,Half a place,,59.9,,
a4,Far away,,95,10,
""", "keep.csv")  # fmt: skip
    result = await import_file(couch, dbs.master, "accounts", keep)
    assert where(result) == [(4, "lon"), (5, "lat")]
    assert "both lat and lon" in result.errors[0].reason
    result = await import_file(couch, dbs.master, "accounts", keep, skip_bad_rows=True)
    assert result.written == 2
    docs = await stored(couch, dbs, "account")
    a1 = docs["account:a1"]
    assert a1["territory_id"] == "territory:north"  # no territory_id column: kept
    assert a1["location"] == {"lat": 59.91, "lon": 10.75}
    assert a1["price_list_id"] == "price_list:std"
    assert docs["account:a2"]["territory_id"] is None and docs["account:a2"]["location"] is None

    move = csv_file(tmp_path, "id,name,territory_id\na1,Café Nord,\na2,Kiosk,south\n", "m.csv")
    result = await import_file(couch, dbs.master, "accounts", move)
    assert result.written == 2
    docs = await stored(couch, dbs, "account")
    assert docs["account:a1"]["territory_id"] is None  # an empty cell: out of its territory
    assert docs["account:a2"]["territory_id"] == "territory:south"


async def test_contacts_report_the_field(
    couch: CouchClient, ready: Databases, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, """
id,account_id,name,phone,email
c1,a1,Kari,+47 22 00 00 00,kari@example.com
c2,a1,Ola,call me,ola@example.com
c3,a1,Per,,not-an-address
c4,,Nobody,,
""")  # fmt: skip
    result = await import_file(couch, ready.master, "contacts", path)
    assert where(result) == [(3, "phone"), (4, "email"), (5, "account_id")]
    assert await stored(couch, ready, "contact") == {}


PRICES = """
price_list_id,currency,territory_ids,sku,unit_price
std,EUR,north;territory:south,SKU-1,12.50
std,,,SKU-2,3.333
nok,NOK,,SKU-1,99.99
std,NOK,,SKU-3,1.00
std,,,SKU-1,13.00
std,,,SKU-4,"12,50"
std,,north,SKU-5,2
"""


async def test_price_lists_are_grouped_by_id(
    couch: CouchClient, ready: Databases, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, PRICES)
    result = await import_file(couch, ready.master, "price-lists", path)
    assert result.refused
    assert where(result) == [(5, "currency"), (6, "sku"), (7, "unit_price"), (8, "territory_ids")]
    assert "line 2" in result.errors[1].reason  # SKU-1 is already in std (line 2)
    assert "12,50" in result.errors[2].reason
    assert await stored(couch, ready, "price_list") == {}

    result = await import_file(couch, ready.master, "price-lists", path, skip_bad_rows=True)
    assert (result.documents, result.written) == (2, 2)
    docs = await stored(couch, ready, "price_list")
    std = docs["price_list:std"]
    assert std["currency"] == "EUR"
    assert std["territory_ids"] == ["territory:north", "territory:south"]
    assert std["items"] == [
        {"sku": "SKU-1", "unit_price": "12.50"},
        {"sku": "SKU-2", "unit_price": "3.333"},
    ]
    assert docs["price_list:nok"]["items"] == [{"sku": "SKU-1", "unit_price": "99.99"}]
    assert docs["price_list:nok"]["territory_ids"] == []
    validate_document(std)


async def test_large_files_are_written_in_batches_with_progress(
    couch: CouchClient, ready: Databases, tmp_path: Path
) -> None:
    rows = "\n".join(f"P-{i:05d},Product {i},pcs" for i in range(1_203))
    path = csv_file(tmp_path, "sku,name,unit\n" + rows + "\n")
    seen: list[tuple[int, int]] = []
    result = await import_file(
        couch, ready.master, "products", path, progress=lambda d, t: seen.append((d, t))
    )
    assert result.written == 1_203
    assert seen == [(500, 1_203), (1_000, 1_203), (1_203, 1_203)]
    info = await couch.db_info(ready.master)
    assert info["doc_count"] == 1_203


def test_row_error_reads_well() -> None:
    assert str(RowError(7, "unit_price", "must be ...")) == "line 7, unit_price: must be ..."
    assert str(RowError(1, "", "missing column(s) sku")) == "line 1: missing column(s) sku"


# -- the command -------------------------------------------------------------------------------


async def run_cli(couch_url: str, dbs: Databases, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "COUCHDB_URL": couch_url,
        "FIELDSYNC_DB_PREFIX": dbs.prefix,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "field_api.cli", "import", *args,
        cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_command_refuses_a_bad_file_then_skips_bad_rows(
    couch: CouchClient, couch_url: str, ready: Databases, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, BAD_PRODUCTS)
    code, out, err = await run_cli(couch_url, ready, "products", str(path))
    assert code == 1, (out, err)
    assert f"{path}: line 4, name: " in err
    assert f"{path}: line 9: has 5 cells" in err
    assert "nothing imported: 5 bad row(s) of 7" in out
    assert await stored(couch, ready, "product") == {}

    code, out, err = await run_cli(couch_url, ready, "products", str(path), "--skip-bad-rows")
    assert code == 3, (out, err)
    assert "2 written" in out and "5 bad rows skipped" in out
    assert "import products: 2/2 documents written" in err
    assert sorted(await stored(couch, ready, "product")) == ["product:SKU-1", "product:SKU-4"]


async def test_command_imports_a_good_file(
    couch: CouchClient, couch_url: str, ready: Databases, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, GOOD_PRODUCTS)
    code, out, err = await run_cli(couch_url, ready, "products", str(path))
    assert code == 0, (out, err)
    assert "3 rows, 3 documents: 3 written, 0 unchanged" in out
    assert len(await stored(couch, ready, "product")) == 3
