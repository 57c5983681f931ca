"""Not drift, by rule: each rule sets aside what the platform changes on purpose, and a near miss is still drift."""

from __future__ import annotations

from datetime import UTC, datetime

from pulumi.automation.events import DiffKind

from reconciler.drift.model import DriftReport
from reconciler.drift.report import build_report
from reconciler.drift.rules import NOT_DRIFT_RULES, DriftContext
from tests.reconciler.drift.steps import (
    ECS_SERVICE,
    LISTENER,
    LISTENER_RULE,
    changed,
    ecs_service_state,
    forward_action,
    listener_weights_moved,
    scaling_target_changed,
    service_changed,
    target_group_arn,
    task_definition_arn,
)

LIVE_LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/alb-platform-prod/325ab243919360a1/1a2b3c4d5e6f7a8b"


def rollout_on(service: str) -> DriftContext:
    """What a baking rollout of ``service`` owns, from its record (the shared live listener is its listener)."""
    from reconciler.rollout.model import RolloutPhase

    return DriftContext.from_rollouts([rollout(service, RolloutPhase.BAKING, LIVE_LISTENER)])


def report_of(*steps, context: DriftContext = DriftContext()) -> DriftReport:
    return build_report(list(steps), environment="prod", stack="prod", applied_commit="abc123", checked_at=datetime(2026, 12, 1, tzinfo=UTC), context=context)


def rule_named(name: str):
    return next(rule for rule in NOT_DRIFT_RULES if rule.name == name)


def assert_set_aside(report: DriftReport, rule: str, *paths: str) -> None:
    assert report.resources == [], [r.summary for r in report.resources]
    assert [(i.path, i.rule) for i in report.ignored] == [(path, rule) for path in paths]
    assert all(i.reason == rule_named(rule).reason for i in report.ignored)


def test_every_rule_has_a_name_and_a_reason():
    names = [rule.name for rule in NOT_DRIFT_RULES]
    assert len(set(names)) == len(names) == 4
    assert all(rule.reason and len(rule.reason) > 30 for rule in NOT_DRIFT_RULES)


# --------------------------------------------------------------------------- auto-scaling


def counts(real: int, desired: int, **extra):
    arn = task_definition_arn("td-frontend-blue-prod", 3)
    return (
        ecs_service_state("svc-frontend-blue-prod", task_definition=arn, desired_count=real, **extra),
        ecs_service_state("svc-frontend-blue-prod", task_definition=arn, desired_count=desired),
    )


def test_a_desired_count_moved_by_auto_scaling_is_not_drift():
    real, desired = counts(7, 2)
    report = report_of(service_changed("svc-frontend-blue-prod", {"desiredCount": DiffKind.UPDATE}, real, desired))
    assert_set_aside(report, "autoscaled-desired-count", "desiredCount")
    assert report.ignored[0].name == "svc-frontend-blue-prod"


def test_near_miss_another_property_of_the_same_service_is_drift():
    real, desired = counts(7, 2, deploymentMinimumHealthyPercent=0.0)
    diff = {"desiredCount": DiffKind.UPDATE, "deploymentMinimumHealthyPercent": DiffKind.UPDATE}
    report = report_of(service_changed("svc-frontend-blue-prod", diff, real, desired))
    [resource] = report.resources
    assert [p.path for p in resource.properties] == ["deploymentMinimumHealthyPercent"]
    assert resource.summary == "deploymentMinimumHealthyPercent changed from 100 to 0"
    assert [i.path for i in report.ignored] == ["desiredCount"]


# --------------------------------------------------------------------------- listener weights during a rollout


def test_listener_weights_a_running_rollout_moved_are_not_drift():
    metadata = listener_weights_moved(expected={"blue": 100, "green": 0}, actual={"blue": 75, "green": 25})
    report = report_of(metadata, context=rollout_on("frontend"))
    assert_set_aside(
        report, "rollout-traffic-weights",
        "defaultActions[0].forward.targetGroups[0].weight", "defaultActions[0].forward.targetGroups[1].weight",
    )


def test_a_whole_action_differing_only_in_weights_is_set_aside_too():
    rule_real = {"actions": [forward_action("api-gateway", {"blue": 50, "green": 50})], "priority": 10.0}
    rule_desired = {"actions": [forward_action("api-gateway", {"blue": 100, "green": 0})], "priority": 10.0}
    metadata = changed(LISTENER_RULE, "rule-api-gateway-live-prod", real=rule_real, desired=rule_desired, diff={"actions": DiffKind.UPDATE})
    report = report_of(metadata, context=rollout_on("api-gateway"))
    assert_set_aside(report, "rollout-traffic-weights", "actions")


