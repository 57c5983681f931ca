"""Resumability: a worker that dies on either side of a record write, and two workers on one tick.

The happy path writes the record 10 times (scan->deploy, deploy->smoke, smoke->shift, then
shift->bake and bake->shift per step, bake->promoted, promoted->complete). For each write k
a worker dies (a) after that tick's AWS calls but before the write, (b) right after the write,
before scheduling the next tick. A fresh controller (a new worker) then picks the rollout up
and must reach the same end state as the uninterrupted run.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.errors import ConflictError
from reconciler.rollout.model import RolloutPhase
from reconciler.rollout.store import RolloutStore

HAPPY_PHASES = [
    RolloutPhase.SCANNING, RolloutPhase.DEPLOYING, RolloutPhase.SMOKE_TESTING,
    RolloutPhase.SHIFTING, RolloutPhase.BAKING, RolloutPhase.SHIFTING, RolloutPhase.BAKING,
    RolloutPhase.SHIFTING, RolloutPhase.BAKING, RolloutPhase.PROMOTED, RolloutPhase.COMPLETE,
]
WRITES = len(HAPPY_PHASES) - 1


def assert_completed(world, record, image) -> None:
    assert record.phase == RolloutPhase.COMPLETE
    assert [t.to_phase for t in record.history] == HAPPY_PHASES
    assert world.alb_weights("frontend") == (0, 100)
    assert world.desired_counts("frontend") == {"blue": 0, "green": 2}
    status = world.status()
    live = status.traffic.of("frontend")
    assert (live.live_colour, live.live_image) == ("green", image)
    # Without write-back the staged image stays the desired one until git says the same.
    assert status.image_overrides["frontend"] == image
    assert world.store.active("dev", "frontend") is None


def test_the_uninterrupted_run_writes_the_record_once_per_transition(world, kit):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    store = kit.CrashingRolloutStore(world.dynamodb, kit.ROLLOUT_TABLE, crash_on=0, when="never")
    record, _ = world.run(record.rollout_id, controller=world.controller(store=store))
    assert store.puts == WRITES
    assert record.version == 1 + WRITES
    assert_completed(world, record, image)


def crash_and_resume(world, kit, k, when):
    """Run the happy path with a worker dying around write ``k``, then a fresh worker; return the
    final record, the image, and every (blue, green) the listener showed, in order."""
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    dying = world.controller(store=kit.CrashingRolloutStore(world.dynamodb, kit.ROLLOUT_TABLE, crash_on=k, when=when))
    before_crash = []

    with pytest.raises(kit.WorkerDied):
        world.run(record.rollout_id, controller=dying, snapshots=before_crash)

    stored = world.store.get(record.rollout_id)
    assert stored.version == (k if when == "before-write" else k + 1)
    at_crash = world.alb_weights("frontend")
    # No tick was scheduled by the dead worker's last tick: the queue redelivers its message
    # after the visibility timeout, and a new worker with a new controller takes it.
    world.clock.advance(30)
    record, after = world.run(record.rollout_id, controller=world.controller())
    seen = [s.weights for s in before_crash] + [at_crash] + [s.weights for s in after]
    return record, image, seen, after


@pytest.mark.parametrize("when", ["before-write", "after-write"])
@pytest.mark.parametrize("k", range(1, WRITES + 1))
def test_a_worker_dying_around_write_k_is_picked_up_and_reaches_the_same_end_state(world, kit, k, when):
    record, image, _, after = crash_and_resume(world, kit, k, when)

    assert record.phase == RolloutPhase.COMPLETE
    assert world.alb_weights("frontend") == (0, 100)
    assert world.desired_counts("frontend") == {"blue": 0, "green": 2}
    status = world.status()
    live = status.traffic.of("frontend")
    assert (live.live_colour, live.live_image) == ("green", image)
    # Without write-back the staged image stays the desired one until git says the same.
    assert status.image_overrides["frontend"] == image
    assert world.store.active("dev", "frontend") is None
    assert [t.to_phase for t in record.history].count(RolloutPhase.PROMOTED) == 1
    # The old colour kept its tasks until the rollout completed.
    assert all(s.counts["blue"] == 2 for s in after if s.phase != RolloutPhase.COMPLETE)


@pytest.mark.parametrize("when", ["before-write", "after-write"])
@pytest.mark.parametrize("k", range(1, WRITES + 1))
def test_a_worker_dying_around_write_k_never_moves_traffic_back_or_repeats_a_step(world, kit, k, when):
    """decide.py's promise: a worker that died after setting the weights but before writing the
    record "sees the same phase again and re-issues the same call". Customers must never see the
    split go back towards the old colour, and the history is that of an uninterrupted run."""
    record, _, seen, _ = crash_and_resume(world, kit, k, when)

    green = [weights[1] for weights in seen]
    assert green == sorted(green), f"the new colour's share went backwards: {seen}"
    assert [t.to_phase for t in record.history] == HAPPY_PHASES


class RacingStore(RolloutStore):
    """The second worker's view: it reads the record, then the first worker runs its whole tick."""

    def __init__(self, dynamodb, table, rival):
        super().__init__(dynamodb, table)
        self.rival = rival
        self.rival_result = None
        self.conflicts = 0

    def get(self, rollout_id):
        record = super().get(rollout_id)
        if self.rival_result is None:
            self.rival_result = self.rival(rollout_id)
        return record

    def put(self, previous, new, *, clean_up=True):
        try:
            return super().put(previous, new, clean_up=clean_up)
        except ConflictError:
            self.conflicts += 1
            raise


