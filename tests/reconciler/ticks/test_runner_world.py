"""The tick runner over the rollout world (moto): due ticks advance their rollout, later ones are re-queued."""

from __future__ import annotations

import json
from datetime import timedelta

from reconciler.rollout.controller import SqsTickScheduler
from reconciler.rollout.model import RolloutPhase
from reconciler.ticks.runner import TickRunner
from reconciler.wiring import RolloutComponents


def test_run_once_ticks_due_rollouts_and_requeues_later_ones(world, kit):
    queue_url = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    controller = world.controller()
    controller.scheduler = SqsTickScheduler(world.sqs, queue_url)
    runner = TickRunner(RolloutComponents(world.store, controller, None, queue_url), world.sqs, clock=world.clock)  # type: ignore[arg-type]
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image, kit.default_spec(scan_severity_threshold="CRITICAL"))
    # A tick whose SQS delay has run out but which is not due yet (waits longer than SQS's 15 minutes).
    later = world.clock() + timedelta(minutes=40)
    world.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"rolloutId": record.rollout_id, "notBefore": later.isoformat()}))

    assert runner.run_once() == []
    assert world.store.get(record.rollout_id).phase == RolloutPhase.SCANNING
    attributes = world.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"  # re-queued with the longest delay

    world.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"rolloutId": record.rollout_id, "notBefore": world.clock().isoformat()}))
    advanced = runner.run_once()
    assert [r.phase for r in advanced] == [RolloutPhase.DEPLOYING]
