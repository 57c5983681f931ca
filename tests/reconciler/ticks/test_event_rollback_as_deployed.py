"""Issue 10's safety loop as deployed: an AWS event reaches the intake, the tick runtime acts on it at once.

Real: the :class:`~reconciler.intake.Intake` with its :class:`~reconciler.rollout.watch.RolloutWatchIndex`
and the SAME :class:`~reconciler.ticks.schedule.CoalescingTickScheduler` the controller schedules its
polls with (one ``wake#`` item per rollout in the rollout table), the
:class:`~reconciler.ticks.runner.TickRunner` on a tick queue (moto SQS), the
:class:`~reconciler.rollout.controller.RolloutController` over the rollout world (moto ALB, ECS, ECR,
CloudWatch, DynamoDB), the :class:`~reconciler.rollout.writeback.GitImageWriteBack` against a local
bare git repo, the one notification helper (``rollout_notifier``) publishing to SNS (moto, read back
from a subscribed queue), and, in the converge test, converge :class:`~reconciler.worker.Worker`
threads whose converger is built by :class:`~reconciler.wiring.Components` (so its live-traffic source
is the deployed one, :class:`~reconciler.rollout.live.RolloutTrafficSource`).

Test doubles: those of the rollout world (tests/reconciler/rollout/conftest.py), ``ClockedSqsDouble``
for the tick queue's delays on the fake clock, the engine double (no Pulumi CLI), held in ``up`` by
:class:`UpGate`, and :class:`WriteBackConvergeDouble` for the converge a write-back commit's push
triggers. The fake clock is not moved between an event and the rollout's reaction to it.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from reconciler.adapters.notify import SnsNotifier
from reconciler.adapters.queue import JobQueue
from reconciler.redact import Redactor
from reconciler.rollout.model import RolloutPhase, RolloutRecord
from reconciler.rollout.notify import rollout_notifier
from reconciler.rollout.router import AlbWeightedRouter
from reconciler.rollout.watch import RolloutWatchIndex
from reconciler.rollout.writeback import GitImageWriteBack
from reconciler.ticks.runner import TickRunner
from reconciler.ticks.schedule import CoalescingTickScheduler, WakeState
from reconciler.wiring import Components, RolloutComponents
from reconciler.worker import Worker

SAMPLES = Path(__file__).resolve().parents[1] / "intake" / "samples"
WAIT = 30  # seconds: only reached when something is broken (generous: a loaded CI machine runs two test processes)
SERVICE = "frontend"
GREEN_ALARM = "alarm-frontend-green-5xx-dev"  # the program's per-colour alarm the sample event names
GREEN_SERVICE = "svc-frontend-green-dev"
# Calls that would mean a stale tick reached the rollout (the ALB, ECS or CloudWatch).
ROLLOUT_SERVICES = ("elbv2", "ecs", "cloudwatch", "ecr", "application-autoscaling")


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()



def image_on_branch(origin: Path, tmp_path: Path) -> Any:
    check = tmp_path / f"check-{len(list(tmp_path.glob('check-*')))}"
    git("clone", "-q", str(origin), str(check), cwd=tmp_path)
    return yaml.safe_load((check / "environments" / "dev.yaml").read_text())["services"][SERVICE]["image"]


class WriteBackConvergeDouble:
    """The real :class:`GitImageWriteBack` stages and reverts the image (commit and push to the bare repo).

    TEST DOUBLE only for what follows a staging commit: its push triggers a converge, whose Pulumi
    program points the idle colour at the new image and registers its tasks in the target group;
    the Pulumi CLI cannot run here, so this does that to moto, as the rollout world's ConvergeDouble.
    """

    def __init__(self, world: Any, writer: GitImageWriteBack):
        self.world = world
        self.writer = writer
        self.staged: list[str] = []
        self.reverted: list[str] = []

    def stage(self, record: RolloutRecord) -> None:
        self.staged.append(self.writer.stage(record))
        self.world.point_colour_at(record.service, record.to_colour, record.new_image)
        self.world.register_targets(record.service, record.to_colour)

    def revert(self, record: RolloutRecord) -> None:
        self.reverted.append(self.writer.revert(record))


def deployed(world: Any, ticks_kit: Any, reconciler_aws: Any, tmp_path: Path, origin: Path) -> SimpleNamespace:
    """The tick runtime and the intake as deployed, over the rollout world: one coalescing scheduler for both."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from reconciler.adapters.secrets import SecretReader
    from reconciler.intake import Intake
    from reconciler.settings import EnvironmentSettings, ReconcilerSettings, RepositorySettings

    url = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    sqs = ticks_kit.ClockedSqsDouble(world.sqs, world.clock)
    scheduler = CoalescingTickScheduler(world.dynamodb, ticks_kit.ROLLOUT_TABLE, sqs, url, overdue_grace_seconds=ticks_kit.GRACE)
    images = WriteBackConvergeDouble(world, GitImageWriteBack(str(origin), "main", world.states, work_dir=tmp_path))
    redactor = Redactor()
    notify = rollout_notifier(SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn, redactor=redactor), redactor)
    controller = world.controller(on_transition=notify, images=images)
    controller.scheduler = scheduler
    runner = TickRunner(RolloutComponents(world.store, controller, None, url), sqs, clock=world.clock)  # type: ignore[arg-type]
    api = ticks_kit.ApiCalls()
    for client in (world.sqs, world.dynamodb, world.elbv2, world.ecs, world.ecr, world.cloudwatch, world.autoscaling):
        client.meta.events.register("before-call.*.*", api.hook)
    rig = ticks_kit.TickRig(world, url, sqs, scheduler, runner, api)

    settings = ReconcilerSettings(
        repository=RepositorySettings(url="https://github.com/example-org/desired-state.git"),
        environments={"dev": EnvironmentSettings(stack="dev", suffix="dev")},
    )
    intake = Intake(
        settings,
        JobQueue(reconciler_aws.sqs, reconciler_aws.queue_url),
        SecretReader(reconciler_aws.secretsmanager),
        DynamoDBPersistenceLayer(table_name=reconciler_aws.idempotency_table, boto3_session=reconciler_aws.session),
        clock=world.clock,
        watches=RolloutWatchIndex(world.dynamodb, ticks_kit.ROLLOUT_TABLE),
        ticks=scheduler,  # the controller's own: an event replaces the pending poll
    )
    return SimpleNamespace(rig=rig, scheduler=scheduler, intake=intake, origin=origin, images=images, controller=controller)


