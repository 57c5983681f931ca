"""Rollouts take the same clock as converges: ``build_rollouts(components)`` uses ``components.clock``.

A rollout started by an image-push job through ``worker.main`` and ticked by the built controller
stamps its history and its audit record with the components' clock; ``ecs-gitops rollout pause``
run with those components (``cli.main(components=...)``) stamps its transition and its wake-up
with it too. Everything AWS is moto (the ``world`` fixture); the engine is the engine double.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from desired_state.loader import EXAMPLE_DIR
from reconciler import cli
from reconciler.events import Reason
from reconciler.models import ImageEvent, Job, Trigger
from reconciler.rollout.model import RolloutPhase
from reconciler.settings import AwsResources, EnvironmentSettings, ReconcilerSettings, RepositorySettings
from reconciler.wiring import build, build_rollouts
from reconciler.worker import main as worker_main

FAKE_NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake_clock(clock):
    clock.set(FAKE_NOW)
    return clock


def desired_state_directory(root: Path) -> Path:
    """The example dev environment; frontend's scan threshold CRITICAL (moto's scans always find one HIGH)."""
    document = yaml.safe_load((EXAMPLE_DIR / "environments" / "dev.yaml").read_text())
    document["services"]["frontend"].setdefault("rollout", {})["scanSeverityThreshold"] = "CRITICAL"
    (root / "environments").mkdir(parents=True)
    (root / "environments" / "dev.yaml").write_text(yaml.safe_dump(document))
    return root


def rollout_settings(world, kit, tmp_path: Path, **aws: str) -> ReconcilerSettings:
    ticks = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    return ReconcilerSettings(
        repository=RepositorySettings(url=str(desired_state_directory(tmp_path / "desired-state")), image_write_back=False),
        environments={"dev": EnvironmentSettings(stack="dev", suffix="dev")},
        backend_url=f"file://{tmp_path / 'backend'}",
        work_dir=str(tmp_path / "work"),
        aws=AwsResources(rollout_table=kit.ROLLOUT_TABLE, tick_queue_url=ticks, **aws),
    )


def test_a_rollout_started_and_ticked_through_the_built_components_stamps_history_and_audit_with_their_clock(
    world, kit, tmp_path, engine, fake_clock
):
    jobs = world.sqs.create_queue(QueueName="ecs-gitops-jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    settings = rollout_settings(world, kit, tmp_path, job_queue_url=jobs)
    engine.output_overrides = world.outputs()
    # state_dir=tmp_path: the built file status store is the world's own (tmp_path/status).
    components = build(settings, state_dir=tmp_path, boto3_session=world.session, engine=engine, clock=fake_clock)
    rollouts = build_rollouts(components)
    image = world.push_image("frontend", "3.0.0")
    components.queue.send(Job(
        job_id=Job.make_id("ecr-evt-clock", "dev"), environment="dev", stack="dev", trigger=Trigger.ECR_IMAGE_PUSH,
        event_id="ecr-evt-clock", received_at=fake_clock(),
        image=ImageEvent(repository="ecr-frontend-dev", service="frontend", tag=image.tag, digest=image.digest),
    ))

    assert worker_main(["--once"], components=components, rollouts=rollouts, configure_process=False) == 0
    started = world.store.latest("dev", "frontend")
    assert started is not None and started.new_image == image
    record = rollouts.controller.tick(started.rollout_id)

    assert record.phase not in (RolloutPhase.SCANNING,) and len(record.history) >= 2  # started, then moved on by a tick
    assert {t.at for t in record.history} == {FAKE_NOW}
    assert (record.created_at, record.updated_at, record.phase_started_at) == (FAKE_NOW, FAKE_NOW, FAKE_NOW)
    audited = components.audit.history("dev")
    assert Reason.ROLLOUT_STARTED in [r.reason for r in audited]
    assert {(r.started_at, r.finished_at) for r in audited} == {(FAKE_NOW, FAKE_NOW)}


def test_rollout_pause_from_the_cli_stamps_its_transition_and_wake_up_with_the_components_clock(world, kit, tmp_path, fake_clock):
    settings = rollout_settings(world, kit, tmp_path)
    components = build(settings, state_dir=tmp_path / "state", boto3_session=world.session, clock=fake_clock)
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))  # at the world's own clock, years earlier
    out, err = io.StringIO(), io.StringIO()

    code = cli.main(
        ["rollout", "pause", "--environment", "dev", "--service", "frontend", "--by", "carol", "--reason", "market open"],
        out=out, err=err, components=components,
    )

    assert (code, err.getvalue()) == (0, ""), out.getvalue()
    paused = world.store.get(record.rollout_id)
    assert paused.paused and paused.history[-1].reason == "paused by carol: market open"
    assert (paused.history[-1].at, paused.updated_at) == (FAKE_NOW, FAKE_NOW)
    [message] = world.sqs.receive_message(QueueUrl=settings.aws.tick_queue_url, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(message["Body"])
    assert (body["rolloutId"], datetime.fromisoformat(body["notBefore"])) == (record.rollout_id, FAKE_NOW)
