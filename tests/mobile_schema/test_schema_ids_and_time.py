"""Ids (``<type>:<id>``) and timestamps (``YYYY-MM-DDTHH:MM:SS.mmmZ``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobile_schema.errors import InvalidIdError
from mobile_schema.ids import doc_type_of, make_id, split_id
from mobile_schema.timefmt import format_timestamp, is_timestamp, parse_timestamp, utc_now

LOCAL_ID = st.from_regex(r"\A[A-Za-z0-9.:@-][A-Za-z0-9_.:@-]{0,127}\Z")


@pytest.mark.parametrize(
    ("doc_id", "expected"),
    [
        ("order:o-1", ("order", "o-1")),
        ("visit_note:v:1", ("visit_note", "v:1")),  # the id may contain ':'
        ("user:alice@example.com", ("user", "alice@example.com")),
        ("price_list:std", ("price_list", "std")),
    ],
)
def test_split_id(doc_id: str, expected: tuple[str, str]) -> None:
    assert split_id(doc_id) == expected


@pytest.mark.parametrize(
    "doc_id",
    [
        "order",
        "order:",
        ":o-1",
        "Order:o-1",
        "order:_hidden",
        "order:has space",
        "order:" + "x" * 129,
        "_design/app",
        "order:é",
        "",
    ],
)
def test_split_id_refuses(doc_id: str) -> None:
    with pytest.raises(InvalidIdError, match="<type>:<id>"):
        split_id(doc_id)


def test_split_id_refuses_non_strings() -> None:
    with pytest.raises(InvalidIdError):
        split_id(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("doc_id", "expected"),
    [
        ("order:o-1", "order"),
        ("conflict_record:order:o-1:4-abc", "conflict_record"),
        ("user:alice", None),  # not a device document type
        ("_design/x", None),
        ("order:_x", None),
        ("garbage", None),
    ],
)
def test_doc_type_of(doc_id: str, expected: str | None) -> None:
    assert doc_type_of(doc_id) == expected


@pytest.mark.parametrize(("doc_type", "local_id"), [("Order", "x"), ("or:der", "x"), ("order", "")])
def test_make_id_refuses(doc_type: str, local_id: str) -> None:
    with pytest.raises(InvalidIdError):
        make_id(doc_type, local_id)


@given(st.sampled_from(["order", "visit_note", "user", "device"]), LOCAL_ID)
def test_make_id_split_id_round_trip(doc_type: str, local_id: str) -> None:
    assert split_id(make_id(doc_type, local_id)) == (doc_type, local_id)


def test_utc_now_has_the_document_format() -> None:
    now = utc_now()
    assert is_timestamp(now)
    assert len(now) == 24 and now.endswith("Z")
    assert abs(parse_timestamp(now) - datetime.now(UTC)) < timedelta(seconds=5)


def test_format_timestamp_converts_to_utc_and_truncates_to_ms() -> None:
    moment = datetime(2024, 5, 1, 10, 30, 0, 123999, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2024-05-01T08:30:00.123Z"
    with pytest.raises(ValueError):
        format_timestamp(datetime(2024, 5, 1))


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T08:30:00Z",  # no milliseconds
        "2024-05-01T08:30:00.000+00:00",
        "2024-05-01 08:30:00.000Z",
        "2024-13-01T08:30:00.000Z",
        "2024-02-30T08:30:00.000Z",
        "2024-05-01T08:30:00.0000Z",
        "2024-05-01T24:00:00.000Z",
        "2024-05-01T23:59:60.000Z",
        "0000-05-01T08:30:00.000Z",
        "\u0662\u0660\u0662\u0664-05-01T08:30:00.000Z",  # Arabic-Indic digits: not ASCII
        1714552200000,
        None,
    ],
)
def test_is_timestamp_refuses(value: object) -> None:
    assert not is_timestamp(value)


@given(st.datetimes(timezones=st.just(UTC)))
def test_timestamps_sort_like_times(moment: datetime) -> None:
    later = moment + timedelta(milliseconds=1) if moment.year < 9999 else moment
    a, b = format_timestamp(moment), format_timestamp(later)
    assert is_timestamp(a)
    assert (a <= b) and (parse_timestamp(a) <= parse_timestamp(b))
    assert parse_timestamp(a) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
