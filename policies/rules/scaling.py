"""Services: auto-scaling 2..10 on CPU, grace periods behind the ALB, circuit breaker with rollback."""

from __future__ import annotations

from collections.abc import Iterator

from policies import aws_types as t
from policies.model import Finding, ResourceView, Stack
from policies.rules import rule

SPEC_MIN, SPEC_MAX = 2, 10


def _targets_by_service(stack: Stack) -> dict[str, list[ResourceView]]:
    by_service: dict[str, list[ResourceView]] = {}
    for target in stack.of_type(t.SCALING_TARGET):
        for service in target.depends_on("resourceId"):
            by_service.setdefault(service, []).append(target)
    return by_service


def _held_idle(service: ResourceView, target: ResourceView) -> bool:
    """An idle blue/green colour held at zero until a rollout needs it."""
    return service.tag("colour") is not None and (target.props.get("minCapacity"), target.props.get("maxCapacity")) in ((0, 0), (0.0, 0.0))


@rule("SCALE-001", "mandatory", "Every ECS service scales between 2 and 10 tasks (an idle colour may be held at 0)")
def scaling_bounds(stack: Stack) -> Iterator[Finding]:
    targets = _targets_by_service(stack)
    held_colours: dict[str, list[ResourceView]] = {}
    serving_colours: set[str] = set()
    for service in stack.of_type(t.ECS_SERVICE):
        own = targets.get(service.name, [])
        if not own:
            yield Finding(service.name, "no application auto-scaling target; register one with min 2 and max 10")
            # Reported above; whether it could serve is unknown, so it does not count as held either.
            serving_colours.add(service.tag("service") or service.name)
            continue
        if service.tag("colour") is not None:
            group = service.tag("service") or service.name
            if all(_held_idle(service, target) for target in own):
                held_colours.setdefault(group, []).append(service)
            else:
                serving_colours.add(group)
        for target in own:
            if _held_idle(service, target):
                continue
            bounds = (target.props.get("minCapacity"), target.props.get("maxCapacity"))
            if bounds not in ((SPEC_MIN, SPEC_MAX), (float(SPEC_MIN), float(SPEC_MAX))):
                yield Finding(target.name, f"scales {service.name} between {bounds[0]} and {bounds[1]}; the spec requires min 2, max 10")
    # The idle-colour allowance covers one colour: the live one must still scale 2..10.
    for group, held in sorted(held_colours.items()):
        if group not in serving_colours:
            held = sorted(held, key=lambda service: service.name)
            yield Finding(
                held[0].name,
                f"every colour of {group} is held at 0..0 ({', '.join(s.name for s in held)}); the live colour needs min 2, max 10",
            )


@rule("SCALE-002", "mandatory", "Every scaling target has a CPU target-tracking policy")
def cpu_target_tracking(stack: Stack) -> Iterator[Finding]:
    tracked = {
        target
        for policy in stack.of_type(t.SCALING_POLICY)
        if policy.props.get("policyType") == "TargetTrackingScaling"
        and policy.prop("targetTrackingScalingPolicyConfiguration", "predefinedMetricSpecification", "predefinedMetricType")
        == "ECSServiceAverageCPUUtilization"
        for target in policy.depends_on("resourceId")
    }
    for target in stack.of_type(t.SCALING_TARGET):
        if target.name not in tracked:
            yield Finding(target.name, "no TargetTrackingScaling policy on ECSServiceAverageCPUUtilization; add one")


@rule("SVC-001", "mandatory", "Every ALB-facing service has a health check grace period")
def grace_period_behind_alb(stack: Stack) -> Iterator[Finding]:
    for service in stack.of_type(t.ECS_SERVICE):
        if service.props.get("loadBalancers") and not service.props.get("healthCheckGracePeriodSeconds"):
            yield Finding(service.name, "healthCheckGracePeriodSeconds is not set; give new tasks time to start before the ALB judges them")


@rule("SVC-002", "mandatory", "Every ECS service has the deployment circuit breaker with rollback")
def circuit_breaker(stack: Stack) -> Iterator[Finding]:
    for service in stack.of_type(t.ECS_SERVICE):
        breaker = service.props.get("deploymentCircuitBreaker") or {}
        if breaker.get("enable") is not True or breaker.get("rollback") is not True:
            yield Finding(service.name, "deploymentCircuitBreaker is not enable+rollback; set both to true")
