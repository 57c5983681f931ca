"""The rollout fence: a tick whose AWS call lands after the record moved never leaves AWS away from the record.

Each test lets a tick pass its version check, then, just before its AWS call reaches moto (the
hooks on the conftest doubles), runs what another worker or an operator did meanwhile: an abort
and the whole rollback, a pause, or a promotion. The tick's call then lands on top. After the
tick the listener weights, the desired counts and the stack's traffic state must be the ones
the stored record stands for, whoever wrote it last.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconciler.rollout import commands
from reconciler.rollout.model import RolloutPhase, RolloutRecord

LIVE_COUNT = 2  # the conftest's live desired count


def start_frontend(world, kit, until: Callable[[RolloutRecord], bool]) -> RolloutRecord:
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    record, _ = world.run(record.rollout_id, until=until)
    return record


def abort_and_roll_back(world, rollout_id: str) -> Callable[[], None]:
    """An operator's abort, then another worker's ticks until the rollback is recorded as finished."""

    def rival() -> None:
        commands.abort(world.store, rollout_id, by="alice", reason="error rate looks off", now=world.clock())
        finished, _ = world.run(rollout_id, controller=world.controller())
        assert finished.phase == RolloutPhase.ROLLED_BACK
        # What the rollback left, before the racing call lands on top of it.
        assert world.alb_weights("frontend") == (100, 0)

    return rival


def assert_rolled_back_state(world, record: RolloutRecord) -> None:
    stored = world.store.get(record.rollout_id)
    assert stored.phase == RolloutPhase.ROLLED_BACK
    assert world.alb_weights("frontend") == (100, 0), "the listener must end where the terminal record says: all on blue"
    assert world.desired_counts("frontend") == {"blue": LIVE_COUNT, "green": 0}
    live = world.status().traffic.of("frontend")
    assert (live.live_colour, live.weights.blue, live.weights.green) == ("blue", 100, 0)
    assert "frontend" not in world.status().image_overrides


def test_an_abort_and_rollback_between_the_version_check_and_the_alb_call_is_not_undone(world, kit):
    """The reproduced case: the first shift (90/10) lands after the rollback finished."""
    record = start_frontend(world, kit, until=lambda r: r.phase == RolloutPhase.SMOKE_TESTING)
    world.elbv2_double.before_weight_change = abort_and_roll_back(world, record.rollout_id)

    result = world.controller().tick(record.rollout_id)

    assert world.elbv2_double.before_weight_change is None  # the race did run
    assert result.phase == RolloutPhase.ROLLED_BACK
    assert_rolled_back_state(world, record)
    # A terminal record gets no further tick: nothing else would ever repair the listener.
    assert world.controller().tick(record.rollout_id).phase == RolloutPhase.ROLLED_BACK
    assert world.alb_weights("frontend") == (100, 0)


def test_a_manual_promotion_racing_an_abort_does_not_send_all_traffic_to_a_colour_with_no_tasks(world, kit):
    record = start_frontend(world, kit, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 0)
    commands.promote(world.store, record.rollout_id, by="bob", now=world.clock())
    world.elbv2_double.before_weight_change = abort_and_roll_back(world, record.rollout_id)

    world.controller().tick(record.rollout_id)  # the promoted tick sets 0/100

    assert world.elbv2_double.before_weight_change is None
    assert_rolled_back_state(world, record)


def test_the_promotion_step_racing_an_abort_leaves_the_old_colour_live_in_the_traffic_state(world, kit, monkeypatch):
    """BAKING -> PROMOTED marks the new colour live in the stack status; a rollback that finished
    first must not be overwritten, or the next converge renders green as the live colour."""
    record = start_frontend(world, kit, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 2)
    world.clock.set(record.bake_until)
    original_update = world.states.update
    hooks = [abort_and_roll_back(world, record.rollout_id)]

    def update_after_rival(stack, change):
        if hooks:
            hooks.pop()()
        return original_update(stack, change)

    monkeypatch.setattr(world.states, "update", update_after_rival)

    world.controller().tick(record.rollout_id)

    assert hooks == []
    assert_rolled_back_state(world, record)


def test_the_scale_down_racing_a_rollback_keeps_the_live_colour_running(world, kit):
    """PROMOTED -> COMPLETE scales blue to 0; a rollback that finished first made blue live again."""
    record = start_frontend(world, kit, until=lambda r: r.phase == RolloutPhase.PROMOTED)
    world.clock.advance(record.spec.scale_down_delay_seconds)
    world.ecs_double.before_update_service = abort_and_roll_back(world, record.rollout_id)

    world.controller().tick(record.rollout_id)

    assert world.ecs_double.before_update_service is None
    assert_rolled_back_state(world, record)
    assert world.scaling_bounds("frontend", "blue") == (2, 10), "the live colour's scaling bounds are back, not 0..0"


def test_a_pause_racing_a_step_holds_the_listener_at_the_paused_step(world, kit):
    record = start_frontend(world, kit, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 0)
    world.clock.set(record.bake_until)

    def pause() -> None:
        commands.pause(world.store, record.rollout_id, by="carol", reason="market open", now=world.clock())

    world.elbv2_double.before_weight_change = pause

    result = world.controller().tick(record.rollout_id)  # the bake ended: shifting to 50/50

    stored = world.store.get(record.rollout_id)
    assert world.elbv2_double.before_weight_change is None
    assert result == stored
    assert (stored.phase, stored.step_index, stored.paused) == (RolloutPhase.BAKING, 0, True)
    assert world.alb_weights("frontend") == (90, 10), "paused at step 1: the listener stays at 10 % on green"
    assert world.status().traffic.of("frontend").weights.green == 10
    # Paused ticks only wait; resuming carries on to the end.
    world.clock.advance(60)
    assert world.controller().tick(record.rollout_id).paused is True
    assert world.alb_weights("frontend") == (90, 10)
    commands.resume(world.store, record.rollout_id, by="carol", now=world.clock())
    final, _ = world.run(record.rollout_id)
    assert final.phase == RolloutPhase.COMPLETE
    assert world.alb_weights("frontend") == (0, 100)


def test_a_record_that_keeps_moving_during_the_reassertion_ends_on_the_newest(world, kit):
    """Pause lands during the shift, then a promotion lands during the re-assertion of the pause."""
    record = start_frontend(world, kit, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 0)
    world.clock.set(record.bake_until)

    def promote_next() -> None:
        commands.promote(world.store, record.rollout_id, by="bob", now=world.clock())

    def pause() -> None:
        commands.pause(world.store, record.rollout_id, by="carol", reason="market open", now=world.clock())
        world.elbv2_double.before_weight_change = promote_next

    world.elbv2_double.before_weight_change = pause

    world.controller().tick(record.rollout_id)

    stored = world.store.get(record.rollout_id)
    assert world.elbv2_double.before_weight_change is None  # both races ran
    assert (stored.phase, stored.step_index, stored.manual_promote) == (RolloutPhase.SHIFTING, 2, True)
    assert world.alb_weights("frontend") == (0, 100)


@pytest.mark.parametrize("phase", [RolloutPhase.SHIFTING, RolloutPhase.BAKING])
def test_an_unraced_tick_makes_no_extra_alb_calls(world, kit, phase):
    """The fence costs one record read, not AWS calls, when nothing raced."""
    record = start_frontend(world, kit, until=lambda r: r.phase == RolloutPhase.SMOKE_TESTING)
    calls = world.elbv2_double.weight_calls
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == phase)
    assert world.elbv2_double.weight_calls - calls == 1


# --------------------------------------------------------------------------- what a record stands for


def _intended(record, phase, touched, **update):
    from reconciler.rollout.controller import intended_actions

    return [(a.kind.value, a.colour, a.count, a.weights and (a.weights.blue, a.weights.green)) for a in intended_actions(record.model_copy(update={"phase": phase, **update}), touched)]


def test_what_each_record_stands_for_after_a_race(world, kit):
    from reconciler.rollout.decide import ActionKind as K

    record = world.start("frontend", world.push_image("frontend", "3.0.0"))  # blue live, green idle
    scale_green, scale_blue = (K.SCALE_COLOUR, "green"), (K.SCALE_COLOUR, "blue")
    # A rollback: all on blue, green down, blue up, the old colour live, the image unstaged.
    assert _intended(record, RolloutPhase.ROLLED_BACK, {K.SET_WEIGHTS, scale_green, scale_blue, K.MARK_LIVE, K.STAGE_IMAGE}) == [
        ("scale-colour", "blue", 2, None),
        ("set-weights", None, None, (100, 0)),
        ("restore-live", None, None, None),
        ("scale-colour", "green", 0, None),
        ("revert-image", None, None, None),
    ]
    # Baking at step 2 (50 %), the colours touched scaled up before the weights move.
    assert _intended(record, RolloutPhase.BAKING, {K.SET_WEIGHTS, scale_green, K.MARK_LIVE}, step_index=1) == [
        ("scale-colour", "green", 2, None),
        ("set-weights", None, None, (50, 50)),
        ("restore-live", None, None, None),
        ("set-weights", None, None, (50, 50)),
    ]
    # Promoted keeps the old colour for a quick rollback; complete has scaled it down.
    assert _intended(record, RolloutPhase.PROMOTED, {K.SET_WEIGHTS, scale_blue, K.RESTORE_LIVE}, step_index=2) == [
        ("scale-colour", "blue", 2, None),
        ("set-weights", None, None, (0, 100)),
        ("mark-live", None, None, None),
    ]
    assert _intended(record, RolloutPhase.COMPLETE, {scale_blue}, step_index=2) == [("scale-colour", "blue", 0, None)]
    # Still scanning (a pause raced the staging): the idle colour is not staged yet.
    assert _intended(record, RolloutPhase.SCANNING, {scale_green, K.STAGE_IMAGE}) == [("scale-colour", "green", 0, None), ("revert-image", None, None, None)]
    # Nothing touched, nothing re-asserted.
    assert _intended(record, RolloutPhase.ROLLED_BACK, set()) == []


def test_a_rolling_rollout_re_asserts_only_its_image(world, kit):
    from reconciler.rollout.decide import ActionKind as K

    record = world.start("frontend", world.push_image("frontend", "3.0.0")).model_copy(update={"mode": "rolling"})
    assert _intended(record, RolloutPhase.ROLLED_BACK, {K.STAGE_IMAGE, K.SET_WEIGHTS}) == [("revert-image", None, None, None)]
    assert _intended(record, RolloutPhase.DEPLOYING, {K.STAGE_IMAGE}) == [("stage-image", None, None, None)]
