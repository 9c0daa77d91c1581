"""Turn pydantic's validation errors into reasons a person can act on.

One problem reads ``<type>.<path>: <what is wrong>``, for example
``order.lines[2].unit_price: must be a decimal string like "12.50", got 12.5``; the path uses the
document's own field names (``_id``, not ``id``). A reason joins the first three problems with
``"; "`` and says how many more there are, so it stays readable in a replicator's log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from mobile_schema.fields import ERROR_TYPE, describe

MAX_PROBLEMS_IN_REASON = 3

_TYPE_WORDS = {
    "string_type": "a string",
    "bool_type": "true or false",
    "int_type": "an integer",
    "float_type": "a number",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "none_required": "null",
}


def format_path(root: str, loc: Sequence[int | str]) -> str:
    """``("lines", 2, "qty")`` under ``order`` -> ``order.lines[2].qty``."""
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _what(error: ErrorDetails, allowed_fields: Sequence[str]) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")
    if kind == ERROR_TYPE:
        return str(ctx["reason"])
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        if len(error["loc"]) == 1 and allowed_fields:
            return "unknown field; allowed fields are " + ", ".join(allowed_fields)
        return "unknown field"
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, got {describe(value)}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {describe(value)}"
    if kind in ("too_long", "too_short"):
        bound = "at most" if kind == "too_long" else "at least"
        limit = ctx.get("max_length" if kind == "too_long" else "min_length")
        return f"must have {bound} {limit} items, got {ctx.get('actual_length')}"
    if kind in ("string_too_long", "string_too_short"):
        bound = "at most" if kind == "string_too_long" else "at least"
        limit = ctx.get("max_length" if kind == "string_too_long" else "min_length")
        length = len(value) if isinstance(value, str) else "?"
        return f"must have {bound} {limit} characters, got {length}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}, got {describe(value)}"
    message = error["msg"].replace("Input should", "must", 1)
    return f"{message[:1].lower()}{message[1:]}, got {describe(value)}"


def problems_of(exc: ValidationError, root: str, allowed_fields: Sequence[str] = ()) -> list[str]:
    """Every problem of a validation error as ``path: what``."""
    problems: list[str] = []
    for error in exc.errors():
        loc = list(error["loc"])
        ctx = error.get("ctx") or {}
        if error["type"] == ERROR_TYPE and "field" in ctx:
            # Model-level checks name their field, since pydantic puts them at the model's root.
            path = f"{format_path(root, loc)}.{ctx['field']}"
        else:
            path = format_path(root, loc)
        problems.append(f"{path}: {_what(error, allowed_fields)}")
    return problems


def join_problems(problems: Sequence[str]) -> str:
    """The reason for a list of problems: the first few, and how many more there are."""
    shown = "; ".join(problems[:MAX_PROBLEMS_IN_REASON])
    more = len(problems) - MAX_PROBLEMS_IN_REASON
    return shown if more <= 0 else f"{shown} (and {more} more problems)"