def start(world: Any, kit: Any, d: SimpleNamespace) -> RolloutRecord:
    """A blue/green rollout of frontend 3.0.0 (steps 50, 100; a 120 s bake), woken as the starter wakes it."""
    image = world.push_image(SERVICE, "3.0.0")
    record = world.start(SERVICE, image, kit.default_spec(SERVICE, steps=(50, 100), bake_seconds=120))
    d.scheduler.schedule(record.rollout_id, world.clock(), world.clock(), cause="rollout started")
    return record


def run_until(world: Any, d: SimpleNamespace, rollout_id: str, phase: RolloutPhase, max_rounds: int = 40) -> RolloutRecord:
    """Let the tick runtime run, moving the fake clock to each tick's time, until the rollout is in ``phase``."""
    for _ in range(max_rounds):
        d.rig.drain()
        record = world.store.get(rollout_id)
        if record.phase == phase:
            return record
        due = d.rig.sqs.next_due()
        assert due is not None, f"a {record.phase.value} rollout has no tick coming; it would be stuck"
        world.clock.set(max(world.clock(), due))
    raise AssertionError(f"the rollout never reached {phase.value}")


def drain_until_terminal(world: Any, d: SimpleNamespace, rollout_id: str) -> list[RolloutRecord]:
    """The tick runtime's rounds, the fake clock unmoved, until the rollout is finished."""
    handled: list[RolloutRecord] = []
    for _ in range(10):
        handled.extend(d.rig.drain())
        if world.store.get(rollout_id).phase.terminal:
            return handled
    raise AssertionError(f"the rollout is still {world.store.get(rollout_id).phase.value}: nothing woke it without the clock moving")


def notifications(reconciler_aws: Any, read_notifications: Any) -> list[dict[str, Any]]:
    return [n["message"] for n in read_notifications(reconciler_aws.sqs, reconciler_aws.inbox_url)]


