"""Every rollout transition, the controller's and a person's, is published once through
``reconciler.rollout.notify.rollout_notifier``, naming who moved it and why; scrubbed."""

from __future__ import annotations

import json
import logging
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml

from desired_state.traffic import TrafficState
from reconciler.adapters.notify import SnsNotifier
from reconciler.cli import main
from reconciler.redact import Redactor
from reconciler.rollout import commands
from reconciler.rollout.model import RolloutPhase
from reconciler.rollout.notify import CONTROLLER_ACTOR, rollout_notifier

SECRET = "tok-5e4d3c2b1a09f8e7"


@pytest.fixture
def topic(sns_topic):
    """(topic ARN, a notifier scrubbing SECRET, reader of what was delivered)."""
    return sns_topic.arn, SnsNotifier(sns_topic.sns, sns_topic.arn, redactor=Redactor([SECRET])), sns_topic.read


def to_bake(world, service="frontend", tag="3.0.0"):
    record = world.start(service, world.push_image(service, tag))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 0)
    return record


def only(delivered: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(delivered) == 1, [d["subject"] for d in delivered]
    return delivered[0]


def test_each_control_publishes_exactly_one_notification_naming_who_and_why(world, topic):
    _, notifier, read = topic
    notify = rollout_notifier(notifier, Redactor([SECRET]))
    record = to_bake(world)
    rid = record.rollout_id

    commands.pause(world.store, rid, by="carol", reason="market open", now=world.clock(), on_transition=notify)
    paused = only(read())
    assert paused["attributes"] == {"kind": "rollout-paused", "severity": "warning", "environment": "dev"}
    assert paused["subject"] == "[dev] frontend rollout-paused: baking, by carol"
    assert (paused["message"]["by"], paused["message"]["action"], paused["message"]["reason"]) == ("carol", "pause", "paused by carol: market open")
    assert paused["message"]["paused"] is True and paused["message"]["rolloutId"] == rid

    commands.resume(world.store, rid, by="dave", now=world.clock(), on_transition=notify)
    resumed = only(read())
    assert (resumed["attributes"]["kind"], resumed["attributes"]["severity"]) == ("rollout-resumed", "info")
    assert (resumed["message"]["by"], resumed["message"]["reason"], resumed["message"]["paused"]) == ("dave", "resumed by dave", False)

    commands.promote(world.store, rid, by="bob", now=world.clock(), on_transition=notify)
    promoted = only(read())
    assert promoted["attributes"]["kind"] == "rollout-progress"
    assert (promoted["message"]["from"], promoted["message"]["phase"], promoted["message"]["action"]) == ("baking", "shifting", "promote")
    assert promoted["message"]["by"] == "bob" and promoted["message"]["reason"].startswith("promoted by bob: all traffic to green")

    commands.abort(world.store, rid, by="alice", reason="error rate looks off", now=world.clock(), on_transition=notify)
    aborted = only(read())
    assert (aborted["attributes"]["kind"], aborted["attributes"]["severity"]) == ("rollout-rolling-back", "error")
    assert aborted["subject"] == "[dev] frontend rollout-rolling-back: rolling-back, by alice"
    assert (aborted["message"]["by"], aborted["message"]["reason"]) == ("alice", "aborted by alice: error rate looks off")
    assert aborted["message"]["supersededBy"] is None

    # The history says who, too: what the notifications named is what the record keeps.
    history = world.store.get(rid).history[-4:]
    assert [(t.by, t.action) for t in history] == [("carol", "pause"), ("dave", "resume"), ("bob", "promote"), ("alice", "abort")]


def test_the_controller_goes_on_publishing_its_own_transitions_after_an_abort(world, topic):
    _, notifier, read = topic
    notify = rollout_notifier(notifier, Redactor())
    record = to_bake(world)
    commands.abort(world.store, record.rollout_id, by="alice", reason="wrong build", now=world.clock(), on_transition=notify)
    world.clock.advance(1)

    record, _ = world.run(record.rollout_id, controller=world.controller(on_transition=notify))

    assert record.phase == RolloutPhase.ROLLED_BACK
    delivered = read()
    assert [d["message"]["phase"] for d in delivered] == ["rolling-back", "rolled-back"]
    assert [d["message"]["by"] for d in delivered] == ["alice", CONTROLLER_ACTOR]
    assert delivered[1]["subject"] == "[dev] frontend rollout-rolled-back: rolled-back"  # the controller's subject as before


def test_a_control_that_loses_a_write_race_still_publishes_once(world, topic):
    _, notifier, read = topic
    record = to_bake(world)
    raced = []

    class RacingStoreDouble:
        """The rollout table with another worker's write landing between this control's read and its
        write, once: a race whose timing moto cannot arrange. Reads and writes go to the real table."""

        def get(self, rollout_id):
            return world.store.get(rollout_id)

        def put(self, previous, new):
            if not raced:
                raced.append(world.store.put(previous, previous.model_copy(update={"updated_at": world.clock()})))
            return world.store.put(previous, new)

    commands.pause(RacingStoreDouble(), record.rollout_id, by="carol", reason="x", now=world.clock(),
                   on_transition=rollout_notifier(notifier, Redactor()))

    assert raced and world.store.get(record.rollout_id).paused
    assert only(read())["attributes"]["kind"] == "rollout-paused"


def test_a_superseding_push_publishes_the_abort_and_says_so(world, topic, kit):
    _, notifier, read = topic
    notify = rollout_notifier(notifier, Redactor())
    running = to_bake(world)
    newer = world.push_image("frontend", "3.1.0")

    def start_newer():
        return commands.start_rollout(
            world.store, stack=kit.STACK, environment="dev", service="frontend", new_image=newer,
            traffic=world.status().traffic or TrafficState(), desired_image=running.old_image, spec=kit.default_spec("frontend"),
            resources=world.resources("frontend"), live_desired_count=kit.LIVE_COUNT, now=world.clock(),
            by="ecr-image-push:evt-2", on_transition=notify,
        )

    # The running rollout is aborted at once; the newer one starts once that has rolled back.
    with pytest.raises(commands.RolloutBusyError):
        start_newer()
    aborted = only(read())
    assert aborted["attributes"]["kind"] == "rollout-rolling-back"
    assert aborted["subject"] == "[dev] frontend rollout-rolling-back: rolling-back, superseded by a newer image"
    message = aborted["message"]
    assert (message["rolloutId"], message["by"], message["action"]) == (running.rollout_id, "ecr-image-push:evt-2", "abort")
    assert message["reason"] == f"aborted by ecr-image-push:evt-2: superseded by rollout {message['supersededBy']} of {newer.reference}"

    world.clock.advance(1)
    world.run(running.rollout_id)
    assert start_newer().rollout_id == message["supersededBy"]
    assert read() == []  # the start itself is the image job's outcome, notified by the worker


def test_no_secret_reaches_a_notification_or_the_log(world, topic, caplog):
    _, notifier, read = topic
    record = to_bake(world)
    caplog.set_level(logging.INFO, logger="ecs_gitops.rollout")

    commands.pause(
        world.store, record.rollout_id, by=f"carol {SECRET}", reason=f"see https://ops:{SECRET}@wiki.example/incident?token={SECRET}",
        now=world.clock(), on_transition=rollout_notifier(notifier, Redactor([SECRET])),
    )

    delivered = only(read())
    assert SECRET not in json.dumps(delivered)
    assert "[redacted]" in delivered["message"]["reason"] and "[redacted]" in delivered["subject"]
    logged = [r for r in caplog.records if r.getMessage() == "rollout transition"]
    assert len(logged) == 1
    assert SECRET not in json.dumps({k: v for k, v in vars(logged[0]).items() if k not in ("args", "exc_info")}, default=str)


def test_a_notification_that_cannot_be_published_leaves_the_control_done_and_is_logged(world, caplog):
    record = to_bake(world)

    class FailingNotifierDouble:
        """SNS refusing every publish (an outage moto does not simulate)."""

        def publish(self, **_: Any) -> str:
            raise ConnectionError("sns unreachable")

    caplog.set_level(logging.ERROR, logger="ecs_gitops.rollout")
    paused = commands.pause(world.store, record.rollout_id, by="carol", reason="x", now=world.clock(),
                            on_transition=rollout_notifier(FailingNotifierDouble(), Redactor()))

    assert paused.paused and world.store.get(record.rollout_id).paused
    assert [r.getMessage() for r in caplog.records] == ["could not publish the rollout notification; the transition is in the rollout's history"]


def test_the_cli_controls_publish_through_the_settings_topic(world, topic, kit, tmp_path, monkeypatch):
    arn, _, read = topic
    for variable in ("ECS_GITOPS_SETTINGS", "ECS_GITOPS_ROLLOUT_TABLE", "ECS_GITOPS_TICK_QUEUE_URL", "ECS_GITOPS_STATE_TABLE",
                     "ECS_GITOPS_JOB_QUEUE_URL", "ECS_GITOPS_AUDIT_TABLE", "ECS_GITOPS_TOPIC_ARN", "ECS_GITOPS_IDEMPOTENCY_TABLE"):
        monkeypatch.delenv(variable, raising=False)
    # The CLI masks its environment's AWS secrets; moto's usual "testing" would mask "smoke-testing" too.
    for variable in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(variable, "moto-fake-secret-0123456789abcdef")
    ticks = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks-notify")["QueueUrl"]
    (tmp_path / "desired-state").mkdir()
    settings: Path = tmp_path / "reconciler-settings.yaml"
    settings.write_text(yaml.safe_dump({
        "repository": {"url": str(tmp_path / "desired-state")},
        "environments": {"dev": {"stack": "dev", "suffix": "dev"}},
        "backendUrl": f"file://{tmp_path / 'backend'}",
        "workDir": str(tmp_path / "work"),
        "aws": {"rolloutTable": kit.ROLLOUT_TABLE, "tickQueueUrl": ticks, "topicArn": arn},
    }))
    record = to_bake(world)

    def cli(*args: str) -> int:
        return main(["rollout", *args, "--environment", "dev", "--service", "frontend", "--settings", str(settings),
                     "--state-dir", str(tmp_path / "state")], out=StringIO(), err=StringIO())

    assert cli("pause", "--by", "carol", "--reason", "market open") == 0
    paused = only(read())
    assert (paused["attributes"]["kind"], paused["message"]["by"], paused["message"]["reason"]) == ("rollout-paused", "carol", "paused by carol: market open")
    assert cli("resume", "--by", "carol") == 0
    assert only(read())["attributes"]["kind"] == "rollout-resumed"
    assert cli("abort", "--by", "alice", "--reason", "wrong build") == 0
    aborted = only(read())
    assert (aborted["attributes"]["kind"], aborted["message"]["by"], aborted["message"]["reason"]) == (
        "rollout-rolling-back", "alice", "aborted by alice: wrong build")
    assert aborted["message"]["rolloutId"] == record.rollout_id


def test_the_built_rollouts_notify_a_superseding_push_through_the_components_notifier(world, topic, kit, rig):
    """``build_rollouts`` hands the one helper to the controller and the starter, so an image push that
    supersedes a running rollout is published by the worker as deployed (no wiring of its own)."""
    from types import SimpleNamespace

    from reconciler.settings import EnvironmentSettings, ReconcilerSettings
    from reconciler.wiring import Components, build_rollouts

    arn, notifier, read = topic
    ticks = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks-wired")["QueueUrl"]
    settings = ReconcilerSettings.model_validate({
        "repository": {"url": "unused", "imageWriteBack": False},
        "environments": {"dev": {"stack": "dev", "suffix": "dev"}},
        "aws": {"rolloutTable": kit.ROLLOUT_TABLE, "tickQueueUrl": ticks, "topicArn": arn},
    })
    engine = SimpleNamespace(outputs=lambda stack: world.outputs())  # the stack outputs the program exported
    components = Components(settings, world.states, None, notifier, None, engine, Redactor(), None, None, world.session)
    rollouts = build_rollouts(components)
    assert rollouts.starter.on_transition is rollouts.controller.on_transition
    running = to_bake(world)

    result = rollouts.starter.on_image_push(rig.job("frontend", world.push_image("frontend", "3.2.0")), EnvironmentSettings(stack="dev", suffix="dev"),
                                            kit.example_state(), world.clock())

    assert result.started is None and result.retry_after_seconds  # it starts once the old one has rolled back
    aborted = only(read())
    assert aborted["message"]["rolloutId"] == running.rollout_id and aborted["message"]["supersededBy"]
    assert aborted["subject"].endswith("superseded by a newer image")
