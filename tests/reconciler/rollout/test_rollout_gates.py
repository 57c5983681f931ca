"""Every gate that fails ends in ROLLED_BACK, and moto shows it: the live colour takes 100 % of the
traffic, the idle colour is scaled to 0, the staged image override is gone, and the history's
evidence names the gate that failed. A rolled-back rollout never reports a promotion.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.rollout.controller import rollback_reason
from reconciler.rollout.model import RolloutPhase, RolloutRecord


def assert_rolled_back(world, record: RolloutRecord, gate: str) -> dict:
    """The common end state of a failed gate; returns the evidence of the rollback transition."""
    service = record.service
    assert record.phase == RolloutPhase.ROLLED_BACK, record.history[-1].reason
    assert world.alb_weights(service) == (100, 0)
    assert world.desired_counts(service) == {"blue": 2, "green": 0}
    assert world.scaling_bounds(service, "green") == (0, 0)
    status = world.status()
    assert service not in status.image_overrides
    live = status.traffic.of(service) if status.traffic else None
    assert live is None or live.live_colour == "blue"
    # never promoted
    assert record.promoted_at is None
    assert RolloutPhase.PROMOTED not in [t.to_phase for t in record.history]
    assert [t.to_phase for t in record.history][-2:] == [RolloutPhase.ROLLING_BACK, RolloutPhase.ROLLED_BACK]
    rollback = record.history[-2]
    assert rollback.evidence["gate"] == gate
    # The reason names the gate and its evidence (the revert commit's message carries it).
    assert record.rollback_reason == rollback_reason(rollback.reason, rollback.evidence)
    assert record.rollback_reason.startswith(f"{rollback.reason} (gate {gate}")
    assert world.store.active("dev", service) is None
    return rollback.evidence


def test_scan_findings_at_the_threshold_roll_back_before_anything_is_staged(world, kit):
    image = world.push_image("frontend", "3.0.0")  # moto's scan finds {"HIGH": 1}
    record = world.start("frontend", image, kit.default_spec(scan_severity_threshold="HIGH"))

    record, snapshots = world.run(record.rollout_id)

    evidence = assert_rolled_back(world, record, "scan")
    assert evidence["findings"] == {"HIGH": 1}
    assert "1 HIGH" in record.rollback_reason and "threshold HIGH" in record.rollback_reason
    assert world.converge.requests == []  # nothing was ever staged
    assert all(s.weights == (100, 0) and s.counts["green"] == 0 for s in snapshots)


def test_findings_below_the_threshold_pass(world, kit):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image, kit.default_spec(scan_severity_threshold="CRITICAL"))
    record, _ = world.tick(record.rollout_id)
    assert record.phase == RolloutPhase.DEPLOYING
    assert record.history[-1].evidence == {"gate": "scan", "findings": {"HIGH": 1}}


def test_no_scan_within_the_scan_timeout_rolls_back(world, kit):
    image = world.push_image("frontend", "3.0.0", scan=False)
    spec = kit.default_spec(scan_timeout_seconds=60)
    record = world.start("frontend", image, spec)

    record, _ = world.run(record.rollout_id)

    evidence = assert_rolled_back(world, record, "scan")
    assert evidence["status"] is None
    rolled_at = record.history[-2].at
    assert rolled_at - record.created_at > timedelta(seconds=60)
    assert rolled_at - record.created_at <= timedelta(seconds=60 + 15)


def test_unhealthy_targets_past_the_deploy_timeout_roll_back_with_the_targets_and_reasons(world, kit):
    spec = kit.default_spec(deploy_timeout_seconds=90)
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image, spec)
    record, _ = world.tick(record.rollout_id)
    assert record.phase == RolloutPhase.DEPLOYING
    targets = world.register_targets("frontend", "green")
    green = world.services["frontend"].target_groups["green"]
    world.elbv2_double.unhealthy[green] = {
        targets[0]: ("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [500]"),
        targets[1]: ("unhealthy", "Target.Timeout", "Request timed out"),
    }
    deploying_since = record.phase_started_at
    world.clock.advance(15)

    record, snapshots = world.run(record.rollout_id)

    evidence = assert_rolled_back(world, record, "targets")
    assert set(evidence["unhealthyTargets"]) == set(targets)
    assert "Target.ResponseCodeMismatch" in evidence["unhealthyTargets"][targets[0]]
    assert "[500]" in evidence["unhealthyTargets"][targets[0]]
    assert "Target.Timeout" in evidence["unhealthyTargets"][targets[1]]
    assert evidence["deployment"]["rollout_state"] == "COMPLETED"
    assert "within 90s" in record.rollback_reason
    rolled_at = record.history[-2].at
    assert timedelta(seconds=90) < rolled_at - deploying_since <= timedelta(seconds=90 + 15)
    # It waited, without touching traffic, until the timeout.
    assert all(s.weights == (100, 0) for s in snapshots)
    assert [s.phase for s in snapshots[:-2]] == [RolloutPhase.DEPLOYING] * (len(snapshots) - 2)


def test_a_failed_ecs_deployment_rolls_back_at_once(world, kit):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    record, _ = world.tick(record.rollout_id)
    world.ecs_double.failed.add(world.ecs_service("frontend", "green"))
    world.clock.advance(15)

    record, _ = world.tick(record.rollout_id)

    assert record.phase == RolloutPhase.ROLLING_BACK
    assert "ECS deployment failed" in record.rollback_reason
    record, _ = world.run(record.rollout_id)
    assert_rolled_back(world, record, "targets")


def test_failing_smoke_checks_past_the_smoke_timeout_roll_back(world, kit):
    spec = kit.default_spec(smoke_timeout_seconds=30)
    image = world.push_image("frontend", "3.0.0")
    world.smoke_status = 500
    record = world.start("frontend", image, spec)

    record, snapshots = world.run(record.rollout_id)

    evidence = assert_rolled_back(world, record, "smoke")
    expected_url = f"http://{world.alb_dns}:8443/healthz"
    assert evidence["checks"] == [{"url": expected_url, "status": 500}]
    assert set(world.fetched) == {expected_url}
    assert set(world.fetched_as) == {None}  # the rollout's public_host: none without a certificate
    smoke_started = next(t.at for t in record.history if t.to_phase == RolloutPhase.SMOKE_TESTING)
    assert timedelta(seconds=30) < record.history[-2].at - smoke_started <= timedelta(seconds=30 + 15)
    assert all(s.weights == (100, 0) for s in snapshots)  # no customer ever reached the new colour


def test_smoke_checks_that_recover_before_the_timeout_pass(world, kit):
    image = world.push_image("frontend", "3.0.0")
    world.smoke_status = 503
    record = world.start("frontend", image)
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.SMOKE_TESTING)
    record, wake = world.tick(record.rollout_id)
    assert record.phase == RolloutPhase.SMOKE_TESTING
    world.clock.set(wake)
    world.smoke_status = 200
    record, _ = world.tick(record.rollout_id)
    assert record.phase == RolloutPhase.SHIFTING
    assert world.alb_weights("frontend") == (90, 10)


@pytest.mark.parametrize("step", [0, 1])
def test_an_alarm_in_alarm_during_a_bake_rolls_back_and_names_the_alarm(world, kit, step):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == step)
    assert world.alb_weights("frontend") == [(90, 10), (50, 50)][step]
    world.cloudwatch.set_alarm_state(AlarmName="frontend-5xx", StateValue="ALARM", StateReason="5xx above 5 for 1 minute")

    record, _ = world.run(record.rollout_id)

    evidence = assert_rolled_back(world, record, "alarms")
    assert evidence["alarms"] == ["frontend-5xx"]
    assert "frontend-5xx" in record.rollback_reason
    assert record.history[-2].from_phase == RolloutPhase.BAKING


@pytest.mark.parametrize("kind", ["5xx", "latency", "unhealthy"])
def test_the_new_colours_own_alarms_are_watched_during_the_bake(world, kit, kind):
    """The program's per-colour alarms (stack output ``alarmNames``) of the colour taking traffic."""
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image, kit.default_spec(alarms=()))
    assert world.colour_alarm("frontend", "green", kind) in record.resources.colour_alarms["green"]
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 1)
    alarm = world.colour_alarm("frontend", "green", kind)
    world.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="threshold crossed")

    record, _ = world.run(record.rollout_id)

    evidence = assert_rolled_back(world, record, "alarms")
    assert evidence["alarms"] == [alarm]