def baking_with_poll_pending(world: Any, kit: Any, d: SimpleNamespace) -> tuple[RolloutRecord, Any]:
    record = start(world, kit, d)
    record = run_until(world, d, record.rollout_id, RolloutPhase.BAKING)
    assert record.step_index == 0 and world.alb_weights(SERVICE) == (50, 50)
    pending = d.scheduler.wake(record.rollout_id)
    assert pending is not None and pending.state == WakeState.PENDING and pending.at > world.clock()  # the alarm poll, 30 s on
    assert [at for at, _ in d.rig.sqs.held] == [pending.at]  # its tick is on the queue, not yet due
    return record, pending


def fire_green_alarm(world: Any, d: SimpleNamespace, record: RolloutRecord) -> None:
    world.cloudwatch.set_alarm_state(AlarmName=GREEN_ALARM, StateValue="ALARM", StateReason="5xx above 5 for 2 minutes")
    event = sample("cloudwatch-alarm-state-change")
    assert event["detail"]["alarmName"] == GREEN_ALARM
    assert d.intake.handle(event)["woken"] == [record.rollout_id]


def assert_rolled_back_as_deployed(world: Any, kit: Any, d: SimpleNamespace, record: RolloutRecord, tmp_path: Path, sent: list[dict]) -> None:
    final = world.store.get(record.rollout_id)
    assert final.phase == RolloutPhase.ROLLED_BACK
    assert world.alb_weights(SERVICE) == (100, 0)  # read back from the listener: all on the old colour
    assert world.desired_counts(SERVICE) == {"blue": kit.LIVE_COUNT, "green": 0}  # the idle colour scaled to 0
    # The real write-back: the staging commit, then one revert commit, on the branch (a revert asked for
    # again finds the old image there and commits nothing).
    head = git("rev-parse", "main", cwd=d.origin)
    assert len(d.images.staged) == 1 and d.images.reverted and set(d.images.reverted) == {head}
    assert git("rev-parse", "main~1", cwd=d.origin) == d.images.staged[0] and git("rev-list", "--count", "main", cwd=d.origin) == "3"
    message = git("log", "-1", "--format=%B", "main", cwd=d.origin)
    assert f"revert {SERVICE} to :{kit.OLD_TAGS[SERVICE]}" in message
    assert "gate alarms" in message and GREEN_ALARM in message, message
    assert "None" not in message, message
    assert image_on_branch(d.origin, tmp_path) == {"repository": SERVICE, "tag": kit.OLD_TAGS[SERVICE]}
    # Exactly one notification per transition the record holds (the start is written by the command, not notified).
    transitions = Counter((t.from_phase.value if t.from_phase else None, t.to_phase.value) for t in final.history[1:])
    assert Counter((n["from"], n["phase"]) for n in sent) == transitions
    assert transitions[("baking", "rolling-back")] == 1 and transitions[("rolling-back", "rolled-back")] == 1
    [rolling_back] = [n for n in sent if n["phase"] == "rolling-back"]
    assert GREEN_ALARM in rolling_back["reason"] and rolling_back["kind"] == "rollout-rolling-back"


def assert_the_old_poll_is_dropped_as_stale(world: Any, d: SimpleNamespace, record: RolloutRecord, pending: Any) -> None:
    rig = d.rig
    assert d.scheduler.wake(record.rollout_id) is None  # finished: the wake item is gone
    mark = len(rig.api.calls)
    world.clock.set(pending.at + timedelta(seconds=1))
    handled = rig.drain()
    assert handled == []  # no extra tick handled
    after = rig.api.since(mark)
    assert "sqs.DeleteMessage" in after  # the old poll did come due, and was taken off the queue
    touched = [call for call in after if call.split(".")[0] in ROLLOUT_SERVICES]
    assert touched == [], f"a stale tick reached the rollout: {touched}"
    assert not rig.sqs.held and world.store.get(record.rollout_id).phase == RolloutPhase.ROLLED_BACK


# --------------------------------------------------------------------------- 1. the alarm event, the tick runtime


