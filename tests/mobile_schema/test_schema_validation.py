"""validate_document: every type accepts its sample and refuses bad documents with a reason
that names the field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from mobile_schema.base import to_json_dict
from mobile_schema.errors import (
    ClientNewerError,
    InvalidDocumentError,
    SchemaError,
    SchemaVersionError,
    UnknownTypeError,
)
from mobile_schema.ids import DOCUMENT_TYPES
from mobile_schema.registry import CURRENT_SCHEMA_VERSION, MODELS, model_for, validate_document
from mobile_schema.samples import (
    DROP,
    LATER_TIME,
    SAMPLE_TIME,
    sample,
    sample_checklist_item,
    sample_order_line,
)

COUCH_FIELDS = {
    "_rev": "3-917fa2381192822767f010b95b45325b",
    "_revisions": {"start": 3, "ids": ["917fa238", "b2c3", "a1b2"]},
    "_attachments": {
        "photo.jpg": {
            "content_type": "image/jpeg",
            "digest": "md5-abc",
            "length": 1234,
            "revpos": 2,
            "stub": True,
        }
    },
    "_conflicts": ["3-aaaa"],
    "_deleted": False,
}


@pytest.mark.parametrize("doc_type", DOCUMENT_TYPES)
def test_every_sample_is_valid(doc_type: str) -> None:
    model = validate_document(sample(doc_type))
    assert model.type == doc_type
    assert model.schema_version == CURRENT_SCHEMA_VERSION[doc_type]
    assert type(model) is model_for(doc_type)


@pytest.mark.parametrize("doc_type", DOCUMENT_TYPES)
def test_couch_fields_are_accepted_and_preserved(doc_type: str) -> None:
    doc = {**sample(doc_type), **COUCH_FIELDS}
    model = validate_document(doc)
    assert model.rev == COUCH_FIELDS["_rev"]
    assert to_json_dict(model) == doc


@pytest.mark.parametrize("doc_type", DOCUMENT_TYPES)
def test_validation_gives_back_the_document_unchanged(doc_type: str) -> None:
    doc = sample(doc_type)
    before = copy.deepcopy(doc)
    model = validate_document(doc)
    assert doc == before
    # Integers stay integers, strings stay strings: the dump is the very same JSON.
    assert to_json_dict(model) == doc
    assert json.dumps(to_json_dict(model), sort_keys=True) == json.dumps(doc, sort_keys=True)


def test_defaults_are_not_added_to_the_dump() -> None:
    line = sample_order_line()
    del line["discount_pct"], line["confirmed_qty"], line["deleted"]
    doc = sample("order", lines=[line], note=DROP)
    assert to_json_dict(validate_document(doc)) == doc


def _line(**overrides: Any) -> dict[str, Any]:
    return sample_order_line(**overrides)


# (name, document, the exception class, substrings the reason must contain)
INVALID: list[tuple[str, Any, type[SchemaError], tuple[str, ...]]] = [
    # --- any document
    ("not an object", ["order"], InvalidDocumentError, ("JSON object",)),
    ("no type", sample("order", type=DROP), UnknownTypeError, ("type", "known types", "order")),
    ("unknown type", sample("order", type="invoice"), UnknownTypeError, ('"invoice"', "visit")),
    ("type not str", sample("order", type=7), UnknownTypeError, ("known types",)),
    ("no version", sample("visit", schema_version=DROP), SchemaVersionError, ("schema_version",)),
    ("version str", sample("visit", schema_version="1"), SchemaVersionError, ('got "1"',)),
    ("version bool", sample("visit", schema_version=True), SchemaVersionError, ("got true",)),
    ("version 0", sample("visit", schema_version=0), SchemaVersionError, ("not supported",)),
    ("too new", sample("visit", schema_version=2), ClientNewerError, ("client is newer",)),
    ("order too new", sample("order", schema_version=3), ClientNewerError, ("newer", "(2)")),
    ("id of other type", sample("visit", _id="order:o-1"), InvalidDocumentError, ("visit._id",)),
    ("id underscore", sample("visit", _id="visit:_x"), InvalidDocumentError, ("visit._id",)),
    ("id missing", sample("visit", _id=DROP), InvalidDocumentError, ("visit._id: is required",)),
    ("unknown field", sample("visit", colour="red"), InvalidDocumentError, ("visit.colour",)),
    ("bad _rev", sample("visit", _rev="abc"), InvalidDocumentError, ("visit._rev",)),
    ("bad _deleted", sample("visit", _deleted="yes"), InvalidDocumentError, ("visit._deleted",)),
    (
        "bad _revisions",
        sample("visit", _revisions={"start": 0, "ids": []}),
        InvalidDocumentError,
        ("visit._revisions.start", "visit._revisions.ids"),
    ),
    (
        "no updated_at",
        sample("visit", updated_at=DROP),
        InvalidDocumentError,
        ("visit.updated_at: is required",),
    ),
    (
        "updated_at no ms",
        sample("visit", updated_at="2024-05-01T08:30:00Z"),
        InvalidDocumentError,
        ("visit.updated_at", "2024-05-01T08:30:00.000Z"),
    ),
    (
        "updated_at offset",
        sample("visit", updated_at="2024-05-01T08:30:00.000+02:00"),
        InvalidDocumentError,
        ("visit.updated_at",),
    ),
    (
        "updated_by empty",
        sample("visit", updated_by=""),
        InvalidDocumentError,
        ("visit.updated_by",),
    ),
    # --- product
    ("product sku", sample("product", sku="has space"), InvalidDocumentError, ("product.sku",)),
    ("product name empty", sample("product", name=""), InvalidDocumentError, ("product.name",)),
    (
        "product name long",
        sample("product", name="x" * 201),
        InvalidDocumentError,
        ("product.name", "at most 200"),
    ),
    (
        "product active str",
        sample("product", active="true"),
        InvalidDocumentError,
        ("product.active", "true or false"),
    ),
    # --- price_list
    (
        "price str number",
        sample("price_list", items=[{"sku": "A", "unit_price": 1.5}]),
        InvalidDocumentError,
        ("price_list.items[0].unit_price", '"12.50"', "got 1.5"),
    ),
    (
        "price 5 decimals",
        sample("price_list", items=[{"sku": "A", "unit_price": "1.00001"}]),
        InvalidDocumentError,
        ("items[0].unit_price",),
    ),
    (
        "price dup sku",
        sample("price_list", items=[{"sku": "A", "unit_price": "1"}] * 2),
        InvalidDocumentError,
        ("price_list.items[1].sku", "duplicate"),
    ),
    (
        "currency",
        sample("price_list", currency="eur"),
        InvalidDocumentError,
        ("price_list.currency", "ISO 4217"),
    ),
    (
        "territory ref",
        sample("price_list", territory_ids=["north"]),
        InvalidDocumentError,
        ("price_list.territory_ids[0]", "territory:"),
    ),
    # --- account
    (
        "account lat",
        sample("account", location={"lat": 91, "lon": 0}),
        InvalidDocumentError,
        ("account.location.lat", "got 91"),
    ),
    (
        "account lon nan",
        sample("account", location={"lat": 1, "lon": float("nan")}),
        InvalidDocumentError,
        ("account.location.lon", "finite"),
    ),
    (
        "account lat str",
        sample("account", location={"lat": "59.9", "lon": 1}),
        InvalidDocumentError,
        ("account.location.lat", "JSON number"),
    ),
    (
        "account pricelist ref",
        sample("account", price_list_id="std"),
        InvalidDocumentError,
        ("account.price_list_id",),
    ),
    # --- contact
    (
        "contact email",
        sample("contact", email="kari"),
        InvalidDocumentError,
        ("contact.email", "e-mail"),
    ),
    ("contact phone", sample("contact", phone="call me"), InvalidDocumentError, ("contact.phone",)),
    (
        "contact account",
        sample("contact", account_id=DROP),
        InvalidDocumentError,
        ("contact.account_id: is required",),
    ),
    # --- territory
    (
        "territory dup rep",
        sample("territory", rep_ids=["alice", "alice"]),
        InvalidDocumentError,
        ("territory.rep_ids", "twice"),
    ),
    (
        "territory rep id",
        sample("territory", rep_ids=["_admin"]),
        InvalidDocumentError,
        ("territory.rep_ids[0]",),
    ),
    # --- order
    (
        "order status",
        sample("order", status="done"),
        InvalidDocumentError,
        ("order.status", "'draft'", '"done"'),
    ),
    (
        "order total",
        sample("order", total="33.70"),
        InvalidDocumentError,
        ("order.total", '"33.75"', '"33.70"'),
    ),
    (
        "order total unpadded",
        sample("order", total="33.8"),
        InvalidDocumentError,
        ("order.total", '"33.75"'),
    ),
    (
        "order total number",
        sample("order", total=33.75),
        InvalidDocumentError,
        ("order.total", "decimal string"),
    ),
    (
        "order price number",
        sample(
            "order",
            lines=[_line(), _line(line_id="l2"), _line(line_id="l3", unit_price=12.5)],
            total="0.00",
        ),
        InvalidDocumentError,
        ('order.lines[2].unit_price: must be a decimal string like "12.50", got 12.5',),
    ),
    (
        "order qty negative",
        sample("order", lines=[_line(qty=-1)]),
        InvalidDocumentError,
        ("order.lines[0].qty", "got -1"),
    ),
    (
        "order qty bool",
        sample("order", lines=[_line(qty=True)]),
        InvalidDocumentError,
        ("order.lines[0].qty", "got true"),
    ),
    (
        "order qty str",
        sample("order", lines=[_line(qty="3")]),
        InvalidDocumentError,
        ("order.lines[0].qty", 'got "3"'),
    ),
    (
        "order discount",
        sample("order", lines=[_line(discount_pct=150)]),
        InvalidDocumentError,
        ("order.lines[0].discount_pct", "100"),
    ),
    (
        "order confirmed",
        sample("order", lines=[_line(confirmed_qty=-2)]),
        InvalidDocumentError,
        ("order.lines[0].confirmed_qty",),
    ),
    (
        "order line field",
        sample("order", lines=[_line(colour="red")]),
        InvalidDocumentError,
        ("order.lines[0].colour", "unknown field"),
    ),
    (
        "order line no ts",
        sample("order", lines=[_line(updated_at=DROP)]),
        InvalidDocumentError,
        ("order.lines[0].updated_at: is required",),
    ),
    (
        "order dup line",
        sample("order", lines=[_line(), _line()]),
        InvalidDocumentError,
        ("order.lines[1].line_id", "duplicate"),
    ),
    (
        "order too many lines",
        sample("order", lines=[_line(line_id=f"l{i}") for i in range(501)]),
        InvalidDocumentError,
        ("order.lines", "at most 500"),
    ),
    (
        "order note long",
        sample("order", note="x" * 2001),
        InvalidDocumentError,
        ("order.note", "2000"),
    ),
    (
        "order account ref",
        sample("order", account_id="cafe-nord"),
        InvalidDocumentError,
        ("order.account_id", "account:"),
    ),
    (
        "order v1 shape at v2",
        sample(
            "order",
            lines=[
                {"line_id": "l1", "sku": "A", "qty": 1, "price": 1.5, "updated_at": SAMPLE_TIME}
            ],
        ),
        InvalidDocumentError,
        ("order.lines[0].unit_price: is required", "order.lines[0].price"),
    ),
    # --- visit
    ("visit kind", sample("visit", kind="social"), InvalidDocumentError, ("visit.kind", "'sales'")),
    ("visit status", sample("visit", status="open"), InvalidDocumentError, ("visit.status",)),
    (
        "visit end before start",
        sample("visit", scheduled_end="2024-05-02T06:00:00.000Z"),
        InvalidDocumentError,
        ("visit.scheduled_end", "scheduled_start"),
    ),
    (
        "visit out without in",
        sample("visit", check_out=LATER_TIME),
        InvalidDocumentError,
        ("visit.check_out", "check_in"),
    ),
    (
        "visit work order ref",
        sample("visit", work_order_id="visit:v-1"),
        InvalidDocumentError,
        ("visit.work_order_id",),
    ),
    # --- visit_note
    (
        "note text long",
        sample("visit_note", text="x" * 20_001),
        InvalidDocumentError,
        ("visit_note.text", "20000"),
    ),
    (
        "note too many items",
        sample(
            "visit_note", checklist=[sample_checklist_item(item_id=f"c{i}") for i in range(201)]
        ),
        InvalidDocumentError,
        ("visit_note.checklist", "at most 200"),
    ),
    (
        "note dup item",
        sample("visit_note", checklist=[sample_checklist_item()] * 2),
        InvalidDocumentError,
        ("visit_note.checklist[1]", "duplicate"),
    ),
    (
        "note item done",
        sample("visit_note", checklist=[sample_checklist_item(done=1)]),
        InvalidDocumentError,
        ("visit_note.checklist[0].done",),
    ),
    (
        "note visit ref",
        sample("visit_note", visit_id="v-1"),
        InvalidDocumentError,
        ("visit_note.visit_id",),
    ),
    # --- work_order
    (
        "wo priority",
        sample("work_order", priority="asap"),
        InvalidDocumentError,
        ("work_order.priority", "'urgent'"),
    ),
    (
        "wo status",
        sample("work_order", status="closed"),
        InvalidDocumentError,
        ("work_order.status",),
    ),
    (
        "wo problem empty",
        sample("work_order", problem=""),
        InvalidDocumentError,
        ("work_order.problem",),
    ),
    (
        "wo sla",
        sample("work_order", sla_due="tomorrow"),
        InvalidDocumentError,
        ("work_order.sla_due",),
    ),
    # --- notification
    (
        "notif data int",
        sample("notification", data={"order_id": 17}),
        InvalidDocumentError,
        ("notification.data.order_id", "string"),
    ),
    (
        "notif kind",
        sample("notification", kind="Order Confirmed"),
        InvalidDocumentError,
        ("notification.kind",),
    ),
    ("notif read", sample("notification", read=None), InvalidDocumentError, ("notification.read",)),
    (
        "notif body",
        sample("notification", body="x" * 2001),
        InvalidDocumentError,
        ("notification.body",),
    ),
    # --- conflict_record
    (
        "cr one leaf",
        sample("conflict_record", leaves=["3-a"]),
        InvalidDocumentError,
        ("conflict_record.leaves", "at least 2"),
    ),
    (
        "cr doc_type",
        sample("conflict_record", doc_type="visit"),
        InvalidDocumentError,
        ("conflict_record.doc_type", "'order'"),
    ),
    (
        "cr doc_id",
        sample("conflict_record", doc_id="nonsense"),
        InvalidDocumentError,
        ("conflict_record.doc_id",),
    ),
    (
        "cr merged_rev",
        sample("conflict_record", merged_rev="x"),
        InvalidDocumentError,
        ("conflict_record.merged_rev",),
    ),
    (
        "cr overridden",
        sample("conflict_record", overridden=[{"what": "x"}]),
        InvalidDocumentError,
        ("conflict_record.overridden[0].lost_value: is required",),
    ),
]


@pytest.mark.parametrize(
    ("doc", "error", "fragments"),
    [pytest.param(doc, err, frags, id=name) for name, doc, err, frags in INVALID],
)
def test_invalid_documents_are_refused_with_a_reason(
    doc: Any, error: type[SchemaError], fragments: tuple[str, ...]
) -> None:
    before = copy.deepcopy(doc)
    with pytest.raises(error) as caught:
        validate_document(doc)
    reason = caught.value.reason
    assert str(caught.value) == reason
    for fragment in fragments:
        assert fragment in reason, f"{fragment!r} not in {reason!r}"
    assert doc == before or doc != doc  # NaN != NaN; otherwise the input is untouched


def test_reason_caps_the_number_of_problems_but_keeps_them_all() -> None:
    doc = sample("order", lines=[{}])
    with pytest.raises(InvalidDocumentError) as caught:
        validate_document(doc)
    assert "(and 2 more problems)" in caught.value.reason
    assert len(caught.value.problems) == 5
    assert all(p.startswith("order.lines[0].") for p in caught.value.problems)


def test_unknown_top_level_field_lists_the_allowed_ones() -> None:
    with pytest.raises(InvalidDocumentError) as caught:
        validate_document(sample("contact", mail="x@example.com"))
    assert "contact.mail: unknown field; allowed fields are" in caught.value.reason
    assert "email" in caught.value.reason and "_rev" in caught.value.reason


def test_braces_in_values_do_not_break_reasons() -> None:
    with pytest.raises(InvalidDocumentError, match="currency"):
        validate_document(sample("order", currency="{x}"))


def test_a_check_out_stamped_before_the_check_in_is_accepted() -> None:
    # checked in on a phone whose clock runs ahead, out on a tablet whose clock runs behind
    visit = sample("visit", status="done", check_in=LATER_TIME, check_out=SAMPLE_TIME)
    assert to_json_dict(validate_document(visit)) == visit


def test_deleted_line_is_a_tombstone_outside_the_total() -> None:
    lines = [_line(), _line(line_id="l2", qty=100, deleted=True)]
    doc = sample("order", lines=lines)
    assert doc["total"] == "33.75"
    validate_document(doc)


def test_confirmed_qty_drives_the_total() -> None:
    doc = sample("order", lines=[_line(confirmed_qty=2)])
    assert doc["total"] == "22.50"
    validate_document(doc)
    with pytest.raises(InvalidDocumentError, match=r'"22\.50"'):
        validate_document({**doc, "total": "33.75"})


def test_a_mapping_that_is_not_a_dict_is_accepted() -> None:
    from types import MappingProxyType

    model = validate_document(MappingProxyType(sample("product")))
    assert model.id == "product:SKU-1"


def test_models_are_frozen() -> None:
    model = validate_document(sample("product"))
    with pytest.raises(ValueError):
        model.name = "other"  # type: ignore[attr-defined]


def test_model_for_and_registry() -> None:
    assert set(CURRENT_SCHEMA_VERSION) == set(DOCUMENT_TYPES)
    assert CURRENT_SCHEMA_VERSION["order"] == 2
    assert model_for("order", 1) is MODELS[("order", 1)]
    with pytest.raises(UnknownTypeError, match="known types"):
        model_for("user")
    with pytest.raises(ClientNewerError):
        model_for("order", 3)


def test_package_root_reexports_the_public_api() -> None:
    import mobile_schema

    assert mobile_schema.__file__ is not None, "tests/mobile_schema shadows the package"
    for name in mobile_schema.__all__:
        assert hasattr(mobile_schema, name), name
    for name in (
        "validate_document", "upgrade_document", "sample", "SchemaError", "order_total",
        "ORDER_STATUS_RANK", "FINAL_ORDER_STATUSES", "REP_ORDER_STATUSES",
        "CURRENT_SCHEMA_VERSION", "export_json_schemas", "doc_type_of", "make_id",
        "split_id", "utc_now", "model_for", "Document",
    ):  # fmt: skip
        assert name in mobile_schema.__all__, name
