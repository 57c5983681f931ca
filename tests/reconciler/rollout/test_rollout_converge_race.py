"""A converge renders the traffic it read when it prepared, and ``pulumi up`` applies it minutes
later. A rollback or a shift the tick runtime makes during that ``up`` must survive it.

While a rollout is active for a service, the rendered traffic state says the rollout owns that
service's traffic: the program then leaves the listener weights and the colours' scaling to the
rollout (``ignore_changes``; :class:`ProgramApplyDouble` applies the rendered plans the same way).
And a converge that finishes wakes the stack's active rollouts, so each re-asserts its weights.
(Found by review: an alarm at 50 % rolled back during the ``up``, and the ``up`` put 50/50 back.)
"""

from __future__ import annotations

import json

import pytest

from reconciler.rollout.model import RolloutPhase


def alarm_fires_and_rollout_rolls_back(world, rollout_id, until):
    world.cloudwatch.set_alarm_state(AlarmName="frontend-5xx", StateValue="ALARM", StateReason="5xx above 5")
    world.clock.advance(30)
    return world.run(rollout_id, until=until)[0]


def test_a_rollback_during_a_long_up_is_not_undone_by_the_up(world, kit, tmp_path, make_engine):
    rig = kit.ConvergeRig(world, kit, tmp_path, make_engine())
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 1)
    assert world.alb_weights("frontend") == (50, 50)
    program = rig.program

    def up_that_takes_minutes(operation, request):
        if operation == "up":
            # While pulumi up runs (minutes), the alarm fires and the tick runtime rolls back.
            alarm_fires_and_rollout_rolls_back(world, record.rollout_id, lambda r: r.phase in (RolloutPhase.ROLLING_BACK, RolloutPhase.ROLLED_BACK))
            assert world.alb_weights("frontend") == (100, 0)
        program(operation, request)

    rig.engine.on_call = up_that_takes_minutes
    rig.converge()

    assert world.alb_weights("frontend") == (100, 0), "the converge put half the customers back on the colour being rolled back"


def test_a_shift_during_a_long_up_is_not_undone_by_the_up(world, kit, tmp_path, make_engine):
    rig = kit.ConvergeRig(world, kit, tmp_path, make_engine())
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 0)
    before = world.alb_weights("frontend")
    assert before == (90, 10)
    program = rig.program

    def up_that_takes_minutes(operation, request):
        if operation == "up":
            world.clock.set(world.store.get(record.rollout_id).bake_until)
            world.run(record.rollout_id, until=lambda r: r.step_index == 1 and r.phase == RolloutPhase.BAKING)
        program(operation, request)

    rig.engine.on_call = up_that_takes_minutes
    rig.converge()

    assert world.store.get(record.rollout_id).step_index == 1
    assert world.alb_weights("frontend") == (50, 50), f"the converge moved customers back to {before}"


def test_after_a_rollback_during_a_long_up_the_failing_colour_stays_out_of_service(world, kit, tmp_path, make_engine):
    """Once the rollback is recorded (terminal), no tick re-asserts anything: the up itself must not undo it."""
    rig = kit.ConvergeRig(world, kit, tmp_path, make_engine())
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 1)
    program = rig.program

    def up_that_takes_minutes(operation, request):
        if operation == "up":
            alarm_fires_and_rollout_rolls_back(world, record.rollout_id, lambda r: r.phase.terminal)  # all the way to ROLLED_BACK
        program(operation, request)

    rig.engine.on_call = up_that_takes_minutes
    rig.converge()
    final, _ = world.run(record.rollout_id)
    assert final.phase == RolloutPhase.ROLLED_BACK
    assert (world.alb_weights("frontend"), world.desired_counts("frontend")) == ((100, 0), {"blue": 2, "green": 0})
    assert world.scaling_bounds("frontend", "green") == (0, 0)

    rig.engine.on_call = program
    rig.converge()  # the next converge, with no rollout active, renders the traffic state alone again
    assert (world.alb_weights("frontend"), world.desired_counts("frontend")) == ((100, 0), {"blue": 2, "green": 0})
    assert world.scaling_bounds("frontend", "green") == (0, 0)


# --------------------------------------------------------------------------- belt and braces: the wake-up


def waker(world):
    from reconciler.rollout.wake import StackRolloutWaker

    return StackRolloutWaker(world.store, world.scheduler, world.clock)


