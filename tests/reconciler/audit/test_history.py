"""Reading the trail back: newest first, time range as a key condition, filters, pages; never a Scan."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.adapters.audit import DynamoAuditLog
from reconciler.audit.history import DynamoHistory, FileHistory, HistoryQuery, dynamo_query_request, history_reader
from reconciler.events import EventKind, Reason

from tests.reconciler.conftest import AUDIT_FINISHED_AT as T0  # noqa: E402 - the audit_record fixture's base time

OTHER_COMMIT = "0" * 39 + "1"


def seed(log, audit_record, write_unchained=None):
    """Twelve records a minute apart: 0..11; every third failed; 4 and 5 on another commit; 0 written before the chain."""
    records = []
    for i in range(12):
        overrides = {}
        if i % 3 == 2:
            overrides.update(outcome="failed", kind=EventKind.CONVERGE_FAILED, reason=Reason.ENGINE_FAILED)
        if i in (4, 5):
            overrides["commit"] = OTHER_COMMIT
        record = audit_record("dev", f"{i:02d}".rjust(32, "j"), minutes=i, **overrides)
        records.append(record)
        if i == 0 and write_unchained is not None:
            write_unchained(record)
        else:
            log.append(record)
    log.append(audit_record("prod", "p" * 30 + "03", minutes=3))
    return records


def minutes_of(records):
    return [int(r.job_id[-2:]) for r in records]


@pytest.fixture(params=["dynamodb", "files"])
def reader(request, audit_aws, tmp_path, audit_record, write_unchained, recording_dynamodb):
    """Each store, seeded alike (on DynamoDB record 0 is a pre-chain item), and its history reader."""
    if request.param == "dynamodb":
        recording = recording_dynamodb(audit_aws.dynamodb)
        log = DynamoAuditLog(recording, audit_aws.audit_table)
        seed(log, audit_record, write_unchained)
        recording.calls.clear()
        found = DynamoHistory(log, page_size=3)
        found.recording = recording
        return found
    from reconciler.adapters.audit import FileAuditLog

    log = FileAuditLog(tmp_path / "audit")
    seed(log, audit_record)
    return FileHistory(log)


def test_newest_first_and_limited(reader):
    assert minutes_of(reader.records("dev", HistoryQuery(limit=50))) == list(range(11, -1, -1))
    assert minutes_of(reader.records("dev", HistoryQuery(limit=4))) == [11, 10, 9, 8]
    assert minutes_of(reader.records("prod", HistoryQuery())) == [3]
    assert reader.records("staging", HistoryQuery()) == []


def test_a_time_range_is_inclusive_at_both_ends(reader):
    query = HistoryQuery(since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=6))
    assert minutes_of(reader.records("dev", query)) == [6, 5, 4, 3]
    assert minutes_of(reader.records("dev", HistoryQuery(since=T0 + timedelta(minutes=9, seconds=30)))) == [11, 10]
    assert minutes_of(reader.records("dev", HistoryQuery(until=T0 + timedelta(minutes=1)))) == [1, 0]


def test_filters_by_commit_prefix_outcome_and_kind_and_old_records_are_filtered_alike(reader):
    assert minutes_of(reader.records("dev", HistoryQuery(commit=OTHER_COMMIT[:10]))) == [5, 4]
    assert minutes_of(reader.records("dev", HistoryQuery(outcome="failed"))) == [11, 8, 5, 2]
    assert minutes_of(reader.records("dev", HistoryQuery(kind="converge-succeeded", limit=3))) == [10, 9, 7]
    # Record 0 was written before the chain (no filter attributes on DynamoDB): still found, still filtered.
    assert minutes_of(reader.records("dev", HistoryQuery(outcome="succeeded", until=T0 + timedelta(minutes=1)))) == [1, 0]
    assert reader.records("dev", HistoryQuery(outcome="failed", until=T0 + timedelta(minutes=1))) == []


def test_dynamodb_history_pages_through_queries_and_never_scans(audit_aws, audit_record, write_unchained, recording_dynamodb):
    recording = recording_dynamodb(audit_aws.dynamodb)
    log = DynamoAuditLog(recording, audit_aws.audit_table)
    seed(log, audit_record, write_unchained)
    recording.calls.clear()
    reader = DynamoHistory(log, page_size=3)

    found = reader.records("dev", HistoryQuery(outcome="failed", limit=3))

    assert minutes_of(found) == [11, 8, 5]
    assert set(recording.operations) == {"query"}
    pages = [kwargs for name, kwargs in recording.calls]
    assert len(pages) >= 2 and "ExclusiveStartKey" in pages[1]  # followed LastEvaluatedKey
    assert all(page["Limit"] == 3 and page["ScanIndexForward"] is False for page in pages)
    assert all("#outcome = :outcome" in page["FilterExpression"] for page in pages)
    # The chain's verification reads by query too.
    recording.calls.clear()
    reader.stored("dev"), reader.head("dev")
    assert set(recording.operations) == {"query"}


def test_the_time_range_is_a_key_condition_not_a_filter():
    query = HistoryQuery(since=T0, until=T0 + timedelta(hours=1), commit="abcdef1", kind="converge-failed")

    request = dynamo_query_request("audit", "dev", query, 25)

    assert request["KeyConditionExpression"] == "pk = :pk AND sk BETWEEN :since AND :until"
    assert request["ExpressionAttributeValues"][":since"] == {"S": "2025-03-04T12:00:00+00:00"}
    assert request["ExpressionAttributeValues"][":until"] == {"S": "2025-03-04T13:00:00+00:00#~"}
    assert "sk" not in request["FilterExpression"] and "finishedAt" not in request["FilterExpression"]
    assert "begins_with(#commit, :commit)" in request["FilterExpression"]


def test_a_time_with_another_offset_is_compared_in_utc(reader):
    from datetime import timezone

    new_york = timezone(timedelta(hours=-5))
    since = (T0 + timedelta(minutes=10)).astimezone(new_york)

    assert minutes_of(reader.records("dev", HistoryQuery(since=since))) == [11, 10]


def test_the_reader_follows_the_components_audit_log(dynamo_log, file_log):
    assert isinstance(history_reader(dynamo_log), DynamoHistory)
    assert isinstance(history_reader(file_log), FileHistory)
    from reconciler.errors import SettingsError

    with pytest.raises(SettingsError, match="cannot be read back"):
        history_reader(object())