def test_near_miss_owning_the_listener_by_arn_owns_no_weights_on_it():
    """The live listener is shared by every routed service: a rollout owns only its own target groups' weights
    (this test pinned the opposite, which let an api-gateway rollout hide frontend's weights: review D3)."""
    metadata = listener_weights_moved(expected={"blue": 100, "green": 0}, actual={"blue": 90, "green": 10})
    assert metadata.old.id == LIVE_LISTENER
    report = report_of(metadata, context=rollout_on("api-gateway"))
    assert [r.name for r in report.resources] == ["listener-https-prod"] and report.ignored == []


def test_near_miss_weights_moved_with_no_rollout_running_are_drift():
    metadata = listener_weights_moved(expected={"blue": 100, "green": 0}, actual={"blue": 0, "green": 100})
    report = report_of(metadata, context=rollout_on("api-gateway"))  # another service's rollout
    [resource] = report.resources
    assert resource.type == LISTENER and report.ignored == []
    assert resource.summary == (
        "2 properties changed: defaultActions[0].forward.targetGroups[0].weight, defaultActions[0].forward.targetGroups[1].weight"
    )


def test_near_miss_a_rollouts_listener_forwarding_elsewhere_is_drift():
    """Weights are the rollout's; which target groups it forwards to is not."""
    real = {"defaultActions": [forward_action("frontend", {"blue": 100, "green": 0})]}
    real["defaultActions"][0]["forward"]["targetGroups"][1]["arn"] = target_group_arn("frontend", "green").replace("8b4e", "ffff")
    desired = {"defaultActions": [forward_action("frontend", {"blue": 100, "green": 0})]}
    metadata = changed(LISTENER, "listener-https-prod", real=real, desired=desired, diff={"defaultActions": DiffKind.UPDATE})
    report = report_of(metadata, context=rollout_on("frontend"))
    assert [r.name for r in report.resources] == ["listener-https-prod"] and report.ignored == []


# --------------------------------------------------------------------------- the idle colour's capacity during a rollout


def test_the_idle_colours_bounds_a_rollout_set_are_not_drift():
    metadata = scaling_target_changed("frontend-green", expected=(0, 0), actual=(2, 10))
    report = report_of(metadata, context=rollout_on("frontend"))
    assert_set_aside(report, "rollout-colour-capacity", "maxCapacity", "minCapacity")


def test_near_miss_bounds_changed_on_a_service_no_rollout_owns_are_drift():
    metadata = scaling_target_changed("api-gateway-green", expected=(0, 0), actual=(2, 10))
    report = report_of(metadata, context=rollout_on("frontend"))
    [resource] = report.resources
    assert resource.summary == "2 properties changed: maxCapacity, minCapacity"
    assert report.ignored == []


# --------------------------------------------------------------------------- task-definition revisions nobody rendered


def revision_moved(revision: int):
    family = "td-api-gateway-green-prod"
    real = ecs_service_state("svc-api-gateway-green-prod", task_definition=task_definition_arn(family, revision), desired_count=2)
    desired = ecs_service_state("svc-api-gateway-green-prod", task_definition=task_definition_arn(family, 4), desired_count=2)
    return service_changed("svc-api-gateway-green-prod", {"taskDefinition": DiffKind.UPDATE}, real, desired)


def test_a_revision_the_program_did_not_render_is_drift_even_while_a_rollout_owns_the_service():
    """A rollout registers no task definition: the images it stages are rendered by the program from
    the status's image overrides, so the applied state already carries them. A revision running that
    nobody rendered (someone's ``update-service --task-definition``) is drift during a rollout too."""
    from reconciler.rollout.model import RolloutPhase

    context = DriftContext.from_rollouts([rollout("api-gateway", RolloutPhase.BAKING, None)])
    report = report_of(revision_moved(5), context=context)
    [resource] = report.resources
    assert resource.type == ECS_SERVICE
    assert resource.properties[0].path == "taskDefinition"
    assert resource.properties[0].actual.endswith("td-api-gateway-green-prod:5")
    assert not any(rule.name == "rollout-task-definition" for rule in NOT_DRIFT_RULES)


# --------------------------------------------------------------------------- tags AWS adds itself


def tagged(real_tags, desired_tags, diff):
    return changed("aws:ec2/vpc:Vpc", "vpc-prod", real={"cidrBlock": "10.0.0.0/16", "tags": real_tags}, desired={"cidrBlock": "10.0.0.0/16", "tags": desired_tags}, diff=diff)


