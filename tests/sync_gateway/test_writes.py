"""Merging CouchDB's _bulk_docs answer with the gateway's refusals (pure)."""

from __future__ import annotations

from sync_gateway.writes import Screened, merge_results


def test_results_are_matched_by_id_even_when_couchdb_answers_out_of_order() -> None:
    screened = Screened(accepted=[(0, {"_id": "a"}), (2, {"_id": "b"}), (3, {"_id": "a"})])
    screened.refuse(1, "x", "forbidden", "no")
    upstream = [
        {"id": "b", "rev": "1-b"},
        {"id": "a", "rev": "1-a"},
        {"id": "a", "error": "conflict"},
    ]
    merged = merge_results(screened, upstream, new_edits=True, total=4)
    assert merged == [
        {"id": "a", "rev": "1-a"},
        {"id": "x", "error": "forbidden", "reason": "no"},
        {"id": "b", "rev": "1-b"},
        {"id": "a", "error": "conflict"},
    ]


def test_new_edits_false_answers_only_failures() -> None:
    screened = Screened(accepted=[(0, {"_id": "a"})])
    screened.refuse(1, "x", "forbidden", "no")
    assert merge_results(screened, [], new_edits=False, total=2) == [
        {"id": "x", "error": "forbidden", "reason": "no"}
    ]
