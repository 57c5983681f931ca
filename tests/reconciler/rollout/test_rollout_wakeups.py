"""An event reaching the intake wakes the rollout at once, and the real controller acts on it (issue 10).

The intake, its watch index and the SQS tick scheduler are the real ones, on the same moto account
as the rollout world; the tick the intake sends is read off the tick queue and handed to the
controller exactly as a tick worker would. The fake clock is not moved between the event and the
tick: whatever happens, happens without waiting for the next poll.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from reconciler.rollout.model import RolloutPhase

SAMPLES = Path(__file__).resolve().parents[1] / "intake" / "samples"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def wired_intake(world, reconciler_aws):
    """The production Intake over the world's account: wake-ups through the rollout table and a real tick queue."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from reconciler.adapters.queue import JobQueue
    from reconciler.adapters.secrets import SecretReader
    from reconciler.intake import Intake
    from reconciler.rollout.controller import SqsTickScheduler
    from reconciler.rollout.watch import RolloutWatchIndex
    from reconciler.settings import EnvironmentSettings, ReconcilerSettings, RepositorySettings

    settings = ReconcilerSettings(
        repository=RepositorySettings(url="https://github.com/example-org/desired-state.git"),
        environments={"dev": EnvironmentSettings(stack="dev", suffix="dev")},
    )
    tick_queue = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    intake = Intake(
        settings,
        JobQueue(reconciler_aws.sqs, reconciler_aws.queue_url),
        SecretReader(reconciler_aws.secretsmanager),
        DynamoDBPersistenceLayer(table_name=reconciler_aws.idempotency_table, boto3_session=reconciler_aws.session),
        clock=world.clock,
        watches=RolloutWatchIndex(world.dynamodb, "ecs-gitops-rollouts"),
        ticks=SqsTickScheduler(world.sqs, tick_queue),
    )
    return intake, tick_queue


def receive_ticks(world, queue_url: str) -> list[dict]:
    messages = world.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        world.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"]) for message in messages]


def test_an_alarm_entering_alarm_during_a_bake_rolls_back_without_waiting_for_the_next_poll(world, reconciler_aws):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING)
    assert world.alb_weights("frontend") == (90, 10)
    baking_since = world.clock()
    next_poll = world.scheduler.calls[-1][1]
    assert next_poll > baking_since  # left alone, the rollout would look at its alarms again only then
    intake, tick_queue = wired_intake(world, reconciler_aws)

    alarm = world.colour_alarm("frontend", "green", "5xx")
    world.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="5xx above 5 for 2 minutes")
    event = sample("cloudwatch-alarm-state-change")
    assert event["detail"]["alarmName"] == alarm
    result = intake.handle(event)

    assert result["woken"] == [record.rollout_id]
    [tick] = receive_ticks(world, tick_queue)
    assert tick["rolloutId"] == record.rollout_id and datetime.fromisoformat(tick["notBefore"]) == baking_since
    record, _ = world.tick(tick["rolloutId"])
    for _ in range(5):  # the rollback's own follow-up ticks are scheduled for now, too
        if record.phase.terminal:
            break
        assert world.scheduler.calls[-1][1] == baking_since
        record, _ = world.tick(record.rollout_id)

    assert world.clock() == baking_since  # the fake clock never moved: no poll was waited for
    assert record.phase == RolloutPhase.ROLLED_BACK
    assert alarm in record.rollback_reason
    assert world.alb_weights("frontend") == (100, 0)
    # Finished: the alarm no longer wakes it.
    assert intake.handle(event)["woken"] == []


def test_a_finished_scan_moves_a_scanning_rollout_on_at_once(world, reconciler_aws):
    """Before issue 10 the scan became a job for the converge worker; now the intake ticks the rollout itself."""
    image = world.push_image("frontend", "3.0.0", scan=False)
    record = world.start("frontend", image)
    record, _ = world.tick(record.rollout_id)
    assert record.phase == RolloutPhase.SCANNING  # no scan yet: it waits
    intake, tick_queue = wired_intake(world, reconciler_aws)
    waiting_since = world.clock()

    world.scan("frontend", image.digest)
    event = sample("ecr-image-scan")
    event["detail"]["image-digest"] = image.digest
    assert intake.handle(event)["woken"] == [record.rollout_id]
    [tick] = receive_ticks(world, tick_queue)
    record, _ = world.tick(tick["rolloutId"])

    assert world.clock() == waiting_since
    assert record.phase == RolloutPhase.DEPLOYING
