"""The hash chain itself (pure): its canonical form is pinned, and each kind of break is named."""

from __future__ import annotations

import json

import pytest

from reconciler.audit.chain import ChainHead, ChainLink, StoredRecord, canonical_json, record_hash, verify_chain


def chain(n: int, *, start: int = 1) -> list[StoredRecord]:
    """``n`` records linked like the audit log links them; key ``k<seq>``."""
    records: list[StoredRecord] = []
    head = None
    for i in range(start, start + n):
        link = ChainLink.after(head)
        document = {"jobId": f"job-{i}", "outcome": "succeeded", "sequence": link.sequence, "previousHash": link.previous_hash}
        records.append(StoredRecord(f"k{link.sequence}", document))
        head = ChainHead(link.sequence, record_hash(document), f"k{link.sequence}")
    return records


def head_of(records: list[StoredRecord]) -> ChainHead:
    return ChainHead(records[-1].sequence or 0, records[-1].hash, records[-1].key)


def test_the_canonical_form_is_sorted_compact_utf8_json_and_its_hash_is_pinned():
    document = {"b": [1, {"z": None, "a": "é"}], "a": True, "sequence": 3, "previousHash": None}

    assert canonical_json(document) == '{"a":true,"b":[1,{"a":"é","z":null}],"previousHash":null,"sequence":3}'.encode()
    # Pinned: a change to the canonical form changes every hash already written, so it must be a deliberate one.
    assert record_hash(document) == "sha256:15731f9134b6a3b42825de79a417d215e2fe73609aac05e7139f396f4b2b90ad"
    assert record_hash({"a": 1}) == "sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"


def test_the_hash_does_not_depend_on_how_the_document_was_stored():
    document = {"stack": "dev", "plan": {"create": 1, "update": 2}, "error": "naïve \"quote\" \\ \n", "sequence": 1, "previousHash": None}
    as_dynamodb_keeps_it = json.loads(json.dumps(document, sort_keys=True))
    as_the_files_keep_it = json.loads(json.dumps(document, indent=2))
    reordered = dict(reversed(list(document.items())))

    assert len({record_hash(d) for d in (document, as_dynamodb_keeps_it, as_the_files_keep_it, reordered)}) == 1
    assert record_hash({**document, "error": "other"}) != record_hash(document)


def test_not_a_number_is_refused_rather_than_hashed_ambiguously():
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_an_intact_chain_verifies_in_any_order_with_old_unchained_records_beside_it():
    records = chain(4)
    legacy = StoredRecord("k0-legacy", {"jobId": "old", "outcome": "succeeded"})

    verdict = verify_chain([records[2], legacy, records[0], records[3], records[1]], stack="dev", head=head_of(records))

    assert verdict.intact, verdict.summary()
    assert (verdict.chained, verdict.unchained) == (4, 1)
    assert verdict.summary() == "stack dev: 4 chained record(s), 1 written before the chain (not verifiable: the chain has no genesis): chain intact"


def test_a_deleted_record_is_named_by_its_missing_sequence():
    records = chain(5)
    del records[2]  # sequence 3

    verdict = verify_chain(records, stack="dev")

    assert verdict.first_break is not None
    assert (verdict.first_break.kind, verdict.first_break.sequence) == ("deleted", 3)
    assert "sequence 3 missing after sequence 2 (k2)" in verdict.summary()


def test_deleted_first_records_and_a_deleted_newest_record_are_named():
    records = chain(4)
    assert verify_chain(records[1:]).first_break.kind == "deleted"
    assert verify_chain(records[1:]).first_break.sequence == 1

    truncated = verify_chain(records[:-1], head=head_of(records))
    assert (truncated.first_break.kind, truncated.first_break.sequence) == ("deleted", 4)
    # Without the head a truncated tail cannot be seen from the records alone.
    assert verify_chain(records[:-1]).intact


def test_an_edited_record_is_named_because_the_next_record_no_longer_links_to_it():
    records = chain(4)
    edited = StoredRecord("k2", {**records[1].document, "outcome": "failed"})
    records[1] = edited

    verdict = verify_chain(records, stack="dev")

    assert (verdict.first_break.kind, verdict.first_break.sequence, verdict.first_break.key) == ("edited", 2, "k2")
    assert "k2 no longer hashes to the previous hash that sequence 3 (k3) carries" in verdict.summary()


def test_an_edited_newest_record_is_named_against_the_head():
    records = chain(3)
    head = head_of(records)
    records[-1] = StoredRecord("k3", {**records[-1].document, "outcome": "failed"})

    verdict = verify_chain(records, head=head)

    assert (verdict.first_break.kind, verdict.first_break.sequence) == ("edited", 3)


def test_a_record_moved_to_another_place_in_the_trail_is_named_re_ordered():
    records = chain(4)
    moved = StoredRecord("k9", records[1].document)  # the same content, stored under another key
    records[1] = moved

    verdict = verify_chain(records, expected_key=lambda document: "k" + document["jobId"].removeprefix("job-"))

    assert (verdict.first_break.kind, verdict.first_break.sequence, verdict.first_break.key) == ("re-ordered", 2, "k9")
    assert "stored under k9, but its content places it at k2" in verdict.summary()


def test_two_records_whose_sequence_numbers_were_swapped_are_named_re_ordered():
    records = chain(4)
    second, third = records[1], records[2]
    # Someone tells another story of what came first: the sequence numbers traded, the links left.
    records[1] = StoredRecord("k3", {**third.document, "sequence": 2})
    records[2] = StoredRecord("k2", {**second.document, "sequence": 3})

    verdict = verify_chain(records)

    assert verdict.first_break.kind == "re-ordered"
    assert "k2" in verdict.first_break.detail and "k1" in verdict.first_break.detail


def test_a_sequence_held_twice_is_named():
    records = chain(3)
    forged = StoredRecord("k2-forged", {**records[1].document, "outcome": "failed"})

    verdict = verify_chain([*records, forged])

    assert (verdict.first_break.kind, verdict.first_break.sequence) == ("duplicated", 2)