@pytest.mark.parametrize("up_fails", [False, True], ids=["up-succeeds", "up-fails"])
def test_an_up_that_moves_the_listener_anyway_is_put_right_by_the_rollout_it_wakes(world, kit, tmp_path, make_engine, up_fails):
    """A program that does not leave the weights to the rollout (live=False: the traffic state is
    rendered without the flag, as by an older program) puts 50/50 back during a rollback. The
    finished converge (succeeded or failed) wakes the rollout at once, and its ROLLING_BACK tick
    re-asserts 100 % on the old colour."""
    rig = kit.ConvergeRig(world, kit, tmp_path, make_engine(), live=False, wake_rollouts=waker(world))
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 1)
    program = rig.program
    scheduled_before_the_up_ended = []

    def up_that_takes_minutes(operation, request):
        if operation == "up":
            alarm_fires_and_rollout_rolls_back(world, record.rollout_id, lambda r: r.phase == RolloutPhase.ROLLING_BACK)
        program(operation, request)
        scheduled_before_the_up_ended.append(len(world.scheduler.calls))

    rig.engine.on_call = up_that_takes_minutes
    if up_fails:
        rig.engine.fail_with_engine_error("up")
    rig.converge(expect="failed" if up_fails else "succeeded")
    assert world.alb_weights("frontend") == (50, 50)  # what the stale up did
    assert world.store.get(record.rollout_id).phase == RolloutPhase.ROLLING_BACK
    now = world.clock()
    assert world.scheduler.calls[scheduled_before_the_up_ended[-1]:] == [(record.rollout_id, now, now)]

    rolled, _ = world.tick(record.rollout_id)  # the tick the wake-up sent
    assert world.alb_weights("frontend") == (100, 0)
    final, _ = world.run(rolled.rollout_id)
    assert final.phase == RolloutPhase.ROLLED_BACK
    assert world.alb_weights("frontend") == (100, 0)


def test_only_the_stacks_active_rollouts_are_woken_and_only_after_an_up(world, kit, tmp_path, make_engine):
    rig = kit.ConvergeRig(world, kit, tmp_path, make_engine(), wake_rollouts=waker(world))
    rig.converge()
    assert world.scheduler.calls == []  # no rollout active

    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING)
    assert waker(world)("another-stack") == []
    before = len(world.scheduler.calls)
    (rig.directory / "environments" / "dev.yaml").write_text("not: [valid")
    rig.converge(expect="refused")  # refused before any up: nothing a rollout owns moved
    assert world.scheduler.calls[before:] == []


def test_the_rendered_traffic_says_the_rollout_owns_it_only_while_the_rollout_is_active(world, kit):
    from desired_state.traffic import TrafficState
    from reconciler.rollout.live import RolloutTrafficSource

    live = RolloutTrafficSource(world.store, world.router_for)
    assert not live.render("dev", TrafficState()).traffic.of("frontend").rollout_owns_traffic
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    for phase in (RolloutPhase.DEPLOYING, RolloutPhase.BAKING, RolloutPhase.PROMOTED):
        record, _ = world.run(record.rollout_id, until=lambda r, phase=phase: r.phase == phase)
        rendered = live.render("dev", world.status().traffic).traffic
        assert rendered.of("frontend").rollout_owns_traffic, phase
        assert not rendered.of("api-gateway").rollout_owns_traffic
    record, _ = world.run(record.rollout_id)
    assert record.phase == RolloutPhase.COMPLETE
    assert not live.render("dev", world.status().traffic).traffic.of("frontend").rollout_owns_traffic
    assert not world.status().traffic.of("frontend").rollout_owns_traffic  # rendered, never recorded


def test_the_wired_converger_wakes_rollouts_only_when_they_are_configured(world, kit, tmp_path, make_engine):
    from reconciler.adapters.audit import FileAuditLog
    from reconciler.adapters.notify import StreamNotifier
    from reconciler.redact import Redactor
    from reconciler.rollout.wake import StackRolloutWaker
    from reconciler.settings import AwsResources, EnvironmentSettings, ReconcilerSettings, RepositorySettings
    from reconciler.ticks.schedule import CoalescingTickScheduler
    from reconciler.wiring import Components

    settings = ReconcilerSettings(
        repository=RepositorySettings(url=str(tmp_path), image_write_back=False), environments={"dev": EnvironmentSettings(stack="dev", suffix="dev")},
        backend_url=f"file://{tmp_path / 'backend'}", work_dir=str(tmp_path / "work"),
    )
    queue_url = world.sqs.create_queue(QueueName="ticks")["QueueUrl"]

    def components(aws: AwsResources) -> Components:
        return Components(
            settings.model_copy(update={"aws": aws}), world.states, FileAuditLog(tmp_path / "audit"), StreamNotifier(),
            None, make_engine(), Redactor(), None, None, world.session, clock=world.clock,
        )

    assert components(AwsResources()).converger().wake_rollouts is None
    assert components(AwsResources(rollout_table=kit.ROLLOUT_TABLE)).converger().wake_rollouts is None  # no tick queue to wake through
    waker = components(AwsResources(rollout_table=kit.ROLLOUT_TABLE, tick_queue_url=queue_url)).converger().wake_rollouts
    assert isinstance(waker, StackRolloutWaker) and isinstance(waker.scheduler, CoalescingTickScheduler)

    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING)
    assert waker("dev") == [record.rollout_id]
    (message,) = world.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["rolloutId"] == record.rollout_id
