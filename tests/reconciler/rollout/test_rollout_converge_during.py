"""A converge while a rollout runs never moves customers back, nor undoes what the rollout staged.

The converge is the real :class:`~reconciler.converge.Converger` over the rollout's stack status,
with the engine double standing in for the Pulumi CLI and :class:`ProgramApplyDouble` doing to
moto what ``pulumi up`` of the rendered program does to the listener and the colours. The
listener's weights are read back from moto after every tick and every converge.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from desired_state.traffic import ColourWeights
from reconciler.rollout.live import RolloutTrafficSource
from reconciler.rollout.model import RolloutPhase
from reconciler.settings import EnvironmentSettings, ReconcilerSettings, RepositorySettings

W = ColourWeights


@pytest.fixture
def rig(world, kit, tmp_path, make_engine) -> Any:
    return kit.ConvergeRig(world, kit, tmp_path, make_engine())


def green_never_goes_back(seen: list[tuple[int, int]]) -> None:
    green = [weights[1] for weights in seen]
    assert green == sorted(green), f"customers were moved back to the old colour: {seen}"


def test_a_converge_after_a_crash_between_the_alb_write_and_the_traffic_record_does_not_move_customers_back(world, kit, rig):
    """The end-to-end run that found it: listener 80/20, 40/60, 80/20, 40/60."""
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image, kit.default_spec(steps=(20, 60, 100)))
    record, snapshots = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 0)
    seen = [s.weights for s in snapshots]
    world.clock.set(record.bake_until)

    def die() -> None:
        raise kit.WorkerDied("worker died between the ALB write and the traffic-state write")

    world.elbv2_double.after_weight_change = die
    with pytest.raises(kit.WorkerDied):
        world.tick(record.rollout_id)
    seen.append(world.alb_weights("frontend"))
    assert seen[-1] == (40, 60)
    assert world.status().traffic.of("frontend").weights == W(blue=80, green=20)  # what the crash left behind

    # The queue redelivers the tick; a new worker resumes from the listener's 60 %.
    world.clock.advance(30)
    record, snapshots = world.run(record.rollout_id, controller=world.controller(), until=lambda r: r.phase == RolloutPhase.BAKING)
    seen += [s.weights for s in snapshots]
    assert record.step_index == 1
    # Whatever resumed the rollout re-recorded the weights it observed.
    assert world.status().traffic.of("frontend").weights == W(blue=40, green=60)

    rig.converge()  # a desired-state push during that bake
    seen.append(world.alb_weights("frontend"))

    record, snapshots = world.run(record.rollout_id)
    seen += [s.weights for s in snapshots]
    green_never_goes_back(seen)
    assert record.phase == RolloutPhase.COMPLETE
    assert world.alb_weights("frontend") == (0, 100)


def die(kit):
    def hook() -> None:
        raise kit.WorkerDied("worker died between the ALB write and the traffic-state write")

    return hook


@pytest.mark.parametrize("step", [0, 1, 2])
def test_a_crash_after_any_shifts_alb_write_then_a_converge_right_after_the_resume_moves_nobody_back(world, kit, rig, step):
    """Each SET_WEIGHTS of the happy path (smoke -> 10 %, bake -> 50 %, bake -> 100 %) dying
    between the ALB write and the traffic-state write, then a converge at the worst moment: the
    first tick of the new worker has resumed from the listener."""
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    before = RolloutPhase.SMOKE_TESTING if step == 0 else RolloutPhase.BAKING
    record, snapshots = world.run(record.rollout_id, until=lambda r: r.phase == before and (step == 0 or r.step_index == step - 1))
    seen = [s.weights for s in snapshots]
    if record.bake_until:
        world.clock.set(record.bake_until)
    world.elbv2_double.after_weight_change = die(kit)
    with pytest.raises(kit.WorkerDied):
        world.tick(record.rollout_id)
    seen.append(world.alb_weights("frontend"))

    world.clock.advance(30)
    resumed = world.controller()
    record, _ = world.tick(record.rollout_id, resumed)
    seen.append(world.alb_weights("frontend"))
    rig.converge()
    seen.append(world.alb_weights("frontend"))
    record, snapshots = world.run(record.rollout_id, controller=resumed)
    seen += [s.weights for s in snapshots]

    green_never_goes_back(seen)
    assert record.phase == RolloutPhase.COMPLETE


def test_a_stale_traffic_state_is_not_rendered_while_a_rollout_runs(world, kit, rig):
    """The converge on its own: the traffic state says 90/10, the listener and the record 50/50."""
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 1)
    assert world.alb_weights("frontend") == (50, 50)
    stale = world.status().traffic.of("frontend").model_copy(update={"weights": W(blue=90, green=10)})
    world.states.update("dev", lambda s: s.model_copy(update={"traffic": s.traffic.model_copy(update={"services": {**s.traffic.services, "frontend": stale}})}))

    rig.converge()

    assert world.alb_weights("frontend") == (50, 50)
    assert world.alb_weights("api-gateway") == (100, 0)  # no rollout there: rendered from the traffic state as before
    rendered = rig.engine.requests("up")[-1].config["ecs-gitops:trafficState"]
    assert '"green":50' in rendered.replace(" ", "")


def test_a_converge_during_the_rollback_after_a_crash_keeps_customers_off_the_failing_colour(world, kit, rig):
    """An alarm fires at 50 %; the rolling-back worker dies right after putting all traffic back
    on blue, before anything is recorded. A converge before the tick is redelivered must not put
    half of the customers back on green."""
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 1)
    world.cloudwatch.set_alarm_state(AlarmName="frontend-5xx", StateValue="ALARM", StateReason="5xx above 5 for 1 minute")
    world.elbv2_double.after_weight_change = die(kit)
    with pytest.raises(kit.WorkerDied):
        world.tick(record.rollout_id)
    assert world.alb_weights("frontend") == (100, 0)
    assert world.store.get(record.rollout_id).phase == RolloutPhase.BAKING  # nothing recorded

    rig.converge()
    assert world.alb_weights("frontend") == (100, 0)

    world.clock.advance(30)
    record, snapshots = world.run(record.rollout_id)
    assert record.phase == RolloutPhase.ROLLED_BACK
    assert all(s.weights == (100, 0) for s in snapshots)
    assert world.desired_counts("frontend") == {"blue": 2, "green": 0}


def test_a_converge_in_any_phase_keeps_the_weights_the_colours_images_and_counts_the_rollout_set(world, kit, rig):
    """Deploying, smoke-testing, shifting, baking and promoted: a converge leaves the listener, the
    idle colour the rollout staged (new image, live count) and, once promoted, the old colour kept
    for a quick rollback (old image, live count) where they are."""
    image = world.push_image("frontend", "3.0.0")
    old = f":{kit.OLD_TAGS['frontend']}"
    record = world.start("frontend", image)
    phases = [RolloutPhase.DEPLOYING, RolloutPhase.SMOKE_TESTING, RolloutPhase.SHIFTING, RolloutPhase.BAKING, RolloutPhase.PROMOTED]
    for phase in phases:
        record, _ = world.run(record.rollout_id, until=lambda r, phase=phase: r.phase == phase)
        before = (world.alb_weights("frontend"), world.desired_counts("frontend"), world.colour_image("frontend", "blue"), world.colour_image("frontend", "green"))
        rig.converge()
        after = (world.alb_weights("frontend"), world.desired_counts("frontend"), world.colour_image("frontend", "blue"), world.colour_image("frontend", "green"))
        assert after == before, f"a converge in {phase.value} changed {before} to {after}"
        assert after[1] == {"blue": 2, "green": 2}
        assert (after[2], after[3]) == (old, image.reference)
        assert world.scaling_bounds("frontend", "blue") == world.scaling_bounds("frontend", "green") == (2, 10)
    plans = {plan.colour: plan for plan in rig.program.applied[-1]["frontend"]}
    assert (plans["green"].live, plans["green"].weight, plans["blue"].live, plans["blue"].weight) == (True, 100, False, 0)

    # The old colour is still there to roll back to.
    from reconciler.rollout import commands

    commands.abort(world.store, record.rollout_id, by="alice", reason="errors after the promotion", now=world.clock())
    record, _ = world.run(record.rollout_id)
    assert record.phase == RolloutPhase.ROLLED_BACK
    assert world.alb_weights("frontend") == (100, 0)
    assert world.desired_counts("frontend") == {"blue": 2, "green": 0}
    assert world.colour_image("frontend", "blue") == old
    rig.converge()  # and once it is over, the traffic state alone is rendered again
    assert world.alb_weights("frontend") == (100, 0)
    assert world.desired_counts("frontend") == {"blue": 2, "green": 0}
    assert world.colour_image("frontend", "blue") == old


def test_the_wired_converger_asks_the_rollouts_only_when_they_are_configured(world, kit, tmp_path, make_engine):
    from reconciler.adapters.audit import FileAuditLog
    from reconciler.adapters.notify import StreamNotifier
    from reconciler.redact import Redactor
    from reconciler.settings import AwsResources
    from reconciler.wiring import Components

    settings = ReconcilerSettings(
        repository=RepositorySettings(url=str(tmp_path), image_write_back=False), environments={"dev": EnvironmentSettings(stack="dev", suffix="dev")},
        backend_url=f"file://{tmp_path / 'backend'}", work_dir=str(tmp_path / "work"),
    )

    def components(aws: AwsResources) -> Components:
        return Components(
            settings.model_copy(update={"aws": aws}), world.states, FileAuditLog(tmp_path / "audit"), StreamNotifier(),
            None, make_engine(), Redactor(), None, None, world.session,
        )

    assert components(AwsResources()).converger().live_traffic is None
    live = components(AwsResources(rollout_table=kit.ROLLOUT_TABLE)).converger().live_traffic
    assert isinstance(live, RolloutTrafficSource)

    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 1)
    rendered = live.render("dev", world.status().traffic)
    assert rendered.rollouts == {"frontend": record.rollout_id}
    assert rendered.traffic.of("frontend").weights == W(blue=50, green=50)
    assert rendered.traffic.of("frontend").idle_count == kit.LIVE_COUNT


class StatesWithHook:
    """The world's stack-state store, with a one-shot hook run before the next ``update``: another
    worker's whole rollback slipping in between this tick's version check and its traffic-state write."""

    def __init__(self, states: Any):
        self._states = states
        self.before_update = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._states, name)

    def update(self, *args: Any, **kwargs: Any) -> Any:
        hook, self.before_update = self.before_update, None
        if hook is not None:
            hook()
        return self._states.update(*args, **kwargs)


def test_a_re_record_that_lands_after_another_workers_rollback_is_put_right(world, kit):
    from reconciler.rollout import commands
    from reconciler.rollout.controller import RolloutController
    from reconciler.rollout.execute import RolloutExecutor, StatusImageUpdater

    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 0)
    world.clock.set(record.bake_until)
    world.elbv2_double.after_weight_change = die(kit)
    with pytest.raises(kit.WorkerDied):
        world.tick(record.rollout_id)  # listener at 50/50, traffic state still 90/10
    world.clock.advance(30)

    states = StatesWithHook(world.states)
    executor = RolloutExecutor(world.ecs_double, world.autoscaling, states, world.router_for, StatusImageUpdater(world.states, world.converge))
    slow = RolloutController(world.store, world.observer(), executor, world.scheduler, world.clock)

    def rival_rolls_back() -> None:
        commands.abort(world.store, record.rollout_id, by="alice", reason="errors", now=world.clock())
        rival = world.controller()
        while world.store.get(record.rollout_id).phase != RolloutPhase.ROLLED_BACK:
            rival.tick(record.rollout_id)

    states.before_update = rival_rolls_back
    result = slow.tick(record.rollout_id)  # resumes from the listener: re-records 50/50 ... after the rollback

    assert result.phase == RolloutPhase.ROLLED_BACK
    assert world.alb_weights("frontend") == (100, 0)
    assert world.status().traffic.of("frontend").weights == W(blue=100, green=0)
