"""The pure decisions behind a converge during a rollout: what is rendered, what a tick re-records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from desired_state.schema import ImageRef, RolloutSpec
from desired_state.traffic import ColourWeights, ServiceTraffic
from reconciler.rollout.decide import Action, ActionKind
from reconciler.rollout.live import rendered_weights, traffic_to_render, weights_to_record
from reconciler.rollout.model import RolloutPhase, RolloutRecord, RolloutResources

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
NEW = ImageRef(repository="frontend", tag="3.0.0", digest="sha256:" + "ab" * 32)
OLD = ImageRef(repository="frontend", tag="1.4.2")
W = ColourWeights


def make(phase: RolloutPhase, step_index: int = -1, **extra) -> RolloutRecord:
    return RolloutRecord(
        rollout_id="r1", stack="dev", environment="dev", service="frontend", phase=phase, from_colour="blue", to_colour="green",
        old_image=OLD, new_image=NEW, spec=RolloutSpec(steps=(20, 60, 100)), live_desired_count=3, step_index=step_index,
        resources=RolloutResources(cluster="c", ecs_services={}, target_groups={}, listener_arn="l", repository="ecr-frontend-dev"),
        weights=W(blue=100, green=0), phase_started_at=NOW, created_at=NOW, updated_at=NOW, **extra,
    )


RECORDED = ServiceTraffic(live_colour="blue", live_image=OLD, weights=W(blue=80, green=20))


def test_the_listener_ahead_of_the_record_is_rendered():
    """A worker died after the ALB write: the listener already shows the next step."""
    assert rendered_weights(make(RolloutPhase.BAKING, 0), W(blue=40, green=60), W(blue=80, green=20)) == W(blue=40, green=60)


def test_shifting_renders_the_step_the_rollout_is_moving_to():
    assert rendered_weights(make(RolloutPhase.SHIFTING, 1), W(blue=80, green=20), W(blue=40, green=60)) == W(blue=40, green=60)


@pytest.mark.parametrize("phase", [RolloutPhase.BAKING, RolloutPhase.PROMOTED])
def test_a_listener_behind_the_record_outside_a_shift_is_left_alone(phase):
    """A rollback that died before it was recorded: customers stay off the new colour."""
    assert rendered_weights(make(phase, 1), W(blue=100, green=0), W(blue=40, green=60)) == W(blue=100, green=0)


def test_rolling_back_renders_all_traffic_on_the_old_colour():
    assert rendered_weights(make(RolloutPhase.ROLLING_BACK, 1), W(blue=40, green=60), W(blue=40, green=60)) == W(blue=100, green=0)


def test_an_unreadable_listener_keeps_what_is_recorded():
    assert rendered_weights(make(RolloutPhase.BAKING, 1), None, W(blue=40, green=60)) == W(blue=40, green=60)
    assert rendered_weights(make(RolloutPhase.BAKING, 1), None, None) == W(blue=40, green=60)


@pytest.mark.parametrize(
    "phase, step, live, idle",
    [
        (RolloutPhase.SCANNING, -1, ("blue", OLD), (None, None)),
        (RolloutPhase.DEPLOYING, -1, ("blue", OLD), (NEW, 3)),
        (RolloutPhase.SMOKE_TESTING, -1, ("blue", OLD), (NEW, 3)),
        (RolloutPhase.SHIFTING, 0, ("blue", OLD), (NEW, 3)),
        (RolloutPhase.BAKING, 2, ("blue", OLD), (NEW, 3)),
        (RolloutPhase.PROMOTED, 2, ("green", NEW), (OLD, 3)),
        (RolloutPhase.ROLLING_BACK, 2, ("blue", OLD), (None, 0)),
    ],
)
def test_live_and_idle_colours_are_the_rollouts_in_every_phase(phase, step, live, idle):
    rendered = traffic_to_render(make(phase, step), W(blue=100, green=0), RECORDED)
    assert (rendered.live_colour, rendered.live_image) == live
    assert (rendered.idle_image, rendered.idle_count) == idle


@pytest.mark.parametrize("phase", [RolloutPhase.COMPLETE, RolloutPhase.ROLLED_BACK])
def test_a_finished_rollout_renders_what_is_recorded(phase):
    assert traffic_to_render(make(phase, 2), W(blue=0, green=100), RECORDED) is RECORDED


def test_a_tick_re_records_the_listener_only_when_the_traffic_state_differs():
    record = make(RolloutPhase.BAKING, 0)
    assert weights_to_record(record, W(blue=40, green=60), (), RECORDED) == W(blue=40, green=60)
    assert weights_to_record(record, W(blue=80, green=20), (), RECORDED) is None
    # Nothing recorded yet stands for all traffic on the live colour.
    assert weights_to_record(make(RolloutPhase.BAKING, 0), W(blue=100, green=0), (), ServiceTraffic()) is None


def test_a_tick_that_sets_weights_records_them_itself():
    actions = (Action(ActionKind.SET_WEIGHTS, weights=W(blue=40, green=60)),)
    assert weights_to_record(make(RolloutPhase.BAKING, 0), W(blue=100, green=0), actions, RECORDED) is None


def test_nothing_is_re_recorded_without_a_listener_reading_or_for_a_rolling_rollout():
    assert weights_to_record(make(RolloutPhase.BAKING, 0), None, (), RECORDED) is None
    rolling = make(RolloutPhase.DEPLOYING).model_copy(update={"mode": "rolling"})
    assert weights_to_record(rolling, W(blue=40, green=60), (), RECORDED) is None
