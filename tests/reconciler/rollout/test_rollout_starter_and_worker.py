"""From an ECR event to a rollout: ``RolloutStarter.on_image_push``, ``Worker._handle`` routing
and the per-transition notifications of ``rollout_notifier``. (Ticks off the tick queue:
tests/reconciler/ticks/.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from desired_state.loader import EXAMPLE_DIR
from desired_state.schema import ImageRef
from desired_state.traffic import ServiceTraffic, TrafficState
from reconciler.adapters.notify import SnsNotifier
from reconciler.converge import Converger
from reconciler.events import EventKind, Reason
from reconciler.models import Trigger
from reconciler.redact import Redactor
from reconciler.rollout.model import RolloutPhase
from reconciler.settings import (
    ChangeWindow,
    EnvironmentSettings,
    ReconcilerSettings,
    RepositorySettings,
)
from reconciler.source import DirectorySource
from reconciler.wiring import RolloutComponents
from reconciler.rollout.notify import rollout_notifier
from reconciler.worker import Worker

ENV = EnvironmentSettings(stack="dev", suffix="dev")


def set_threshold(service: str, threshold: str):
    def mutate(document: dict[str, Any]) -> None:
        document["services"][service].setdefault("rollout", {})["scanSeverityThreshold"] = threshold

    return mutate


# --------------------------------------------------------------------------- processing-service: scan gate, then rolling deploy


# processing-service: see test_rollout_processing.py


# --------------------------------------------------------------------------- frontend / api-gateway: blue/green


def test_frontend_already_running_the_pushed_image_gets_no_rollout(world, kit, rig):
    image = world.push_image("frontend", "3.0.0")
    world.states.update("dev", lambda s: s.model_copy(update={"traffic": TrafficState(services={"frontend": ServiceTraffic(live_colour="green", live_image=image)})}))
    result = rig.starter.on_image_push(rig.job("frontend", image), ENV, kit.example_state(), world.clock())
    assert result.started is None
    assert result.message == f"frontend already runs {image.reference}"
    assert world.store.latest("dev", "frontend") is None
    assert rig.ticks == []


@pytest.mark.parametrize("service", ["frontend", "api-gateway"])
def test_a_new_image_starts_a_rollout_from_the_stack_outputs(world, kit, rig, service):
    image = world.push_image(service, "3.0.0")
    desired = kit.example_state()
    result = rig.starter.on_image_push(rig.job(service, image), ENV, desired, world.clock())
    record = result.started
    assert record is not None and record.phase == RolloutPhase.SCANNING
    assert rig.ticks == [record.rollout_id]
    assert rig.outputs_asked == ["dev"]
    assert record.new_image == image
    assert record.old_image == desired.services.get(service).image
    assert record.spec == desired.services.get(service).rollout
    health_path = desired.services.get(service).health_check.path
    assert record.resources == world.resources(service, health_path).model_copy(update={"min_capacity": 2, "max_capacity": 10})
    assert record.resources.colour_alarms["green"] == [world.colour_alarm(service, "green", k) for k in ("5xx", "latency", "unhealthy")]
    assert record.resources.rule_arn == world.services[service].rule_arn
    assert record.history[0].reason == f"started by ecr-image-push:ecr-evt-1 for {image.reference}"
    assert world.store.active("dev", service).rollout_id == record.rollout_id


def test_with_a_certificate_the_rollout_smoke_checks_as_the_public_host(world, kit, rig):
    """The test listener serves the ACM certificate: the smoke request must ask as edge.publicHostname."""
    image = world.push_image("frontend", "3.0.0")
    desired = kit.example_state()
    edge = desired.edge.model_copy(update={
        "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "public_hostname": "trading.example.com",
    })
    result = rig.starter.on_image_push(rig.job("frontend", image), ENV, desired.model_copy(update={"edge": edge}), world.clock())
    assert result.started is not None and result.started.resources.public_host == "trading.example.com"
    # Without a certificate nothing to ask as: the example's dev edge.
    other = rig.starter.on_image_push(rig.job("api-gateway", world.push_image("api-gateway", "3.0.0")), ENV, desired, world.clock())
    assert other.started is not None and other.started.resources.public_host is None


def test_no_rollout_starts_outside_the_change_window(world, kit, rig):
    image = world.push_image("frontend", "3.0.0")
    closed = EnvironmentSettings(stack="dev", suffix="dev", windows=(ChangeWindow(kind="deny", start="09:00", end="11:00", timezone="America/New_York"),))
    result = rig.starter.on_image_push(rig.job("frontend", image), closed, kit.example_state(), world.clock())  # 10:00 New York
    assert result.started is None
    assert result.retry_after_seconds == 3600  # reopens at 11:00
    assert "inside deny window" in result.message
    assert world.store.latest("dev", "frontend") is None


# --------------------------------------------------------------------------- the worker


@pytest.fixture
def worker_rig(world, kit, rig, tmp_path):
    """A Worker whose converger reads a desired-state directory (frontend threshold CRITICAL) and
    whose rollout components are the moto-backed ones."""
    directory = tmp_path / "desired-state"
    (directory / "environments").mkdir(parents=True)
    document = yaml.safe_load((EXAMPLE_DIR / "environments" / "dev.yaml").read_text())
    set_threshold("frontend", "CRITICAL")(document)
    (directory / "environments" / "dev.yaml").write_text(yaml.safe_dump(document))
    settings = ReconcilerSettings(repository=RepositorySettings(url=str(directory)), environments={"dev": ENV},
                                  backend_url=f"file://{tmp_path / 'backend'}", work_dir=str(tmp_path / "work"))
    converger = Converger(settings=settings, states=world.states, source=DirectorySource(directory), engine=None, clock=world.clock)
    queue_url = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    controller = world.controller()
    components = RolloutComponents(world.store, controller, rig.starter, queue_url)
    worker = Worker(queue=None, converger=converger, rollouts=components, clock=world.clock)
    return worker, queue_url


def test_an_image_push_job_goes_to_the_starter(world, kit, rig, worker_rig):
    worker, _ = worker_rig
    image = world.push_image("frontend", "3.0.0")
    outcome = worker._handle(rig.job("frontend", image), 1)
    assert (outcome.outcome, outcome.kind, outcome.reason) == ("succeeded", EventKind.ROLLOUT_STARTED, Reason.ROLLOUT_STARTED)
    active = world.store.active("dev", "frontend")
    assert active is not None and active.new_image == image
    assert outcome.message == f"rollout {active.rollout_id} of frontend to {image.reference} started"


def test_a_finished_scan_ticks_the_rollout_waiting_for_it_at_once(world, kit, rig, worker_rig):
    worker, _ = worker_rig
    image = world.push_image("frontend", "3.0.0", scan=False)
    worker._handle(rig.job("frontend", image), 1)
    record = world.store.active("dev", "frontend")
    record, _ = world.tick(record.rollout_id)
    assert record.phase == RolloutPhase.SCANNING  # no scan yet: it waits
    version = record.version

    other = world.push_image("frontend", "3.0.9")  # a scan of some other image wakes nobody
    outcome = worker._handle(rig.job("frontend", other, Trigger.ECR_IMAGE_SCAN), 1)
    assert (outcome.outcome, outcome.message) == ("skipped", "no rollout waits for this scan")
    assert world.store.get(record.rollout_id).version == version

    world.scan("frontend", image.digest)
    outcome = worker._handle(rig.job("frontend", image, Trigger.ECR_IMAGE_SCAN), 1)

    assert outcome.outcome == "succeeded"
    assert outcome.message == f"rollout {record.rollout_id}: woken"
    # The converge worker runs no tick: it wakes the rollout now, and the tick runtime ticks it.
    assert world.store.get(record.rollout_id).version == version
    assert world.scheduler.calls[-1] == (record.rollout_id, world.clock(), world.clock())
    world.tick(record.rollout_id)
    stored = world.store.get(record.rollout_id)
    assert stored.phase == RolloutPhase.DEPLOYING
    assert stored.phase_started_at == world.clock()  # now, not at the next 15 s poll
    assert world.desired_counts("frontend") == {"blue": 2, "green": 2}


# --------------------------------------------------------------------------- notifications


@pytest.fixture
def sns(sns_topic):
    """A notifier publishing to a moto topic, and a reader of what was delivered."""
    return SnsNotifier(sns_topic.sns, sns_topic.arn), sns_topic.read


SECRET_TOKEN = "tok-9f8e7d6c5b4a3210"


def secret_bearing_resources(world, service="frontend"):
    """A test listener URL carrying credentials and a token: both end up in the smoke evidence."""
    return world.resources(service).model_copy(update={
        "test_url": f"http://smoke:Sup3rSecretPw@{world.alb_dns}:8443",
        "health_path": f"/healthz?token={SECRET_TOKEN}",
    })


def test_every_transition_is_published_once_with_kind_severity_and_scrubbed_evidence(world, kit, sns):
    notifier, read = sns
    redactor = Redactor([SECRET_TOKEN])
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image, resources=secret_bearing_resources(world))

    record, _ = world.run(record.rollout_id, controller=world.controller(on_transition=rollout_notifier(notifier, redactor)))

    delivered = read()
    transitions = record.history[1:]  # the first ("started") is written by start_rollout, not a tick
    assert [d["message"]["phase"] for d in delivered] == [t.to_phase.value for t in transitions]
    assert [d["attributes"]["kind"] for d in delivered] == [
        "rollout-progress", "rollout-progress", "rollout-progress", "rollout-progress", "rollout-progress",
        "rollout-progress", "rollout-progress", "rollout-progress", "rollout-promoted", "rollout-complete",
    ]
    assert {d["attributes"]["severity"] for d in delivered} == {"info"}
    assert {d["attributes"]["environment"] for d in delivered} == {"dev"}
    for d, t in zip(delivered, transitions):
        assert d["message"]["from"] == t.from_phase.value
        assert d["message"]["reason"] == t.reason
        assert d["message"]["rolloutId"] == record.rollout_id
        assert d["message"]["newImage"] == image.reference
        assert d["subject"] == f"[dev] frontend {d['attributes']['kind']}: {t.to_phase.value}"
    smoke = next(d for d in delivered if d["message"]["from"] == "smoke-testing")
    assert smoke["message"]["evidence"]["gate"] == "smoke"
    url = smoke["message"]["evidence"]["checks"][0]["url"]
    assert "Sup3rSecretPw" not in url and SECRET_TOKEN not in url and "[redacted]" in url
    assert "Sup3rSecretPw" not in json.dumps(delivered) and SECRET_TOKEN not in json.dumps(delivered)


def test_a_rollback_is_published_as_an_error_with_its_evidence(world, kit, sns):
    notifier, read = sns
    image = world.push_image("frontend", "3.0.0")
    world.smoke_status = 500
    record = world.start("frontend", image, resources=secret_bearing_resources(world))

    record, _ = world.run(record.rollout_id, controller=world.controller(on_transition=rollout_notifier(notifier, Redactor([SECRET_TOKEN]))))

    delivered = read()
    assert [(d["attributes"]["kind"], d["attributes"]["severity"]) for d in delivered][-2:] == [
        ("rollout-rolling-back", "error"), ("rollout-rolled-back", "error")]
    rollback = delivered[-2]["message"]
    assert rollback["evidence"]["gate"] == "smoke"
    assert rollback["evidence"]["checks"][0]["status"] == 500
    assert "Sup3rSecretPw" not in json.dumps(delivered) and SECRET_TOKEN not in json.dumps(delivered)
    assert len(delivered) == len(record.history) - 1


def test_a_window_hold_and_its_resume_are_each_published_once(world, kit, sns):
    """Deploying -> smoke-testing wakes the rollout at the same instant; that tick then only holds
    for a deny window. The hold, and later the resume, are history entries of their own; each
    entry goes out exactly once (the earlier transition is not re-sent with the hold)."""
    notifier, read = sns
    published = []
    inner = rollout_notifier(notifier, Redactor())

    def notify(record, transition):
        published.append(transition)
        inner(record, transition)

    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    controller = world.controller(on_transition=notify)
    record, _ = world.run(record.rollout_id, controller=controller, until=lambda r: r.phase == RolloutPhase.SMOKE_TESTING)
    world.window = (False, "inside deny window daily 09:25-09:35 America/New_York")

    record, _ = world.tick(record.rollout_id, controller)  # same instant: smoke passes, the window holds the shift
    assert record.paused
    world.window = (True, "inside the change window")
    world.clock.advance(60)
    record, _ = world.run(record.rollout_id, controller=controller)

    assert record.phase == RolloutPhase.COMPLETE
    assert published == record.history[1:]
    delivered = read()
    assert [(d["message"]["from"], d["message"]["phase"], d["message"]["reason"]) for d in delivered] == [
        (t.from_phase.value, t.to_phase.value, t.reason) for t in record.history[1:]
    ]
    reasons = [d["message"]["reason"] for d in delivered]
    assert "paused at step 0: inside deny window daily 09:25-09:35 America/New_York" in reasons
    assert "the change window is open again; resuming" in reasons