def test_an_alarm_event_rolls_a_baking_rollout_back_at_once_through_the_intake_and_the_tick_runtime(
    world, kit, ticks_kit, reconciler_aws, read_notifications, tmp_path, origin
):
    d = deployed(world, ticks_kit, reconciler_aws, tmp_path, origin)
    record, pending = baking_with_poll_pending(world, kit, d)
    bake_started = world.clock()
    mark = len(d.rig.api.calls)

    fire_green_alarm(world, d, record)
    handled = drain_until_terminal(world, d, record.rollout_id)

    assert world.clock() == bake_started  # no poll was waited for
    # The hook sees the rollback's own ALB, ECS and CloudWatch calls (so its silence below means something).
    assert {call.split(".")[0] for call in d.rig.api.since(mark)} >= {"elbv2", "ecs", "cloudwatch"}
    assert [r.phase for r in handled] == [RolloutPhase.ROLLING_BACK, RolloutPhase.ROLLED_BACK]
    assert_rolled_back_as_deployed(world, kit, d, record, tmp_path, notifications(reconciler_aws, read_notifications))
    assert_the_old_poll_is_dropped_as_stale(world, d, record, pending)


# --------------------------------------------------------------------------- 2. while converges hold their pulumi up


class UpGate:
    """The engine double's ``on_call`` hook: ``up`` of each stack waits until the test opens the gate.

    On entering ``up`` it keeps the request and the listener's weights read back at that moment
    (with its own client, so the tick path's call count stays the tick path's).
    """

    def __init__(self, listener_weights: Any, then: Any = None) -> None:
        self.open = threading.Event()
        self.entered = {stack: threading.Event() for stack in ("dev", "prod")}
        self.requests: dict[str, Any] = {}
        self.listener_at_up: dict[str, Any] = {}
        self._listener_weights = listener_weights
        self._then = then

    def __call__(self, operation: str, request: Any) -> None:
        if operation != "up":
            return
        self.requests[request.stack] = request
        self.listener_at_up[request.stack] = self._listener_weights()
        self.entered[request.stack].set()
        assert self.open.wait(WAIT), "the test never opened the gate"
        if self._then is not None:
            self._then(operation, request)


def rendered_weights(request: Any, service: str) -> tuple[int, int]:
    traffic = json.loads(request.config["ecs-gitops:trafficState"])
    weights = traffic["services"][service]["weights"]
    return weights["blue"], weights["green"]


def converges_held_in_up(world, kit, ticks_kit, make_harness, make_engine, reconciler_aws, git_repo, then=None):
    """Jobs for dev (the rollout's stack) and prod queued; two converge Workers, each in its own thread.

    Their converger comes from :meth:`Components.converger`, as the deployed worker builds it: with
    ``aws.rolloutTable`` set it renders each active rollout's traffic through the live-traffic source.
    """
    from reconciler.settings import AwsResources

    listener_client = world.session.client("elbv2")
    r = world.services[SERVICE]
    gate = UpGate(lambda: AlbWeightedRouter(listener_client, r.listener_arn, r.target_groups, r.rule_arn).verify_weights(), then)
    engine = make_engine()
    engine.on_call = gate
    # The converges write the same stack status as the rollout (stack "dev"): the same stack for real.
    harness = make_harness(engine=engine, states=world.states, settings_overrides={"aws": AwsResources(rollout_table=kit.ROLLOUT_TABLE)})
    components = Components(
        harness.settings, world.states, harness.audit, harness.notifier, harness.source, engine, harness.redactor, None, None,
        world.session, clock=world.clock,
    )
    dev_commit, prod_commit = git_repo.bump("dev"), git_repo.bump("prod")
    queue = JobQueue(reconciler_aws.sqs, reconciler_aws.queue_url)
    queue.send(harness.job(dev_commit, environment="dev"))
    queue.send(harness.job(prod_commit, environment="prod"))
    outcomes: dict[str, list[Any]] = {}

    def converge(name: str) -> None:
        from program.render import thread_event_loop

        thread_event_loop()  # the converge's policy render needs an asyncio loop in this thread
        converger = components.converger(worker_id=f"{name}:1")
        assert converger.live_traffic is not None
        outcomes[name] = Worker(JobQueue(reconciler_aws.sqs, reconciler_aws.queue_url), converger).run_once(wait_seconds=0)

    threads = [threading.Thread(target=converge, args=(name,), name=name) for name in ("worker-a", "worker-b")]

    def begin() -> None:
        threads[0].start()
        deadline = time.monotonic() + WAIT
        while not any(e.is_set() for e in gate.entered.values()):
            assert time.monotonic() < deadline, "the first converge never reached pulumi up"
            time.sleep(0.01)
        threads[1].start()
        assert gate.entered["dev"].wait(WAIT) and gate.entered["prod"].wait(WAIT), "both converges reach pulumi up"

    def release() -> None:
        gate.open.set()
        for t in threads:
            t.join(timeout=WAIT)
        assert not any(t.is_alive() for t in threads)

    return SimpleNamespace(gate=gate, engine=engine, harness=harness, threads=threads, outcomes=outcomes, begin=begin, release=release,
                           commits=(dev_commit, prod_commit))


