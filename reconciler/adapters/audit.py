"""The audit log: one append-only DynamoDB item per job attempt.

Items are written with a conditional put on a key that has never existed, and this module has
no update or delete: an auditor can rely on a record never changing after it is written.
Key: ``pk = stack``, ``sk = <finished-at ISO>#<job id>#<attempt>``.

Every record passes the :class:`~reconciler.redact.Redactor` on its way in: a record written once
is never rewritten, so a secret that reached it would stay there for good.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from reconciler.errors import ConflictError
from reconciler.models import AuditRecord
from reconciler.redact import Redactor


class AuditLog(Protocol):
    def append(self, record: AuditRecord) -> None: ...

    def history(self, stack: str, limit: int = 50) -> list[AuditRecord]: ...


def sort_key(record: AuditRecord) -> str:
    return f"{record.finished_at.isoformat()}#{record.job_id}#{record.attempt:04d}"


def scrubbed_document(record: AuditRecord, redactor: Redactor) -> dict[str, Any]:
    """The record as stored (camelCase JSON), every field scrubbed."""
    return redactor.scrub_value(json.loads(record.model_dump_json(by_alias=True)))


class DynamoAuditLog:
    def __init__(self, dynamodb_client: Any, table_name: str, redactor: Redactor | None = None):
        self._ddb = dynamodb_client
        self._table = table_name
        self._redactor = redactor or Redactor()

    def append(self, record: AuditRecord) -> None:
        document = scrubbed_document(record, self._redactor)
        item = {
            "pk": {"S": record.stack},
            "sk": {"S": sort_key(record)},
            "jobId": {"S": record.job_id},
            "record": {"S": json.dumps(document, sort_keys=True)},
        }
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) AND attribute_not_exists(sk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConflictError(f"audit record {sort_key(record)} for {record.stack} already exists; records are never overwritten") from None
            raise

    def history(self, stack: str, limit: int = 50) -> list[AuditRecord]:
        response = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": stack}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [AuditRecord.model_validate_json(item["record"]["S"]) for item in response.get("Items", [])]


class FileAuditLog:
    """One file per record under ``directory/<stack>/``, created exclusively: never overwritten."""

    def __init__(self, directory: str | Path, redactor: Redactor | None = None):
        self.directory = Path(directory).expanduser()
        self._redactor = redactor or Redactor()

    def append(self, record: AuditRecord) -> None:
        folder = self.directory / record.stack.replace("/", "_")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (sort_key(record).replace(":", "-") + ".json")
        try:
            with open(path, "x") as handle:
                handle.write(json.dumps(scrubbed_document(record, self._redactor), indent=2))
        except FileExistsError:
            raise ConflictError(f"audit record {path.name} for {record.stack} already exists; records are never overwritten") from None

    def history(self, stack: str, limit: int = 50) -> list[AuditRecord]:
        folder = self.directory / stack.replace("/", "_")
        files = sorted(folder.glob("*.json"), reverse=True)[:limit] if folder.exists() else []
        return [AuditRecord.model_validate_json(f.read_text()) for f in files]
