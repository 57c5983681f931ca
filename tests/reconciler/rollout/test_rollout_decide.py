"""``decide`` (pure: record + observed + clock -> decision) branch by branch, and ``apply_decision``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from desired_state.schema import ImageRef, RolloutSpec
from desired_state.traffic import ColourWeights
from reconciler.rollout.controller import apply_decision
from reconciler.rollout.decide import (
    DEFAULT_TIMINGS,
    Action,
    ActionKind,
    Decision,
    DeploymentState,
    Observed,
    ScanResult,
    SmokeResult,
    TargetHealthReport,
    VerifyGate,
    blocking_findings,
    decide,
)
from reconciler.rollout.model import (
    RolloutPhase,
    RolloutRecord,
    RolloutResources,
    Transition,
)

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
# Today's waits, the defaults of the settings' rollout section.
POLL, ALARM_WATCH, PAUSED_POLL = DEFAULT_TIMINGS.poll, DEFAULT_TIMINGS.alarm_watch, DEFAULT_TIMINGS.paused_poll
NEW = ImageRef(repository="frontend", tag="3.0.0", digest="sha256:" + "ab" * 32)
OLD = ImageRef(repository="frontend", tag="1.4.2")
SPEC = RolloutSpec(steps=(10, 50, 100), bake_seconds=300, alarms=("frontend-5xx",), scan_severity_threshold="HIGH",
                   scan_timeout_seconds=600, deploy_timeout_seconds=600, smoke_timeout_seconds=120, scale_down_delay_seconds=900)
RESOURCES = RolloutResources(
    cluster="ecs-cluster-dev",
    ecs_services={"blue": "svc-frontend-blue-dev", "green": "svc-frontend-green-dev"},
    target_groups={"blue": "arn:tg/blue", "green": "arn:tg/green"},
    listener_arn="arn:listener/1",
    test_url="http://alb:8443",
    repository="ecr-frontend-dev",
)
W = ColourWeights


def make(phase: RolloutPhase, *, since: timedelta = timedelta(0), to_colour: str = "green", **fields: Any) -> RolloutRecord:
    values: dict[str, Any] = {
        "rollout_id": "r1", "stack": "dev", "environment": "dev", "service": "frontend", "version": 3, "phase": phase,
        "from_colour": "blue" if to_colour == "green" else "green", "to_colour": to_colour, "old_image": OLD, "new_image": NEW,
        "spec": SPEC, "resources": RESOURCES, "live_desired_count": 2,
        "weights": W(blue=100, green=0) if to_colour == "green" else W(blue=0, green=100),
        "phase_started_at": NOW - since, "created_at": NOW - timedelta(hours=1), "updated_at": NOW - since,
        "history": [Transition(at=NOW - timedelta(hours=1), from_phase=None, to_phase=RolloutPhase.SCANNING, reason="started")],
    }
    values.update(fields)
    return RolloutRecord(**values)


def rollback_actions(record: RolloutRecord) -> tuple[Action, ...]:
    return (
        Action(ActionKind.SET_WEIGHTS, weights=record.live_only),
        Action(ActionKind.RESTORE_LIVE),
        Action(ActionKind.SCALE_COLOUR, colour=record.to_colour, count=0),
        Action(ActionKind.REVERT_IMAGE),
    )


def deployed(**overrides: Any) -> DeploymentState:
    values: dict[str, Any] = {
        "image": f"123.dkr.ecr.us-east-1.amazonaws.com/ecr-frontend-dev{NEW.reference}",
        "rollout_state": "COMPLETED", "running_count": 2, "desired_count": 2,
    }
    values.update(overrides)
    return DeploymentState(**values)


HEALTHY = TargetHealthReport(healthy=["10.0.0.1", "10.0.1.1"])


# --------------------------------------------------------------------------- blocking_findings


@pytest.mark.parametrize(
    "counts, threshold, blocking",
    [
        ({"HIGH": 1}, "HIGH", {"HIGH": 1}),
        ({"HIGH": 1}, "CRITICAL", {}),
        ({"CRITICAL": 1}, "CRITICAL", {"CRITICAL": 1}),
        ({"CRITICAL": 2, "HIGH": 0, "MEDIUM": 4, "LOW": 3}, "LOW", {"CRITICAL": 2, "MEDIUM": 4, "LOW": 3}),
        ({"MEDIUM": 4, "LOW": 3, "INFORMATIONAL": 9}, "HIGH", {}),
        ({"INFORMATIONAL": 1}, "INFORMATIONAL", {"INFORMATIONAL": 1}),
        ({"UNDEFINED": 5}, "INFORMATIONAL", {}),  # severities ECR does not rank never block
        ({}, "INFORMATIONAL", {}),
    ],
)
def test_blocking_findings_are_those_at_or_above_the_threshold(counts, threshold, blocking):
    assert blocking_findings(ScanResult(status="COMPLETE", finding_counts=counts), threshold) == blocking


# --------------------------------------------------------------------------- finished, rolling back, paused


@pytest.mark.parametrize("phase", [RolloutPhase.COMPLETE, RolloutPhase.ROLLED_BACK])
def test_a_finished_rollout_does_nothing(phase):
    decision = decide(make(phase), Observed(), NOW)
    assert decision == Decision(phase, "rollout finished")


def test_rolling_back_finishes_once_the_listener_shows_the_live_colour_only():
    record = make(RolloutPhase.ROLLING_BACK, rollback_reason="alarm fired")
    decision = decide(record, Observed(listener_weights=W(blue=100, green=0)), NOW)
    assert decision.phase == RolloutPhase.ROLLED_BACK
    assert decision.reason == "rolled back: alarm fired"
    assert decision.evidence == {"weights": {"blue": 100, "green": 0}}
    # The rollback actions run again as the rollout finishes (idempotent), so an abort that came
    # before any traffic moved still scales the idle colour down and reverts the image.
    assert [a.kind for a in decision.actions] == [ActionKind.SET_WEIGHTS, ActionKind.RESTORE_LIVE, ActionKind.SCALE_COLOUR, ActionKind.REVERT_IMAGE]
    assert decision.actions[2].colour == record.to_colour and decision.actions[2].count == 0
    assert decision.wake_at is None


@pytest.mark.parametrize("weights", [W(blue=50, green=50), None])
def test_rolling_back_reissues_every_rollback_action_until_the_listener_shows_it(weights):
    record = make(RolloutPhase.ROLLING_BACK, rollback_reason="x")
    decision = decide(record, Observed(listener_weights=weights), NOW)
    assert decision.phase == RolloutPhase.ROLLING_BACK
    assert decision.actions == rollback_actions(record)
    assert decision.wake_at == NOW + POLL


def test_rolling_back_to_green_restores_green():
    record = make(RolloutPhase.ROLLING_BACK, to_colour="blue", rollback_reason="x")
    assert record.live_only == W(blue=0, green=100)
    assert decide(record, Observed(listener_weights=W(blue=0, green=100)), NOW).phase == RolloutPhase.ROLLED_BACK


def test_rolling_back_goes_on_even_when_paused():
    record = make(RolloutPhase.ROLLING_BACK, rollback_reason="x", paused=True)
    assert decide(record, Observed(listener_weights=W(blue=10, green=90)), NOW).actions == rollback_actions(record)


@pytest.mark.parametrize("reason, text", [("market open (carol)", "paused: market open (carol)"), (None, "paused: by an operator")])
def test_a_paused_rollout_waits(reason, text):
    record = make(RolloutPhase.BAKING, paused=True, pause_reason=reason, step_index=0, bake_until=NOW - timedelta(hours=1))
    decision = decide(record, Observed(listener_weights=W(blue=90, green=10)), NOW)
    assert decision == Decision(RolloutPhase.BAKING, text, wake_at=NOW + PAUSED_POLL)


def test_a_window_pause_resumes_by_itself_once_the_window_is_open():
    record = make(RolloutPhase.BAKING, paused=True, pause_reason="deny", paused_by_window=True, step_index=0, bake_until=NOW)
    held = decide(record, Observed(listener_weights=W(blue=90, green=10), window_open=False, window_reason="deny"), NOW)
    assert held == Decision(RolloutPhase.BAKING, "paused: deny", wake_at=NOW + PAUSED_POLL)
    resumed = decide(record, Observed(listener_weights=W(blue=90, green=10)), NOW)
    assert resumed == Decision(RolloutPhase.BAKING, "the change window is open again; resuming", wake_at=NOW, resume=True)


def test_an_operator_pause_does_not_resume_when_the_window_is_open():
    record = make(RolloutPhase.BAKING, paused=True, pause_reason="market open (carol)", step_index=0, bake_until=NOW)
    assert decide(record, Observed(listener_weights=W(blue=90, green=10)), NOW).resume is False


# --------------------------------------------------------------------------- scanning


@pytest.mark.parametrize("scan", [None, ScanResult(status="IN_PROGRESS"), ScanResult(status="PENDING")])
def test_scanning_waits_for_a_complete_scan(scan):
    decision = decide(make(RolloutPhase.SCANNING, since=timedelta(seconds=60)), Observed(scan=scan), NOW)
    assert (decision.phase, decision.actions, decision.wake_at) == (RolloutPhase.SCANNING, (), NOW + POLL)


@pytest.mark.parametrize("scan, status", [(None, None), (ScanResult(status="FAILED"), "FAILED")])
def test_no_complete_scan_within_the_timeout_rolls_back(scan, status):
    record = make(RolloutPhase.SCANNING, since=timedelta(seconds=601))
    decision = decide(record, Observed(scan=scan), NOW)
    assert decision.phase == RolloutPhase.ROLLING_BACK
    assert decision.actions == rollback_actions(record)
    assert decision.evidence == {"gate": "scan", "status": status}
    assert decision.reason == "no completed ECR scan within 600s"


def test_scan_timeout_is_strictly_after_the_timeout():
    decision = decide(make(RolloutPhase.SCANNING, since=timedelta(seconds=600)), Observed(), NOW)
    assert decision.phase == RolloutPhase.SCANNING


def test_a_scan_with_findings_at_the_threshold_rolls_back_and_names_them():
    record = make(RolloutPhase.SCANNING)
    scan = ScanResult(status="COMPLETE", finding_counts={"CRITICAL": 1, "HIGH": 2, "LOW": 7})
    decision = decide(record, Observed(scan=scan), NOW)
    assert decision.phase == RolloutPhase.ROLLING_BACK
    assert decision.reason == "ECR scan found 1 CRITICAL, 2 HIGH (threshold HIGH)"
    assert decision.evidence == {"gate": "scan", "findings": {"CRITICAL": 1, "HIGH": 2, "LOW": 7}}
    assert decision.actions == rollback_actions(record)


def test_a_clean_scan_stages_the_idle_colour_at_the_live_count():
    record = make(RolloutPhase.SCANNING)
    decision = decide(record, Observed(scan=ScanResult(status="COMPLETE", finding_counts={"MEDIUM": 3})), NOW)
    assert decision.phase == RolloutPhase.DEPLOYING
    assert decision.actions == (Action(ActionKind.STAGE_IMAGE), Action(ActionKind.SCALE_COLOUR, colour="green", count=2))
    assert decision.wake_at == NOW + POLL
    assert decision.evidence == {"gate": "scan", "findings": {"MEDIUM": 3}}


# --------------------------------------------------------------------------- deploying


def test_deployed_and_healthy_moves_to_smoke_testing_at_once():
    decision = decide(make(RolloutPhase.DEPLOYING), Observed(deployment=deployed(), targets=HEALTHY), NOW)
    assert decision.phase == RolloutPhase.SMOKE_TESTING
    assert decision.wake_at == NOW
    assert decision.evidence == {"gate": "targets", "healthy": ["10.0.0.1", "10.0.1.1"]}
    assert decision.actions == ()


@pytest.mark.parametrize(
    "deployment, targets",
    [
        (None, HEALTHY),
        (deployed(image="123.dkr.ecr.us-east-1.amazonaws.com/ecr-frontend-dev:1.4.2"), HEALTHY),  # still the old image
        (deployed(image=None), HEALTHY),
        (deployed(rollout_state="IN_PROGRESS"), HEALTHY),
        (deployed(running_count=1), HEALTHY),
        (deployed(), None),
        (deployed(), TargetHealthReport()),  # no targets registered yet
        (deployed(), TargetHealthReport(healthy=["10.0.0.1"], unhealthy={"10.0.1.1": "initial: Elb.RegistrationInProgress"})),
    ],
)
def test_deploying_waits_until_the_new_image_runs_everywhere_and_every_target_is_healthy(deployment, targets):
    decision = decide(make(RolloutPhase.DEPLOYING, since=timedelta(seconds=30)), Observed(deployment=deployment, targets=targets), NOW)
    assert (decision.phase, decision.actions, decision.wake_at) == (RolloutPhase.DEPLOYING, (), NOW + POLL)


def test_deploying_past_the_timeout_rolls_back_with_the_unhealthy_targets():
    record = make(RolloutPhase.DEPLOYING, since=timedelta(seconds=601))
    targets = TargetHealthReport(healthy=["10.0.0.1"], unhealthy={"10.0.1.1": "unhealthy: Target.ResponseCodeMismatch"})
    decision = decide(record, Observed(deployment=deployed(), targets=targets), NOW)
    assert decision.phase == RolloutPhase.ROLLING_BACK
    assert decision.reason == "the idle colour did not become healthy within 600s"
    assert decision.evidence["gate"] == "targets"
    assert decision.evidence["unhealthyTargets"] == {"10.0.1.1": "unhealthy: Target.ResponseCodeMismatch"}
    assert decision.evidence["deployment"]["rollout_state"] == "COMPLETED"
    assert decision.actions == rollback_actions(record)


def test_deploying_past_the_timeout_without_any_deployment_rolls_back():
    decision = decide(make(RolloutPhase.DEPLOYING, since=timedelta(seconds=601)), Observed(), NOW)
    assert decision.phase == RolloutPhase.ROLLING_BACK
    assert decision.evidence == {"gate": "targets", "deployment": None, "unhealthyTargets": {}}


def test_a_failed_ecs_deployment_rolls_back_before_the_timeout():
    decision = decide(make(RolloutPhase.DEPLOYING, since=timedelta(seconds=20)), Observed(deployment=deployed(rollout_state="FAILED"), targets=HEALTHY), NOW)
    assert decision.phase == RolloutPhase.ROLLING_BACK
    assert decision.reason == "the idle colour did not become healthy (ECS deployment failed)"


# --------------------------------------------------------------------------- smoke testing


def test_passing_smoke_checks_shift_the_first_step():
    checks = [{"url": "http://alb:8443/healthz", "status": 200}]
    decision = decide(make(RolloutPhase.SMOKE_TESTING), Observed(smoke=SmokeResult(passed=True, checks=checks)), NOW)
    assert decision.phase == RolloutPhase.SHIFTING
    assert decision.step_index == 0
    assert decision.actions == (Action(ActionKind.SET_WEIGHTS, weights=W(blue=90, green=10)),)
    assert decision.wake_at == NOW + timedelta(seconds=5)
    assert decision.evidence == {"gate": "smoke", "checks": checks}
    assert decision.reason == "smoke checks passed; shifting 10 % to green"


def test_passing_smoke_checks_shift_blue_when_blue_is_the_new_colour():
    decision = decide(make(RolloutPhase.SMOKE_TESTING, to_colour="blue"), Observed(smoke=SmokeResult(passed=True)), NOW)
    assert decision.actions == (Action(ActionKind.SET_WEIGHTS, weights=W(blue=10, green=90)),)


def test_passing_smoke_checks_in_a_closed_window_pause_instead_of_shifting():
    observed = Observed(smoke=SmokeResult(passed=True), window_open=False, window_reason="inside deny window daily 09:25-09:35")
    decision = decide(make(RolloutPhase.SMOKE_TESTING), observed, NOW)
    assert decision.phase == RolloutPhase.SMOKE_TESTING
    assert decision.actions == ()
    assert decision.step_index is None
    assert decision.pause_reason == "inside deny window daily 09:25-09:35"
    assert decision.wake_at == NOW + PAUSED_POLL
    assert decision.reason == "paused at step 0: inside deny window daily 09:25-09:35"


def test_failing_smoke_checks_wait_until_the_timeout_then_roll_back():
    failing = SmokeResult(passed=False, checks=[{"url": "http://alb:8443/healthz", "status": 500}])
    waiting = decide(make(RolloutPhase.SMOKE_TESTING, since=timedelta(seconds=120)), Observed(smoke=failing), NOW)
    assert (waiting.phase, waiting.wake_at) == (RolloutPhase.SMOKE_TESTING, NOW + POLL)
    assert waiting.evidence == {"checks": failing.checks}
    record = make(RolloutPhase.SMOKE_TESTING, since=timedelta(seconds=121))
    failed = decide(record, Observed(smoke=failing), NOW)
    assert failed.phase == RolloutPhase.ROLLING_BACK
    assert failed.reason == "smoke checks did not pass within 120s"
    assert failed.evidence == {"gate": "smoke", "checks": failing.checks}
    assert failed.actions == rollback_actions(record)


def test_no_smoke_result_past_the_timeout_rolls_back():
    decision = decide(make(RolloutPhase.SMOKE_TESTING, since=timedelta(seconds=121)), Observed(), NOW)
    assert decision.phase == RolloutPhase.ROLLING_BACK
    assert decision.evidence == {"gate": "smoke", "checks": []}


# --------------------------------------------------------------------------- shifting


def test_weights_seen_on_the_listener_start_the_bake():
    record = make(RolloutPhase.SHIFTING, step_index=1, weights=W(blue=50, green=50))
    decision = decide(record, Observed(listener_weights=W(blue=50, green=50)), NOW)
    assert decision.phase == RolloutPhase.BAKING
    assert decision.bake_until == NOW + timedelta(seconds=300)
    assert decision.wake_at == NOW + ALARM_WATCH  # alarms are watched during the bake
    assert decision.evidence == {"weights": {"blue": 50, "green": 50}}


def test_a_short_bake_wakes_at_its_end():
    record = make(RolloutPhase.SHIFTING, step_index=0, spec=SPEC.model_copy(update={"bake_seconds": 10}))
    decision = decide(record, Observed(listener_weights=W(blue=90, green=10)), NOW)
    assert decision.wake_at == decision.bake_until == NOW + timedelta(seconds=10)


def test_a_manual_promote_bakes_for_no_time():
    record = make(RolloutPhase.SHIFTING, step_index=2, manual_promote=True)
    decision = decide(record, Observed(listener_weights=W(blue=0, green=100)), NOW)
    assert decision.phase == RolloutPhase.BAKING
    assert decision.bake_until == NOW == decision.wake_at


@pytest.mark.parametrize("seen", [W(blue=100, green=0), None])
def test_weights_not_visible_yet_are_set_again(seen):
    record = make(RolloutPhase.SHIFTING, step_index=0, since=timedelta(seconds=120))
    decision = decide(record, Observed(listener_weights=seen), NOW)
    assert decision.phase == RolloutPhase.SHIFTING
    assert decision.actions == (Action(ActionKind.SET_WEIGHTS, weights=W(blue=90, green=10)),)
    assert decision.wake_at == NOW + timedelta(seconds=5)
    assert not decision.changes_phase(record)


@pytest.mark.parametrize("seen, observed", [(W(blue=100, green=0), {"blue": 100, "green": 0}), (None, None)])
def test_weights_never_visible_roll_back_after_120_seconds(seen, observed):
    record = make(RolloutPhase.SHIFTING, step_index=0, since=timedelta(seconds=121))
    decision = decide(record, Observed(listener_weights=seen), NOW)
    assert decision.phase == RolloutPhase.ROLLING_BACK
    assert decision.reason == "the listener never showed the new weights"
    assert decision.evidence == {"gate": "weights", "expected": {"blue": 90, "green": 10}, "observed": observed}
    assert decision.actions == rollback_actions(record)


# --------------------------------------------------------------------------- baking


def baking(step: int = 0, remaining: timedelta = timedelta(seconds=120), **fields: Any) -> RolloutRecord:
    weights = make(RolloutPhase.BAKING).target_weights(SPEC.steps[step])
    return make(RolloutPhase.BAKING, step_index=step, weights=weights, bake_until=NOW + remaining, **fields)


def test_an_alarm_during_the_bake_rolls_back_and_names_it():
    record = baking()
    decision = decide(record, Observed(listener_weights=W(blue=90, green=10), alarms_in_alarm=["frontend-5xx", "frontend-p99 (missing)"]), NOW)
    assert decision.phase == RolloutPhase.ROLLING_BACK
    assert decision.reason == "alarm frontend-5xx, frontend-p99 (missing) fired during the bake"
    assert decision.evidence == {"gate": "alarms", "alarms": ["frontend-5xx", "frontend-p99 (missing)"]}
    assert decision.actions == rollback_actions(record)


def test_an_alarm_wins_over_a_finished_bake():
    decision = decide(baking(remaining=-timedelta(seconds=1)), Observed(listener_weights=W(blue=90, green=10), alarms_in_alarm=["a"]), NOW)
    assert decision.phase == RolloutPhase.ROLLING_BACK


def test_weights_changed_during_the_bake_are_set_again():
    decision = decide(baking(step=1), Observed(listener_weights=W(blue=100, green=0)), NOW)
    assert decision.phase == RolloutPhase.SHIFTING
    assert decision.actions == (Action(ActionKind.SET_WEIGHTS, weights=W(blue=50, green=50)),)
    assert decision.evidence == {"observed": {"blue": 100, "green": 0}}
    assert decision.step_index is None


@pytest.mark.parametrize("remaining, wake", [(timedelta(seconds=120), ALARM_WATCH), (timedelta(seconds=7), timedelta(seconds=7))])
def test_baking_waits_and_watches_alarms(remaining, wake):
    decision = decide(baking(remaining=remaining), Observed(listener_weights=W(blue=90, green=10)), NOW)
    assert decision == Decision(RolloutPhase.BAKING, "baking", wake_at=NOW + wake)


def test_a_finished_bake_shifts_the_next_step():
    decision = decide(baking(step=0, remaining=timedelta(0)), Observed(listener_weights=W(blue=90, green=10)), NOW)
    assert decision.phase == RolloutPhase.SHIFTING
    assert decision.step_index == 1
    assert decision.actions == (Action(ActionKind.SET_WEIGHTS, weights=W(blue=50, green=50)),)
    assert decision.reason == "bake passed; shifting 50 % to green"


def test_a_finished_bake_in_a_closed_window_holds_the_step():
    observed = Observed(listener_weights=W(blue=50, green=50), window_open=False, window_reason="outside every allow window")
    decision = decide(baking(step=1, remaining=timedelta(0)), observed, NOW)
    assert decision.phase == RolloutPhase.BAKING
    assert decision.actions == ()
    assert decision.pause_reason == "outside every allow window"
    assert decision.reason == "paused at step 2: outside every allow window"


def test_the_last_bake_promotes_and_marks_the_new_colour_live():
    decision = decide(baking(step=2, remaining=timedelta(0)), Observed(listener_weights=W(blue=0, green=100)), NOW)
    assert decision.phase == RolloutPhase.PROMOTED
    assert decision.actions == (Action(ActionKind.MARK_LIVE),)
    assert decision.wake_at == NOW + timedelta(seconds=900)
    assert decision.reason == "green is live at 100 %; blue is kept for 900s for a quick manual rollback"


def test_the_last_bake_promotes_even_in_a_closed_window():
    """Promotion changes no weights (they are already 100 %), so a window does not hold it."""
    observed = Observed(listener_weights=W(blue=0, green=100), window_open=False, window_reason="deny")
    assert decide(baking(step=2, remaining=timedelta(0)), observed, NOW).phase == RolloutPhase.PROMOTED


# --------------------------------------------------------------------------- promoted


def test_promoted_waits_for_the_scale_down_delay_then_scales_the_old_colour_to_zero():
    record = make(RolloutPhase.PROMOTED, step_index=2, weights=W(blue=0, green=100), promoted_at=NOW - timedelta(seconds=899))
    waiting = decide(record, Observed(), NOW)
    assert waiting == Decision(RolloutPhase.PROMOTED, "waiting to scale the old colour down", wake_at=NOW + timedelta(seconds=1))
    # Changed by issue 12's review (V2): no gate result (Observed()) used to complete; now only a passing gate does.
    assert decide(record, Observed(), NOW + timedelta(seconds=1)).phase == RolloutPhase.PROMOTED
    done = decide(record, Observed(verify=VerifyGate(status="passed", headline="all passed")), NOW + timedelta(seconds=1))
    assert done.phase == RolloutPhase.COMPLETE
    assert done.actions == (Action(ActionKind.SCALE_COLOUR, colour="blue", count=0),)
    assert done.wake_at is None


# --------------------------------------------------------------------------- apply_decision


def test_apply_decision_records_a_transition_with_its_evidence():
    record = make(RolloutPhase.SCANNING, since=timedelta(seconds=30))
    decision = Decision(RolloutPhase.DEPLOYING, "scan passed", evidence={"gate": "scan", "findings": {"LOW": 1}}, wake_at=NOW + POLL)
    new = apply_decision(record, decision, NOW)
    assert (new.phase, new.phase_started_at, new.updated_at) == (RolloutPhase.DEPLOYING, NOW, NOW)
    assert new.history[:-1] == record.history
    assert new.history[-1] == Transition(at=NOW, from_phase=RolloutPhase.SCANNING, to_phase=RolloutPhase.DEPLOYING, reason="scan passed", evidence={"gate": "scan", "findings": {"LOW": 1}})
    assert new.version == record.version  # the store bumps it


def test_apply_decision_without_a_phase_change_adds_no_history():
    record = make(RolloutPhase.DEPLOYING, since=timedelta(seconds=30))
    new = apply_decision(record, Decision(RolloutPhase.DEPLOYING, "waiting", wake_at=NOW + POLL), NOW)
    assert new == record.model_copy(update={"updated_at": NOW})


def test_apply_decision_moves_the_step_and_its_weights():
    record = make(RolloutPhase.BAKING, step_index=0, weights=W(blue=90, green=10), bake_until=NOW)
    new = apply_decision(record, Decision(RolloutPhase.SHIFTING, "bake passed", step_index=1), NOW)
    assert (new.step_index, new.weights) == (1, W(blue=50, green=50))
    assert new.history[-1].from_phase == RolloutPhase.BAKING


def test_a_step_change_alone_is_a_transition():
    record = make(RolloutPhase.SHIFTING, step_index=0)
    decision = Decision(RolloutPhase.SHIFTING, "next", step_index=1)
    assert decision.changes_phase(record)
    assert len(apply_decision(record, decision, NOW).history) == len(record.history) + 1


def test_apply_decision_sets_bake_until():
    record = make(RolloutPhase.SHIFTING, step_index=0)
    new = apply_decision(record, Decision(RolloutPhase.BAKING, "baking", bake_until=NOW + timedelta(seconds=300)), NOW)
    assert new.bake_until == NOW + timedelta(seconds=300)


def test_apply_decision_sets_promoted_at_once():
    record = make(RolloutPhase.BAKING, step_index=2, bake_until=NOW)
    promoted = apply_decision(record, Decision(RolloutPhase.PROMOTED, "live"), NOW)
    assert promoted.promoted_at == NOW
    later = apply_decision(promoted, Decision(RolloutPhase.PROMOTED, "waiting"), NOW + timedelta(seconds=60))
    assert later.promoted_at == NOW


def test_apply_decision_records_the_rollback_reason_and_the_live_weights():
    record = make(RolloutPhase.BAKING, step_index=1, weights=W(blue=50, green=50), bake_until=NOW)
    new = apply_decision(record, Decision(RolloutPhase.ROLLING_BACK, "alarm a fired during the bake", evidence={"gate": "alarms", "alarms": ["a"]}), NOW)
    assert new.rollback_reason == 'alarm a fired during the bake (gate alarms; alarms: ["a"])'
    assert new.weights == W(blue=100, green=0)
    assert new.history[-1].evidence == {"gate": "alarms", "alarms": ["a"]}
    # Staying in ROLLING_BACK does not overwrite why it started.
    again = apply_decision(new, Decision(RolloutPhase.ROLLING_BACK, "restoring all traffic to the old colour"), NOW + POLL)
    assert again.rollback_reason == 'alarm a fired during the bake (gate alarms; alarms: ["a"])'


def test_apply_decision_pauses_for_a_window_with_the_reason_and_notes_it():
    record = make(RolloutPhase.BAKING, step_index=0, bake_until=NOW)
    new = apply_decision(record, Decision(RolloutPhase.BAKING, "paused at step 1: deny", pause_reason="deny"), NOW)
    assert (new.paused, new.pause_reason, new.paused_by_window) == (True, "deny", True)
    assert (new.phase, new.step_index, new.phase_started_at) == (record.phase, 0, record.phase_started_at)
    assert new.history == [*record.history, Transition(at=NOW, from_phase=RolloutPhase.BAKING, to_phase=RolloutPhase.BAKING, reason="paused at step 1: deny")]


def test_apply_decision_resumes_and_notes_it():
    record = make(RolloutPhase.BAKING, step_index=0, bake_until=NOW, paused=True, pause_reason="deny", paused_by_window=True)
    new = apply_decision(record, Decision(RolloutPhase.BAKING, "the change window is open again; resuming", wake_at=NOW, resume=True), NOW)
    assert (new.paused, new.pause_reason, new.paused_by_window) == (False, None, False)
    assert new.history[-1] == Transition(at=NOW, from_phase=RolloutPhase.BAKING, to_phase=RolloutPhase.BAKING, reason="the change window is open again; resuming")
