"""processing-service (no ALB): the same scan gate, then an ECS rolling deployment gated on its completion.

A failed deployment (ECS's circuit breaker rolled it back) or a timeout reverts the image update
and is reported with its evidence. Nothing here waits on the job queue, so the stack's other
jobs are never held behind a pending scan.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.models import ImageEvent, Job, Trigger
from reconciler.rollout.controller import RolloutController
from reconciler.rollout.execute import RolloutExecutor, StatusImageUpdater
from reconciler.rollout.model import RolloutPhase
from reconciler.rollout.starter import RolloutStarter
from reconciler.rollout.store import RolloutStore
from reconciler.settings import EnvironmentSettings

ENV = EnvironmentSettings(stack="dev", suffix="dev")
SERVICE = "svc-processing-service-dev"


def critical_threshold(document: dict[str, Any]) -> None:
    # moto's scan always finds {"HIGH": 1}: a CRITICAL threshold lets the image through.
    document["services"]["processing-service"].setdefault("rollout", {})["scanSeverityThreshold"] = "CRITICAL"


class RollingConvergeDouble:
    """TEST DOUBLE for the converge a staged image requests: the Pulumi program is not available
    here, so this does what it would do to processing-service: point the ECS service at a task
    definition running the staged image (taken from the stack status's overrides)."""

    def __init__(self, world):
        self.world = world
        self.requests: list[str] = []

    def __call__(self, record) -> None:
        self.requests.append(record.rollout_id)
        image = self.world.states.get(record.stack).image_overrides[record.service]
        uri = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/ecr-processing-service-dev{image.reference}"
        arn = self.world.ecs.register_task_definition(
            family="td-processing-service-dev", containerDefinitions=[{"name": "processing-service", "image": uri, "memory": 4096}]
        )["taskDefinition"]["taskDefinitionArn"]
        self.world.ecs.update_service(cluster=self.world.cluster, service=SERVICE, taskDefinition=arn)


@pytest.fixture
def rolling(world, kit):
    old = world.ecs.register_task_definition(
        family="td-processing-service-dev",
        containerDefinitions=[{"name": "processing-service", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecr-processing-service-dev:3.1.0", "memory": 4096}],
    )["taskDefinition"]["taskDefinitionArn"]
    world.ecs.create_service(
        cluster=world.cluster, serviceName=SERVICE, taskDefinition=old, desiredCount=2,
        networkConfiguration={"awsvpcConfiguration": {"subnets": world.subnets, "securityGroups": [world.security_group]}},
    )
    converge = RollingConvergeDouble(world)
    store = RolloutStore(world.dynamodb, kit.ROLLOUT_TABLE)
    executor = RolloutExecutor(world.ecs_double, world.autoscaling, world.states, world.router_for, StatusImageUpdater(world.states, converge))
    controller = RolloutController(store, world.observer(), executor, world.scheduler, world.clock)
    ticks: list[str] = []
    starter = RolloutStarter(store, world.states, world.observer(), lambda stack: world.outputs(), lambda r: ticks.append(r.rollout_id), lambda stack: None)
    return type("Rolling", (), {"converge": converge, "store": store, "controller": controller, "starter": starter, "ticks": ticks})


def push(world, tag: str, scan: bool = True):
    image = world.push_image("processing-service", tag, scan=scan)
    job = Job(
        job_id=Job.make_id(f"evt-{tag}", "dev"), environment="dev", stack="dev", trigger=Trigger.ECR_IMAGE_PUSH, event_id=f"evt-{tag}",
        received_at=world.clock(), image=ImageEvent(repository="ecr-processing-service-dev", service="processing-service", tag=image.tag, digest=image.digest),
    )
    return image, job


def run(rolling, world, rollout_id, until=lambda r: r.phase.terminal, max_ticks=60):
    for _ in range(max_ticks):
        record = rolling.controller.tick(rollout_id)
        if until(record):
            return record
        world.clock.advance(15)
    raise AssertionError(f"stuck in {record.phase.value}")


def running_image(world) -> str:
    service = world.ecs.describe_services(cluster=world.cluster, services=[SERVICE])["services"][0]
    return world.ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]["containerDefinitions"][0]["image"]


def test_a_clean_image_is_deployed_in_place_and_the_rollout_completes(world, kit, rolling):
    image, job = push(world, "3.2.0")
    result = rolling.starter.on_image_push(job, ENV, kit.example_state(critical_threshold), world.clock())
    record = result.started
    assert record is not None and record.mode == "rolling" and rolling.ticks == [record.rollout_id]
    done = run(rolling, world, record.rollout_id)
    assert done.phase == RolloutPhase.COMPLETE
    assert [t.to_phase for t in done.history] == [RolloutPhase.SCANNING, RolloutPhase.DEPLOYING, RolloutPhase.COMPLETE]
    assert done.history[-1].evidence["gate"] == "deployment"
    assert running_image(world).endswith(image.reference)
    assert world.status().image_overrides == {"processing-service": image}
    assert rolling.converge.requests == [record.rollout_id]
    assert world.status().traffic is None  # no colours, no traffic state for it


def test_a_pending_scan_waits_on_the_rollout_not_on_the_job_queue(world, kit, rolling):
    image, job = push(world, "3.2.0", scan=False)
    result = rolling.starter.on_image_push(job, ENV, kit.example_state(critical_threshold), world.clock())
    assert result.retry_after_seconds is None  # the job is finished; the rollout waits
    record = rolling.controller.tick(result.started.rollout_id)
    assert record.phase == RolloutPhase.SCANNING and rolling.converge.requests == []
    world.scan("processing-service", image.digest)
    assert run(rolling, world, record.rollout_id).phase == RolloutPhase.COMPLETE


def test_findings_at_the_threshold_stop_it_before_anything_is_deployed(world, kit, rolling):
    image, job = push(world, "3.2.0")
    record = rolling.starter.on_image_push(job, ENV, kit.example_state(), world.clock()).started
    done = run(rolling, world, record.rollout_id)
    assert done.phase == RolloutPhase.ROLLED_BACK
    assert "ECR scan found 1 HIGH" in done.rollback_reason
    assert rolling.converge.requests == [] and running_image(world).endswith(":3.1.0")
    assert world.status().image_overrides == {}


def test_a_deployment_the_circuit_breaker_rolled_back_reverts_the_image_update(world, kit, rolling):
    world.ecs_double.failed.add(SERVICE)
    image, job = push(world, "3.2.0")
    record = rolling.starter.on_image_push(job, ENV, kit.example_state(critical_threshold), world.clock()).started
    done = run(rolling, world, record.rollout_id)
    assert done.phase == RolloutPhase.ROLLED_BACK
    assert "circuit breaker" in done.rollback_reason
    rollback = next(t for t in done.history if t.to_phase == RolloutPhase.ROLLING_BACK)
    assert rollback.evidence["gate"] == "deployment" and rollback.evidence["deployment"]["rollout_state"] == "FAILED"
    assert world.status().image_overrides == {}  # the image update is reverted


def test_an_image_already_desired_starts_nothing(world, kit, rolling):
    image, job = push(world, "3.2.0")

    def already(document: dict[str, Any]) -> None:
        document["services"]["processing-service"]["image"] = {"repository": "processing-service", "tag": image.tag, "digest": image.digest}

    result = rolling.starter.on_image_push(job, ENV, kit.example_state(already), world.clock())
    assert result.started is None
    assert result.message == f"processing-service already runs {image.reference}"
    assert rolling.store.latest("dev", "processing-service") is None
