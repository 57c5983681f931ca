"""SCALE-001..002, SVC-001..002: scaling 2..10 on CPU, grace periods behind the ALB, the circuit breaker."""

from __future__ import annotations

import pytest

from policies import aws_types as t
from policies.offline import views_of

SERVICE_RULES = ("SCALE-001", "SCALE-002", "SVC-001", "SVC-002")


@pytest.mark.parametrize("rule_id", SERVICE_RULES)
def test_clean_dev_and_prod_pass(kit, dev_views, prod_views, rule_id):
    assert kit.run(dev_views, rule_id) == []
    assert kit.run(prod_views, rule_id, kit.PROD) == []


# --- SCALE-001 ------------------------------------------------------------------------------


def test_scaling_minimum_raised_in_the_desired_state(kit, render_mutated):
    def mutate(doc):
        doc["services"]["frontend"]["scaling"]["min"] = 3
        doc["services"]["frontend"]["desiredCount"] = 3

    violations = kit.run(views_of(render_mutated(mutate)), "SCALE-001")
    v = kit.expect(violations, "SCALE-001", "scaling-target-frontend-blue-dev", "scales svc-frontend-blue-dev between 3", "the spec requires min 2, max 10")
    assert " and 10" in v.message
    # The idle green colour stays held at 0/0 and the other services keep 2..10.
    assert kit.resources(violations) == {"scaling-target-frontend-blue-dev"}


def test_scaling_maximum_changed(kit, dev_views):
    broken = kit.replace(dev_views, "scaling-target-processing-service-dev", update={"maxCapacity": 20.0})
    violations = kit.run(broken, "SCALE-001")
    kit.expect(violations, "SCALE-001", "scaling-target-processing-service-dev", "between 2", "and 20", "min 2, max 10")
    assert kit.resources(violations) == {"scaling-target-processing-service-dev"}


def test_idle_hold_only_applies_to_colour_services(kit, dev_views):
    """processing-service has no colour, so 0/0 is not an idle hold but a service that never runs."""
    broken = kit.replace(dev_views, "scaling-target-processing-service-dev", update={"minCapacity": 0.0, "maxCapacity": 0.0})
    violations = kit.run(broken, "SCALE-001")
    kit.expect(violations, "SCALE-001", "scaling-target-processing-service-dev", "between 0", "min 2, max 10")


def test_idle_colour_held_at_zero_passes(kit, dev_views):
    green = kit.view(dev_views, "scaling-target-frontend-green-dev")
    assert (green.props["minCapacity"], green.props["maxCapacity"]) == (0.0, 0.0)
    assert kit.run(dev_views, "SCALE-001") == []


def test_both_colours_held_at_zero(kit, dev_views):
    """Holding the live colour at 0/0 as well leaves frontend with no task that can ever run.

    The idle-colour allowance must not cover both colours of one service: at least one of them
    (the live one) has to scale 2..10.
    """
    broken = kit.replace(dev_views, "scaling-target-frontend-blue-dev", update={"minCapacity": 0.0, "maxCapacity": 0.0})
    green = kit.view(broken, "scaling-target-frontend-green-dev")
    assert (green.props["minCapacity"], green.props["maxCapacity"]) == (0.0, 0.0)
    violations = kit.run(broken, "SCALE-001")
    assert any(
        v.resource in {"scaling-target-frontend-blue-dev", "svc-frontend-blue-dev"} and "min 2" in v.message for v in violations
    ), f"frontend scales 0..0 in both colours and SCALE-001 reports {violations}"


def test_service_without_scaling_target(kit, dev_views):
    broken = kit.remove(dev_views, "scaling-target-api-gateway-blue-dev", "scaling-api-gateway-blue-cpu-dev")
    violations = kit.run(broken, "SCALE-001")
    kit.expect(violations, "SCALE-001", "svc-api-gateway-blue-dev", "no application auto-scaling target", "min 2 and max 10")
    assert kit.resources(violations) == {"svc-api-gateway-blue-dev"}


# --- SCALE-002 ------------------------------------------------------------------------------


def test_scaling_target_without_policy(kit, dev_views):
    broken = kit.remove(dev_views, "scaling-frontend-blue-cpu-dev")
    violations = kit.run(broken, "SCALE-002")
    kit.expect(violations, "SCALE-002", "scaling-target-frontend-blue-dev", "no TargetTrackingScaling policy on ECSServiceAverageCPUUtilization", "add one")
    assert kit.resources(violations) == {"scaling-target-frontend-blue-dev"}


def test_scaling_on_memory_instead_of_cpu(kit, dev_views):
    name = "scaling-processing-service-cpu-dev"
    config = dict(kit.view(dev_views, name).props["targetTrackingScalingPolicyConfiguration"])
    config["predefinedMetricSpecification"] = {"predefinedMetricType": "ECSServiceAverageMemoryUtilization"}
    broken = kit.replace(dev_views, name, update={"targetTrackingScalingPolicyConfiguration": config})
    violations = kit.run(broken, "SCALE-002")
    kit.expect(violations, "SCALE-002", "scaling-target-processing-service-dev", "ECSServiceAverageCPUUtilization")
    assert kit.resources(violations) == {"scaling-target-processing-service-dev"}


def test_step_scaling_instead_of_target_tracking(kit, dev_views):
    broken = kit.replace(dev_views, "scaling-api-gateway-green-cpu-dev", update={"policyType": "StepScaling"})
    violations = kit.run(broken, "SCALE-002")
    kit.expect(violations, "SCALE-002", "scaling-target-api-gateway-green-dev", "no TargetTrackingScaling policy")


# --- SVC-001 --------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [{"drop": ("healthCheckGracePeriodSeconds",)}, {"update": {"healthCheckGracePeriodSeconds": 0}}], ids=["missing", "zero"])
def test_alb_service_without_grace_period(kit, dev_views, change):
    broken = kit.replace(dev_views, "svc-api-gateway-blue-dev", **change)
    violations = kit.run(broken, "SVC-001")
    kit.expect(violations, "SVC-001", "svc-api-gateway-blue-dev", "healthCheckGracePeriodSeconds is not set", "give new tasks time to start")
    assert kit.resources(violations) == {"svc-api-gateway-blue-dev"}


def test_service_behind_no_alb_needs_no_grace_period(kit, dev_views):
    service = kit.view(dev_views, "svc-processing-service-dev")
    assert not service.props.get("loadBalancers")
    broken = kit.replace(dev_views, "svc-processing-service-dev", drop=("healthCheckGracePeriodSeconds",))
    assert kit.run(broken, "SVC-001") == []


# --- SVC-002 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "breaker",
    [{"enable": True, "rollback": False}, {"enable": False, "rollback": True}, None],
    ids=["no-rollback", "disabled", "missing"],
)
def test_service_without_circuit_breaker_rollback(kit, dev_views, breaker):
    change = {"drop": ("deploymentCircuitBreaker",)} if breaker is None else {"update": {"deploymentCircuitBreaker": breaker}}
    broken = kit.replace(dev_views, "svc-frontend-green-dev", **change)
    violations = kit.run(broken, "SVC-002")
    kit.expect(violations, "SVC-002", "svc-frontend-green-dev", "deploymentCircuitBreaker is not enable+rollback", "set both to true")
    assert kit.resources(violations) == {"svc-frontend-green-dev"}
    assert {v.name for v in dev_views if v.type == t.ECS_SERVICE} - kit.resources(violations)  # neighbours unflagged
