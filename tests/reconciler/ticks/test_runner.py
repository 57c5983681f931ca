"""Rollout ticks in the tick runtime (:class:`TickRunner`): a failing tick is retried with backoff,
then parked in the tick DLQ with the rollout paused and one notification; a malformed tick is
dropped; the runtime never dies of one tick.

Real: the rollout table (DynamoDB) and the tick queue with the template's redrive policy to a
tick DLQ (SQS), both in moto, the RolloutStore, the RolloutController and the SqsTickScheduler.
The observer is a test double (see its docstring). moto applies visibility timeouts in real time,
so the test "lets time pass" by making the tick visible again through the receipt the runner used.
These run on the uncoalesced SqsTickScheduler (token-less ticks, as queued before the coalescing
scheduler); test_coalescing.py runs the same failure cases with tokens.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from desired_state.schema import ImageRef, RolloutSpec
from desired_state.traffic import TrafficState
from reconciler.adapters.notify import StreamNotifier
from reconciler.events import EventKind, Reason
from reconciler.redact import Redactor
from reconciler.rollout import commands
from reconciler.rollout.controller import RolloutController, SqsTickScheduler
from reconciler.rollout.decide import Observed, ScanResult
from reconciler.rollout.model import RolloutPhase, RolloutRecord, RolloutResources
from reconciler.rollout.notify import rollout_notifier
from reconciler.rollout.store import RolloutStore
from reconciler.ticks.runner import TICKS_ACTOR, TickRunner, TickTimings
from reconciler.wiring import RolloutComponents
from reconciler.worker import Backoff

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
SECRET = "tick-secret-0a9b8c7d"


class ObserverFaultDouble:
    """Stands for the rollout's AWS reads (ALB, ECS, ECR, CloudWatch), which moto cannot be made to
    fail on demand: observing a rollout in ``failing`` raises ``error``; any other rollout is seen
    with its ECR scan still in progress (so its tick only waits)."""

    def __init__(self, error: Exception):
        self.error = error
        self.failing: set[str] = set()
        self.observed: list[str] = []

    def observe(self, record: RolloutRecord, now: datetime) -> Observed:
        self.observed.append(record.rollout_id)
        if record.rollout_id in self.failing:
            raise self.error
        return Observed(scan=ScanResult(status="IN_PROGRESS"))


class RecordingSqs:
    """The moto SQS client, remembering every visibility change and delete the runner asked for."""

    def __init__(self, client: Any):
        self._client = client
        self.visibility: list[tuple[str, int]] = []
        self.deleted: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def change_message_visibility(self, **kwargs: Any) -> Any:
        self.visibility.append((kwargs["ReceiptHandle"], kwargs["VisibilityTimeout"]))
        return self._client.change_message_visibility(**kwargs)

    def delete_message(self, **kwargs: Any) -> Any:
        self.deleted.append(kwargs["ReceiptHandle"])
        return self._client.delete_message(**kwargs)


def make_rollout(store: RolloutStore, service: str, tag: str) -> RolloutRecord:
    resources = RolloutResources(
        cluster="ecs-cluster-dev", ecs_services={"blue": f"svc-{service}-blue-dev", "green": f"svc-{service}-green-dev"},
        target_groups={"blue": "arn:tg/blue", "green": "arn:tg/green"}, listener_arn="arn:listener", repository=f"ecr-{service}-dev",
    )
    return commands.start_rollout(
        store, stack="dev", environment="dev", service=service, new_image=ImageRef(repository=service, tag=tag),
        traffic=TrafficState(), desired_image=ImageRef(repository=service, tag="1.0.0"), spec=RolloutSpec(),
        resources=resources, live_desired_count=2, now=NOW, by="test",
    )


@pytest.fixture
def ticks(aws):
    """A tick runner whose tick queue redrives to a tick DLQ after ``TickTimings().tick_max_attempts`` receives, as template.yaml sets it."""
    sqs, ddb = aws.client("sqs"), aws.client("dynamodb")
    ddb.create_table(TableName="ecs-gitops-rollouts", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    dlq = sqs.create_queue(QueueName="ecs-gitops-rollout-ticks-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="ecs-gitops-rollout-ticks",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(TickTimings().tick_max_attempts)})},
    )["QueueUrl"]
    store = RolloutStore(ddb, "ecs-gitops-rollouts")
    observer = ObserverFaultDouble(RuntimeError(f"ALB DescribeListeners throttled ({SECRET})"))
    scheduler = SqsTickScheduler(sqs, url)
    stream = io.StringIO()
    transitions: list[Any] = []
    helper = rollout_notifier(StreamNotifier(stream), Redactor([SECRET]))

    def on_transition(record: RolloutRecord, transition: Any) -> None:  # the one helper, remembering its calls
        transitions.append(transition)
        helper(record, transition)

    controller = RolloutController(store, observer, executor=None, scheduler=scheduler, clock=lambda: NOW, on_transition=on_transition)  # type: ignore[arg-type]
    recording = RecordingSqs(sqs)

    def runner(timings: TickTimings = TickTimings()) -> TickRunner:
        return TickRunner(
            RolloutComponents(store, controller, None, url), recording,  # type: ignore[arg-type]
            clock=lambda: NOW, timings=timings, notifier=StreamNotifier(stream), redactor=Redactor([SECRET]),
        )

    class Ticks:
        pass

    t = Ticks()
    t.sqs, t.url, t.dlq, t.store, t.observer, t.recording, t.runner = sqs, url, dlq, store, observer, recording, runner
    t.transitions = transitions
    t.notifications = lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    t.send = lambda body: sqs.send_message(QueueUrl=url, MessageBody=body if isinstance(body, str) else json.dumps(body))

    def depth(queue_url: str) -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def let_time_pass() -> None:
        """The backoff has elapsed: the tick the runner last hid is visible again."""
        receipt, _ = recording.visibility[-1]
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)

    t.depth, t.let_time_pass = depth, let_time_pass
    return t


def tick_body(record: RolloutRecord, at: datetime = NOW) -> dict[str, str]:
    return {"rolloutId": record.rollout_id, "notBefore": at.isoformat()}


def test_a_failing_tick_is_retried_with_backoff_then_parked_in_the_dlq_with_the_rollout_paused_and_one_notification(ticks):
    record = make_rollout(ticks.store, "frontend", "3.0.0")
    ticks.observer.failing.add(record.rollout_id)
    ticks.send(tick_body(record))
    runner = ticks.runner()
    limit = TickTimings().tick_max_attempts

    for attempt in range(1, limit + 1):
        assert runner.run_once() == []  # no exception: the process lives on
        assert ticks.depth(ticks.url) == 1 and ticks.recording.deleted == []
        assert ticks.store.get(record.rollout_id).paused is (attempt == limit)
        ticks.let_time_pass()

    assert [delay for _, delay in ticks.recording.visibility] == [30, 60, 120, 240, 480, 900]
    assert runner.run_once() == []  # SQS moves the tick to the DLQ instead of delivering it
    assert ticks.depth(ticks.url) == 0 and ticks.depth(ticks.dlq) == 1
    assert ticks.observer.observed == [record.rollout_id] * limit

    paused = ticks.store.get(record.rollout_id)
    assert paused.paused and not paused.paused_by_window and paused.phase == RolloutPhase.SCANNING
    assert f"tick failed {limit} times" in paused.pause_reason and "RuntimeError" in paused.pause_reason
    assert "rollout resume" in paused.pause_reason
    # One notification: the pause, through the rollouts' one helper, as a tick failure (kind, reason, attempts).
    [pause] = ticks.transitions
    assert (pause.action, pause.by, pause.evidence["reason"]) == ("pause", TICKS_ACTOR, Reason.TICK_FAILED.value)
    [notification] = ticks.notifications()
    assert (notification["kind"], notification["evidence"]["reason"], notification["rolloutId"]) == (EventKind.ROLLOUT_TICK_FAILED.value, Reason.TICK_FAILED.value, record.rollout_id)
    assert notification["evidence"]["attempts"] == limit and notification["severity"] == "error"
    assert (notification["action"], notification["by"], notification["paused"]) == ("pause", TICKS_ACTOR, True)
    assert "rollout resume" in notification["reason"]
    everything = json.dumps(ticks.notifications()) + paused.model_dump_json()
    assert SECRET not in everything and "[redacted]" in everything


def test_a_second_copy_of_the_failing_tick_does_not_notify_again(ticks):
    record = make_rollout(ticks.store, "frontend", "3.0.0")
    ticks.observer.failing.add(record.rollout_id)
    runner = ticks.runner(TickTimings(tick_retry=Backoff(base_seconds=0, cap_seconds=0)))
    ticks.send(tick_body(record))
    ticks.send(tick_body(record))  # the scheduler's duplicates are harmless, their failures too

    for _ in range(3 * TickTimings().tick_max_attempts):
        runner.run_once()

    assert ticks.depth(ticks.url) == 0 and ticks.depth(ticks.dlq) == 2
    assert [n["kind"] for n in ticks.notifications()] == [EventKind.ROLLOUT_TICK_FAILED.value]
    history = ticks.store.get(record.rollout_id).history
    assert sum("rollout tick failed" in t.reason for t in history) == 1  # paused once, by the first copy


def test_one_failing_tick_does_not_stop_the_others_in_its_batch(ticks):
    broken = make_rollout(ticks.store, "frontend", "3.0.0")
    healthy = make_rollout(ticks.store, "api-gateway", "2.9.0")
    ticks.observer.failing.add(broken.rollout_id)
    ticks.send(tick_body(broken))
    ticks.send(tick_body(healthy))

    advanced = ticks.runner().run_once()

    assert [r.rollout_id for r in advanced] == [healthy.rollout_id]
    assert sorted(ticks.observer.observed) == sorted([broken.rollout_id, healthy.rollout_id])
    assert len(ticks.recording.deleted) == 1  # the healthy tick; the broken one waits for its retry
    assert [delay for _, delay in ticks.recording.visibility] == [30]


MALFORMED = {
    "not JSON": "tick!",
    "a list": "[]",
    "no rollout id": json.dumps({"notBefore": NOW.isoformat()}),
    "rollout id not a string": json.dumps({"rolloutId": 7, "notBefore": NOW.isoformat()}),
    "notBefore not a time": json.dumps({"rolloutId": "r1", "notBefore": "yesterday"}),
    "notBefore without a time zone": json.dumps({"rolloutId": "r1", "notBefore": "2026-03-04T15:00:00"}),
    "deeply nested": "[" * 50_000 + "]" * 50_000,
    "an unknown rollout": json.dumps({"rolloutId": "no-such-rollout", "notBefore": NOW.isoformat()}),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_tick_is_dropped_with_a_log_line(ticks, caplog, body):
    ticks.send(body)
    with caplog.at_level(logging.WARNING, logger="ecs_gitops.ticks"):
        assert ticks.runner().run_once() == []
    assert ticks.depth(ticks.url) == 0 and ticks.depth(ticks.dlq) == 0
    assert any("dropped" in r.getMessage() for r in caplog.records)
    assert ticks.notifications() == []


def test_a_tick_that_is_not_due_yet_is_requeued_and_a_failing_requeue_is_retried(ticks):
    record = make_rollout(ticks.store, "frontend", "3.0.0")
    ticks.send(tick_body(record, NOW + timedelta(hours=1)))
    runner = ticks.runner()

    class SchedulerFaultDouble:
        """Stands for SQS refusing the send (throttled), which moto cannot be made to do."""

        def schedule(self, rollout_id, at, now):
            raise ConnectionError("sqs send_message timed out")

    real = runner.rollouts.controller.scheduler
    runner.rollouts.controller.scheduler = SchedulerFaultDouble()
    assert runner.run_once() == []
    assert ticks.depth(ticks.url) == 1 and [d for _, d in ticks.recording.visibility] == [30]

    runner.rollouts.controller.scheduler = real
    ticks.let_time_pass()
    assert runner.run_once() == []
    attributes = ticks.sqs.get_queue_attributes(QueueUrl=ticks.url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1" and attributes["ApproximateNumberOfMessages"] == "0"


def test_a_parked_tick_whose_rollout_cannot_be_paused_still_notifies_once(ticks):
    """The pause did not land (the rollout table refused it): no transition to go through the helper, so the runtime says it itself."""
    record = make_rollout(ticks.store, "frontend", "3.0.0")
    ticks.observer.failing.add(record.rollout_id)
    runner = ticks.runner(TickTimings(tick_retry=Backoff(base_seconds=0, cap_seconds=0), tick_max_attempts=1))

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise commands.ReconcilerError(f"rollout {record.rollout_id} kept changing; try again")

    ticks.store.put, put = refuse, ticks.store.put  # type: ignore[method-assign]
    try:
        ticks.send(tick_body(record))
        assert runner.run_once() == []
    finally:
        ticks.store.put = put  # type: ignore[method-assign]

    assert ticks.transitions == []
    [notification] = ticks.notifications()
    assert (notification["kind"], notification["reason"], notification["paused"]) == (EventKind.ROLLOUT_TICK_FAILED.value, Reason.TICK_FAILED.value, False)
