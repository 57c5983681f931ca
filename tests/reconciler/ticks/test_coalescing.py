"""Ticks coalesce: one pending wake-up per rollout and time, whatever is sent.

The defect this pins: after a few CLI actions a bake ran 32 ticks per 120 s instead of 4, because
every wake-up (each CLI action sends one) started a chain of ticks of its own.

Real (moto): the rollout world of tests/reconciler/rollout (ALB, ECS, ECR, CloudWatch, the rollout
table), the tick queue (SQS), the RolloutController, the TickRunner and the CoalescingTickScheduler.
A test double: :class:`ClockedSqsDouble` (moto applies ``DelaySeconds`` in real time, so a test on
the fake clock holds delayed messages until the clock reaches them). AWS API calls are counted with
a botocore ``before-call.*.*`` hook on every client the tick path uses.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from reconciler.rollout.controller import SqsTickScheduler
from reconciler.rollout.model import RolloutPhase, RolloutRecord
from reconciler.ticks.runner import TickRunner, TickTimings
from reconciler.ticks.schedule import CoalescingTickScheduler, TickMessage, WakeState, WakeWatchdog
from reconciler.wiring import RolloutComponents

ROLLOUT_TABLE = "ecs-gitops-rollouts"
GRACE = 120


class ClockedSqsDouble:
    """TEST DOUBLE around moto's SQS client, for message delays only.

    moto applies ``DelaySeconds`` in real time, so a test on a fake clock could never let a delay
    pass. A message sent with a delay is held here until the fake clock reaches its time, then sent
    to moto with no delay; every other call (and every undelayed send) goes straight to moto.
    """

    def __init__(self, client: Any, clock: Any):
        self._client = client
        self._clock = clock
        self.held: list[tuple[datetime, dict[str, Any]]] = []
        self.sent: list[str] = []  # every body sent, held or not
        self.hidden: list[str] = []  # receipts whose visibility the runner changed (a retry's backoff)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        delay = kwargs.pop("DelaySeconds", 0)
        self.sent.append(kwargs["MessageBody"])
        if delay <= 0:
            return self._client.send_message(**kwargs)
        self.held.append((self._clock() + timedelta(seconds=delay), kwargs))
        return {"MessageId": f"held-{len(self.held)}"}

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        due = [(at, message) for at, message in self.held if at <= self._clock()]
        self.held = [(at, message) for at, message in self.held if at > self._clock()]
        for _, message in sorted(due, key=lambda held: held[0]):
            self._client.send_message(**message)
        return self._client.receive_message(**kwargs)

    def change_message_visibility(self, **kwargs: Any) -> dict[str, Any]:
        self.hidden.append(kwargs["ReceiptHandle"])
        return self._client.change_message_visibility(**kwargs)

    def next_due(self) -> datetime | None:
        return min((at for at, _ in self.held), default=None)


@dataclass
class ApiCalls:
    """Every AWS API call the tick path makes, counted by a botocore ``before-call`` hook."""

    calls: list[str] = field(default_factory=list)

    def hook(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}.{model.name}")

    def names(self) -> list[str]:
        return list(self.calls)

    def since(self, mark: int) -> list[str]:
        return self.names()[mark:]


@dataclass
class TickRig:
    world: Any
    url: str
    sqs: ClockedSqsDouble
    scheduler: Any
    runner: TickRunner
    api: ApiCalls

    def drain(self) -> list[RolloutRecord]:
        """Handle every tick visible now (the runner's rounds until the queue has nothing due)."""
        handled: list[RolloutRecord] = []
        while True:
            before = len(self.api.calls)
            batch = self.runner.run_once()
            handled.extend(batch)
            received = [c for c in self.api.since(before) if c == "sqs.DeleteMessage" or c.startswith("sqs.ChangeMessage")]
            if not batch and not received:
                return handled

    def run_until(self, end: datetime) -> list[RolloutRecord]:
        """Let the fake clock run to ``end``, handling each tick when it comes due."""
        handled = self.drain()
        while (due := self.sqs.next_due()) is not None and due < end:
            self.world.clock.set(max(self.world.clock(), due))
            handled.extend(self.drain())
        self.world.clock.set(max(self.world.clock(), end))
        return handled


def make_rig(world: Any, name: str, coalescing: bool = True) -> TickRig:
    url = world.sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs = ClockedSqsDouble(world.sqs, world.clock)
    scheduler: Any = (
        CoalescingTickScheduler(world.dynamodb, ROLLOUT_TABLE, sqs, url, overdue_grace_seconds=GRACE) if coalescing else SqsTickScheduler(sqs, url)
    )
    controller = world.controller()
    controller.scheduler = scheduler
    runner = TickRunner(RolloutComponents(world.store, controller, None, url), sqs, clock=world.clock)  # type: ignore[arg-type]
    api = ApiCalls()
    for client in (world.sqs, world.dynamodb, world.elbv2, world.ecs, world.ecr, world.cloudwatch, world.autoscaling):
        client.meta.events.register("before-call.*.*", api.hook)
    return TickRig(world, url, sqs, scheduler, runner, api)


def baking(world: Any, kit: Any, service: str) -> tuple[RolloutRecord, datetime]:
    """A rollout of ``service`` that just entered its first bake (120 s), and the poll its last tick asked for."""
    image = world.push_image(service, "3.0.0")
    record = world.start(service, image, kit.default_spec(service, steps=(50, 100), bake_seconds=120))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING)
    [wake] = [at for rid, at, _ in world.scheduler.calls[-1:] if rid == record.rollout_id]
    return record, wake


