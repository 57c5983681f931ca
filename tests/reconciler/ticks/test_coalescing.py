"""Ticks coalesce: one pending wake-up per rollout and time, whatever is sent.

The defect this pins: after a few CLI actions a bake ran 32 ticks per 120 s instead of 4, because
every wake-up (each CLI action sends one) started a chain of ticks of its own.

Real (moto): the rollout world of tests/reconciler/rollout (ALB, ECS, ECR, CloudWatch, the rollout
table), the tick queue (SQS), the RolloutController, the TickRunner and the CoalescingTickScheduler.
A test double: ``ClockedSqsDouble`` (conftest; moto applies ``DelaySeconds`` in real time, so a test
on the fake clock holds delayed messages until the clock reaches them). AWS API calls are counted
with a botocore ``before-call.*.*`` hook on every client the tick path uses.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from reconciler.rollout.model import RolloutPhase
from reconciler.ticks.runner import TickTimings
from reconciler.ticks.schedule import CoalescingTickScheduler, TickMessage, WakeState, WakeWatchdog

ROLLOUT_TABLE = "ecs-gitops-rollouts"
GRACE = 120  # the grace make_rig gives its scheduler


def bake_with_wakeups(world: Any, kit: Any, ticks_kit: Any, service: str, extra_wakeups: int, coalescing: bool = True) -> tuple[int, int, TickRig]:
    """Ticks handled and AWS calls made during the 120 s bake after ``extra_wakeups`` immediate wake-ups."""
    record, poll = ticks_kit.baking(world, kit, service)
    rig = ticks_kit.make_rig(world, f"ticks-{service}", coalescing)
    start = world.clock()
    mark = len(rig.api.calls)
    rig.scheduler.schedule(record.rollout_id, poll, start)  # the bake's own next poll
    for _ in range(extra_wakeups):  # what each CLI action (pause, resume, promote ...) sends
        rig.scheduler.schedule(record.rollout_id, world.clock(), world.clock())
    handled = rig.run_until(start + timedelta(seconds=119))
    assert all(r.rollout_id == record.rollout_id for r in handled)
    assert world.store.get(record.rollout_id).phase == RolloutPhase.BAKING
    return len(handled), len(rig.api.since(mark)), rig


# --------------------------------------------------------------------------- (a) one live chain


def test_many_wakeups_of_one_baking_rollout_leave_one_chain_of_ticks(world, kit, ticks_kit):
    baseline_ticks, baseline_calls, _ = bake_with_wakeups(world, kit, ticks_kit, "api-gateway", extra_wakeups=1)
    ticks, calls, rig = bake_with_wakeups(world, kit, ticks_kit, "frontend", extra_wakeups=8)

    # A 120 s bake watches alarms every 30 s: 4 ticks, however many wake-ups were sent.
    assert (baseline_ticks, ticks) == (4, 4)
    # Bounded: the extra wake-ups cost one read each, plus one dropped tick for the poll the first replaced.
    assert calls <= baseline_calls + 8 + 3, Counter(rig.api.names())
    # Of everything on the queue, only the tick of the one pending wake-up is live.
    tokens = [TickMessage.model_validate_json(body).token for body in rig.sqs.sent]
    assert len(tokens) == len(set(tokens)) and len(tokens) == 2 + 4  # the poll, the first wake-up, then each tick's next wake-up


def test_the_same_wakeups_on_the_uncoalesced_scheduler_multiply_the_ticks(world, kit, ticks_kit):
    """What main did (SqsTickScheduler): every wake-up starts its own chain (measured: 35 ticks, 211 AWS
    calls in the bake, against 4 and about 60 coalesced). This keeps the rig above honest: it does
    deliver every duplicate, so the 4 of the coalesced run are not an artefact of the rig."""
    ticks, _, _ = bake_with_wakeups(world, kit, ticks_kit, "frontend", extra_wakeups=8, coalescing=False)
    assert ticks > 30  # 8 chains at once, then 9 chains every 30 s


# --------------------------------------------------------------------------- (b) an earlier wake-up replaces a later poll


def test_an_earlier_wakeup_replaces_a_later_pending_poll_and_a_later_one_adds_nothing(world, kit, ticks_kit):
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    rig.scheduler.schedule(record.rollout_id, now + timedelta(seconds=30), now)
    poll = rig.scheduler.wake(record.rollout_id)

    rig.scheduler.schedule(record.rollout_id, now, now, cause="alarm frontend-5xx entered ALARM")  # an event
    event = rig.scheduler.wake(record.rollout_id)
    assert (event.at, event.state) == (now, WakeState.PENDING) and event.token != poll.token
    assert TickMessage.model_validate_json(rig.sqs.sent[-1]).cause == "alarm frontend-5xx entered ALARM"

    rig.scheduler.schedule(record.rollout_id, now + timedelta(seconds=60), now)  # a later poll: nothing new
    assert rig.scheduler.wake(record.rollout_id) == event and len(rig.sqs.sent) == 2

    handled = rig.run_until(now + timedelta(seconds=31))
    # The event's tick at once, then its own next poll at 30 s; the replaced poll's tick was dropped.
    assert len(handled) == 2 and len(rig.sqs.sent) == 4


# --------------------------------------------------------------------------- (c) a stale tick costs no AWS call


def test_a_stale_tick_is_dropped_before_it_reads_the_rollout_or_calls_aws(world, kit, ticks_kit, caplog):
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    stale = TickMessage(rollout_id=record.rollout_id, not_before=now, token="superseded-token")
    rig.scheduler.schedule(record.rollout_id, now + timedelta(seconds=30), now)  # the live wake-up, not due yet
    world.sqs.send_message(QueueUrl=rig.url, MessageBody=stale.body())
    version = world.store.get(record.rollout_id).version

    mark = len(rig.api.calls)
    with caplog.at_level("INFO", logger="ecs_gitops.ticks"):
        assert rig.runner.run_once() == []

    # The receive, the failed conditional claim, the delete: no rollout read, no ALB/ECS/CloudWatch call.
    assert rig.api.since(mark) == ["sqs.ReceiveMessage", "dynamodb.UpdateItem", "sqs.DeleteMessage"]
    assert any("newer wake-up replaced it" in r.getMessage() for r in caplog.records)
    assert world.store.get(record.rollout_id).version == version
    assert rig.scheduler.wake(record.rollout_id).state == WakeState.PENDING  # the live one is untouched


def test_a_stale_tick_that_is_not_due_yet_is_dropped_not_requeued(world, kit, ticks_kit):
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    rig.scheduler.schedule(record.rollout_id, now + timedelta(hours=1), now)
    world.sqs.send_message(QueueUrl=rig.url, MessageBody=TickMessage(rollout_id=record.rollout_id, not_before=now + timedelta(hours=2), token="old").body())
    sent = len(rig.sqs.sent)
    assert rig.runner.run_once() == []
    assert len(rig.sqs.sent) == sent  # nothing re-queued for it

    live = rig.scheduler.wake(record.rollout_id)
    world.sqs.send_message(QueueUrl=rig.url, MessageBody=TickMessage(rollout_id=record.rollout_id, not_before=live.at, token=live.token).body())
    assert rig.runner.run_once() == []
    assert TickMessage.model_validate_json(rig.sqs.sent[-1]).token == live.token  # the live one waits on, same token


# --------------------------------------------------------------------------- (d) conditional writes only


class RacingDynamoDouble:
    """TEST DOUBLE around moto's DynamoDB client: runs a one-shot hook just before the next ``put_item``
    reaches moto, to slip another process's write between a scheduler's read and its write (moto
    serves calls one at a time, so the interleaving cannot happen by itself)."""

    def __init__(self, client: Any):
        self._client = client
        self.before_put: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **kwargs: Any) -> Any:
        hook, self.before_put = self.before_put, None
        if hook is not None:
            hook()
        return self._client.put_item(**kwargs)


def test_the_wake_item_moves_only_by_conditional_writes_and_a_lost_race_is_read_again(world, kit, ticks_kit):
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    racing = RacingDynamoDouble(world.dynamodb)
    slow = CoalescingTickScheduler(racing, ROLLOUT_TABLE, rig.sqs, rig.url, overdue_grace_seconds=GRACE, new_token=lambda: "slow")
    fast = CoalescingTickScheduler(world.dynamodb, ROLLOUT_TABLE, rig.sqs, rig.url, overdue_grace_seconds=GRACE, new_token=lambda: "fast")

    # The slow one read "no wake-up" and wants a poll in 30 s; the fast one writes an immediate wake-up first.
    racing.before_put = lambda: fast.schedule(record.rollout_id, now, now)
    slow.schedule(record.rollout_id, now + timedelta(seconds=30), now)

    wake = slow.wake(record.rollout_id)
    assert (wake.token, wake.at) == ("fast", now)  # the slow write failed its condition, re-read, coalesced
    assert [TickMessage.model_validate_json(b).token for b in rig.sqs.sent] == ["fast"]
    assert not slow.claim(record.rollout_id, "slow", now) and not slow.park(record.rollout_id, "slow", now)
    assert slow.wake(record.rollout_id) == wake

    # A whole bake and rollback through the runner: every write to a wake item carries a condition.
    writes = []

    def record_write(params: dict[str, Any], **_: Any) -> None:
        if str(params.get("Key", params.get("Item", {})).get("pk", {}).get("S", "")).startswith("wake#"):
            writes.append(params)

    for operation in ("PutItem", "UpdateItem", "DeleteItem"):
        world.dynamodb.meta.events.register(f"provide-client-params.dynamodb.{operation}", record_write)
    rig.run_until(now + timedelta(seconds=45))
    world.cloudwatch.set_alarm_state(AlarmName="frontend-5xx", StateValue="ALARM", StateReason="test: 5xx")
    rig.scheduler.schedule(record.rollout_id, world.clock(), world.clock(), cause="alarm frontend-5xx entered ALARM")
    rig.run_until(world.clock() + timedelta(seconds=60))
    assert world.store.get(record.rollout_id).phase == RolloutPhase.ROLLED_BACK
    assert len(writes) >= 4 and all(w.get("ConditionExpression") for w in writes)
    assert slow.wake(record.rollout_id) is None  # the finished rollout's wake item is gone


# --------------------------------------------------------------------------- (e) nothing gets stuck


class SendFaultDouble:
    """TEST DOUBLE for the process dying between the wake item's write and the SQS send: ``send_message``
    raises once (moto cannot be made to fail, and a real crash cannot be staged in a test)."""

    def __init__(self, client: Any):
        self._client = client
        self.failures = 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def send_message(self, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the worker died before sending the tick")
        return self._client.send_message(**kwargs)


def test_a_crash_between_the_wake_write_and_the_send_is_rescued_by_the_watchdog(world, kit, ticks_kit):
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    crashing = CoalescingTickScheduler(world.dynamodb, ROLLOUT_TABLE, SendFaultDouble(rig.sqs), rig.url, overdue_grace_seconds=GRACE)
    now = world.clock()
    with pytest.raises(ConnectionError):
        crashing.schedule(record.rollout_id, now + timedelta(seconds=30), now)
    lost = rig.scheduler.wake(record.rollout_id)
    assert lost is not None and lost.state == WakeState.PENDING and rig.sqs.sent == []  # written, never sent

    watchdog = WakeWatchdog(world.store, rig.scheduler)
    world.clock.advance(30 + GRACE)  # within the grace: the pending wake-up may still be on its way
    assert watchdog.sweep(world.clock()) == []
    world.clock.advance(1)
    assert watchdog.sweep(world.clock()) == [record.rollout_id]  # overdue: woken again
    assert watchdog.sweep(world.clock()) == []  # and only once

    handled = rig.run_until(world.clock() + timedelta(seconds=1))
    assert [r.rollout_id for r in handled] == [record.rollout_id]
    assert rig.scheduler.wake(record.rollout_id).at > world.clock() - timedelta(seconds=1)  # its chain goes on


def test_the_watchdog_wakes_an_active_rollout_with_no_wakeup_and_leaves_parked_and_finished_ones(world, kit, ticks_kit):
    frontend, _ = ticks_kit.baking(world, kit, "frontend")
    api, _ = ticks_kit.baking(world, kit, "api-gateway")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    rig.scheduler.schedule(api.rollout_id, now, now)
    assert rig.scheduler.claim(api.rollout_id, rig.scheduler.wake(api.rollout_id).token, now)
    assert rig.scheduler.park(api.rollout_id, rig.scheduler.wake(api.rollout_id).token, now)
    world.sqs.purge_queue(QueueUrl=rig.url)  # its tick went to the DLQ

    world.clock.advance(GRACE + 60)
    assert world.store.active_ids() == sorted([frontend.rollout_id, api.rollout_id])
    assert rig.runner.sweep() == [frontend.rollout_id]  # no wake-up at all: woken; the parked one left for a person

    handled = rig.run_until(world.clock() + timedelta(seconds=1))
    assert [r.rollout_id for r in handled] == [frontend.rollout_id]


def test_a_failing_tick_keeps_its_token_through_its_retries_and_the_watchdog_waits_for_them(world, kit, ticks_kit):
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    rig.runner.timings = TickTimings()
    now = world.clock()
    rig.scheduler.schedule(record.rollout_id, now, now)
    token = rig.scheduler.wake(record.rollout_id).token

    class ObserveFaultDouble:
        """Stands for CloudWatch throttling the alarm reads (moto cannot be made to)."""

        def observe(self, record, now):
            raise RuntimeError("cloudwatch DescribeAlarms throttled")

    observer, rig.runner.rollouts.controller.observer = rig.runner.rollouts.controller.observer, ObserveFaultDouble()
    assert rig.runner.run_once() == []
    wake = rig.scheduler.wake(record.rollout_id)
    assert (wake.token, wake.state, wake.at) == (token, WakeState.CLAIMED, now + timedelta(seconds=30))  # comes back in 30 s
    world.clock.advance(30 + GRACE)
    assert rig.runner.sweep() == []  # the retry is not overdue yet: no second chain

    rig.runner.rollouts.controller.observer = observer
    # The backoff has passed (moto applies it in real time): the tick is visible again.
    world.sqs.change_message_visibility(QueueUrl=rig.url, ReceiptHandle=rig.sqs.hidden[-1], VisibilityTimeout=0)
    assert [r.rollout_id for r in rig.runner.run_once()] == [record.rollout_id]  # the same token, retried
    assert rig.scheduler.wake(record.rollout_id).token != token  # and its chain goes on
