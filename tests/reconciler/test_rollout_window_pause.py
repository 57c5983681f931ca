"""A rollout reaching a step boundary in a deny window pauses there, says so, and resumes when it opens."""

from datetime import UTC, datetime, timedelta

from desired_state.schema import ImageRef, RolloutSpec
from desired_state.traffic import ColourWeights
from reconciler.rollout.controller import apply_decision
from reconciler.rollout.decide import ActionKind, Observed, decide
from reconciler.rollout.model import RolloutPhase, RolloutRecord, RolloutResources

T0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def baking_at_first_step() -> RolloutRecord:
    return RolloutRecord(
        rollout_id="r1", stack="prod", environment="prod", service="frontend", phase=RolloutPhase.BAKING,
        from_colour="blue", to_colour="green", old_image=ImageRef(repository="frontend", tag="1.0.0"),
        new_image=ImageRef(repository="frontend", tag="1.1.0"), spec=RolloutSpec(bake_seconds=60),
        resources=RolloutResources(cluster="c", ecs_services={}, target_groups={}, listener_arn="l", repository="r"),
        live_desired_count=3, step_index=0, weights=ColourWeights(blue=90, green=10),
        phase_started_at=T0, created_at=T0, updated_at=T0, bake_until=T0 + timedelta(seconds=60),
    )


def test_pauses_at_the_step_boundary_keeps_weights_and_resumes_when_the_window_opens():
    record = baking_at_first_step()
    at_boundary = T0 + timedelta(seconds=61)
    in_deny = Observed(listener_weights=ColourWeights(blue=90, green=10), window_open=False, window_reason="inside deny window deny mon-fri 09:30-16:00 America/New_York")

    decision = decide(record, in_deny, at_boundary)
    assert decision.actions == ()  # no weight change while the window is closed
    paused = apply_decision(record, decision, at_boundary)
    assert (paused.paused, paused.paused_by_window, paused.step_index, paused.weights) == (True, True, 0, ColourWeights(blue=90, green=10))
    assert "deny window" in paused.pause_reason and "paused at step 1" in paused.history[-1].reason

    still_closed = decide(paused, in_deny, at_boundary + timedelta(minutes=30))
    assert still_closed.actions == () and not still_closed.resume

    opened = Observed(listener_weights=ColourWeights(blue=90, green=10), window_open=True)
    resumed = apply_decision(paused, decide(paused, opened, at_boundary + timedelta(hours=2)), at_boundary + timedelta(hours=2))
    assert (resumed.paused, resumed.paused_by_window) == (False, False)

    next_step = decide(resumed, opened, at_boundary + timedelta(hours=2))
    assert next_step.phase == RolloutPhase.SHIFTING and next_step.step_index == 1
    assert next_step.actions[0].kind == ActionKind.SET_WEIGHTS and next_step.actions[0].weights == ColourWeights(blue=50, green=50)


def test_an_operator_pause_does_not_resume_by_itself():
    record = baking_at_first_step().model_copy(update={"paused": True, "pause_reason": "investigating (alice)"})
    decision = decide(record, Observed(window_open=True), T0 + timedelta(hours=5))
    assert not decision.resume and decision.actions == () and "investigating" in decision.reason


def test_rollback_after_promotion_makes_the_old_colour_live_again_in_the_traffic_state(tmp_path):
    """A quick manual rollback after promotion: the next rollout must target the colour without traffic."""
    from desired_state.traffic import ServiceTraffic, TrafficState
    from reconciler.adapters.stack_state import FileStackStateStore
    from reconciler.rollout.execute import RolloutExecutor

    states = FileStackStateStore(tmp_path)
    promoted = baking_at_first_step().model_copy(update={"phase": RolloutPhase.ROLLING_BACK, "rollback_reason": "aborted by alice"})
    states.update("prod", lambda s: s.model_copy(update={"traffic": TrafficState(services={"frontend": ServiceTraffic(live_colour="green", live_image=promoted.new_image)})}))
    decision = decide(promoted, Observed(listener_weights=ColourWeights(blue=100, green=0)), T0)
    restore = [a for a in decision.actions if a.kind == ActionKind.RESTORE_LIVE]
    assert decision.phase == RolloutPhase.ROLLED_BACK and len(restore) == 1

    executor = RolloutExecutor(ecs=None, autoscaling=None, states=states, router_for=lambda r: None, images=None)  # type: ignore[arg-type]
    executor.apply(promoted, restore[0])
    traffic = states.get("prod").traffic.of("frontend")
    assert (traffic.live_colour, traffic.live_image, traffic.weights) == ("blue", promoted.old_image, ColourWeights(blue=100, green=0))


def test_a_slow_tick_does_not_act_on_a_rollout_that_moved_on_meanwhile():
    """Worker A observes; meanwhile an abort lands; A's shift must not be applied over it."""
    from reconciler.rollout.controller import RolloutController

    record = baking_at_first_step().model_copy(update={"version": 3, "bake_until": T0})
    aborted = record.model_copy(update={"version": 4, "phase": RolloutPhase.ROLLING_BACK})
    applied: list[object] = []

    class Store:
        reads = 0

        def get(self, rollout_id):
            self.reads += 1
            return record if self.reads == 1 else aborted  # the abort lands while A observes

        def put(self, previous, new):
            raise AssertionError("a stale tick must not write")

    class Observer:
        def observe(self, rec, now):
            return Observed(listener_weights=ColourWeights(blue=90, green=10))

    class Executor:
        def apply(self, rec, action):
            applied.append(action)

    class Scheduler:
        def schedule(self, *args):
            raise AssertionError("a stale tick schedules nothing")

    controller = RolloutController(Store(), Observer(), Executor(), Scheduler(), lambda: T0 + timedelta(seconds=1))  # type: ignore[arg-type]
    assert controller.tick("r1") is aborted
    assert applied == []
