"""Who owns a difference: a running rollout owns only its own target groups' weights and its own colours' bounds.

The live listener (and its rules) is shared by every routed service, so a rollout of one service
owning "the listener" by ARN, or any string that happens to appear in the resource's state, would
hide a console change to another service's weights. The rules attribute a weight difference by the
target groups whose weights differ, and a capacity difference by the scaling target's resource id.
"""

from __future__ import annotations

from pulumi.automation.events import DiffKind

from reconciler.drift.rules import DriftContext
from reconciler.rollout.model import RolloutPhase
from tests.reconciler.drift.steps import (
    LISTENER,
    LISTENER_RULE,
    changed,
    forward_action,
    listener_inputs,
    listener_weights_moved,
    scaling_target_changed,
    target_group_arn,
)
from tests.reconciler.drift.test_rules import report_of, rollout

# What the live listener's ARN is in the steps: every routed service's rollout records it as its listener.
LIVE_LISTENER = listener_weights_moved(expected={"blue": 100, "green": 0}, actual={"blue": 0, "green": 100}).old.id
# Phases in which the check is not deferred (no traffic shift), so the rules alone decide.
UNDEFERRED = (RolloutPhase.DEPLOYING, RolloutPhase.SMOKE_TESTING, RolloutPhase.PROMOTED, RolloutPhase.SCANNING)


def context_of(*records) -> DriftContext:
    return DriftContext.from_rollouts(list(records))


def api_gateway_rule_weights_moved():
    real = {"actions": [forward_action("api-gateway", {"blue": 0, "green": 100})], "priority": 10.0, "listenerArn": LIVE_LISTENER}
    desired = {"actions": [forward_action("api-gateway", {"blue": 100, "green": 0})], "priority": 10.0, "listenerArn": LIVE_LISTENER}
    return changed(LISTENER_RULE, "rule-api-gateway-live-prod", real=real, desired=desired, diff={"actions": DiffKind.UPDATE})


def test_an_api_gateway_rollout_does_not_hide_frontends_weights_moving_on_the_shared_listener():
    moved = listener_weights_moved(expected={"blue": 100, "green": 0}, actual={"blue": 0, "green": 100})
    for phase in UNDEFERRED:
        report = report_of(moved, context=context_of(rollout("api-gateway", phase, LIVE_LISTENER)))
        [resource] = report.resources
        assert resource.name == "listener-https-prod" and report.ignored == [], phase
        assert [p.path for p in resource.properties] == [
            "defaultActions[0].forward.targetGroups[0].weight", "defaultActions[0].forward.targetGroups[1].weight"
        ]


def test_a_frontend_rollout_does_not_hide_api_gateways_rule_weights_moving():
    report = report_of(api_gateway_rule_weights_moved(), context=context_of(rollout("frontend", RolloutPhase.PROMOTED, LIVE_LISTENER)))
    [resource] = report.resources
    assert resource.name == "rule-api-gateway-live-prod" and report.ignored == []


def test_each_rollout_still_owns_its_own_services_weights_on_the_shared_listener():
    frontend = rollout("frontend", RolloutPhase.BAKING, LIVE_LISTENER)
    api = rollout("api-gateway", RolloutPhase.BAKING, LIVE_LISTENER)
    moved = listener_weights_moved(expected={"blue": 100, "green": 0}, actual={"blue": 90, "green": 10})
    assert report_of(moved, context=context_of(frontend)).resources == []
    assert report_of(api_gateway_rule_weights_moved(), context=context_of(api)).resources == []
    # Both running: each owns its own, and both are set aside.
    both = context_of(frontend, api)
    assert report_of(moved, api_gateway_rule_weights_moved(), context=both).resources == []


def test_near_miss_one_action_moving_both_services_weights_is_drift_when_only_one_rollout_runs():
    """A forward to both services' groups, one rollout running: the other service's weights are not its to move."""
    action = forward_action("frontend", {"blue": 50, "green": 50})
    action["forward"]["targetGroups"].append({"arn": target_group_arn("api-gateway", "blue"), "weight": 0.0})
    desired_action = forward_action("frontend", {"blue": 100, "green": 0})
    desired_action["forward"]["targetGroups"].append({"arn": target_group_arn("api-gateway", "blue"), "weight": 10.0})
    real = listener_inputs() | {"defaultActions": [action]}
    desired = listener_inputs() | {"defaultActions": [desired_action]}
    metadata = changed(LISTENER, "listener-https-prod", real=real, desired=desired, diff={"defaultActions": DiffKind.UPDATE})
    report = report_of(metadata, context=context_of(rollout("frontend", RolloutPhase.BAKING, LIVE_LISTENER)))
    assert [r.name for r in report.resources] == ["listener-https-prod"] and report.ignored == []


def test_near_miss_a_rollouts_target_group_named_elsewhere_in_the_state_does_not_make_it_owner():
    """api-gateway's rule mentions frontend's group in a condition-like field: still api-gateway's weights."""
    metadata = api_gateway_rule_weights_moved()
    metadata.old.outputs["tags"] = {"note": target_group_arn("frontend", "green"), "svc": "svc-frontend-green-prod"}
    report = report_of(metadata, context=context_of(rollout("frontend", RolloutPhase.BAKING, LIVE_LISTENER)))
    assert [r.name for r in report.resources] == ["rule-api-gateway-live-prod"]


def test_colour_capacity_is_owned_only_for_the_rollouts_own_scaling_targets():
    frontend = context_of(rollout("frontend", RolloutPhase.BAKING, LIVE_LISTENER))
    own = scaling_target_changed("frontend-green", expected=(0, 0), actual=(2, 10))
    other = scaling_target_changed("api-gateway-green", expected=(0, 0), actual=(2, 10))
    assert report_of(own, context=frontend).resources == []
    assert [r.name for r in report_of(other, context=frontend).resources] == ["scaling-target-api-gateway-green-prod"]


def test_near_miss_a_scaling_target_whose_state_merely_mentions_a_rollouts_service_is_drift():
    frontend = context_of(rollout("frontend", RolloutPhase.BAKING, LIVE_LISTENER))
    other = scaling_target_changed("api-gateway-green", expected=(0, 0), actual=(2, 10))
    other.old.outputs["tags"] = {"peer": "svc-frontend-green-prod"}
    other.new.outputs["tags"] = {"peer": "svc-frontend-green-prod"}
    assert [r.name for r in report_of(other, context=frontend).resources] == ["scaling-target-api-gateway-green-prod"]


def test_the_context_carries_each_running_rollouts_own_groups_and_scaling_targets():
    context = context_of(rollout("frontend", RolloutPhase.BAKING, LIVE_LISTENER), rollout("api-gateway", RolloutPhase.COMPLETE, LIVE_LISTENER))
    assert context.rollout_services == frozenset({"frontend"})
    assert context.rollout_target_groups == {"frontend": frozenset({target_group_arn("frontend", "blue"), target_group_arn("frontend", "green")})}
    assert context.rollout_scaling_targets == {
        "frontend": frozenset({"service/ecs-cluster-prod/svc-frontend-blue-prod", "service/ecs-cluster-prod/svc-frontend-green-prod"})
    }