@pytest.mark.parametrize("moment", ["smoke-passes", "last-bake-ends"])
def test_two_workers_on_one_tick_write_the_record_once(world, kit, moment):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    if moment == "smoke-passes":
        record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.SMOKE_TESTING)
        expected_phase, expected_weights = RolloutPhase.SHIFTING, (90, 10)
    else:
        record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 2)
        world.clock.set(record.bake_until)
        expected_phase, expected_weights = RolloutPhase.PROMOTED, (0, 100)
    version = world.store.get(record.rollout_id).version
    history = len(world.store.get(record.rollout_id).history)
    notified = []
    first = world.controller(on_transition=lambda r, t: notified.append(("first", t.to_phase)))
    store = RacingStore(world.dynamodb, kit.ROLLOUT_TABLE, first.tick)
    second = world.controller(store=store, on_transition=lambda r, t: notified.append(("second", t.to_phase)))
    calls_before = world.elbv2_double.weight_calls

    result = second.tick(record.rollout_id)

    stored = world.store.get(record.rollout_id)
    # Fenced: the second worker sees the record move before it acts, so it neither calls AWS nor
    # writes; when it has no action to take, its write loses the conditional check instead.
    assert store.conflicts == 0
    assert stored.version == version + 1  # advanced once
    assert len(stored.history) == history + 1
    assert stored.phase == expected_phase
    assert result == stored == store.rival_result  # the loser returns what the winner stored
    assert notified == [("first", expected_phase)]
    assert world.alb_weights("frontend") == expected_weights
    if moment == "smoke-passes":
        assert world.elbv2_double.weight_calls - calls_before == 1  # only the winner set the weights
    # And the rollout carries on to the end from there.
    world.clock.advance(5)
    record, _ = world.run(record.rollout_id)
    assert_completed(world, record, image)
    assert [t.to_phase for t in record.history].count(RolloutPhase.PROMOTED) == 1


def test_a_stale_control_write_does_not_overwrite_a_tick(world, kit):
    """The store refuses a write based on an older version, whoever makes it."""
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    stale = world.store.get(record.rollout_id)
    world.tick(record.rollout_id)
    with pytest.raises(ConflictError):
        world.store.put(stale, stale.model_copy(update={"paused": True}))
    assert world.store.get(record.rollout_id).phase == RolloutPhase.DEPLOYING
    assert world.store.get(record.rollout_id).paused is False
    assert world.clock() - record.created_at == timedelta(0)
