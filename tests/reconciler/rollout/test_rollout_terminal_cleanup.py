"""A rollout's end survives a failure right after its final write (review finding M1, issue 10).

The terminal record and the deletion of the service's active pointer are one transaction; the
unwatch and the wake item's expiry come after the notification, best-effort, and any tick of the
finished rollout finishes them. A failed call after the final write used to leave the pointer
behind, so no rollout of the service could start again, and the end was never notified.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from reconciler.errors import ConflictError
from reconciler.rollout import commands
from reconciler.rollout.model import RolloutPhase
from reconciler.rollout.store import EXPIRES_AT, WAKE_KEY_PREFIX, RolloutStore
from reconciler.ticks.schedule import WAKE_PREFIX, CoalescingTickScheduler

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


def _throttle(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, operation)


class ThrottledOnceDouble:
    """TEST DOUBLE: moto's DynamoDB client, throttling one chosen call once (moto never throttles).

    ``unwatch``: the first set ``DELETE`` update (taking the rollout off a watched resource);
    ``pointer``: the first ``delete_item`` of an ``active#`` pointer."""

    def __init__(self, client: Any, what: str):
        self._client = client
        self.what = what
        self.armed = False
        self.fired = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **kwargs: Any) -> Any:
        if self.armed and self.what == "unwatch" and kwargs.get("UpdateExpression", "").startswith("DELETE"):
            self.armed, self.fired = False, self.fired + 1
            raise _throttle("UpdateItem")
        return self._client.update_item(**kwargs)

    def delete_item(self, **kwargs: Any) -> Any:
        if self.armed and self.what == "pointer" and kwargs["Key"]["pk"]["S"].startswith("active#"):
            self.armed, self.fired = False, self.fired + 1
            raise _throttle("DeleteItem")
        return self._client.delete_item(**kwargs)


def watchers(world: Any, kit: Any) -> dict[str, list[str]]:
    items = world.dynamodb.scan(TableName=kit.ROLLOUT_TABLE)["Items"]
    return {i["pk"]["S"]: sorted(i["rolloutIds"]["SS"]) for i in items if i["pk"]["S"].startswith("watch#") and "rolloutIds" in i}


def pointer(world: Any, kit: Any, service: str = "frontend") -> str | None:
    item = world.dynamodb.get_item(TableName=kit.ROLLOUT_TABLE, Key={"pk": {"S": f"active#{kit.STACK}#{service}"}}, ConsistentRead=True).get("Item")
    return item["rolloutId"]["S"] if item else None


def aborted_in_bake(world: Any) -> Any:
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING)
    return commands.abort(world.store, record.rollout_id, by="alice", reason="bad", now=world.clock())


def roll_back_with_one_failure(world: Any, controller: Any, double: ThrottledOnceDouble, rollout_id: str) -> int:
    """Tick until the rollout ended, retrying a tick that raised as the tick runtime does; the failed ticks."""
    double.armed = True
    failed = 0
    for _ in range(20):
        try:
            if controller.tick(rollout_id).phase.terminal:
                return failed
        except ClientError:
            failed += 1
    raise AssertionError("the rollback never ended")


@pytest.mark.parametrize("what", ["unwatch", "pointer"])
def test_a_failed_call_after_the_final_write_neither_blocks_the_next_rollout_nor_loses_the_notification(world, kit, what):
    ddb = ThrottledOnceDouble(world.dynamodb, what)
    record = aborted_in_bake(world)
    seen: list[RolloutPhase] = []
    controller = world.controller(store=RolloutStore(ddb, kit.ROLLOUT_TABLE), on_transition=lambda r, t: seen.append(t.to_phase))

    roll_back_with_one_failure(world, controller, ddb, record.rollout_id)
    controller.tick(record.rollout_id)  # the tick runtime's retry of the tick, or a leftover wake-up

    assert ddb.fired == 1, "the throttled call was never made"

    assert world.store.get(record.rollout_id).phase == RolloutPhase.ROLLED_BACK
    assert seen.count(RolloutPhase.ROLLED_BACK) == 1, f"the end of the rollback must be notified exactly once: {seen}"
    assert pointer(world, kit) is None
    # The next push of the service starts a rollout.
    started = world.start("frontend", world.push_image("frontend", "3.0.1"))
    assert started.phase == RolloutPhase.SCANNING
    assert pointer(world, kit) == started.rollout_id


