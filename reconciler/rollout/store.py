"""Rollout records in DynamoDB; every transition is a conditional write on the version number."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from reconciler.errors import ConflictError, ReconcilerError
from reconciler.rollout.model import RolloutRecord
from reconciler.rollout.watch import RolloutWatchIndex

# DynamoDB's limit on the items of one TransactWriteItems call.
TRANSACTION_ITEMS = 100


class RolloutStore:
    """Items ``pk = rollout#<id>``, plus ``pk = active#<stack>#<service>`` pointing at the running rollout
    and the ``watch#...`` items of :class:`~reconciler.rollout.watch.RolloutWatchIndex` naming what it waits for."""

    def __init__(self, dynamodb_client: Any, table_name: str):
        self._ddb = dynamodb_client
        self._table = table_name
        self.watches = RolloutWatchIndex(dynamodb_client, table_name)

    def find(self, rollout_id: str) -> RolloutRecord | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": f"rollout#{rollout_id}"}}, ConsistentRead=True).get("Item")
        return RolloutRecord.model_validate_json(item["record"]["S"]) if item else None

    def get(self, rollout_id: str) -> RolloutRecord:
        record = self.find(rollout_id)
        if record is None:
            raise ReconcilerError(f"no rollout {rollout_id}")
        return record

    def create(self, record: RolloutRecord) -> RolloutRecord:
        """Store a new rollout and make it the service's active one, only if none is active.

        The rollout starts watching its resources (alarms, ECS services, image) in the same
        transaction, so an event about them wakes it from its first moment; watches beyond the
        transaction's item limit (a desired state naming very many alarms) are added right after.
        """
        written = record.model_copy(update={"version": 1})
        watches = self.watches.watch_updates(written)
        room = TRANSACTION_ITEMS - 3
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self._table, "Item": self._item(written), "ConditionExpression": "attribute_not_exists(pk)"}},
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {"pk": {"S": self._active_key(record.stack, record.service)}, "rolloutId": {"S": record.rollout_id}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {"pk": {"S": f"last#{record.stack}#{record.service}"}, "rolloutId": {"S": record.rollout_id}},
                        }
                    },
                    *watches[:room],
                ]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("TransactionCanceledException", "ConditionalCheckFailedException"):
                raise ConflictError(f"a rollout of {record.service} on {record.stack} is already running; supersede it first") from None
            raise
        for update in watches[room:]:
            self._ddb.update_item(**update["Update"])
        return written

    def active(self, stack: str, service: str) -> RolloutRecord | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": self._active_key(stack, service)}}, ConsistentRead=True).get("Item")
        if not item:
            return None
        record = self.get(item["rolloutId"]["S"])
        # A pointer left behind by a crash right after the final write names a finished rollout.
        return None if record.phase.terminal else record

    def latest(self, stack: str, service: str) -> RolloutRecord | None:
        """The service's most recent rollout, running or finished."""
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": f"last#{stack}#{service}"}}, ConsistentRead=True).get("Item")
        return self.get(item["rolloutId"]["S"]) if item else None

    def put(self, previous: RolloutRecord, new: RolloutRecord) -> RolloutRecord:
        written = new.model_copy(update={"version": previous.version + 1})
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=self._item(written),
                ConditionExpression="version = :expected",
                ExpressionAttributeValues={":expected": {"N": str(previous.version)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConflictError(f"rollout {new.rollout_id} moved past version {previous.version}; another worker advanced it") from None
            raise
        if written.phase.terminal:
            # Finished: no event about its resources concerns it any more.
            self.watches.unwatch(written)
            self._ddb.delete_item(
                TableName=self._table,
                Key={"pk": {"S": self._active_key(written.stack, written.service)}},
                ConditionExpression="rolloutId = :id",
                ExpressionAttributeValues={":id": {"S": written.rollout_id}},
            )
        return written

    def active_ids(self) -> list[str]:
        """The ids the ``active#`` pointers name (a pointer may name a rollout that just finished).

        A scan: the rollout table is small (a few items per rollout and service) and only the
        tick runtime's watchdog reads this, once a sweep interval."""
        ids: list[str] = []
        start: dict[str, Any] | None = None
        while True:
            page = self._ddb.scan(
                TableName=self._table, FilterExpression="begins_with(pk, :active)", ProjectionExpression="rolloutId",
                ExpressionAttributeValues={":active": {"S": "active#"}}, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}),
            )
            ids.extend(item["rolloutId"]["S"] for item in page.get("Items", []) if "rolloutId" in item)
            start = page.get("LastEvaluatedKey")
            if not start:
                return sorted(ids)

    @staticmethod
    def _active_key(stack: str, service: str) -> str:
        return f"active#{stack}#{service}"

    @staticmethod
    def _item(record: RolloutRecord) -> dict[str, Any]:
        return {
            "pk": {"S": f"rollout#{record.rollout_id}"},
            "version": {"N": str(record.version)},
            "record": {"S": json.dumps(json.loads(record.model_dump_json(by_alias=True)), sort_keys=True)},
        }
