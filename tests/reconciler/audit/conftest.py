"""Audit-trail fixtures: the DynamoDB log on moto, the file log, and items written the pre-chain way."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.adapters.audit import DynamoAuditLog, FileAuditLog, scrubbed_document, sort_key
from reconciler.redact import Redactor


@pytest.fixture
def audit_aws(aws):
    """Only what the audit trail needs, as template.yaml creates it: the audit table (the reconciler_aws layout's)."""
    from types import SimpleNamespace

    ddb = aws.client("dynamodb")
    ddb.create_table(TableName="ecs-gitops-audit",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    return SimpleNamespace(session=aws, dynamodb=ddb, audit_table="ecs-gitops-audit")


@pytest.fixture
def dynamo_log(audit_aws) -> DynamoAuditLog:
    return DynamoAuditLog(audit_aws.dynamodb, audit_aws.audit_table)


@pytest.fixture
def file_log(tmp_path) -> FileAuditLog:
    return FileAuditLog(tmp_path / "audit")


@pytest.fixture
def write_unchained(audit_aws):
    """``write(record)``: the item exactly as the audit log wrote it before the chain (no sequence, no claim)."""

    def _write(record: Any) -> None:
        document = scrubbed_document(record, Redactor())
        document.pop("sequence", None)
        document.pop("previousHash", None)
        audit_aws.dynamodb.put_item(
            TableName=audit_aws.audit_table,
            Item={"pk": {"S": record.stack}, "sk": {"S": sort_key(record)}, "jobId": {"S": record.job_id}, "record": {"S": json.dumps(document, sort_keys=True)}},
        )

    return _write


class RecordingDynamoDouble:
    """Passes every call to the moto client and records its operation name.

    A double because moto cannot say which operations a caller used; it is needed to prove the
    history never scans the table.
    """

    def __init__(self, client: Any):
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return target(**kwargs)

        return call

    @property
    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def recording_dynamodb():
    return RecordingDynamoDouble