def test_the_alarm_rollback_completes_while_converges_of_the_same_and_another_stack_hold_pulumi_up(
    world, kit, ticks_kit, reconciler_aws, read_notifications, tmp_path, origin, make_harness, make_engine, git_repo
):
    d = deployed(world, ticks_kit, reconciler_aws, tmp_path, origin)
    record, pending = baking_with_poll_pending(world, kit, d)
    bake_started = world.clock()
    c = converges_held_in_up(world, kit, ticks_kit, make_harness, make_engine, reconciler_aws, git_repo)
    try:
        c.begin()
        fire_green_alarm(world, d, record)
        handled = drain_until_terminal(world, d, record.rollout_id)

        # Done before either converge gets out of its pulumi up.
        assert [r.phase for r in handled] == [RolloutPhase.ROLLING_BACK, RolloutPhase.ROLLED_BACK]
        assert world.clock() == bake_started
        assert all(t.is_alive() for t in c.threads) and not c.gate.open.is_set()
        assert c.engine.operations.count("up") == 2
        assert_rolled_back_as_deployed(world, kit, d, record, tmp_path, notifications(reconciler_aws, read_notifications))
    finally:
        c.release()

    converged = sorted((o.outcome, o.reason.value) for name in c.outcomes for o in c.outcomes[name])
    assert len(converged) == 2 and all(outcome == "succeeded" for outcome, _ in converged), converged
    assert c.harness.status("prod").last_applied_commit == c.commits[1]
    # The dev converge rendered the rollout's traffic from the listener (the live-traffic source), not older.
    dev = c.gate.requests["dev"]
    assert c.gate.listener_at_up["dev"] is not None
    assert rendered_weights(dev, SERVICE) == (c.gate.listener_at_up["dev"].blue, c.gate.listener_at_up["dev"].green) == (50, 50)
    # prod has no rollout: it rendered its own recorded traffic state, nothing of dev's rollout.
    from desired_state.traffic import TrafficState

    prod_rendered = TrafficState.model_validate_json(c.gate.requests["prod"].config["ecs-gitops:trafficState"])
    assert prod_rendered == (c.harness.status("prod").traffic or TrafficState())
    assert_the_old_poll_is_dropped_as_stale(world, d, record, pending)


def test_a_converge_in_flight_during_the_rollback_does_not_put_customers_back_on_the_rolled_back_colour(
    world, kit, ticks_kit, reconciler_aws, tmp_path, origin, make_harness, make_engine, git_repo
):
    """What ``pulumi up`` does to moto is :class:`ProgramApplyDouble`'s (for the rollout's stack only: prod has no ALB here).

    Found failing by this module's first version: the converge rendered 50/50 before ``up`` and applied it after the
    rollback. Now the program leaves the weights and the colours' scaling bounds to the active rollout (``ignore_changes``)
    and a finished converge wakes the stack's rollouts."""
    d = deployed(world, ticks_kit, reconciler_aws, tmp_path, origin)
    record, _ = baking_with_poll_pending(world, kit, d)
    program = kit.ProgramApplyDouble(world)
    c = converges_held_in_up(
        world, kit, ticks_kit, make_harness, make_engine, reconciler_aws, git_repo,
        then=lambda operation, request: program(operation, request) if request.stack == "dev" else None,
    )
    try:
        c.begin()
        fire_green_alarm(world, d, record)
        drain_until_terminal(world, d, record.rollout_id)
        assert world.alb_weights(SERVICE) == (100, 0)
    finally:
        c.release()
    assert all(o.outcome == "succeeded" for name in c.outcomes for o in c.outcomes[name])
    assert world.store.get(record.rollout_id).phase == RolloutPhase.ROLLED_BACK
    assert world.alb_weights(SERVICE) == (100, 0), "the converge put customers back on the colour the rollout rolled back"
    assert world.desired_counts(SERVICE)["green"] == 0


