"""A refreshed preview's steps (the SDK's own event classes) mapped to a DriftReport: kinds, paths, summaries, headline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pulumi.automation.events import DiffKind, OpType

from reconciler.drift.model import DriftKind, DriftReport, DriftSeverity
from reconciler.drift.report import build_report, headline, parse_path
from reconciler.drift.rules import DriftContext
from tests.reconciler.drift.steps import (
    ACCOUNT,
    ECS_SERVICE,
    INGRESS_RULE,
    LISTENER,
    LOG_GROUP,
    SECURITY_GROUP,
    TASK_DEFINITION,
    changed,
    deleted_out_of_band,
    ingress_rule,
    listener_deleted,
    listener_inputs,
    log_retention_lowered,
    security_group_rule_added,
    security_group_state,
    standalone_rule_state,
    step,
    tag_changed,
    task_definition_replaced,
    urn,
)

CHECKED_AT = datetime(2026, 12, 1, 2, 15, tzinfo=UTC)
COMMIT = "235ec57f780188826c91183d6e2680495c36cfbe"


def report_of(*steps, context: DriftContext = DriftContext()) -> DriftReport:
    return build_report(list(steps), environment="prod", stack="prod", applied_commit=COMMIT, checked_at=CHECKED_AT, context=context)


def only(report: DriftReport):
    assert len(report.resources) == 1, report.resources
    return report.resources[0]


# --------------------------------------------------------------------------- one kind each


def test_a_security_group_rule_added_in_the_console():
    resource = only(report_of(security_group_rule_added("sg-api-gateway-prod", port=22, cidr="0.0.0.0/0")))

    assert (resource.type, resource.name, resource.kind) == (SECURITY_GROUP, "sg-api-gateway-prod", DriftKind.CHANGED)
    assert resource.urn == urn(SECURITY_GROUP, "sg-api-gateway-prod")
    assert resource.urn == "urn:pulumi:prod::ecs-gitops::ecs-gitops:platform:SecurityTiers$aws:ec2/securityGroup:SecurityGroup::sg-api-gateway-prod"
    assert resource.severity is DriftSeverity.HIGH
    assert resource.summary == "ingress gained tcp/22 from 0.0.0.0/0"
    [drift] = resource.properties
    # The applied state has no second rule; AWS has port 22 open to the world there.
    assert (drift.path, drift.expected, drift.secret) == ("ingress[1]", None, False)
    assert drift.actual == ingress_rule(22, "0.0.0.0/0")


def test_a_rule_removed_and_one_added_in_both_directions():
    applied_in = [ingress_rule(8080, "10.0.0.0/16")]
    applied_out = [ingress_rule(443, "0.0.0.0/0")]
    real = security_group_state("sg-frontend-prod", ingress=[ingress_rule(3389, "0.0.0.0/0")], egress=[ingress_rule(0, "0.0.0.0/0", protocol="-1")])
    desired = {"name": "sg-frontend-prod", "ingress": applied_in, "egress": applied_out, "tags": real["tags"]}
    resource = only(report_of(changed(SECURITY_GROUP, "sg-frontend-prod", real=real, desired=desired, diff={"ingress": DiffKind.UPDATE, "egress[0]": DiffKind.UPDATE})))
    assert resource.summary == (
        "ingress gained tcp/3389 from 0.0.0.0/0; ingress lost tcp/8080 from 10.0.0.0/16; "
        "egress gained all traffic to 0.0.0.0/0; egress lost tcp/443 to 0.0.0.0/0"
    )


def test_a_standalone_rule_edited_and_one_deleted():
    applied = standalone_rule_state("sgr-alb-from-internet-443-prod", 443, "10.20.0.0/16", "internet to ALB on 443")
    opened = applied | {"cidrIpv4": "0.0.0.0/0"}
    edited = changed(INGRESS_RULE, "sgr-alb-from-internet-443-prod", real=opened, desired=applied, diff={"cidrIpv4": DiffKind.UPDATE})
    gone = deleted_out_of_band(INGRESS_RULE, "sgr-alb-from-internet-80-prod", standalone_rule_state("x", 80, "0.0.0.0/0", "internet to ALB on 80"))
    report = report_of(edited, gone)
    by_name = {r.name: r for r in report.resources}
    assert by_name["sgr-alb-from-internet-443-prod"].summary == "ingress rule now allows tcp/443 from 0.0.0.0/0 (expected tcp/443 from 10.20.0.0/16)"
    assert by_name["sgr-alb-from-internet-80-prod"].summary == "deleted out of band (ingress rule tcp/80 from 0.0.0.0/0)"
    assert by_name["sgr-alb-from-internet-80-prod"].kind is DriftKind.DELETED
    assert {r.severity for r in report.resources} == {DriftSeverity.HIGH}


def test_a_tag_changed_is_one_difference_not_two():
    resource = only(report_of(tag_changed(ECS_SERVICE, "svc-frontend-blue-prod", "team", "payments", "platform", service="frontend")))

    assert resource.summary == "tag team changed from payments to platform"
    # tagsAll mirrors tags: the same difference is shown once.
    assert [(p.path, p.expected, p.actual) for p in resource.properties] == [("tags.team", "payments", "platform")]
    assert resource.severity is DriftSeverity.LOW


def test_tags_added_and_removed_as_a_whole_map():
    real = {"name": "tg", "tags": {"service": "frontend", "owner": "bob"}}
    desired = {"name": "tg", "tags": {"service": "frontend", "colour": "blue"}}
    resource = only(report_of(changed("aws:lb/targetGroup:TargetGroup", "tg-frontend-blue-prod", real=real, desired=desired, diff={"tags": DiffKind.UPDATE})))
    assert resource.summary == "tag colour removed (was blue); tag owner added (bob)"


def test_a_log_groups_retention_lowered():
    resource = only(report_of(log_retention_lowered("frontend", expected=30, actual=7)))

    assert (resource.type, resource.name, resource.kind) == (LOG_GROUP, "logs-frontend-prod", DriftKind.CHANGED)
    assert resource.summary == "retention lowered from 30 to 7 days"
    [drift] = resource.properties
    assert (drift.path, drift.expected, drift.actual) == ("retentionInDays", 30.0, 7.0)
    assert resource.severity is DriftSeverity.MEDIUM


def test_retention_removed_means_logs_kept_forever():
    lowered = log_retention_lowered("api-gateway", expected=30, actual=7)
    lowered.old.outputs = {**lowered.old.outputs, "retentionInDays": 0.0}
    assert only(report_of(lowered)).summary == "retention removed (was 30 days): logs are kept forever"


def test_a_listener_deleted_out_of_band():
    resource = only(report_of(listener_deleted("listener-https-prod")))

    assert (resource.type, resource.name, resource.kind) == (LISTENER, "listener-https-prod", DriftKind.DELETED)
    assert resource.summary == "deleted out of band"
    assert resource.properties == []
    assert resource.severity is DriftSeverity.HIGH


def test_a_task_definition_replaced_counts_once_and_names_the_image():
    hotfix = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/api-gateway:hotfix"
    pinned = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/api-gateway@sha256:1111"
    resource = only(report_of(*task_definition_replaced("td-api-gateway-blue-prod", expected_image=pinned, actual_image=hotfix)))

    assert (resource.type, resource.name, resource.kind) == (TASK_DEFINITION, "td-api-gateway-blue-prod", DriftKind.CHANGED)
    assert resource.summary.startswith("task definition replaced out of band: container api-gateway runs ")
    assert "api-gateway:hotfix" in resource.summary and "expected" in resource.summary
    # Per container and field, never the definitions whole (they can carry values nothing marks secret: test_masking_containers.py).
    [drift] = resource.properties
    assert drift.path == 'containerDefinitions["api-gateway"].image'
    assert (drift.expected, drift.actual, drift.secret) == (pinned, hotfix, False)


def test_another_resource_replaced_says_the_engine_would_replace_it():
    real = listener_inputs(port=443) | {"protocol": "HTTP"}
    desired = listener_inputs(port=443)
    metadata = step(OpType.REPLACE, LISTENER, "listener-https-prod", real=real, desired=desired, diff={"protocol": DiffKind.UPDATE_REPLACE}, keys=["protocol"])
    assert only(report_of(metadata)).summary == "protocol changed from HTTPS to HTTP; the engine would replace it (protocol cannot change in place)"


def test_several_properties_of_one_resource():
    real = {"name": "svc", "deploymentMinimumHealthyPercent": 50.0, "enableExecuteCommand": True, "healthCheckGracePeriodSeconds": 0.0, "tags": {"team": "b"}}
    desired = {"name": "svc", "deploymentMinimumHealthyPercent": 100.0, "enableExecuteCommand": False, "healthCheckGracePeriodSeconds": 60.0, "tags": {"team": "a"}}
    diff = {
        "deploymentMinimumHealthyPercent": DiffKind.UPDATE,
        "enableExecuteCommand": DiffKind.UPDATE,
        "healthCheckGracePeriodSeconds": DiffKind.UPDATE,
        "tags.team": DiffKind.UPDATE,
    }
    resource = only(report_of(changed(ECS_SERVICE, "svc-api-gateway-blue-prod", real=real, desired=desired, diff=diff)))

    assert [(p.path, p.expected, p.actual) for p in resource.properties] == [
        ("deploymentMinimumHealthyPercent", 100.0, 50.0),
        ("enableExecuteCommand", False, True),
        ("healthCheckGracePeriodSeconds", 60.0, 0.0),
        ("tags.team", "a", "b"),
    ]
    assert resource.summary == (
        "tag team changed from a to b; 3 more properties changed: deploymentMinimumHealthyPercent, enableExecuteCommand, healthCheckGracePeriodSeconds"
    )
    assert resource.severity is DriftSeverity.MEDIUM  # not tags only


def test_generic_summary_for_several_untyped_properties():
    real = {"a": 1.0, "b": "x", "c": [1.0]}
    desired = {"a": 2.0, "b": "y", "c": [2.0]}
    resource = only(report_of(changed("aws:ecr/repository:Repository", "ecr-frontend-prod", real=real, desired=desired, diff=dict.fromkeys("abc", DiffKind.UPDATE))))
    assert resource.summary == "3 properties changed: a, b, c"


def test_one_untyped_property_shows_both_values():
    real, desired = {"idleTimeout": 4000.0}, {"idleTimeout": 60.0}
    resource = only(report_of(changed("aws:lb/loadBalancer:LoadBalancer", "alb-platform-prod", real=real, desired=desired, diff={"idleTimeout": DiffKind.UPDATE})))
    assert resource.summary == "idleTimeout changed from 60 to 4000"
    assert resource.severity is DriftSeverity.HIGH


def test_without_a_detailed_diff_the_top_level_differences_are_used():
    metadata = changed(LOG_GROUP, "logs-frontend-prod", real={"retentionInDays": 7.0, "name": "n"}, desired={"retentionInDays": 30.0, "name": "n"}, diff={})
    metadata.diffs = None
    assert only(report_of(metadata)).summary == "retention lowered from 30 to 7 days"


def test_the_stack_resource_and_unchanged_steps_are_not_drift():
    stack = step(OpType.UPDATE, "pulumi:pulumi:Stack", "ecs-gitops-prod", real={}, desired={}, diff={"outputs": DiffKind.UPDATE})
    same = step(OpType.SAME, LOG_GROUP, "logs-frontend-prod", real={"a": 1.0}, desired={"a": 1.0})
    report = report_of(stack, same)
    assert report.resources == [] and not report.drifted and report.severity is None


def test_resources_are_ordered_most_severe_first():
    report = report_of(
        tag_changed(ECS_SERVICE, "svc-frontend-blue-prod", "team", "a", "b"),
        log_retention_lowered("frontend"),
        security_group_rule_added("sg-api-gateway-prod"),
    )
    assert [r.name for r in report.resources] == ["sg-api-gateway-prod", "logs-frontend-prod", "svc-frontend-blue-prod"]
    assert report.counts() == {"low": 1, "medium": 1, "high": 1}
    assert (report.environment, report.stack, report.applied_commit, report.checked_at) == ("prod", "prod", COMMIT, CHECKED_AT)


# --------------------------------------------------------------------------- headline


def test_headline_reads_at_a_glance():
    report = report_of(
        security_group_rule_added("sg-api-gateway-prod"),
        log_retention_lowered("frontend"),
        listener_deleted("listener-test-prod"),
    )
    assert headline(report) == (
        "prod: 3 resources drifted: listener-test-prod deleted out of band; "
        "sg-api-gateway-prod ingress gained tcp/22 from 0.0.0.0/0; logs-frontend-prod retention lowered from 30 to 7 days"
    )


def test_headline_of_one_and_of_many_and_of_none():
    assert headline(report_of(log_retention_lowered("frontend"))) == "prod: 1 resource drifted: logs-frontend-prod retention lowered from 30 to 7 days"
    many = report_of(*(log_retention_lowered(service) for service in ("a", "b", "c", "d", "e")))
    assert headline(many).endswith("; and 2 more")
    assert headline(many).startswith("prod: 5 resources drifted: logs-a-prod retention lowered")
    assert headline(report_of()) == "prod: no drift"


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("retentionInDays", ("retentionInDays",)),
        ("tags.team", ("tags", "team")),
        ("ingress[1]", ("ingress", 1)),
        ("ingress[0].cidrBlocks[2]", ("ingress", 0, "cidrBlocks", 2)),
        ('tags["aws:cloudformation:stack-name"]', ("tags", "aws:cloudformation:stack-name")),
        ('defaultActions[0].forward.targetGroups[1].weight', ("defaultActions", 0, "forward", "targetGroups", 1, "weight")),
        ('tags["a \\"quoted\\" key"].x', ("tags", 'a "quoted" key', "x")),
    ],
)
def test_property_paths_parse_like_pulumi_writes_them(path, segments):
    assert parse_path(path) == segments


def test_a_resource_the_applied_state_does_not_declare_is_reported_as_changed():
    metadata = step(OpType.DELETE, INGRESS_RULE, "sgr-debug-ssh-prod", real=standalone_rule_state("sgr-debug-ssh-prod", 22, "0.0.0.0/0", "debug"))
    resource = only(report_of(metadata))
    assert (resource.kind, resource.severity) == (DriftKind.CHANGED, DriftSeverity.HIGH)
    assert resource.summary == "in the stack but not in the applied desired state: the engine would delete it"


def test_values_a_preview_does_not_know_yet_are_said_so():
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    metadata = changed(LOG_GROUP, "logs-frontend-prod", real={"retentionInDays": 7.0, "kmsKeyId": ""}, desired={"retentionInDays": unknown}, diff={"retentionInDays": DiffKind.UPDATE})
    assert only(report_of(metadata)).summary == "retentionInDays changed from (known after apply) to 7"


def test_a_tags_map_that_is_not_a_map_is_told_generically():
    from tests.reconciler.drift.steps import secret

    metadata = changed(ECS_SERVICE, "svc-frontend-blue-prod", real={"tags": secret({"team": "x"})}, desired={"tags": {"team": "y"}}, diff={"tags": DiffKind.UPDATE})
    resource = only(report_of(metadata))
    assert resource.summary == "tags changed (secret)"
    assert resource.severity is DriftSeverity.LOW


def test_providers_and_components_are_not_resources_in_aws():
    provider = step(OpType.UPDATE, "pulumi:providers:aws", "aws-prod", real={"version": "7.50.0"}, desired={"version": "7.51.1"}, diff={"version": DiffKind.UPDATE})
    component = deleted_out_of_band("ecs-gitops:platform:SecurityTiers", "security-platform-prod", {})
    component.new.custom = False
    assert report_of(provider, component).resources == []
