"""Reusable field types for the document models.

Every type validates the value exactly as the device sent it and never converts it: a quantity
``3`` stays the integer ``3``, a price ``"12.5"`` stays that string. (The gateway stores the body it
received; revision ids are computed from it.) Each check raises a message that starts with
"must ..." and ends with ", got <the JSON value>", which :mod:`mobile_schema.reasons` prefixes
with the field's path.

=========== ====== ================================================================
type        JSON   rule
=========== ====== ================================================================
Money       string ``^-?\\d{1,12}(\\.\\d{1,4})?$``, e.g. ``"12.50"``
Quantity    number finite, 0 <= q <= 1e9 (integers stay integers)
Percent     number finite, 0 <= p <= 100
Timestamp   string ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC) and a real date
UserId      string the ``<id>`` of ``user:<id>``
LocalId     string line / item ids: the characters of an ``<id>``
Sku         string an ``<id>`` of at most 64 characters, so ``product:<sku>`` works
Currency    string ISO 4217 code, ``^[A-Z]{3}$``
AccountRef  string the full ``_id`` of an account (likewise TerritoryRef, PriceListRef ...)
Name        string 1-200 characters
Note        string at most 2,000 characters
LongText    string at most 20,000 characters
=========== ====== ================================================================
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from mobile_schema.ids import LOCAL_ID_PATTERN, is_local_id
from mobile_schema.timefmt import EXAMPLE_TIMESTAMP, TIMESTAMP_PATTERN, is_timestamp

MONEY_PATTERN = r"^-?\d{1,12}(\.\d{1,4})?$"
_MONEY_RE = re.compile(MONEY_PATTERN)
CURRENCY_PATTERN = r"^[A-Z]{3}$"
SKU_PATTERN = r"^[A-Za-z0-9.:@-][A-Za-z0-9_.:@-]{0,63}$"
KIND_PATTERN = r"^[a-z][a-z0-9_.]{0,63}$"
REV_PATTERN = r"^[1-9][0-9]{0,8}-[0-9A-Za-z]{1,128}$"
MAX_QUANTITY = 1_000_000_000

MAX_NAME = 200
MAX_NOTE = 2_000
MAX_TEXT = 20_000
ERROR_TYPE = "fieldsync"


def describe(value: Any) -> str:
    """The offending value as JSON, shortened so one reason stays one readable line."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def fail(reason: str, *, field: str | None = None) -> PydanticCustomError:
    """A validation error with a finished reason; ``field`` names the sub-field of a model check."""
    ctx: dict[str, Any] = {"reason": reason}
    if field is not None:
        ctx["field"] = field
    # The reason goes through ctx so braces in a device's value cannot break the template.
    return PydanticCustomError(ERROR_TYPE, "{reason}", ctx)


def _string_check(predicate: Callable[[str], bool], expectation: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, str) or not predicate(value):
            raise fail(f"must be {expectation}, got {describe(value)}")
        return value

    return check


def regex_check(pattern: str, expectation: str) -> Callable[[Any], Any]:
    compiled = re.compile(pattern)
    return _string_check(lambda s: compiled.match(s) is not None, expectation)


def number_check(low: float, high: float, what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        # bool is an int in Python but true/false in JSON: refuse it as a number.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"must be {what} (a JSON number), got {describe(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise fail(f"must be a finite number, got {describe(value)}")
        if not low <= value <= high:
            raise fail(f"must be between {low:g} and {high:g}, got {describe(value)}")
        return value

    return check


_DECIMAL_RE = re.compile(r"^-?\d+(\.\d+)?$")


def _check_money(value: Any) -> Any:
    if isinstance(value, str) and _MONEY_RE.match(value):
        return value
    if isinstance(value, str) and _DECIMAL_RE.match(value):
        raise fail(f"must have at most 12 integer and 4 fraction digits, got {describe(value)}")
    raise fail(f'must be a decimal string like "12.50", got {describe(value)}')


Money = Annotated[
    str,
    StringConstraints(pattern=MONEY_PATTERN),
    Field(examples=["12.50"]),
    BeforeValidator(_check_money),
]
Quantity = Annotated[
    int | float,
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": MAX_QUANTITY}),
    BeforeValidator(number_check(0, MAX_QUANTITY, "a quantity >= 0")),
]
Percent = Annotated[
    int | float,
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100}),
    BeforeValidator(number_check(0, 100, "a percentage 0-100")),
]
Latitude = Annotated[
    int | float,
    WithJsonSchema({"type": "number", "minimum": -90, "maximum": 90}),
    BeforeValidator(number_check(-90, 90, "a latitude")),
]
Longitude = Annotated[
    int | float,
    WithJsonSchema({"type": "number", "minimum": -180, "maximum": 180}),
    BeforeValidator(number_check(-180, 180, "a longitude")),
]

Timestamp = Annotated[
    str,
    StringConstraints(pattern=TIMESTAMP_PATTERN),
    Field(examples=[EXAMPLE_TIMESTAMP]),
    BeforeValidator(_string_check(is_timestamp, f'a UTC timestamp like "{EXAMPLE_TIMESTAMP}"')),
]
LocalId = Annotated[
    str,
    StringConstraints(pattern=LOCAL_ID_PATTERN),
    BeforeValidator(
        _string_check(is_local_id, "an id of 1-128 characters A-Z a-z 0-9 _ . : @ - (no leading _)")
    ),
]
UserId = LocalId
Sku = Annotated[
    str,
    StringConstraints(pattern=SKU_PATTERN),
    BeforeValidator(regex_check(SKU_PATTERN, "a SKU of 1-64 characters A-Z a-z 0-9 _ . : @ -")),
]
Currency = Annotated[
    str,
    StringConstraints(pattern=CURRENCY_PATTERN),
    BeforeValidator(regex_check(CURRENCY_PATTERN, 'an ISO 4217 currency code like "EUR"')),
]
KindName = Annotated[
    str,
    StringConstraints(pattern=KIND_PATTERN),
    BeforeValidator(regex_check(KIND_PATTERN, "a lower-case name like order_confirmed")),
]

Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]
Note = Annotated[str, StringConstraints(max_length=MAX_NOTE)]
LongText = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
RevId = Annotated[
    str,
    StringConstraints(pattern=REV_PATTERN),
    BeforeValidator(regex_check(REV_PATTERN, 'a revision id like "3-a1b2c3"')),
]


def _ref_pattern(doc_type: str) -> str:
    return f"^{doc_type}:{LOCAL_ID_PATTERN[1:]}"


def _ref_check(doc_type: str) -> Callable[[Any], Any]:
    return regex_check(_ref_pattern(doc_type), f"a {doc_type} id like '{doc_type}:x1'")


# References hold the full _id of the referenced document; mypy needs each alias spelled out.
AccountRef = Annotated[
    str, StringConstraints(pattern=_ref_pattern("account")), BeforeValidator(_ref_check("account"))
]
TerritoryRef = Annotated[
    str,
    StringConstraints(pattern=_ref_pattern("territory")),
    BeforeValidator(_ref_check("territory")),
]
PriceListRef = Annotated[
    str,
    StringConstraints(pattern=_ref_pattern("price_list")),
    BeforeValidator(_ref_check("price_list")),
]
VisitRef = Annotated[
    str, StringConstraints(pattern=_ref_pattern("visit")), BeforeValidator(_ref_check("visit"))
]
WorkOrderRef = Annotated[
    str,
    StringConstraints(pattern=_ref_pattern("work_order")),
    BeforeValidator(_ref_check("work_order")),
]
