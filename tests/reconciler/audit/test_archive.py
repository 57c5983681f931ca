"""The WORM copy: each chained record written to an Object Lock bucket (compliance mode) and compared with the table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.adapters.audit import DynamoAuditLog
from reconciler.audit.archive import AuditArchive, archive_key
from reconciler.audit.chain import StoredRecord, canonical_json

BUCKET = "ecs-gitops-audit-archive-123456789012"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def s3(audit_aws):
    client = audit_aws.session.client("s3")
    client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    client.put_object_lock_configuration(
        Bucket=BUCKET, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}}}
    )
    return client


def archived_log(audit_aws, s3, retention_days=None):
    archive = AuditArchive(s3, BUCKET, retention_days=retention_days, clock=lambda: NOW)
    return DynamoAuditLog(audit_aws.dynamodb, audit_aws.audit_table, archive=archive), archive


def test_each_chained_record_is_archived_under_its_stack_and_sequence_in_compliance_mode(audit_aws, s3, audit_record):
    log, _ = archived_log(audit_aws, s3, retention_days=2557)
    first = log.append(audit_record("dev", "a" * 32))
    second = log.append(audit_record("dev", "b" * 32, minutes=1))

    for stored in (first, second):
        key = archive_key("dev", stored.sequence)
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] == NOW + timedelta(days=2557)
        assert head["Metadata"] == {"record-key": stored.key, "record-hash": stored.hash}
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body == canonical_json(stored.document)
    assert archive_key("dev", 2) == "audit/dev/000000000002.json"


def test_without_a_retention_setting_the_buckets_default_retention_applies(audit_aws, s3, audit_record):
    log, _ = archived_log(audit_aws, s3)
    stored = log.append(audit_record("dev", "a" * 32))

    head = s3.head_object(Bucket=BUCKET, Key=archive_key("dev", stored.sequence))

    assert head["ObjectLockMode"] == "COMPLIANCE"  # the bucket's default rule


def test_an_archived_copy_is_never_replaced(audit_aws, s3, audit_record):
    log, archive = archived_log(audit_aws, s3)
    stored = log.append(audit_record("dev", "a" * 32))

    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="PreconditionFailed"):
        archive.put("dev", StoredRecord(stored.key, {**stored.document, "outcome": "failed"}))
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=archive_key("dev", 1))["Body"].read())["outcome"] == "succeeded"


def test_the_comparison_names_a_record_that_differs_is_missing_in_the_archive_or_missing_in_the_table(audit_aws, s3, audit_record):
    log, archive = archived_log(audit_aws, s3)
    written = [log.append(audit_record("dev", c * 32, minutes=i)) for i, c in enumerate("abcd")]
    assert archive.compare("dev", log.stored_records("dev")) == []

    ddb = audit_aws.dynamodb
    edited = {**written[1].document, "approvedBy": "nobody"}
    ddb.put_item(TableName=audit_aws.audit_table, Item={"pk": {"S": "dev"}, "sk": {"S": written[1].key}, "jobId": {"S": "b" * 32}, "record": {"S": json.dumps(edited)}})
    ddb.delete_item(TableName=audit_aws.audit_table, Key={"pk": {"S": "dev"}, "sk": {"S": written[3].key}})
    # A record the archive never saw (written past it, as when its copy failed).
    unarchived = DynamoAuditLog(audit_aws.dynamodb, audit_aws.audit_table).append(audit_record("dev", "e" * 32, minutes=9))

    mismatches = archive.compare("dev", log.stored_records("dev"))

    assert [(m.kind, m.sequence) for m in mismatches] == [("differs-from-archive", 2), ("missing-in-table", 4), ("missing-in-archive", 5)]
    assert "approvedBy" in mismatches[0].detail
    assert "d" * 32 in mismatches[1].detail
    assert unarchived.key in mismatches[2].detail


def test_an_archive_that_cannot_be_written_does_not_lose_the_table_record(audit_aws, s3, audit_record, caplog):
    archive = AuditArchive(s3, "no-such-bucket-anywhere", clock=lambda: NOW)
    log = DynamoAuditLog(audit_aws.dynamodb, audit_aws.audit_table, archive=archive)

    log.append(audit_record("dev", "a" * 32))

    assert [r.job_id for r in log.history("dev")] == ["a" * 32]
    assert "was not copied to the archive bucket" in caplog.text
    [missing] = AuditArchive(s3, BUCKET).compare("dev", log.stored_records("dev"))
    assert (missing.kind, missing.sequence) == ("missing-in-archive", 1)


def test_wiring_builds_the_archive_from_the_settings(audit_aws, s3, git_repo, tmp_path, audit_record):
    from reconciler.settings import AwsResources, ReconcilerSettings, RepositorySettings
    from reconciler.wiring import build

    settings = ReconcilerSettings(
        repository=RepositorySettings(url=str(git_repo.path), branch="main"),
        environments={"dev": {"stack": "dev", "suffix": "dev"}},
        backend_url=f"file://{tmp_path / 'backend'}",
        work_dir=str(tmp_path / "work"),
        aws=AwsResources(audit_table=audit_aws.audit_table, audit_archive_bucket=BUCKET, audit_archive_retention_days=7),
    )
    components = build(settings, state_dir=tmp_path, boto3_session=audit_aws.session, clock=lambda: NOW)

    stored = components.audit.append(audit_record("dev", "a" * 32))

    assert components.audit.archive.bucket == BUCKET
    head = s3.head_object(Bucket=BUCKET, Key=archive_key("dev", stored.sequence))
    assert head["ObjectLockRetainUntilDate"] == NOW + timedelta(days=7)


def test_the_archive_bucket_arrives_from_the_templates_environment_variable(tmp_path, monkeypatch):
    from reconciler.settings import load_settings

    path = tmp_path / "settings.yaml"
    path.write_text("repository: {url: https://example.com/r.git}\nenvironments: {dev: {stack: dev, suffix: dev}}\n")
    monkeypatch.setenv("ECS_GITOPS_AUDIT_ARCHIVE_BUCKET", BUCKET)

    assert load_settings(path).aws.audit_archive_bucket == BUCKET


def test_a_stack_whose_name_extends_another_keeps_its_own_archive(audit_aws, s3, audit_record):
    log, archive = archived_log(audit_aws, s3)
    log.append(audit_record("org/app", "a" * 32))
    log.append(audit_record("org/app/dev", "b" * 32))
    log.append(audit_record("org/app/dev", "c" * 32, minutes=1))

    assert archive.sequences("org/app") == [1]
    assert archive.sequences("org/app/dev") == [1, 2]
    assert archive.compare("org/app", log.stored_records("org/app")) == []
