"""The wired platform: stack outputs, naming convention and destroyability."""

from __future__ import annotations

import re

import pytest

from program.mocks import PLACEHOLDER_ACCOUNT

UNITS = ("frontend-blue", "frontend-green", "api-gateway-blue", "api-gateway-green", "processing-service")
SERVICES = ("frontend", "api-gateway", "processing-service")


# --- outputs ---------------------------------------------------------------------------------


def test_alb_dns_name(stack, state):
    dns = stack.outputs["albDnsName"]
    assert dns.startswith(f"alb-platform-{state.environment_suffix}-")
    assert dns.endswith(f".{state.region}.elb.amazonaws.com")


def test_cluster_outputs(stack, state):
    s = state.environment_suffix
    assert stack.outputs["clusterName"] == f"ecs-cluster-{s}"
    assert stack.outputs["clusterArn"] == f"arn:aws:ecs:{state.region}:{PLACEHOLDER_ACCOUNT}:cluster/ecs-cluster-{s}"


def test_service_arns_cover_every_unit_of_every_service(stack, state):
    s = state.environment_suffix
    arns = stack.outputs["serviceArns"]
    assert sorted(arns) == sorted(UNITS)
    for service in SERVICES:
        assert any(unit.startswith(service) for unit in arns)
    for unit, arn in arns.items():
        assert arn == f"arn:aws:ecs:{state.region}:{PLACEHOLDER_ACCOUNT}:service/ecs-cluster-{s}/svc-{unit}-{s}"


def test_network_outputs(stack, state, mock_state):
    s = state.environment_suffix
    assert stack.outputs["vpcId"] == mock_state(stack.named(f"vpc-platform-{s}"))["id"]
    for tier, key in (("public", "publicSubnetIds"), ("private", "privateSubnetIds")):
        ids = stack.outputs[key]
        assert len(ids) == len(set(ids)) == 3
        assert ids == [mock_state(stack.named(f"subnet-{tier}-{z[-1]}-{s}"))["id"] for z in state.network.availability_zones]
    assert set(stack.outputs["publicSubnetIds"]).isdisjoint(stack.outputs["privateSubnetIds"])


def test_ecr_repository_urls(stack, state):
    s = state.environment_suffix
    assert stack.outputs["ecrRepositoryUrls"] == {
        svc: f"{PLACEHOLDER_ACCOUNT}.dkr.ecr.{state.region}.amazonaws.com/ecr-{svc}-{s}" for svc in SERVICES
    }


def test_target_group_arns_per_service_and_colour(stack, state):
    s = state.environment_suffix
    groups = stack.outputs["targetGroupArns"]
    assert {svc: sorted(colours) for svc, colours in groups.items()} == {
        "frontend": ["blue", "green"],
        "api-gateway": ["blue", "green"],
    }
    for service, colours in groups.items():
        for colour, arn in colours.items():
            assert arn.startswith(f"arn:aws:elasticloadbalancing:{state.region}:{PLACEHOLDER_ACCOUNT}:targetgroup/tg-{service}-{colour}-{s}/")
    flat = [arn for colours in groups.values() for arn in colours.values()]
    assert len(set(flat)) == 4


def test_listener_arns(rendered_dev, rendered_prod):
    assert sorted(rendered_dev.outputs["listenerArns"]) == ["http", "test"]
    assert sorted(rendered_prod.outputs["listenerArns"]) == ["http", "https", "test"]
    for stack in (rendered_dev, rendered_prod):
        arns = list(stack.outputs["listenerArns"].values())
        assert len(set(arns)) == len(arns)
        assert all(arn.startswith("arn:aws:elasticloadbalancing:") and ":listener/" in arn for arn in arns)


def test_other_outputs(stack, state):
    assert stack.outputs["environment"] == state.environment_suffix
    assert stack.outputs["region"] == state.region
    assert stack.outputs["liveColours"] == {"frontend": "blue", "api-gateway": "blue"}


# --- naming ----------------------------------------------------------------------------------


def _contains_suffix(value: str, suffix: str) -> bool:
    """The suffix as a whole word of the name: `-dev`, `/dev/`, `dev.` (not e.g. `devices`)."""
    return re.search(rf"(^|[-./]){re.escape(suffix)}($|[-./])", value) is not None


