"""Rollout records in DynamoDB; every transition is a conditional write on the version number."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from reconciler.errors import ConflictError, ReconcilerError, StartConditionFailedError
from reconciler.rollout.model import RolloutRecord
from reconciler.rollout.watch import RolloutWatchIndex

log = logging.getLogger("ecs_gitops.rollout")

# DynamoDB's limit on the items of one TransactWriteItems call.
TRANSACTION_ITEMS = 100
# The coalescing scheduler's wake item (``reconciler.ticks.schedule.WAKE_PREFIX``; that module imports this one).
WAKE_KEY_PREFIX = "wake#"
# The table's TTL attribute (template.yaml, RolloutTable): DynamoDB deletes an item some time after it.
EXPIRES_AT = "expiresAt"
# How long a finished rollout's leftover wake item stays before DynamoDB's TTL removes it.
DEFAULT_FINISHED_RETENTION_SECONDS = 7 * 86400


class RolloutStore:
    """Items ``pk = rollout#<id>``, plus ``pk = active#<stack>#<service>`` pointing at the running rollout
    and the ``watch#...`` items of :class:`~reconciler.rollout.watch.RolloutWatchIndex` naming what it waits for."""

    # TransactWriteItems entries on other items that a create must also satisfy (see with_start_conditions).
    _start_conditions: tuple[Mapping[str, Any], ...] = ()

    def __init__(self, dynamodb_client: Any, table_name: str, finished_retention_seconds: int = DEFAULT_FINISHED_RETENTION_SECONDS):
        self._ddb = dynamodb_client
        self._table = table_name
        self.watches = RolloutWatchIndex(dynamodb_client, table_name)
        self.finished_retention_seconds = finished_retention_seconds

    def find(self, rollout_id: str) -> RolloutRecord | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": f"rollout#{rollout_id}"}}, ConsistentRead=True).get("Item")
        return RolloutRecord.model_validate_json(item["record"]["S"]) if item else None

    def get(self, rollout_id: str) -> RolloutRecord:
        record = self.find(rollout_id)
        if record is None:
            raise ReconcilerError(f"no rollout {rollout_id}")
        return record

    def with_start_conditions(self, conditions: Sequence[Mapping[str, Any]]) -> RolloutStore:
        """This store, whose :meth:`create` carries ``conditions`` in its own transaction (e.g. the stack status's
        "not suspended" check of :meth:`~reconciler.adapters.stack_state.StackStateStore.hold_suspension`):
        the rollout starts only if they still hold, else :class:`StartConditionFailedError` and nothing is written."""
        view = copy.copy(self)
        view._start_conditions = tuple(conditions)
        return view

    def create(self, record: RolloutRecord) -> RolloutRecord:
        """Store a new rollout and make it the service's active one, only if none is running.

        A pointer that still names a finished rollout (left by a release that deleted it apart
        from the final write) is replaced, conditional on that old id. The rollout starts watching
        its resources (alarms, ECS services, image) in the same transaction, so an event about
        them wakes it from its first moment; watches beyond the transaction's item limit (a
        desired state naming very many alarms) are added right after.
        """
        written = record.model_copy(update={"version": 1})
        watches = self.watches.watch_updates(written)
        conditions = list(self._start_conditions)
        room = TRANSACTION_ITEMS - 3 - len(conditions)
        finished = self._finished_pointed_at(record.stack, record.service)
        pointer_condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if finished is None
            else {"ConditionExpression": "rolloutId = :old", "ExpressionAttributeValues": {":old": {"S": finished.rollout_id}}}
        )
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    *conditions,
                    {"Put": {"TableName": self._table, "Item": self._item(written), "ConditionExpression": "attribute_not_exists(pk)"}},
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {"pk": {"S": self._active_key(record.stack, record.service)}, "rolloutId": {"S": record.rollout_id}},
                            **pointer_condition,
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
            reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons", [])]
            if conditions and "ConditionalCheckFailed" in reasons[: len(conditions)]:
                raise StartConditionFailedError(
                    f"the rollout of {record.service} on {record.stack} was not started: a condition of its start no longer holds"
                ) from None
            if exc.response["Error"]["Code"] in ("TransactionCanceledException", "ConditionalCheckFailedException"):
                raise ConflictError(f"a rollout of {record.service} on {record.stack} is already running; supersede it first") from None
            raise
        for update in watches[room:]:
            self._ddb.update_item(**update["Update"])
        if finished is not None:
            log.info("replaced the active pointer of a finished rollout", extra={"rollout_id": finished.rollout_id, "replaced_by": record.rollout_id})
            self.finish(finished)
        return written

    def _finished_pointed_at(self, stack: str, service: str) -> RolloutRecord | None:
        """The finished rollout the service's active pointer still names, if it does (None: no pointer, or a running one)."""
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": self._active_key(stack, service)}}, ConsistentRead=True).get("Item")
        if not item or "rolloutId" not in item:
            return None
        record = self.find(item["rolloutId"]["S"])
        return record if record is not None and record.phase.terminal else None

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

    def put(self, previous: RolloutRecord, new: RolloutRecord, *, clean_up: bool = True) -> RolloutRecord:
        """Write ``new`` if the stored record is still ``previous`` (its version); ConflictError otherwise.

        A terminal record and the deletion of the service's active pointer are one transaction, so
        the next rollout of the service can start whatever fails afterwards. What is left to clean
        (the watches, the wake item) is :meth:`finish`'s, best-effort: run here, or with
        ``clean_up=False`` by the caller once it has notified the transition (the notification
        must not wait for, or be lost to, a cleanup that fails).
        """
        written = new.model_copy(update={"version": previous.version + 1})
        record_write = {
            "TableName": self._table,
            "Item": self._item(written),
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": {":expected": {"N": str(previous.version)}},
        }
        conflict = ConflictError(f"rollout {new.rollout_id} moved past version {previous.version}; another worker advanced it")
        if not written.phase.terminal:
            try:
                self._ddb.put_item(**record_write)
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    raise conflict from None
                raise
            return written
        pointer_delete = {
            "TableName": self._table,
            "Key": {"pk": {"S": self._active_key(written.stack, written.service)}},
            # A missing pointer is fine; one naming another rollout is not this one's to delete.
            "ConditionExpression": "attribute_not_exists(pk) OR rolloutId = :id",
            "ExpressionAttributeValues": {":id": {"S": written.rollout_id}},
        }
        try:
            self._ddb.transact_write_items(TransactItems=[{"Put": record_write}, {"Delete": pointer_delete}])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] != ["None"] or len(reasons) < 2:
                raise conflict from None
            # Only the pointer's condition failed: it names another rollout; end this one on its own.
            try:
                self._ddb.put_item(**record_write)
            except ClientError as again:
                if again.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    raise conflict from None
                raise
        if clean_up:
            self.finish(written)
        return written

    def finish(self, record: RolloutRecord) -> bool:
        """Clean up after a finished rollout, best-effort and idempotent; True when nothing is left.

        Deletes the active pointer if it still names ``record``, takes ``record`` off every
        resource it watched, and gives its leftover wake item an expiry (the table's TTL). A
        failure is logged, never raised: a leftover watch only wakes a finished rollout, whose
        tick finds the record terminal and runs this again.
        """
        if not record.phase.terminal:
            return False
        clean = True
        steps = (("active pointer", self._drop_pointer), ("watches", self.watches.unwatch), ("wake item", self._expire_wake))
        for what, step in steps:
            try:
                step(record)
            except Exception:  # noqa: BLE001 - the next tick of the finished rollout tries again
                clean = False
                log.warning("could not clean up the %s of a finished rollout; its next tick tries again", what, exc_info=True,
                            extra={"rollout_id": record.rollout_id})
        return clean

    def _drop_pointer(self, record: RolloutRecord) -> None:
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key={"pk": {"S": self._active_key(record.stack, record.service)}},
                ConditionExpression="rolloutId = :id",
                ExpressionAttributeValues={":id": {"S": record.rollout_id}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _expire_wake(self, record: RolloutRecord) -> None:
        """Give the finished rollout's wake item, if any, an expiry; it would otherwise stay forever."""
        expires = int(record.updated_at.timestamp()) + self.finished_retention_seconds
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"{WAKE_KEY_PREFIX}{record.rollout_id}"}},
                UpdateExpression="SET #expires = :expires",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#expires": EXPIRES_AT},
                ExpressionAttributeValues={":expires": {"N": str(expires)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

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
