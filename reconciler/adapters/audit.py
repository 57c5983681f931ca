"""The audit log: one append-only DynamoDB item per job attempt.

Items are written with a conditional put on a key that has never existed, and this module has
no update or delete: an auditor can rely on a record never changing after it is written.
Key: ``pk = stack``, ``sk = <finished-at ISO>#<job id>#<attempt>``.
"""

from __future__ import annotations

import json
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from reconciler.errors import ConflictError
from reconciler.models import AuditRecord

_serializer, _deserializer = TypeSerializer(), TypeDeserializer()


class AuditLog:
    def __init__(self, dynamodb_client: Any, table_name: str):
        self._ddb = dynamodb_client
        self._table = table_name

    @staticmethod
    def sort_key(record: AuditRecord) -> str:
        return f"{record.finished_at.isoformat()}#{record.job_id}#{record.attempt:04d}"

    def append(self, record: AuditRecord) -> None:
        document = json.loads(record.model_dump_json(by_alias=True))
        item = {
            "pk": {"S": record.stack},
            "sk": {"S": self.sort_key(record)},
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
                raise ConflictError(f"audit record {self.sort_key(record)} for {record.stack} already exists; records are never overwritten") from None
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
