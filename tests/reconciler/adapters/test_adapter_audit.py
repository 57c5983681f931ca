"""The audit log is append-only: a record is written once and never overwritten."""

from __future__ import annotations

import json

import pytest

from reconciler.adapters.audit import DynamoAuditLog, FileAuditLog, sort_key
from reconciler.audit.chain import Genesis
from reconciler.errors import ConflictError
from reconciler.events import EventKind, Reason


@pytest.fixture
def dynamo_log(reconciler_aws) -> DynamoAuditLog:
    return DynamoAuditLog(reconciler_aws.dynamodb, reconciler_aws.audit_table)


def items(reconciler_aws) -> list[dict]:
    """The record items (each record's sequence claim sits beside it under ``<stack>#chain``)."""
    return [i for i in reconciler_aws.dynamodb.scan(TableName=reconciler_aws.audit_table)["Items"] if not i["pk"]["S"].endswith("#chain")]


def chained(record, sequence: int = 1, previous_hash: str | None = None):
    """``record`` as the log gives it back: with its place in the stack's hash chain (the first links to the chain's genesis)."""
    if sequence == 1 and previous_hash is None:
        previous_hash = Genesis.of([]).hash(record.stack)
    return record.model_copy(update={"sequence": sequence, "previous_hash": previous_hash})


def test_dynamo_append_writes_one_item_keyed_by_stack_and_finish_time(dynamo_log, reconciler_aws, audit_record):
    record = audit_record("dev", "j" * 32)

    dynamo_log.append(record)

    [item] = items(reconciler_aws)
    assert item["pk"] == {"S": "dev"}
    assert item["sk"] == {"S": f"{record.finished_at.isoformat()}#{'j' * 32}#0001"}
    assert item["sk"]["S"] == sort_key(record)
    assert item["jobId"] == {"S": "j" * 32}
    stored = json.loads(item["record"]["S"])
    assert stored["jobId"] == "j" * 32
    assert stored["kind"] == "converge-succeeded"
    assert stored["plan"]["create"] == 1
    assert stored["sequence"] == 1 and stored["previousHash"] == dynamo_log.genesis("dev").hash("dev")
    assert dynamo_log.history("dev") == [chained(record)]


def test_dynamo_second_append_of_the_same_record_conflicts_and_changes_nothing(dynamo_log, reconciler_aws, audit_record):
    original = audit_record("dev", "k" * 32)
    dynamo_log.append(original)
    before = items(reconciler_aws)

    with pytest.raises(ConflictError, match="already exists; records are never overwritten"):
        dynamo_log.append(original)
    # Same key, different content: still refused, the first record stays.
    rewrite = original.model_copy(update={"outcome": "failed", "kind": EventKind.CONVERGE_FAILED, "reason": Reason.ENGINE_FAILED, "error": "rewritten"})
    with pytest.raises(ConflictError):
        dynamo_log.append(rewrite)

    assert items(reconciler_aws) == before
    assert dynamo_log.history("dev") == [chained(original)]


def test_dynamo_another_attempt_of_the_same_job_is_a_new_record(dynamo_log, audit_record):
    first = audit_record("dev", "r" * 32, attempt=1)
    second = audit_record("dev", "r" * 32, attempt=2)

    dynamo_log.append(first)
    dynamo_log.append(second)

    assert {r.attempt for r in dynamo_log.history("dev")} == {1, 2}


def test_dynamo_history_is_newest_first_per_stack_and_limited(dynamo_log, audit_record):
    # Appended out of order on purpose.
    for minutes, job in [(5, "b"), (0, "a"), (30, "d"), (12, "c")]:
        dynamo_log.append(audit_record("dev", job * 32, minutes=minutes))
    dynamo_log.append(audit_record("prod", "z" * 32, minutes=60))

    history = dynamo_log.history("dev")

    assert [r.job_id[0] for r in history] == ["d", "c", "b", "a"]
    assert [r.job_id[0] for r in dynamo_log.history("dev", limit=2)] == ["d", "c"]
    assert [r.job_id[0] for r in dynamo_log.history("prod")] == ["z"]
    assert dynamo_log.history("staging") == []


def test_file_append_writes_once_and_never_overwrites(tmp_path, audit_record):
    log = FileAuditLog(tmp_path / "audit")
    original = audit_record("dev", "f" * 32)

    log.append(original)
    [path] = (tmp_path / "audit" / "dev").glob("*.json")
    written = path.read_text()

    with pytest.raises(ConflictError, match="never overwritten"):
        log.append(original)
    with pytest.raises(ConflictError):
        log.append(original.model_copy(update={"error": "rewritten", "outcome": "failed"}))

    assert path.read_text() == written
    assert ":" not in path.name  # file-system-safe name
    assert log.history("dev") == [chained(original)]


def test_file_history_is_newest_first_and_limited(tmp_path, audit_record):
    log = FileAuditLog(tmp_path)
    for minutes, job in [(5, "b"), (0, "a"), (30, "d"), (12, "c")]:
        log.append(audit_record("dev", job * 32, minutes=minutes))
    log.append(audit_record("prod", "z" * 32, minutes=60))

    assert [r.job_id[0] for r in log.history("dev")] == ["d", "c", "b", "a"]
    assert [r.job_id[0] for r in log.history("dev", limit=3)] == ["d", "c", "b"]
    assert [r.job_id[0] for r in log.history("prod")] == ["z"]
    assert log.history("staging") == []


def test_file_and_dynamo_logs_agree_on_order_with_sub_second_times(tmp_path, dynamo_log, audit_record):
    from datetime import timedelta

    base = audit_record("dev", "a" * 32)
    later = audit_record("dev", "b" * 32, finished_at=base.finished_at + timedelta(milliseconds=500))
    file_log = FileAuditLog(tmp_path)
    for log in (file_log, dynamo_log):
        log.append(later)
        log.append(base)

    assert [r.job_id[0] for r in file_log.history("dev")] == ["b", "a"]
    assert [r.job_id[0] for r in dynamo_log.history("dev")] == ["b", "a"]