def bake_with_wakeups(world: Any, kit: Any, service: str, extra_wakeups: int, coalescing: bool = True) -> tuple[int, int, TickRig]:
    """Ticks handled and AWS calls made during the 120 s bake after ``extra_wakeups`` immediate wake-ups."""
    record, poll = baking(world, kit, service)
    rig = make_rig(world, f"ticks-{service}", coalescing)
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


def test_many_wakeups_of_one_baking_rollout_leave_one_chain_of_ticks(world, kit):
    baseline_ticks, baseline_calls, _ = bake_with_wakeups(world, kit, "api-gateway", extra_wakeups=1)
    ticks, calls, rig = bake_with_wakeups(world, kit, "frontend", extra_wakeups=8)

    # A 120 s bake watches alarms every 30 s: 4 ticks, however many wake-ups were sent.
    assert (baseline_ticks, ticks) == (4, 4)
    # Bounded: the extra wake-ups cost one read each, plus one dropped tick for the poll the first replaced.
    assert calls <= baseline_calls + 8 + 3, Counter(rig.api.names())
    # Of everything on the queue, only the tick of the one pending wake-up is live.
    tokens = [TickMessage.model_validate_json(body).token for body in rig.sqs.sent]
    assert len(tokens) == len(set(tokens)) and len(tokens) == 2 + 4  # the poll, the first wake-up, then each tick's next wake-up


def test_the_same_wakeups_on_the_uncoalesced_scheduler_multiply_the_ticks(world, kit):
    """What main did (SqsTickScheduler): every wake-up starts its own chain (measured: 35 ticks, 211 AWS
    calls in the bake, against 4 and about 60 coalesced). This keeps the rig above honest: it does
    deliver every duplicate, so the 4 of the coalesced run are not an artefact of the rig."""
    ticks, _, _ = bake_with_wakeups(world, kit, "frontend", extra_wakeups=8, coalescing=False)
    assert ticks > 30  # 8 chains at once, then 9 chains every 30 s


# --------------------------------------------------------------------------- (b) an earlier wake-up replaces a later poll


def test_an_earlier_wakeup_replaces_a_later_pending_poll_and_a_later_one_adds_nothing(world, kit):
    record, _ = baking(world, kit, "frontend")
    rig = make_rig(world, "ticks")
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


def test_a_stale_tick_is_dropped_before_it_reads_the_rollout_or_calls_aws(world, kit, caplog):
    record, _ = baking(world, kit, "frontend")
    rig = make_rig(world, "ticks")
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


def test_a_stale_tick_that_is_not_due_yet_is_dropped_not_requeued(world, kit):
    record, _ = baking(world, kit, "frontend")
    rig = make_rig(world, "ticks")
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


def test_the_wake_item_moves_only_by_conditional_writes_and_a_lost_race_is_read_again(world, kit):
    record, _ = baking(world, kit, "frontend")
    rig = make_rig(world, "ticks")
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


def test_a_crash_between_the_wake_write_and_the_send_is_rescued_by_the_watchdog(world, kit):
    record, _ = baking(world, kit, "frontend")
    rig = make_rig(world, "ticks")
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


def test_the_watchdog_wakes_an_active_rollout_with_no_wakeup_and_leaves_parked_and_finished_ones(world, kit):
    frontend, _ = baking(world, kit, "frontend")
    api, _ = baking(world, kit, "api-gateway")
    rig = make_rig(world, "ticks")
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


def test_a_failing_tick_keeps_its_token_through_its_retries_and_the_watchdog_waits_for_them(world, kit):
    record, _ = baking(world, kit, "frontend")
    rig = make_rig(world, "ticks")
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