def test_an_alarm_on_the_colour_being_replaced_does_not_stop_the_rollout(world, kit):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image, kit.default_spec(alarms=()))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING)
    world.cloudwatch.set_alarm_state(AlarmName=world.colour_alarm("frontend", "blue", "5xx"), StateValue="ALARM", StateReason="old build")
    record, _ = world.run(record.rollout_id)
    assert record.phase == RolloutPhase.COMPLETE


def test_a_missing_alarm_counts_as_firing(world, kit):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image, kit.default_spec(alarms=("frontend-5xx", "frontend-latency-p99")))

    record, snapshots = world.run(record.rollout_id)

    evidence = assert_rolled_back(world, record, "alarms")
    assert evidence["alarms"] == ["frontend-latency-p99 (missing)"]
    # It fired at the first bake tick: step 1 never got past 10 %.
    assert max(s.weights[1] for s in snapshots) == 10


def test_weights_that_never_show_on_the_listener_roll_back_after_120_seconds(world, kit):
    """modify_listener returns success but changes nothing (throttling that swallowed the change)."""
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.SMOKE_TESTING)
    world.elbv2_double.swallow_weight_changes = True

    record, snapshots = world.run(record.rollout_id)

    evidence = assert_rolled_back(world, record, "weights")
    assert evidence["expected"] == {"blue": 90, "green": 10}
    assert evidence["observed"] == {"blue": 100, "green": 0}
    shifting_since = next(t.at for t in record.history if t.to_phase == RolloutPhase.SHIFTING)
    rolled_at = record.history[-2].at
    assert timedelta(seconds=120) < rolled_at - shifting_since <= timedelta(seconds=125)
    # It kept re-issuing the change meanwhile, and moto never showed it.
    assert len(world.elbv2_double.swallowed) >= 120 // 5
    assert all(s.weights == (100, 0) for s in snapshots)
    assert RolloutPhase.BAKING not in [t.to_phase for t in record.history]


def test_weights_that_are_reverted_during_a_bake_are_set_again(world, kit):
    """Someone (a converge that did not know the rollout) put the listener back to 100/0 mid-bake."""
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING)
    groups = world.services["frontend"].target_groups
    world.elbv2.modify_listener(ListenerArn=world.services["frontend"].listener_arn, DefaultActions=[world._forward(groups, 100, 0)])
    world.clock.advance(30)

    record, _ = world.tick(record.rollout_id)

    assert record.phase == RolloutPhase.SHIFTING
    assert world.alb_weights("frontend") == (90, 10)
    record, _ = world.run(record.rollout_id)
    assert record.phase == RolloutPhase.COMPLETE
