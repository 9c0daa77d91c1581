"""Visit note merges: text, checklist, photos."""

from __future__ import annotations

from typing import Any

from conflict_builders import T0, T1, T2, leaf, note, stub

from conflict import RESOLVER_ID, merge, merge_visit_notes
from conflict.textmerge import SEPARATOR


def item(item_id: str, updated_at: str, done: bool, label: str = "check") -> dict[str, Any]:
    return {"item_id": item_id, "label": label, "done": done, "updated_at": updated_at}


def nleaf(rev: str, body: dict[str, Any], **kw: Any) -> Any:
    return leaf(rev, body, doc_id="visit_note:n1", **kw)


# Two people edit the note while CouchDB still has their common ancestor:
#
#   1-a ("Pump\nValve") ── 2-x (T1: "Pump replaced\nValve")
#                      └── 2-y (T2: "Pump\nValve ok\nFilter dirty")
def test_three_way_text_merge_with_ancestor() -> None:
    ancestor = note(T0, "Pump\nValve")
    x = nleaf("2-x", note(T1, "Pump replaced\nValve"), parents=("1-a",))
    y = nleaf("2-y", note(T2, "Pump\nValve ok\nFilter dirty"), parents=("1-a",))
    result = merge_visit_notes([y, x], ancestor)
    assert result.body["text"] == "Pump replaced\nValve ok\nFilter dirty"
    assert result.body["updated_at"] == T2
    assert result.body["updated_by"] == RESOLVER_ID
    assert result.overridden == []


#   (ancestor compacted away)  ── 2-x (T1: "first")
#                              └── 2-y (T2: "second")
def test_without_ancestor_both_texts_kept_oldest_first() -> None:
    x = nleaf("2-x", note(T1, "first"))
    y = nleaf("2-y", note(T2, "second"))
    for leaves in ([x, y], [y, x]):
        result = merge_visit_notes(leaves)
        assert result.body["text"] == f"first\n\n{SEPARATOR}\n\nsecond"
        assert result.notes == ["text: merged without ancestor, distinct versions kept"]


def test_same_line_changed_on_both_sides_keeps_both() -> None:
    ancestor = note(T0, "a\nb\nc")
    x = nleaf("2-x", note(T1, "a\nb by x\nc"))
    y = nleaf("2-y", note(T2, "a\nb by y\nc"))
    result = merge_visit_notes([x, y], ancestor)
    assert result.body["text"] == "a\nb by x\nb by y\nc"
    assert result.notes == ["text: 1 clashing edit(s), both versions kept"]


# Checklist items by item_id, per-item updated_at, ties by revision:
#   1-a ── 2-x: i1 done at T1, i2 untouched (T0), i3 added
#      └── 2-y: i1 undone at T0 (stale), i2 done at T2
def test_checklist_merges_by_item() -> None:
    x = nleaf(
        "2-x",
        note(
            T1, "t", checklist=[item("i1", T1, True), item("i2", T0, False), item("i3", T1, True)]
        ),
    )
    y = nleaf("2-y", note(T2, "t", checklist=[item("i1", T0, False), item("i2", T2, True)]))
    result = merge([x, y])
    got = {i["item_id"]: i for i in result.body["checklist"]}
    assert got["i1"]["done"] is True and got["i2"]["done"] is True and "i3" in got
    # Same time on both sides: the higher revision wins.
    tie_x = nleaf("2-x", note(T1, "t", checklist=[item("i1", T1, True)]))
    tie_y = nleaf("2-y", note(T1, "t", checklist=[item("i1", T1, False)]))
    assert merge([tie_x, tie_y]).body["checklist"][0]["done"] is False


def test_checklist_item_removed_with_ancestor_stays_removed() -> None:
    ancestor = note(T0, "t", checklist=[item("i1", T0, False), item("i2", T0, False)])
    x = nleaf("2-x", note(T1, "t", checklist=[item("i2", T0, False)]))  # removed i1
    y = nleaf("2-y", note(T2, "t", checklist=[item("i1", T0, False), item("i2", T2, True)]))
    result = merge([x, y], ancestor)
    assert [i["item_id"] for i in result.body["checklist"]] == ["i2"]
    assert result.overridden == []


# Photos: union; same name with different content keeps both.
#   1-a ── 2-x: a.jpg (d1), b.jpg (d2)
#      └── 3-y: a.jpg (d3), c.jpg (d4)      3-y is CouchDB's winner
def test_attachments_union_with_rename() -> None:
    x = nleaf("2-x", {**note(T1, "t"), "_attachments": {"a.jpg": stub("d1"), "b.jpg": stub("d2")}})
    y = nleaf("3-y", {**note(T2, "t"), "_attachments": {"a.jpg": stub("d3"), "c.jpg": stub("d4")}})
    result = merge([x, y])
    atts = result.body["_attachments"]
    assert {k: v["digest"] for k, v in atts.items()} == {
        "a.jpg": "d3",
        "a (2).jpg": "d1",
        "b.jpg": "d2",
        "c.jpg": "d4",
    }
    assert result.notes == ["attachment 'a.jpg' of 2-x kept as 'a (2).jpg'"]


def test_attachment_removed_with_ancestor_stays_removed() -> None:
    ancestor = {**note(T0, "t"), "_attachments": {"a.jpg": stub("d1")}}
    x = nleaf("2-x", note(T1, "t"))
    y = nleaf("2-y", {**note(T2, "t2"), "_attachments": {"a.jpg": stub("d1")}})
    assert "_attachments" not in merge([x, y], ancestor).body
    assert "a.jpg" in merge([x, y]).body["_attachments"]
