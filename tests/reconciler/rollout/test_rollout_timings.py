"""The rollout's waits come from the settings' ``rollout`` section, with today's values as defaults."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.rollout.decide import DEFAULT_TIMINGS, RolloutTimings
from reconciler.rollout.model import RolloutPhase
from reconciler.settings import load_settings

SETTINGS = """
repository: {url: /tmp/desired-state}
environments:
  dev: {stack: dev, suffix: dev}
"""
NON_DEFAULT = SETTINGS + """
rollout:
  pollSeconds: 4
  alarmWatchSeconds: 9
  pausedPollSeconds: 21
  weightsRetrySeconds: 2
  weightsTakeEffectWithinSeconds: 11
  smokeRequestTimeoutSeconds: 3
"""


def timings_from(tmp_path, text: str) -> RolloutTimings:
    file = tmp_path / "settings.yaml"
    file.write_text(text)
    return RolloutTimings.from_settings(load_settings(file).rollout)


def test_without_a_rollout_section_the_waits_are_todays(tmp_path):
    timings = timings_from(tmp_path, SETTINGS)
    assert timings == DEFAULT_TIMINGS
    assert (timings.poll, timings.alarm_watch, timings.paused_poll, timings.weights_retry, timings.weights_take_effect_within) == (
        timedelta(seconds=15), timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=5), timedelta(seconds=120),
    )
    assert timings.smoke_request_timeout == timedelta(seconds=5)


def test_the_rollout_section_sets_every_wait(tmp_path):
    timings = timings_from(tmp_path, NON_DEFAULT)
    assert timings == RolloutTimings(
        poll=timedelta(seconds=4), alarm_watch=timedelta(seconds=9), paused_poll=timedelta(seconds=21),
        weights_retry=timedelta(seconds=2), weights_take_effect_within=timedelta(seconds=11), smoke_request_timeout=timedelta(seconds=3),
    )


def test_a_wait_out_of_bounds_is_refused_with_its_field_named(tmp_path):
    from reconciler.errors import SettingsError

    file = tmp_path / "settings.yaml"
    file.write_text(SETTINGS + "rollout: {pollSeconds: 0}\n")
    with pytest.raises(SettingsError, match="rollout.pollSeconds|rollout.poll_seconds"):
        load_settings(file)


def test_non_default_settings_change_every_wake_up_of_a_rollout(world, kit, tmp_path):
    timings = timings_from(tmp_path, NON_DEFAULT)
    controller = world.controller(timings=timings)
    image = world.push_image("frontend", "3.0.0", scan=False)
    record = world.start("frontend", image)

    # Waiting for the scan: the poll.
    record, wake = world.tick(record.rollout_id, controller)
    assert (record.phase, wake) == (RolloutPhase.SCANNING, world.clock() + timedelta(seconds=4))
    world.scan("frontend", image.digest)
    record, _ = world.run(record.rollout_id, controller=controller, until=lambda r: r.phase == RolloutPhase.SMOKE_TESTING)
    assert world.fetch_timeouts == []

    # Smoke checks with the configured HTTP timeout; the weights retry after the shift.
    world.elbv2_double.swallow_weight_changes = True
    record, wake = world.tick(record.rollout_id, controller)
    assert world.fetch_timeouts == [3.0]
    assert (record.phase, wake) == (RolloutPhase.SHIFTING, world.clock() + timedelta(seconds=2))
    # A listener that never shows the weights rolls back after the configured 11 s, not 120 s.
    world.clock.advance(10)
    record, _ = world.tick(record.rollout_id, controller)
    assert record.phase == RolloutPhase.SHIFTING
    world.clock.advance(2)
    record, wake = world.tick(record.rollout_id, controller)
    assert record.phase == RolloutPhase.ROLLING_BACK
    assert record.history[-1].evidence["gate"] == "weights"


def test_non_default_settings_change_the_bake_and_pause_wake_ups(world, kit, tmp_path):
    timings = timings_from(tmp_path, NON_DEFAULT)
    controller = world.controller(timings=timings)
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, controller=controller, until=lambda r: r.phase == RolloutPhase.BAKING)
    record, wake = world.tick(record.rollout_id, controller)
    # The alarm watch inside the bake (60 s long in these tests).
    assert (record.phase, wake) == (RolloutPhase.BAKING, world.clock() + timedelta(seconds=9))

    from reconciler.rollout import commands

    commands.pause(world.store, record.rollout_id, by="alice", reason="look", now=world.clock())
    record, wake = world.tick(record.rollout_id, controller)
    assert record.paused and wake == world.clock() + timedelta(seconds=21)


def test_build_rollouts_passes_the_settings_timings_to_the_controller_and_observer(world, kit, tmp_path, make_engine):
    from reconciler.adapters.audit import FileAuditLog
    from reconciler.adapters.notify import StreamNotifier
    from reconciler.redact import Redactor
    from reconciler.settings import AwsResources
    from reconciler.wiring import Components, build_rollouts

    tick_url = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    file = tmp_path / "settings.yaml"
    file.write_text(NON_DEFAULT)
    settings = load_settings(file).model_copy(update={"aws": AwsResources(rollout_table=kit.ROLLOUT_TABLE, tick_queue_url=tick_url)})
    components = Components(
        settings, world.states, FileAuditLog(tmp_path / "audit"), StreamNotifier(), None, make_engine(), Redactor(), None, None, world.session,
    )
    rollouts = build_rollouts(components, world.clock)
    expected = RolloutTimings.from_settings(settings.rollout)
    assert rollouts.controller.timings == expected != DEFAULT_TIMINGS
    assert rollouts.controller.observer.timings == expected
