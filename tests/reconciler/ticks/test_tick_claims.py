"""A tick's claim is a lease, and a sender's clock never decides when a tick runs.

The defects these pin (a review of the tick runtime):

- two copies of one tick (SQS delivers at least once, and again after the 300 s visibility timeout
  of a slow tick; the watchdog woke a rollout whose tick had been claimed for longer than the
  grace while it still ran) could both claim it and run the rollout at once;
- a wake-up from a machine whose clock runs ahead (an operator's laptop running ``rollout
  resume``) replaced the controller's next poll with a wake-up in the future, which the tick
  runtime re-queued by the skew and the watchdog never rescued: no alarm poll for the skew.

Real (moto): the rollout world (ALB, ECS, ECR, CloudWatch, the rollout table), the tick queue, the
RolloutController, the TickRunner and the CoalescingTickScheduler. A test double: ``ClockedSqsDouble``
(conftest; moto applies ``DelaySeconds`` in real time). The "laptop" is the same scheduler called
with a clock 30 minutes ahead of the tick runtime's fake clock.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from reconciler.settings import TickSettings
from reconciler.ticks.runner import TickTimings
from reconciler.ticks.schedule import CoalescingTickScheduler, TickMessage, WakeState, WakeWatchdog, needs_rescue

GRACE = 120  # the grace make_rig gives its scheduler
LEASE = TickSettings().claim_lease_seconds
SKEW = timedelta(minutes=30)


def _visible_again(world: Any, rig: Any) -> None:
    """The tick queue's visibility timeout has passed (moto applies it in real time): every hidden tick is back."""
    for receipt in rig.sqs.hidden:
        try:
            world.sqs.change_message_visibility(QueueUrl=rig.url, ReceiptHandle=receipt, VisibilityTimeout=0)
        except Exception:  # noqa: BLE001 - a receipt of a message since deleted
            pass


# --------------------------------------------------------------------------- M2: the claim is a lease


def test_a_duplicated_tick_message_cannot_be_claimed_twice(world, kit, ticks_kit):
    """SQS delivers at least once (and again after the 300 s visibility timeout of a slow tick):
    two copies of one tick, on the two tick tasks, must not both run the rollout."""
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    rig.scheduler.schedule(record.rollout_id, now, now)
    token = rig.scheduler.wake(record.rollout_id).token
    assert rig.scheduler.claim(record.rollout_id, token, now)
    assert not rig.scheduler.claim(record.rollout_id, token, now + timedelta(seconds=1)), "the second copy claimed the running tick too"
    assert not rig.scheduler.claim(record.rollout_id, token, now + timedelta(seconds=LEASE - 1))
    # The lease ran out and nothing replaced the wake-up: the run crashed; a copy may run it now.
    assert rig.scheduler.claim(record.rollout_id, token, now + timedelta(seconds=LEASE))


def test_a_second_copy_of_a_running_tick_waits_for_the_lease_and_runs_only_if_the_first_crashed(world, kit, ticks_kit):
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    rig.scheduler.schedule(record.rollout_id, now, now)
    [body] = rig.sqs.sent
    world.sqs.send_message(QueueUrl=rig.url, MessageBody=body)  # SQS's duplicate of the same tick
    # The other tick task received its copy and runs it (a smoke call, a git push ...).
    assert rig.scheduler.claim(record.rollout_id, TickMessage.model_validate_json(body).token or "", now)
    version = world.store.get(record.rollout_id).version
    mark = len(rig.api.calls)

    assert rig.runner.run_once() == []  # both copies find the lease held
    assert world.store.get(record.rollout_id).version == version
    assert not any(c.startswith(("elasticloadbalancing", "ecs.", "cloudwatch")) for c in rig.api.since(mark))  # the rollout was not touched
    assert "sqs.DeleteMessage" not in rig.api.since(mark)  # kept: they come back when the lease ends
    assert len(rig.sqs.hidden) == 2

    # The other task crashed mid-tick: its lease runs out and one copy runs the tick, once.
    world.clock.advance(LEASE)
    _visible_again(world, rig)
    handled = rig.drain()
    assert [r.rollout_id for r in handled] == [record.rollout_id]
    assert rig.scheduler.wake(record.rollout_id).token != TickMessage.model_validate_json(body).token  # its chain goes on


def test_the_watchdog_leaves_a_tick_that_runs_longer_than_the_grace_alone_until_its_lease_ends(world, kit, ticks_kit):
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    rig.scheduler.schedule(record.rollout_id, now, now)
    assert rig.scheduler.claim(record.rollout_id, rig.scheduler.wake(record.rollout_id).token, now)
    watchdog = WakeWatchdog(world.store, rig.scheduler)

    world.clock.advance(GRACE + 60)  # still running (a slow git push), well inside its lease
    assert watchdog.sweep(world.clock()) == []
    world.clock.advance(LEASE)  # lease + grace: the run is gone
    assert watchdog.sweep(world.clock()) == [record.rollout_id]


def test_a_retry_and_a_parked_tick_moved_back_from_the_dlq_are_claimed_when_their_time_comes(world, kit, ticks_kit):
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    rig.scheduler.schedule(record.rollout_id, now, now)
    token = rig.scheduler.wake(record.rollout_id).token
    assert rig.scheduler.claim(record.rollout_id, token, now)
    assert rig.scheduler.retry_at(record.rollout_id, token, now + timedelta(seconds=30))
    assert not rig.scheduler.claim(record.rollout_id, token, now + timedelta(seconds=29))
    assert rig.scheduler.claim(record.rollout_id, token, now + timedelta(seconds=30))
    assert rig.scheduler.park(record.rollout_id, token, now + timedelta(seconds=60))
    assert rig.scheduler.claim(record.rollout_id, token, now + timedelta(days=1))  # a person moved it back


