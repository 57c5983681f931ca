"""Manual controls mid-shift (abort, promote, pause, resume), deny windows, and a superseding push."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.errors import ReconcilerError
from reconciler.rollout import commands
from reconciler.rollout.model import RolloutPhase


def to_bake(world, service="frontend", step=0, spec=None, tag="3.0.0"):
    image = world.push_image(service, tag)
    record = world.start(service, image, spec)
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == step)
    return record, image


# --------------------------------------------------------------------------- abort


def test_abort_during_the_bake_at_step_2_rolls_back_on_the_next_tick(world, kit):
    record, _ = to_bake(world, step=1)
    assert world.alb_weights("frontend") == (50, 50)
    world.clock.advance(10)

    aborted = commands.abort(world.store, record.rollout_id, by="alice", reason="error rate looks off", now=world.clock())

    assert aborted.phase == RolloutPhase.ROLLING_BACK
    assert aborted.rollback_reason == "aborted by alice: error rate looks off"
    assert aborted.history[-1].reason == "aborted by alice: error rate looks off"
    assert world.alb_weights("frontend") == (50, 50)  # the control only writes the record
    world.clock.advance(1)
    record, _ = world.tick(record.rollout_id)
    assert world.alb_weights("frontend") == (100, 0)
    assert world.desired_counts("frontend") == {"blue": 2, "green": 0}
    record, _ = world.run(record.rollout_id)
    assert record.phase == RolloutPhase.ROLLED_BACK
    assert world.alb_weights("frontend") == (100, 0)
    assert world.desired_counts("frontend") == {"blue": 2, "green": 0}
    assert "frontend" not in world.status().image_overrides
    assert record.promoted_at is None


@pytest.mark.parametrize("phase", [RolloutPhase.DEPLOYING, RolloutPhase.SMOKE_TESTING])
def test_abort_before_any_traffic_moved_still_scales_the_idle_colour_down_and_reverts_the_image(world, kit, phase):
    """An abort while the idle colour is staged but takes no traffic yet: the listener already shows
    all traffic on the live colour, yet the staged colour and image must still be taken back,
    as for every other rollback."""
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == phase)
    assert world.desired_counts("frontend") == {"blue": 2, "green": 2}
    assert world.status().image_overrides["frontend"] == image

    commands.abort(world.store, record.rollout_id, by="alice", reason="wrong build", now=world.clock())
    world.clock.advance(1)
    record, _ = world.run(record.rollout_id)

    assert record.phase == RolloutPhase.ROLLED_BACK
    assert world.alb_weights("frontend") == (100, 0)
    assert world.desired_counts("frontend") == {"blue": 2, "green": 0}
    assert "frontend" not in world.status().image_overrides


# --------------------------------------------------------------------------- promote


def test_promote_during_the_first_bake_goes_to_100_without_further_bakes(world, kit):
    spec = kit.default_spec(bake_seconds=600)
    record, image = to_bake(world, step=0, spec=spec)
    assert world.alb_weights("frontend") == (90, 10)
    world.clock.advance(10)
    promoted_at = world.clock()

    record = commands.promote(world.store, record.rollout_id, by="bob", now=promoted_at)

    assert (record.phase, record.step_index, record.manual_promote) == (RolloutPhase.SHIFTING, 2, True)
    assert "promoted by bob" in record.history[-1].reason
    record, snapshots = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.PROMOTED)
    assert world.alb_weights("frontend") == (0, 100)
    assert world.clock() - promoted_at < timedelta(seconds=spec.bake_seconds)  # no 10-minute bake on the way
    weights = [s.weights for s in snapshots]
    assert (50, 50) not in weights  # straight from 10 % to 100 %
    assert set(weights) == {(0, 100)}
    after_promote = [t for t in record.history if t.at >= promoted_at]
    assert [t.to_phase for t in after_promote] == [RolloutPhase.SHIFTING, RolloutPhase.BAKING, RolloutPhase.PROMOTED]
    assert after_promote[1].at == after_promote[2].at  # the bake ends the moment it starts
    assert all(s.counts == {"blue": 2, "green": 2} for s in snapshots)
    status = world.status()
    assert (status.traffic.of("frontend").live_colour, status.traffic.of("frontend").live_image) == ("green", image)
    record, _ = world.run(record.rollout_id)
    assert record.phase == RolloutPhase.COMPLETE
    assert world.desired_counts("frontend") == {"blue": 0, "green": 2}


@pytest.mark.parametrize("phase", [RolloutPhase.SCANNING, RolloutPhase.DEPLOYING, RolloutPhase.SMOKE_TESTING])
def test_promote_before_the_gates_passed_is_refused(world, kit, phase):
    image = world.push_image("frontend", "3.0.0", scan=phase != RolloutPhase.SCANNING)
    record = world.start("frontend", image)
    if phase != RolloutPhase.SCANNING:
        record, _ = world.run(record.rollout_id, until=lambda r: r.phase == phase)
    version = world.store.get(record.rollout_id).version

    with pytest.raises(ReconcilerError, match=f"is {phase.value}: the new colour has not passed its gates"):
        commands.promote(world.store, record.rollout_id, by="bob", now=world.clock())

    assert world.store.get(record.rollout_id).version == version
    assert world.store.get(record.rollout_id).phase == phase


def test_promote_while_rolling_back_is_refused(world, kit):
    record, _ = to_bake(world)
    commands.abort(world.store, record.rollout_id, by="alice", reason="no", now=world.clock())
    with pytest.raises(ReconcilerError, match="rolling-back; nothing to promote"):
        commands.promote(world.store, record.rollout_id, by="bob", now=world.clock())


# --------------------------------------------------------------------------- pause / resume


def test_pause_holds_the_step_and_resume_continues(world, kit):
    record, _ = to_bake(world, step=0)
    world.clock.advance(5)
    paused = commands.pause(world.store, record.rollout_id, by="carol", reason="market open", now=world.clock())
    assert paused.paused and paused.pause_reason == "market open (carol)"
    assert paused.phase == RolloutPhase.BAKING and paused.step_index == 0

    for _ in range(20):  # well past the bake's end
        world.clock.advance(60)
        record, wake = world.tick(record.rollout_id)
        assert wake == world.clock() + timedelta(seconds=60)
        assert world.alb_weights("frontend") == (90, 10)
        assert world.desired_counts("frontend") == {"blue": 2, "green": 2}
    stored = world.store.get(record.rollout_id)
    assert stored.version == paused.version  # not one write while paused
    assert stored.history == paused.history

    resumed = commands.resume(world.store, record.rollout_id, by="carol", now=world.clock())
    assert not resumed.paused and resumed.pause_reason is None
    record, _ = world.tick(record.rollout_id)
    assert (record.phase, record.step_index) == (RolloutPhase.SHIFTING, 1)
    assert world.alb_weights("frontend") == (50, 50)
    record, _ = world.run(record.rollout_id)
    assert record.phase == RolloutPhase.COMPLETE


def test_controls_on_a_finished_rollout_are_refused(world, kit):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    record, _ = world.run(record.rollout_id)
    assert record.phase == RolloutPhase.COMPLETE
    now = world.clock()
    for control in (
        lambda: commands.pause(world.store, record.rollout_id, by="x", reason="y", now=now),
        lambda: commands.resume(world.store, record.rollout_id, by="x", now=now),
        lambda: commands.abort(world.store, record.rollout_id, by="x", reason="y", now=now),
        lambda: commands.promote(world.store, record.rollout_id, by="x", now=now),
    ):
        with pytest.raises(ReconcilerError, match="already finished \\(complete\\)"):
            control()
    assert world.store.get(record.rollout_id) == record


def test_controls_on_a_rolled_back_rollout_are_refused(world, kit):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image, kit.default_spec(scan_severity_threshold="HIGH"))
    record, _ = world.run(record.rollout_id)
    assert record.phase == RolloutPhase.ROLLED_BACK
    with pytest.raises(ReconcilerError, match="already finished \\(rolled-back\\)"):
        commands.abort(world.store, record.rollout_id, by="x", reason="y", now=world.clock())


# --------------------------------------------------------------------------- deny window


def test_a_deny_window_at_a_step_boundary_holds_the_current_step_and_says_why(world, kit):
    record, _ = to_bake(world, step=0)
    reason = "inside deny window daily 09:25-09:35 America/New_York"
    world.window = (False, reason)
    world.clock.set(record.bake_until)

    record, _ = world.tick(record.rollout_id)

    assert record.paused and record.pause_reason == reason
    assert (record.phase, record.step_index) == (RolloutPhase.BAKING, 0)
    assert world.alb_weights("frontend") == (90, 10)
    stored = world.store.get(record.rollout_id)
    assert stored.paused and stored.pause_reason == reason and stored.paused_by_window
    assert stored.history[-1].reason == f"paused at step 1: {reason}"
    assert "PAUSED: " + reason in commands.describe(stored)
    for _ in range(5):
        world.clock.advance(60)
        record, _ = world.tick(record.rollout_id)
        assert world.alb_weights("frontend") == (90, 10)
        assert (record.phase, record.step_index) == (RolloutPhase.BAKING, 0)


def test_a_deny_window_before_the_first_shift_keeps_all_traffic_on_the_live_colour(world, kit):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.SMOKE_TESTING)
    world.window = (False, "outside every allow window")
    record, _ = world.tick(record.rollout_id)
    assert record.paused and record.pause_reason == "outside every allow window"
    assert record.phase == RolloutPhase.SMOKE_TESTING and record.step_index == -1
    assert world.alb_weights("frontend") == (100, 0)


def test_a_rollout_held_by_a_deny_window_continues_once_the_window_reopens(world, kit):
    """The hold is the window's, not an operator's: when the window opens again the rollout should
    carry on from the step it held at, without someone having to resume it by hand."""
    record, _ = to_bake(world, step=0)
    world.window = (False, "inside deny window daily 09:25-09:35 America/New_York")
    world.clock.set(record.bake_until)
    record, _ = world.tick(record.rollout_id)
    assert record.paused

    world.window = (True, "inside the change window")
    world.clock.advance(600)
    record, _ = world.run(record.rollout_id, max_ticks=30)

    assert record.phase == RolloutPhase.COMPLETE
    assert world.alb_weights("frontend") == (0, 100)


def test_an_operator_pause_during_a_window_hold_is_not_lifted_by_the_window(world, kit):
    """The window lifts only its own hold. Once a person has paused the rollout as well, it stays
    paused when the window opens, until someone resumes it."""
    record, _ = to_bake(world, step=0)
    world.window = (False, "inside deny window daily 09:25-09:35 America/New_York")
    world.clock.set(record.bake_until)
    record, _ = world.tick(record.rollout_id)
    assert record.paused_by_window
    commands.pause(world.store, record.rollout_id, by="carol", reason="investigating p99 latency", now=world.clock())

    world.window = (True, "inside the change window")
    for _ in range(5):
        world.clock.advance(60)
        record, _ = world.tick(record.rollout_id)
        assert record.paused, record.history[-1].reason
        assert world.alb_weights("frontend") == (90, 10)


# --------------------------------------------------------------------------- superseding push


def test_a_newer_image_aborts_the_running_rollout_then_starts_after_it_rolled_back(world, kit):
    """Expected behaviour (commands.py): a new image for a service whose rollout is still running
    supersedes it. The running rollout is aborted at once (ROLLING_BACK, ``superseded_by`` set) and
    the new rollout is refused with a ReconcilerError while the old one still holds the service;
    once the old one has rolled back (traffic all on the live colour), the new one starts from its
    scan gate. Abort-then-start, not queueing behind the old rollout."""
    first, first_image = to_bake(world, step=0)
    newer = world.push_image("frontend", "3.0.1")
    assert newer.digest != first_image.digest

    with pytest.raises(ReconcilerError, match="still rolling-back; the new rollout starts once it has rolled back"):
        world.start("frontend", newer)

    aborted = world.store.get(first.rollout_id)
    assert aborted.phase == RolloutPhase.ROLLING_BACK
    assert aborted.superseded_by
    assert "superseded by rollout" in aborted.rollback_reason and newer.reference in aborted.rollback_reason
    assert world.store.active("dev", "frontend").rollout_id == first.rollout_id

    world.clock.advance(1)
    first, _ = world.run(first.rollout_id)
    assert first.phase == RolloutPhase.ROLLED_BACK
    assert world.alb_weights("frontend") == (100, 0)
    assert world.desired_counts("frontend") == {"blue": 2, "green": 0}

    second = world.start("frontend", newer)
    assert second.phase == RolloutPhase.SCANNING
    assert (second.from_colour, second.to_colour) == ("blue", "green")
    assert second.new_image == newer
    assert world.store.active("dev", "frontend").rollout_id == second.rollout_id
    second, _ = world.run(second.rollout_id)
    assert second.phase == RolloutPhase.COMPLETE
    assert world.status().traffic.of("frontend").live_image == newer


def test_superseded_by_names_the_rollout_that_replaced_it(world, kit):
    """``superseded_by`` is only useful if it leads to the rollout that actually took over."""
    first, _ = to_bake(world, step=0)
    newer = world.push_image("frontend", "3.0.1")
    with pytest.raises(ReconcilerError):
        world.start("frontend", newer)
    world.clock.advance(1)
    world.run(first.rollout_id)

    second = world.start("frontend", newer)

    assert world.store.get(first.rollout_id).superseded_by == second.rollout_id