# --------------------------------------------------------------------------- 3. ECS deployment events wake a deploying rollout


@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_an_ecs_deployment_event_for_the_idle_colour_wakes_a_deploying_rollout_at_once(
    world, kit, ticks_kit, reconciler_aws, read_notifications, tmp_path, origin, outcome
):
    d = deployed(world, ticks_kit, reconciler_aws, tmp_path, origin)
    world.ecs_double.complete = False  # the idle colour's deployment is still in progress
    record = start(world, kit, d)
    record = run_until(world, d, record.rollout_id, RolloutPhase.DEPLOYING)
    deploying_since = world.clock()
    pending = d.scheduler.wake(record.rollout_id)
    assert pending is not None and pending.state == WakeState.PENDING and pending.at > deploying_since  # the next deploy poll
    assert d.rig.drain() == []  # nothing to do before that poll

    world.ecs_double.complete = True
    if outcome == "failed":
        world.ecs_double.failed.add(GREEN_SERVICE)
    event = sample(f"ecs-deployment-state-change-{outcome}")
    assert event["resources"] == [f"arn:aws:ecs:us-east-1:123456789012:service/{world.cluster}/{GREEN_SERVICE}"]
    assert d.intake.handle(event)["woken"] == [record.rollout_id]

    if outcome == "completed":
        handled = d.rig.drain()
        assert world.clock() == deploying_since
        assert handled and handled[0].phase == RolloutPhase.SMOKE_TESTING
        moved = world.store.get(record.rollout_id)
        assert moved.phase in (RolloutPhase.SMOKE_TESTING, RolloutPhase.SHIFTING, RolloutPhase.BAKING)
        assert any(
            (t.from_phase, t.to_phase, t.at) == (RolloutPhase.DEPLOYING, RolloutPhase.SMOKE_TESTING, deploying_since) for t in moved.history
        )
        assert world.alb_weights(SERVICE) == (50, 50)  # smoke passed and the first step's traffic moved, the clock unmoved
    else:
        drain_until_terminal(world, d, record.rollout_id)
        assert world.clock() == deploying_since
        final = world.store.get(record.rollout_id)
        assert final.phase == RolloutPhase.ROLLED_BACK
        assert "ECS deployment failed" in (final.rollback_reason or "") and "None" not in (final.rollback_reason or "")
        assert world.alb_weights(SERVICE) == (100, 0)
        assert world.desired_counts(SERVICE) == {"blue": kit.LIVE_COUNT, "green": 0}
        message = git("log", "-1", "--format=%B", "main", cwd=d.origin)
        assert "gate targets" in message and "None" not in message, message
    # The poll the event overtook comes due later and is dropped without touching the rollout.
    if outcome == "failed":
        assert_the_old_poll_is_dropped_as_stale(world, d, record, pending)
        return
    current = d.scheduler.wake(record.rollout_id)
    assert current is not None and current.token != pending.token  # the event's chain replaced the deploy poll
    if current.at <= pending.at:  # the shift's own re-check comes first: let the rollout get on to its bake
        run_until(world, d, record.rollout_id, RolloutPhase.BAKING)
        current = d.scheduler.wake(record.rollout_id)
        assert current is not None and current.at > pending.at
    moved = world.store.get(record.rollout_id)
    mark = len(d.rig.api.calls)
    world.clock.set(pending.at + timedelta(seconds=1))
    assert d.rig.drain() == []
    after = d.rig.api.since(mark)
    assert "sqs.DeleteMessage" in after
    assert [call for call in after if call.split(".")[0] in ROLLOUT_SERVICES] == []
    assert world.store.get(record.rollout_id).version == moved.version
