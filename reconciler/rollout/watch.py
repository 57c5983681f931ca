"""Which running rollouts wait for which AWS resource, so an event about it can wake them at once.

Items in the rollout table, one per watched resource: ``pk = watch#<kind>#<key>`` with a string
set ``rolloutIds``. Kinds and keys:

* ``alarm``: the alarm's name (the to-colour's program alarms and the desired state's ``alarms``);
* ``ecs-service``: ``<cluster>/<service name>`` (both colours' ECS services);
* ``image``: ``<ECR repository>@<digest>`` (the new image, whose scan the rollout may wait for).

Names carry the environment suffix (``alarm-frontend-green-5xx-dev``, ``ecs-cluster-dev``,
``ecr-frontend-dev``), so one environment's events never find another's rollouts.

Every change is one atomic ``ADD`` or ``DELETE`` on the set: two rollouts watching the same
resource (a superseded one finishing while the next starts) never overwrite each other, and
nothing is read first. The intake only reads (``watching``); a stale id (a failure or crash
between a rollout's final write and its unwatch) costs one tick, which finds the record terminal
and finishes the unwatch (``RolloutStore.finish``), so the id goes the first time it is seen.

This module is imported by the intake Lambda: it must stay light (no rollout model at import time).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from reconciler.rollout.model import RolloutRecord

ALARM = "alarm"
ECS_SERVICE = "ecs-service"
IMAGE = "image"
WATCH_KINDS = (ALARM, ECS_SERVICE, IMAGE)
WATCHERS = "rolloutIds"


def watch_key(kind: str, key: str) -> str:
    if kind not in WATCH_KINDS:
        raise ValueError(f"unknown watch kind {kind!r}; one of {', '.join(WATCH_KINDS)}")
    return f"watch#{kind}#{key}"


def ecs_service_key(cluster: str, service: str) -> str:
    return f"{cluster}/{service}"


def image_key(repository: str, digest: str) -> str:
    return f"{repository}@{digest}"


def watched_resources(record: RolloutRecord) -> list[tuple[str, str]]:
    """(kind, key) of everything an event about which should wake ``record``, each once, in a stable order."""
    resources = record.resources
    found: list[tuple[str, str]] = []
    for alarm in (*resources.colour_alarms.get(record.to_colour, ()), *record.spec.alarms):
        found.append((ALARM, alarm))
    for _colour, service in sorted(resources.ecs_services.items()):
        found.append((ECS_SERVICE, ecs_service_key(resources.cluster, service)))
    if record.new_image.digest:
        found.append((IMAGE, image_key(resources.repository, record.new_image.digest)))
    return list(dict.fromkeys(found))


class RolloutWatchIndex:
    """The watch items of the rollout table (see the module docstring)."""

    def __init__(self, dynamodb_client: Any, table_name: str):
        self._ddb = dynamodb_client
        self._table = table_name

    def watch_updates(self, record: RolloutRecord) -> list[dict[str, Any]]:
        """``TransactWriteItems`` entries adding ``record`` to the watchers of each of its resources."""
        return [{"Update": self._change("ADD", kind, key, record.rollout_id)} for kind, key in watched_resources(record)]

    def watch(self, record: RolloutRecord) -> None:
        self._apply("ADD", watched_resources(record), record.rollout_id)

    def unwatch(self, record: RolloutRecord) -> None:
        """Take ``record`` off every resource it watched; a resource nobody watches any more loses its item."""
        for kind, key in watched_resources(record):
            left = self._ddb.update_item(**self._change("DELETE", kind, key, record.rollout_id), ReturnValues="ALL_NEW")
            if WATCHERS in left.get("Attributes", {}):
                continue
            try:
                # Only while still empty: a rollout that started watching meanwhile keeps its item.
                self._ddb.delete_item(
                    TableName=self._table, Key={"pk": {"S": watch_key(kind, key)}}, ConditionExpression=f"attribute_not_exists({WATCHERS})"
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    def watching(self, kind: str, key: str) -> list[str]:
        """Ids of the rollouts watching ``key`` of ``kind``, sorted; empty when none."""
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": watch_key(kind, key)}}, ConsistentRead=True).get("Item")
        return sorted(item[WATCHERS]["SS"]) if item and WATCHERS in item else []

    def _apply(self, action: str, resources: Iterable[tuple[str, str]], rollout_id: str) -> None:
        for kind, key in resources:
            self._ddb.update_item(**self._change(action, kind, key, rollout_id))

    def _change(self, action: str, kind: str, key: str, rollout_id: str) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": watch_key(kind, key)}},
            "UpdateExpression": f"{action} {WATCHERS} :id",
            "ExpressionAttributeValues": {":id": {"SS": [rollout_id]}},
        }