def _assert_suffix_everywhere(stack, suffix):
    for resource in stack.resources:
        assert resource.name.endswith(f"-{suffix}"), f"{resource.type} {resource.name}"
        for key in ("name", "family"):
            value = resource.inputs.get(key)
            if value is not None:
                assert _contains_suffix(value, suffix), f"{resource.name}: {key}={value!r}"


def test_every_logical_and_physical_name_carries_the_suffix(stack, state):
    _assert_suffix_everywhere(stack, state.environment_suffix)


def test_physical_names_follow_the_logical_names(stack):
    """Wherever a name is set from the convention it equals the logical name, so a plan reads like the console."""
    exceptions = {
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace",
        "aws:servicediscovery/service:Service",
    }
    checked = 0
    for resource in stack.resources:
        physical = resource.inputs.get("name") or resource.inputs.get("family")
        if resource.custom and physical is not None and resource.type not in exceptions:
            assert physical == resource.name, resource.name
            checked += 1
    assert checked >= 30


def test_a_different_suffix_reaches_every_name(render_mutated):
    def rename(doc):
        doc["environmentSuffix"] = "qa7"

    stack = render_mutated(rename)
    assert stack.environment == "qa7"
    _assert_suffix_everywhere(stack, "qa7")
    assert stack.outputs["clusterName"] == "ecs-cluster-qa7"
    assert stack.outputs["processingServiceHost"] == "processing-service-qa7.qa7.platform.internal"
    # Nothing still says dev.
    for resource in stack.resources:
        assert not _contains_suffix(resource.name, "dev"), resource.name


# --- destroyability --------------------------------------------------------------------------


def test_nothing_is_protected_or_retained(stack):
    for resource in stack.resources:
        assert resource.protect is False, resource.name
        assert resource.retain_on_delete is False, resource.name


def test_no_deletion_protection_anywhere(stack):
    flagged = [r.name for r in stack.resources if r.inputs.get("enableDeletionProtection") is True]
    assert flagged == []
    (alb,) = stack.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert alb.inputs["enableDeletionProtection"] is False


def test_log_groups_are_destroyed_with_the_stack(stack):
    groups = stack.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) == 4  # three services and the VPC flow logs
    assert all(g.inputs.get("skipDestroy", False) is False for g in groups)


@pytest.mark.parametrize(
    ("type_token", "key", "value"),
    [
        ("aws:ecr/repository:Repository", "forceDelete", True),
        ("aws:secretsmanager/secret:Secret", "recoveryWindowInDays", 0.0),
        ("aws:ecs/service:Service", "forceDelete", True),
        ("aws:servicediscovery/service:Service", "forceDestroy", True),
    ],
)
def test_resources_that_would_block_a_destroy_are_forced(stack, type_token, key, value):
    resources = stack.of_type(type_token)
    assert resources
    assert {r.inputs[key] for r in resources} == {value}


def test_outputs_the_verify_checks_read(stack, state, mock_state):
    """`ecs-gitops verify` finds the ALB, the tiers' groups, the log groups, the roles and the NAT/IGW by these."""
    s = state.environment_suffix
    outputs = stack.outputs
    assert outputs["albArn"] == mock_state(stack.named(f"alb-platform-{s}"))["arn"]
    assert outputs["securityGroupIds"] == {
        tier: mock_state(stack.named(f"sg-{tier}-{s}"))["id"] for tier in ("alb", *SERVICES)
    }
    assert outputs["logGroupNames"] == {svc: f"/ecs-gitops/{s}/{svc}" for svc in SERVICES}
    for key, kind in (("executionRoleArns", "execution"), ("taskRoleArns", "task")):
        assert outputs[key] == {svc: f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role/ecs-gitops/role-{svc}-{kind}-{s}" for svc in SERVICES}
    nats = stack.of_type("aws:ec2/natGateway:NatGateway")
    assert sorted(outputs["natGatewayIds"]) == sorted(mock_state(n)["id"] for n in nats)
    assert outputs["internetGatewayId"] == mock_state(stack.named(f"igw-platform-{s}"))["id"]
