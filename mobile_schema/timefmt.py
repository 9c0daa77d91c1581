"""Timestamps: UTC, ISO-8601, milliseconds, ``Z`` — exactly ``YYYY-MM-DDTHH:MM:SS.mmmZ``.

One fixed width format means timestamps compare correctly as strings, which the resolver relies
on for last-writer-wins and per-line merges. Validation only checks the format (and that the
date exists); it never rewrites a timestamp, because the revision id depends on the body.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN, re.ASCII)  # int() would read other digits too
EXAMPLE_TIMESTAMP = "2024-05-01T08:30:00.000Z"


def format_timestamp(moment: datetime) -> str:
    """Render an aware datetime in the document format (converted to UTC, truncated to ms)."""
    if moment.tzinfo is None:
        raise ValueError("format_timestamp needs an aware datetime")
    utc = moment.astimezone(UTC)
    # Spelled out: strftime's %Y does not zero-pad years before 1000 on glibc.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


# The clock, in one place. Two readings, named by what they return; code that must be testable
# at a fixed time takes a ``now: Callable[[], datetime]`` defaulting to utc_now_datetime.


def utc_now_datetime() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def utc_now() -> str:
    """The current time as a document timestamp string (``YYYY-MM-DDTHH:MM:SS.mmmZ``)."""
    return format_timestamp(utc_now_datetime())


def parse_timestamp(value: str) -> datetime:
    """Parse a document timestamp into an aware UTC datetime; ValueError when it is not one."""
    if not _TIMESTAMP_RE.match(value):
        raise ValueError(f"not a timestamp like {EXAMPLE_TIMESTAMP!r}: {value!r}")
    # datetime() checks the calendar (no month 13, no 30 February); the fixed positions are
    # the pattern's (strptime did the same at a third of the speed of every validation)
    return datetime(
        int(value[0:4]),
        int(value[5:7]),
        int(value[8:10]),
        int(value[11:13]),
        int(value[14:16]),
        int(value[17:19]),
        int(value[20:23]) * 1000,
        tzinfo=UTC,
    )


def is_timestamp(value: object) -> bool:
    """Whether ``value`` is a string in the document timestamp format."""
    if not isinstance(value, str):
        return False
    try:
        parse_timestamp(value)
    except ValueError:
        return False
    return True