def test_tags_aws_adds_itself_are_not_drift():
    real = {"Name": "vpc-prod", "aws:cloudformation:stack-name": "StackSet-x", "AmazonECSManaged": ""}
    diff = {'tags["aws:cloudformation:stack-name"]': DiffKind.DELETE, "tags.AmazonECSManaged": DiffKind.DELETE}
    report = report_of(tagged(real, {"Name": "vpc-prod"}, diff))
    assert_set_aside(report, "aws-managed-tags", "tags.AmazonECSManaged", 'tags["aws:cloudformation:stack-name"]')


def test_a_whole_tags_map_differing_only_in_aws_tags_is_set_aside():
    real = {"Name": "vpc-prod", "aws:ecs:clusterName": "ecs-cluster-prod"}
    report = report_of(tagged(real, {"Name": "vpc-prod"}, {"tags": DiffKind.UPDATE}))
    assert_set_aside(report, "aws-managed-tags", 'tags["aws:ecs:clusterName"]')


def test_near_miss_a_tag_someone_added_is_drift_next_to_an_aws_one():
    real = {"Name": "vpc-prod", "aws:ecs:clusterName": "ecs-cluster-prod", "owner": "mallory"}
    report = report_of(tagged(real, {"Name": "vpc-prod"}, {"tags": DiffKind.UPDATE}))
    [resource] = report.resources
    assert resource.summary == "tag owner added (mallory)"
    assert [(p.path, p.expected, p.actual) for p in resource.properties] == [("tags.owner", None, "mallory")]
    assert [(i.path, i.rule) for i in report.ignored] == [('tags["aws:ecs:clusterName"]', "aws-managed-tags")]


def test_near_miss_a_tag_key_merely_mentioning_aws_is_drift():
    report = report_of(tagged({"Name": "vpc-prod", "myaws:team": "x"}, {"Name": "vpc-prod"}, {'tags["myaws:team"]': DiffKind.DELETE}))
    assert [r.summary for r in report.resources] == ["tag myaws:team added (x)"]


# --------------------------------------------------------------------------- the context from rollout records


def rollout(service: str, phase, listener_arn: str | None):
    from desired_state.schema import ImageRef, RolloutSpec
    from desired_state.traffic import ColourWeights
    from reconciler.rollout.model import RolloutRecord, RolloutResources

    at = datetime(2026, 12, 1, tzinfo=UTC)
    resources = RolloutResources(
        cluster="ecs-cluster-prod",
        ecs_services={c: f"svc-{service}-{c}-prod" for c in ("blue", "green")},
        target_groups={c: target_group_arn(service, c) for c in ("blue", "green")},
        listener_arn=listener_arn,
        repository=f"ecr-{service}-prod",
    )
    return RolloutRecord(
        rollout_id=f"r-{service}", stack="prod", environment="prod", service=service, phase=phase, from_colour="blue", to_colour="green",
        old_image=ImageRef(repository=service, tag="1.0.0"), new_image=ImageRef(repository=service, tag="2.0.0"),
        spec=RolloutSpec(steps=(10, 50, 100)), resources=resources, live_desired_count=2, weights=ColourWeights(blue=90, green=10),
        phase_started_at=at, created_at=at, updated_at=at,
    )


def test_the_context_holds_what_running_rollouts_own_and_nothing_of_finished_ones():
    from reconciler.rollout.model import RolloutPhase

    listener = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/alb-platform-prod/325ab243919360a1/1a2b3c4d5e6f7a8b"
    context = DriftContext.from_rollouts(
        [rollout("frontend", RolloutPhase.BAKING, listener), rollout("api-gateway", RolloutPhase.COMPLETE, None)]
    )
    assert context.rollout_services == frozenset({"frontend"})
    assert context.rollout_target_groups == {"frontend": frozenset({target_group_arn("frontend", "blue"), target_group_arn("frontend", "green")})}
    assert context.rollout_scaling_targets == {
        "frontend": frozenset({"service/ecs-cluster-prod/svc-frontend-blue-prod", "service/ecs-cluster-prod/svc-frontend-green-prod"})
    }
    assert listener not in context.owned_target_groups()
    # And it works as the rules' input: the baking rollout's weights are set aside.
    moved = listener_weights_moved(expected={"blue": 100, "green": 0}, actual={"blue": 90, "green": 10})
    assert report_of(moved, context=context).resources == []
