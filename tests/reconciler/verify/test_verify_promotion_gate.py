"""The promotion gate over the laid-out account: the new live colour's checks, and a rollback on a failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from desired_state.schema import ImageRef, RolloutSpec
from desired_state.traffic import ColourWeights, TrafficState
from reconciler.rollout.decide import Observed, decide
from reconciler.rollout.model import RolloutPhase, RolloutRecord, RolloutResources, Transition
from reconciler.verify.gate import AppliedInputs, PromotionVerifier
from reconciler.verify.seams import Timing
from verify_layout import AlbHttpDouble, TargetHealthDoubleElbv2

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def promoted_blue(service: str = "frontend") -> RolloutRecord:
    """blue was promoted (the layout runs blue live at 100 %); green is the old colour, still up."""
    spec = RolloutSpec(steps=(10, 100), bake_seconds=60, scale_down_delay_seconds=300)
    return RolloutRecord(
        rollout_id="r-gate", stack="dev", environment="dev", service=service, version=5, phase=RolloutPhase.PROMOTED,
        from_colour="green", to_colour="blue", old_image=ImageRef(repository=service, tag="1.4.1"),
        new_image=ImageRef(repository=service, tag="1.4.2"), spec=spec, live_desired_count=2,
        resources=RolloutResources(cluster="ecs-cluster-dev", ecs_services={"blue": f"svc-{service}-blue-dev", "green": f"svc-{service}-green-dev"},
                                   target_groups={"blue": "arn:tg/blue", "green": "arn:tg/green"}, listener_arn="arn:listener/1",
                                   test_url="http://alb:8443", repository=f"ecr-{service}-dev"),
        weights=ColourWeights(blue=100, green=0), step_index=1, promoted_at=NOW - timedelta(seconds=300),
        phase_started_at=NOW - timedelta(seconds=300), created_at=NOW - timedelta(hours=1), updated_at=NOW,
        history=[Transition(at=NOW - timedelta(hours=1), from_phase=None, to_phase=RolloutPhase.SCANNING, reason="started")],
    )


def gate_over(layout, dev_state, fake_time, **clients):
    inputs = AppliedInputs(outputs=layout.outputs, desired=dev_state, traffic=TrafficState(), commit="c0ffee")
    timing = Timing(target_health_timeout_seconds=30, poll_seconds=10, monotonic=fake_time.monotonic, sleep=fake_time.sleep)
    return PromotionVerifier(lambda record: inputs, lambda region: layout.clients(**clients), timing, AlbHttpDouble(layout.client("elbv2"), layout.outputs))


def test_a_healthy_new_colour_passes_and_the_old_one_is_scaled_down(layout, dev_state, fake_time):
    record = promoted_blue()
    gate = gate_over(layout, dev_state, fake_time)(record, NOW)

    assert gate.status == "passed", gate
    assert gate.headline.startswith("all ") and "frontend blue" in gate.headline
    decision = decide(record, Observed(verify=gate), NOW)
    assert decision.phase == RolloutPhase.COMPLETE


def test_an_unhealthy_target_of_the_new_colour_rolls_back_with_the_check_as_evidence(layout, dev_state, fake_time):
    sick = layout.tasks["svc-frontend-blue-dev"][0]
    record = promoted_blue()
    elbv2 = TargetHealthDoubleElbv2(layout.client("elbv2"), {sick.ip: "unhealthy"})

    gate = gate_over(layout, dev_state, fake_time, elbv2=elbv2)(record, NOW)

    assert gate.status == "failed"
    assert [f["name"] for f in gate.failures] == ["traffic.frontend-blue.target-health"]
    decision = decide(record, Observed(verify=gate), NOW)
    assert decision.phase == RolloutPhase.ROLLING_BACK
    assert decision.evidence["gate"] == "verify"
    assert decision.evidence["failures"][0]["evidence"]["unhealthy"] == {f"{sick.ip}:8080": "unhealthy"}


def test_another_services_failure_does_not_hold_this_promotion(layout, dev_state, fake_time):
    """api-gateway's unhealthy target is api-gateway's business, not frontend's promotion."""
    sick = layout.tasks["svc-api-gateway-blue-dev"][0]
    elbv2 = TargetHealthDoubleElbv2(layout.client("elbv2"), {sick.ip: "unhealthy"})
    assert gate_over(layout, dev_state, fake_time, elbv2=elbv2)(promoted_blue("frontend"), NOW).status == "passed"
    assert gate_over(layout, dev_state, fake_time, elbv2=elbv2)(promoted_blue("api-gateway"), NOW).status == "failed"


def test_what_was_applied_not_being_readable_holds_the_old_colour_then_pauses_never_completes(layout, dev_state, fake_time):
    """Changed by issue 12's review (V2): this was ``..._is_on_record_not_a_rollback`` and expected COMPLETE."""
    from reconciler.errors import ReconcilerError
    from reconciler.rollout.decide import DEFAULT_TIMINGS

    def load(record):
        raise ReconcilerError("dev: the stack dev records no applied commit")

    gate = PromotionVerifier(load, lambda region: layout.clients(), Timing())(promoted_blue(), NOW)
    assert gate.status == "could-not-check" and "no applied commit" in gate.headline
    held = decide(promoted_blue(), Observed(verify=gate), NOW)
    assert held.phase == RolloutPhase.PROMOTED and held.actions == () and held.pause_reason is None
    assert held.wake_at is not None and held.wake_at > NOW
    paused = decide(promoted_blue(), Observed(verify=gate), NOW + DEFAULT_TIMINGS.gate_hold)
    assert paused.phase == RolloutPhase.PROMOTED and paused.actions == () and paused.pause_reason
    assert "no applied commit" in paused.reason
