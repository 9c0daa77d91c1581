"""Field-by-field merge of the plain fields of a document body.

For each top-level field (underscore fields and the fields a caller merges by its own rule are
skipped):

- with the common ancestor's body: the leaves whose value differs from the ancestor's changed
  the field; none changed it → the ancestor's value; otherwise the last writer among those
  that changed it wins (``updated_at``, ties by revision id). A leaf that left the field as in
  the ancestor never overrides one that changed it, whatever the clocks say.
- without the ancestor: the last writer among all leaves wins.

Values that lose (differ from the merged value and, when the ancestor is known, from the
ancestor's) are reported as :class:`~conflict.result.Overridden`. A field absent from a body is
a value of its own ("absent"); it is reported lost as ``None``.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from typing import Any, Final

from conflict.leaf import Leaf, leaf_key, leaf_user
from conflict.result import Overridden


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


#: Stands for a field missing from a body.
ABSENT: Final = _Absent()


def same(a: Any, b: Any) -> bool:
    """JSON equality: ``1``, ``1.0`` and ``True`` are three different values here."""
    if a is ABSENT or b is ABSENT:
        return a is b
    return _json_equal(a, b)


def _json_equal(a: Any, b: Any) -> bool:
    # what comparing canonical_json texts decides, without building the texts (the hot path of
    # every merge): equal types all the way down, so 1, 1.0 and True stay three values
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b)  # JSON's text: 0.0 and -0.0 are written differently
    return bool(a == b)


def lost(value: Any) -> Any:
    """A losing value as written in a record (an absent field is ``None``)."""
    return None if value is ABSENT else value


def pick_field(
    name: str, leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None
) -> tuple[Any, list[Overridden]]:
    """Merged value of one field (``ABSENT`` when it should not be written) and what lost."""
    base: Any = ancestor.get(name, ABSENT) if ancestor is not None else ABSENT
    changed = [
        leaf for leaf in leaves if ancestor is None or not same(leaf.body.get(name, ABSENT), base)
    ]
    if not changed:
        return base, []
    winner = max(changed, key=leaf_key)
    value = winner.body.get(name, ABSENT)
    losses = [
        Overridden(
            what=name,
            lost_value=lost(leaf.body.get(name, ABSENT)),
            by=f"last writer ({winner.rev})",
            lost_rev=leaf.rev,
            user_id=leaf_user(leaf),
        )
        for leaf in changed
        if not same(leaf.body.get(name, ABSENT), value)
    ]
    return value, losses


def merge_fields(
    leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None, skip: Container[str] = ()
) -> tuple[dict[str, Any], list[Overridden]]:
    """Merge every plain field not in ``skip``; returns the fields and what lost."""
    names = sorted(
        {k for leaf in leaves for k in leaf.body if not k.startswith("_") and k not in skip}
    )
    merged: dict[str, Any] = {}
    losses: list[Overridden] = []
    for name in names:
        value, lost_here = pick_field(name, leaves, ancestor)
        if value is not ABSENT:
            merged[name] = value
        losses += lost_here
    return merged, losses
