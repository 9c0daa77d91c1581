"""What the resolver writes: the merged child of the winner plus tombstones."""

from __future__ import annotations

from conflict_builders import T1, T2, leaf, note, stub

from conflict import leaves_from_open_revs, merged_rev, resolution_plan, tombstone_rev

#   1-a ── 2-b ── 3-c (T1)        CouchDB's winner: 3-c
#             └── 3-d (T2)
#      └── 2-e (deleted)
LEAVES = [
    leaf("3-c", note(T1, "one"), parents=("2-b", "1-a"), doc_id="visit_note:n1"),
    leaf("3-d", note(T2, "two"), parents=("2-b", "1-a"), doc_id="visit_note:n1"),
    leaf("2-e", {}, parents=("1-a",), deleted=True, doc_id="visit_note:n1"),
]


def test_plan_writes_child_of_winner_and_tombstones() -> None:
    plan = resolution_plan(LEAVES)
    # 3-d > 3-c by hash: "d" > "c".
    assert plan.merged_rev == merged_rev("3-d", ["3-c", "3-d", "2-e"], plan.result.body)
    assert plan.merged_rev is not None and plan.merged_rev.startswith("4-")
    merged_doc, tomb = plan.docs
    assert merged_doc["_rev"] == plan.merged_rev
    assert merged_doc["_revisions"]["start"] == 4
    assert merged_doc["_revisions"]["ids"][1:] == ["d", "b", "a"]
    assert merged_doc["_id"] == "visit_note:n1"
    assert plan.tombstone_revs == (tombstone_rev("3-c", plan.merged_rev),)
    assert tomb == {
        "_id": "visit_note:n1",
        "_rev": plan.tombstone_revs[0],
        "_deleted": True,
        "_revisions": {"start": 4, "ids": [plan.tombstone_revs[0].split("-")[1], "c", "b", "a"]},
    }
    # The deleted leaf 2-e gets nothing, but its lost deletion is on record.
    assert [o.lost_rev for o in plan.result.overridden] == ["2-e"]


def test_plan_same_for_any_leaf_order() -> None:
    first = resolution_plan(LEAVES)
    assert resolution_plan(list(reversed(LEAVES))) == first
    assert resolution_plan([LEAVES[1], LEAVES[2], LEAVES[0], LEAVES[1]]) == first


def test_nothing_to_write_with_one_live_leaf() -> None:
    plan = resolution_plan([LEAVES[0], LEAVES[2]])
    assert plan.merged_rev is None and plan.docs == () and plan.tombstone_revs == ()
    assert plan.body["text"] == "one"


def test_attachment_sources_name_where_data_lives() -> None:
    x = leaf("2-x", {**note(T1, "t"), "_attachments": {"a.jpg": stub("d1")}}, doc_id="n")
    y = leaf("2-y", {**note(T2, "t"), "_attachments": {"a.jpg": stub("d2")}}, doc_id="n")
    plan = resolution_plan([x, y])
    assert [(s.name, s.source_rev, s.source_name) for s in plan.attachment_sources] == [
        ("a (2).jpg", "2-x", "a.jpg")
    ]


def test_leaves_from_open_revs() -> None:
    rows = [{"ok": {"_id": "x", "_rev": "2-a", "_deleted": True}}, {"missing": "3-b"}]
    (only,) = leaves_from_open_revs(rows)
    assert only.rev == "2-a" and only.deleted