def test_a_leftover_watch_of_a_finished_rollout_is_removed_by_its_next_tick_which_does_nothing_else(world, kit):
    ddb = ThrottledOnceDouble(world.dynamodb, "unwatch")
    record = aborted_in_bake(world)
    controller = world.controller(store=RolloutStore(ddb, kit.ROLLOUT_TABLE))
    ddb.armed = True
    ended = controller.tick(record.rollout_id)
    while not ended.phase.terminal:
        ended = controller.tick(record.rollout_id)
    assert ddb.fired == 1
    # The throttled unwatch left the finished rollout on one watched resource: an event about it wakes it.
    assert any(record.rollout_id in ids for ids in watchers(world, kit).values())
    weights, counts, scheduled = world.alb_weights("frontend"), world.desired_counts("frontend"), len(world.scheduler.calls)

    again = world.controller().tick(record.rollout_id)

    assert again == world.store.get(record.rollout_id) == ended  # nothing written
    assert not any(record.rollout_id in ids for ids in watchers(world, kit).values())
    assert (world.alb_weights("frontend"), world.desired_counts("frontend")) == (weights, counts)
    assert len(world.scheduler.calls) == scheduled  # a finished rollout schedules nothing


def test_a_pointer_still_naming_a_finished_rollout_is_replaced_by_the_next_start_and_its_watches_cleaned(world, kit):
    record = aborted_in_bake(world)
    ended, _ = world.run(record.rollout_id)
    assert ended.phase == RolloutPhase.ROLLED_BACK
    # What a release that deleted the pointer apart from the final write could leave behind.
    world.dynamodb.put_item(
        TableName=kit.ROLLOUT_TABLE, Item={"pk": {"S": f"active#{kit.STACK}#frontend"}, "rolloutId": {"S": record.rollout_id}}
    )
    RolloutStore(world.dynamodb, kit.ROLLOUT_TABLE).watches.watch(ended)

    started = world.start("frontend", world.push_image("frontend", "3.0.1"))

    assert started.phase == RolloutPhase.SCANNING
    assert pointer(world, kit) == started.rollout_id
    assert not any(record.rollout_id in ids for ids in watchers(world, kit).values())


def test_a_running_rollout_still_holds_its_service(world, kit):
    running = world.start("frontend", world.push_image("frontend", "3.0.0"))
    other = running.model_copy(update={"rollout_id": "another"})

    with pytest.raises(ConflictError):
        world.store.create(other)
    assert pointer(world, kit) == running.rollout_id


def test_a_finished_rollouts_wake_item_gets_an_expiry_the_tables_ttl_removes(world, kit):
    assert WAKE_KEY_PREFIX == WAKE_PREFIX
    queue_url = world.sqs.create_queue(QueueName="ticks-ttl")["QueueUrl"]
    record = aborted_in_bake(world)
    wakes = CoalescingTickScheduler(world.dynamodb, kit.ROLLOUT_TABLE, world.sqs, queue_url)
    wakes.schedule(record.rollout_id, world.clock(), world.clock())
    key = {"pk": {"S": f"{WAKE_PREFIX}{record.rollout_id}"}}
    assert EXPIRES_AT not in world.dynamodb.get_item(TableName=kit.ROLLOUT_TABLE, Key=key)["Item"]

    ended, _ = world.run(record.rollout_id)

    wake = world.dynamodb.get_item(TableName=kit.ROLLOUT_TABLE, Key=key)["Item"]
    retention = RolloutStore(world.dynamodb, kit.ROLLOUT_TABLE).finished_retention_seconds
    assert int(wake[EXPIRES_AT]["N"]) == int(ended.updated_at.timestamp()) + retention
    # The rollout's own record and the service's last pointer stay: they are its history.
    items = world.dynamodb.scan(TableName=kit.ROLLOUT_TABLE)["Items"]
    assert not [i["pk"]["S"] for i in items if EXPIRES_AT in i and not i["pk"]["S"].startswith(WAKE_PREFIX)]


class _IntrinsicLoader(yaml.SafeLoader):
    """CloudFormation's short-form intrinsics (``!Ref``, ``!GetAtt``...) read as plain values."""


_IntrinsicLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_the_rollout_table_expires_items_by_that_attribute():
    table = yaml.load(TEMPLATE.read_text(), Loader=_IntrinsicLoader)["Resources"]["RolloutTable"]["Properties"]

    assert table["TimeToLiveSpecification"] == {"AttributeName": EXPIRES_AT, "Enabled": True}


def test_a_final_write_from_a_stale_version_conflicts_and_ends_nothing(world, kit):
    record = aborted_in_bake(world)
    ended, _ = world.run(record.rollout_id)
    assert ended.phase == RolloutPhase.ROLLED_BACK
    behind = world.store.get(record.rollout_id).model_copy(update={"version": ended.version - 1})

    with pytest.raises(ConflictError):
        world.store.put(behind, ended)
    assert world.store.get(record.rollout_id).version == ended.version


def test_a_rollout_ends_even_when_the_pointer_names_another_and_leaves_that_pointer_alone(world, kit):
    record = aborted_in_bake(world)
    world.dynamodb.put_item(TableName=kit.ROLLOUT_TABLE, Item={"pk": {"S": f"active#{kit.STACK}#frontend"}, "rolloutId": {"S": "someone-else"}})

    ended, _ = world.run(record.rollout_id)

    assert ended.phase == RolloutPhase.ROLLED_BACK == world.store.get(record.rollout_id).phase
    assert pointer(world, kit) == "someone-else"
