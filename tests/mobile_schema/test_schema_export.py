"""JSON Schema export: one readable, deterministic file per type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobile_schema.export import export_json_schemas, json_schema_for
from mobile_schema.ids import DOCUMENT_TYPES
from mobile_schema.registry import CURRENT_SCHEMA_VERSION
from mobile_schema.samples import sample

COMMON_REQUIRED = {"_id", "type", "schema_version", "updated_at", "updated_by"}
TYPE_REQUIRED = {
    "product": {"sku", "name", "unit"},
    "price_list": {"currency", "items"},
    "account": {"name"},
    "contact": {"account_id", "name"},
    "territory": {"name"},
    "order": {"rep_id", "account_id", "status", "currency", "lines", "total"},
    "visit": {"assignee_id", "account_id", "kind", "status"},
    "visit_note": {"visit_id", "author_id"},
    "work_order": {"account_id", "status", "problem"},
    "notification": {"user_id", "kind", "title", "created_at"},
    "conflict_record": {"doc_id", "doc_type", "leaves", "merged_rev", "strategy"},
}


def test_export_writes_one_valid_file_per_type(tmp_path: Path) -> None:
    target = tmp_path / "schemas" / "nested"
    paths = export_json_schemas(target)
    assert sorted(p.name for p in paths) == sorted(f"{t}.schema.json" for t in DOCUMENT_TYPES)
    for path in paths:
        assert path.parent == target and path.is_file()
        schema = json.loads(path.read_text(encoding="utf-8"))
        doc_type = path.name.removesuffix(".schema.json")
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["title"] == doc_type
        assert schema["x-schema-version"] == CURRENT_SCHEMA_VERSION[doc_type]
        assert schema["additionalProperties"] is False
        assert COMMON_REQUIRED | TYPE_REQUIRED[doc_type] <= set(schema["required"])
        assert schema["properties"]["type"]["const"] == doc_type
        assert schema["properties"]["_id"]["pattern"].startswith(f"^{doc_type}:")
        assert {"_rev", "_revisions", "_attachments", "_deleted", "_conflicts"} <= set(
            schema["properties"]
        )


def test_export_is_deterministic(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in export_json_schemas(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in export_json_schemas(tmp_path / "b")}
    assert first == second
    assert all(content.endswith(b"\n") for content in first.values())


@pytest.mark.parametrize("doc_type", DOCUMENT_TYPES)
def test_schema_describes_the_sample(doc_type: str) -> None:
    # No JSON Schema validator is a dependency; check the shape the sample and schema share.
    schema = json_schema_for(doc_type)
    doc = sample(doc_type)
    assert set(doc) <= set(schema["properties"])
    assert set(schema["required"]) <= set(doc)


def test_money_and_quantity_in_the_order_schema() -> None:
    line = json_schema_for("order")["$defs"]["OrderLine"]["properties"]
    assert line["unit_price"]["type"] == "string" and "pattern" in line["unit_price"]
    assert line["qty"] == {"type": "number", "minimum": 0, "maximum": 1_000_000_000, "title": "Qty"}
    assert json_schema_for("order", 1)["x-schema-version"] == 1