def test_the_lease_is_read_from_the_settings(world, kit, ticks_kit):
    assert TickTimings.from_settings(TickSettings(claim_lease_seconds=900)).claim_lease_seconds == 900
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    rig.runner.timings = TickTimings(claim_lease_seconds=900)
    now = world.clock()
    rig.scheduler.schedule(record.rollout_id, now, now)
    token = rig.scheduler.wake(record.rollout_id).token
    rig.runner.rollouts.controller.scheduler = _NoNextPoll(world.dynamodb, ticks_kit.ROLLOUT_TABLE, rig.sqs, rig.url)  # keep the claim to look at
    assert [r.rollout_id for r in rig.drain()] == [record.rollout_id]
    wake = rig.scheduler.wake(record.rollout_id)
    assert (wake.token, wake.state, wake.at) == (token, WakeState.CLAIMED, now + timedelta(seconds=900))


class _NoNextPoll(CoalescingTickScheduler):
    """The real scheduler, except that the controller's next wake-up is not written (so the claim stays to be read)."""

    def schedule(self, *args: Any, **kwargs: Any) -> None:
        return None


# --------------------------------------------------------------------------- M3: a sender's clock


def test_a_wakeup_from_a_machine_whose_clock_runs_ahead_does_not_stall_the_polling(world, kit, ticks_kit):
    """An operator's laptop 30 min ahead runs ``rollout resume``: the wake item says 12:30, its message
    is sent undelayed, the tick runtime (12:00) re-queued it until 12:30, and the watchdog, seeing a
    wake-up in the future, never stepped in: no alarm poll for 30 minutes."""
    record, poll = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    rig.scheduler.schedule(record.rollout_id, poll, now)  # the controller's own next poll
    laptop = now + SKEW
    rig.scheduler.schedule(record.rollout_id, laptop, laptop)  # the CLI's "act now", on the laptop's clock
    wake = rig.scheduler.wake(record.rollout_id)
    # Ten minutes later on the tick runtime's clock, nothing has ticked: the watchdog must rescue it.
    later = now + timedelta(minutes=10)
    assert needs_rescue(wake, later, rig.scheduler.grace), f"wake-up due {wake.at} (ahead of the runtime) is never rescued"
    # It is rescued at the first sweep after the grace, not at the laptop's time.
    assert needs_rescue(wake, now + timedelta(seconds=1), rig.scheduler.grace)


def test_a_due_now_wakeup_from_a_clock_ahead_ticks_on_arrival_and_the_polling_goes_on_on_the_runtimes_clock(world, kit, ticks_kit):
    record, poll = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    rig.scheduler.schedule(record.rollout_id, poll, now)
    laptop = now + SKEW
    rig.scheduler.schedule(record.rollout_id, laptop, laptop, cause="rollout resume by ana")

    handled = rig.drain()  # no time passes on the tick runtime
    assert [r.rollout_id for r in handled] == [record.rollout_id], "the due-now tick was re-queued by the laptop's skew"
    wake = rig.scheduler.wake(record.rollout_id)
    assert wake.state == WakeState.PENDING and now < wake.at <= now + timedelta(seconds=30)  # the bake's next alarm poll, on its clock
    assert [json.loads(b).get("delaySeconds") for b in rig.sqs.sent][1] == 0


def test_a_lost_due_now_wakeup_from_a_clock_ahead_is_rescued_at_the_next_sweep(world, kit, ticks_kit):
    record, poll = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    rig.scheduler.schedule(record.rollout_id, poll, now)
    laptop = now + SKEW
    rig.scheduler.schedule(record.rollout_id, laptop, laptop)
    world.sqs.purge_queue(QueueUrl=rig.url)  # its message is lost
    rig.sqs.held.clear()

    world.clock.advance(60)
    assert rig.runner.sweep() == [record.rollout_id]
    assert [r.rollout_id for r in rig.drain()] == [record.rollout_id]


def test_a_long_wait_is_sent_on_in_legs_and_not_taken_for_skew(world, kit, ticks_kit):
    """A wait longer than SQS holds a message (a scale-down delay) keeps its delay from leg to leg, on the runtime's clock."""
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    start = world.clock()
    rig.scheduler.schedule(record.rollout_id, start + timedelta(seconds=2000), start)

    assert rig.run_until(start + timedelta(seconds=1000)) == []
    assert rig.runner.sweep() == []  # further ahead than 900 s + grace, but no further than it asked for
    assert rig.run_until(start + timedelta(seconds=1999)) == []
    assert [r.rollout_id for r in rig.run_until(start + timedelta(seconds=2001))] == [record.rollout_id]
    legs = [json.loads(b).get("delaySeconds") for b in rig.sqs.sent[:3]]
    assert legs == [2000, 1100, 200]


def test_a_tick_without_a_delay_still_waits_for_its_not_before(world, kit, ticks_kit):
    """Ticks queued before ``delaySeconds`` existed keep the old rule: due at ``notBefore`` on the runtime's clock."""
    record, _ = ticks_kit.baking(world, kit, "frontend")
    rig = ticks_kit.make_rig(world, "ticks")
    now = world.clock()
    tick = TickMessage(rollout_id=record.rollout_id, not_before=now + timedelta(seconds=30))
    assert not tick.due_on_arrival(now) and tick.due_on_arrival(now + timedelta(seconds=30))
    assert tick.queue_delay(now) == 30 and tick.sent_on() == tick
