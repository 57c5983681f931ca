"""Property-level high severity (review finding D14): security-relevant properties of types that are medium otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pulumi.automation.events import DiffKind

from reconciler.drift.model import DriftSeverity, PropertyDrift
from reconciler.drift.report import build_report
from reconciler.drift.rules import DriftContext
from reconciler.drift.severity import platform_tags_lost, severity_of
from tests.reconciler.drift.steps import ECS_SERVICE, SECURITY_GROUP, changed

HIGH, MEDIUM, LOW = DriftSeverity.HIGH, DriftSeverity.MEDIUM, DriftSeverity.LOW
SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"


@pytest.mark.parametrize(
    ("resource_type", "path"),
    [
        (SERVICE, "networkConfiguration.securityGroups[1]"),
        (SERVICE, "networkConfiguration.assignPublicIp"),
        (SERVICE, "networkConfiguration.subnets[0]"),
        (TASK_DEFINITION, "taskRoleArn"),
        (TASK_DEFINITION, "executionRoleArn"),
        (ROUTE, "gatewayId"),
        (ROUTE, "natGatewayId"),
        (ROUTE, "destinationCidrBlock"),
        (ROUTE, "destinationIpv6CidrBlock"),
        (ROUTE_TABLE, "routes[0].gatewayId"),  # the program's routes are inline on its tables
        (ROUTE_TABLE, "routes"),
        ("aws:ec2/routeTableAssociation:RouteTableAssociation", "routeTableId"),
        ("aws:ecr/repositoryPolicy:RepositoryPolicy", "policy"),
    ],
)
def test_security_relevant_properties_are_high(resource_type: str, path: str) -> None:
    assert severity_of(resource_type, [path]) is HIGH
    assert severity_of(resource_type, ["desiredCount", path]) is HIGH


def test_an_ecr_repository_policy_deleted_out_of_band_is_high() -> None:
    assert severity_of("aws:ecr/repositoryPolicy:RepositoryPolicy", []) is HIGH


@pytest.mark.parametrize(
    ("resource_type", "path"),
    [(SERVICE, "desiredCount"), (TASK_DEFINITION, "cpu"), (ROUTE_TABLE, "tags.Name"), ("aws:lb/targetGroup:TargetGroup", "healthCheck.path")],
)
def test_the_other_properties_of_those_types_stay_as_they_were(resource_type: str, path: str) -> None:
    assert severity_of(resource_type, [path]) is (LOW if path.startswith("tags") else MEDIUM)


@pytest.mark.parametrize(
    ("tag_path", "tag"),
    [("tags.managed-by", "managed-by"), ("tagsAll.managed-by", "managed-by"), ('tagsAll["environment"]', "environment"), ("tags.environment", "environment")],
)
@pytest.mark.parametrize("resource_type", [SECURITY_GROUP, SERVICE, "aws:cloudwatch/logGroup:LogGroup"])
def test_removing_a_platform_tag_is_high_on_any_resource(resource_type: str, tag_path: str, tag: str) -> None:
    removed = [PropertyDrift(path=tag_path, expected="prod" if tag == "environment" else "ecs-gitops", actual=None)]

    assert platform_tags_lost(removed) == [tag]
    assert severity_of(resource_type, [tag_path], removed_tags=platform_tags_lost(removed)) is HIGH


def test_changing_a_platform_tags_value_is_high_and_other_tags_stay_low() -> None:
    assert platform_tags_lost([PropertyDrift(path="tagsAll.environment", expected="prod", actual="dev")]) == ["environment"]
    assert platform_tags_lost([PropertyDrift(path="tags.team", expected="a", actual=None)]) == []
    assert platform_tags_lost([PropertyDrift(path="tags", expected={"managed-by": "ecs-gitops", "team": "a"}, actual={"team": "a"})]) == ["managed-by"]
    assert severity_of(SECURITY_GROUP, ["tags.team"], removed_tags=[]) is LOW


def _report(*steps):
    return build_report(list(steps), environment="prod", stack="prod", applied_commit="abc", checked_at=datetime(2026, 12, 1, tzinfo=UTC), context=DriftContext())


def test_the_report_rates_a_removed_managed_by_tag_high() -> None:
    desired = {"name": "sg-api-gateway-prod", "tags": {"Name": "sg-api-gateway-prod"}, "tagsAll": {"Name": "sg-api-gateway-prod", "managed-by": "ecs-gitops"}}
    real = {"name": "sg-api-gateway-prod", "tags": {"Name": "sg-api-gateway-prod"}, "tagsAll": {"Name": "sg-api-gateway-prod"}}
    [resource] = _report(changed(SECURITY_GROUP, "sg-api-gateway-prod", real=real, desired=desired, diff={"tagsAll": DiffKind.UPDATE})).resources

    assert [p.path for p in resource.properties] == ['tagsAll["managed-by"]']
    assert resource.severity is HIGH


def test_the_report_rates_a_service_given_a_public_ip_high() -> None:
    network = {"subnets": ["subnet-a"], "securityGroups": ["sg-1"], "assignPublicIp": False}
    desired = {"name": "svc-api-gateway-blue-prod", "networkConfiguration": network}
    real = {"name": "svc-api-gateway-blue-prod", "networkConfiguration": {**network, "assignPublicIp": True}}
    [resource] = _report(changed(ECS_SERVICE, "svc-api-gateway-blue-prod", real=real, desired=desired,
                                 diff={"networkConfiguration.assignPublicIp": DiffKind.UPDATE})).resources

    assert resource.severity is HIGH
