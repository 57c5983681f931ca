"""The promotion gate over the laid-out account: what it cannot check is could-not-check, never passed, never a rollback."""

from __future__ import annotations

from botocore.exceptions import ClientError

from desired_state.traffic import TrafficState
from reconciler.rollout.decide import Observed, decide
from reconciler.rollout.model import RolloutPhase
from reconciler.verify.gate import AppliedInputs, PromotionVerifier
from reconciler.verify.seams import Timing
from test_verify_promotion_gate import NOW, gate_over, promoted_blue
from verify_layout import AlbHttpDouble


class Ec2EniGoneDouble:
    """EC2 answering ``InvalidNetworkInterfaceID.NotFound`` for one task's ENI (the task stopped between ECS listing it
    and EC2 describing it), ``times`` times: moto keeps a stopped task's ENI, so the race is injected here."""

    def __init__(self, ec2, eni: str, times: int):
        self._ec2, self.eni, self.left = ec2, eni, times

    def __getattr__(self, name):
        return getattr(self._ec2, name)

    def describe_network_interfaces(self, **kwargs):
        if self.left and self.eni in kwargs.get("NetworkInterfaceIds", []):
            self.left -= 1
            raise ClientError({"Error": {"Code": "InvalidNetworkInterfaceID.NotFound", "Message": f"The networkInterface ID '{self.eni}' does not exist"}},
                              "DescribeNetworkInterfaces")
        return self._ec2.describe_network_interfaces(**kwargs)


class Elbv2ThrottledDouble:
    """ELBv2 throttling ``describe_target_health`` ``times`` times: moto never throttles."""

    def __init__(self, elbv2, times: int):
        self._elbv2, self.left = elbv2, times

    def __getattr__(self, name):
        return getattr(self._elbv2, name)

    def describe_target_health(self, **kwargs):
        if self.left:
            self.left -= 1
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "DescribeTargetHealth")
        return self._elbv2.describe_target_health(**kwargs)


def test_one_throttle_is_looked_at_again_and_the_healthy_rollout_completes(layout, dev_state, fake_time):
    verdict = gate_over(layout, dev_state, fake_time, elbv2=Elbv2ThrottledDouble(layout.client("elbv2"), times=1))(promoted_blue(), NOW)
    assert verdict.status == "passed", verdict.headline
    assert fake_time.sleeps  # it waited (on the injected clock) before looking again
    assert decide(promoted_blue(), Observed(verify=verdict), NOW).phase == RolloutPhase.COMPLETE


def test_an_api_that_keeps_throttling_is_could_not_check_and_holds_the_old_colour(layout, dev_state, fake_time):
    verdict = gate_over(layout, dev_state, fake_time, elbv2=Elbv2ThrottledDouble(layout.client("elbv2"), times=1000))(promoted_blue(), NOW)
    assert verdict.status == "could-not-check"
    assert "Throttling" in verdict.headline
    assert verdict.failures[0]["evidence"]["attempts"] == 3
    decision = decide(promoted_blue(), Observed(verify=verdict), NOW)
    assert decision.phase == RolloutPhase.PROMOTED and decision.actions == ()


def test_a_task_that_stopped_mid_check_is_looked_at_again_not_a_rollback(layout, dev_state, fake_time):
    gone = layout.tasks["svc-frontend-blue-dev"][0].eni
    verdict = gate_over(layout, dev_state, fake_time, ec2=Ec2EniGoneDouble(layout.client("ec2"), gone, times=1))(promoted_blue(), NOW)
    assert verdict.status == "passed", verdict.headline


def test_an_eni_that_stays_gone_is_could_not_check_not_a_rollback(layout, dev_state, fake_time):
    gone = layout.tasks["svc-frontend-blue-dev"][0].eni
    verdict = gate_over(layout, dev_state, fake_time, ec2=Ec2EniGoneDouble(layout.client("ec2"), gone, times=1000))(promoted_blue(), NOW)
    assert verdict.status == "could-not-check" and "NotFound" in verdict.headline
    assert decide(promoted_blue(), Observed(verify=verdict), NOW).phase == RolloutPhase.PROMOTED


def test_what_was_applied_being_unreadable_holds_the_promotion(layout):
    from reconciler.errors import EngineError

    def load(record):
        raise EngineError("cannot prepare stack dev: the Pulumi CLI is not installed")

    verdict = PromotionVerifier(load, lambda region: layout.clients(), Timing())(promoted_blue(), NOW)
    assert verdict.status == "could-not-check" and "EngineError" in verdict.headline
    decision = decide(promoted_blue(), Observed(verify=verdict), NOW)
    assert decision.phase == RolloutPhase.PROMOTED and decision.actions == ()


def test_empty_outputs_are_could_not_check_not_a_rollback(layout, dev_state, fake_time):
    inputs = AppliedInputs(outputs={}, desired=dev_state, traffic=TrafficState(), commit="c")
    timing = Timing(monotonic=fake_time.monotonic, sleep=fake_time.sleep)
    verdict = PromotionVerifier(lambda r: inputs, lambda region: layout.clients(), timing, AlbHttpDouble(layout.client("elbv2"), layout.outputs))(promoted_blue(), NOW)
    assert verdict.status == "could-not-check", verdict.headline
    assert decide(promoted_blue(), Observed(verify=verdict), NOW).phase == RolloutPhase.PROMOTED


def test_a_real_failure_next_to_a_group_that_could_not_run_is_still_a_failure(layout, dev_state, fake_time):
    """Target health found an unhealthy target; services could not read EC2: what was found wrong wins (roll back)."""
    from verify_layout import TargetHealthDoubleElbv2

    sick = layout.tasks["svc-frontend-blue-dev"][0]
    gone = sick.eni
    verdict = gate_over(layout, dev_state, fake_time, elbv2=TargetHealthDoubleElbv2(layout.client("elbv2"), {sick.ip: "unhealthy"}),
                        ec2=Ec2EniGoneDouble(layout.client("ec2"), gone, times=1000))(promoted_blue(), NOW)
    assert verdict.status == "failed"
    assert [f["name"] for f in verdict.failures] == ["traffic.frontend-blue.target-health"]
