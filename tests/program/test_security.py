"""Security tiers: internet -> ALB -> frontend -> api-gateway -> processing-service, HTTPS-only egress."""

from __future__ import annotations

import pytest

SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ANYWHERE = "0.0.0.0/0"
TIERS = ("alb", "frontend", "api-gateway", "processing-service")
SERVICE_TIERS = TIERS[1:]


@pytest.fixture
def groups(stack, state, mock_state):
    """tier -> security group id, and id -> tier."""
    s = state.environment_suffix
    by_tier = {tier: mock_state(stack.named(f"sg-{tier}-{s}"))["id"] for tier in TIERS}
    return by_tier, {gid: tier for tier, gid in by_tier.items()}


def _rules(stack, kind, group_id):
    return [r for r in stack.of_type(kind) if r.inputs["securityGroupId"] == group_id]


def _source(rule, tier_of):
    """Where a rule allows from/to: a tier name for a group reference, else the CIDR."""
    if "referencedSecurityGroupId" in rule.inputs:
        assert "cidrIpv4" not in rule.inputs
        return tier_of[rule.inputs["referencedSecurityGroupId"]]
    return rule.inputs["cidrIpv4"]


def test_four_groups_in_the_vpc_without_inline_rules(stack, state, mock_state):
    vpc_id = mock_state(stack.named(f"vpc-platform-{state.environment_suffix}"))["id"]
    sgs = stack.of_type(SG)
    assert sorted(sg.inputs["name"] for sg in sgs) == sorted(f"sg-{t}-{state.environment_suffix}" for t in TIERS)
    for sg in sgs:
        assert sg.inputs["vpcId"] == vpc_id
        # Rules are separate resources; inline rules would fight them.
        assert not sg.inputs.get("ingress")
        assert not sg.inputs.get("egress")


def test_every_rule_is_single_port_tcp(stack):
    rules = stack.of_type(INGRESS) + stack.of_type(EGRESS)
    assert rules
    for rule in rules:
        assert rule.inputs["ipProtocol"] == "tcp", rule.name
        assert rule.inputs["ipProtocol"] != "-1"
        assert rule.inputs["fromPort"] == rule.inputs["toPort"], rule.name


def _alb_internet_ports(stack, suffix, mock_state):
    alb_group = mock_state(stack.named(f"sg-alb-{suffix}"))["id"]
    return sorted(r.inputs["fromPort"] for r in _rules(stack, INGRESS, alb_group) if r.inputs.get("cidrIpv4") == ANYWHERE)


def test_dev_alb_is_open_to_the_internet_on_80_only(rendered_dev, mock_state):
    assert _alb_internet_ports(rendered_dev, "dev", mock_state) == [80.0]


def test_prod_alb_is_open_to_the_internet_on_80_and_443(rendered_prod, mock_state):
    assert _alb_internet_ports(rendered_prod, "prod", mock_state) == [80.0, 443.0]


def test_alb_test_port_is_open_only_to_the_nat_addresses(stack, state, groups, mock_state):
    by_tier, _ = groups
    port = float(state.edge.test_listener_port)
    nat_ips = sorted(f"{mock_state(eip)['publicIp']}/32" for eip in stack.of_type("aws:ec2/eip:Eip"))
    assert len(nat_ips) == (3 if state.network.nat_gateways == "per-az" else 1)
    test_rules = [r for r in _rules(stack, INGRESS, by_tier["alb"]) if r.inputs["fromPort"] == port]
    assert sorted(r.inputs["cidrIpv4"] for r in test_rules) == nat_ips
    assert all(r.inputs["toPort"] == port for r in test_rules)


def test_alb_ingress_is_exactly_the_public_ports_and_the_nat_test_rules(stack, state, groups):
    by_tier, _ = groups
    public_ports = {80.0, 443.0} if state.edge.certificate_arn else {80.0}
    for rule in _rules(stack, INGRESS, by_tier["alb"]):
        cidr = rule.inputs["cidrIpv4"]
        if cidr == ANYWHERE:
            assert rule.inputs["fromPort"] in public_ports
        else:
            assert cidr.endswith("/32"), cidr
            assert rule.inputs["fromPort"] == float(state.edge.test_listener_port)


@pytest.mark.parametrize(
    ("tier", "allowed_from", "port_of"),
    [
        ("frontend", {"alb"}, "frontend"),
        ("api-gateway", {"alb", "frontend"}, "api-gateway"),
        ("processing-service", {"api-gateway"}, "processing-service"),
    ],
)
def test_service_tier_ingress_only_from_the_previous_tiers(stack, state, groups, tier, allowed_from, port_of):
    by_tier, tier_of = groups
    port = float(state.services.get(port_of).port)
    rules = _rules(stack, INGRESS, by_tier[tier])
    assert {_source(r, tier_of) for r in rules} == allowed_from
    assert len(rules) == len(allowed_from)
    assert all(r.inputs["fromPort"] == port and r.inputs["toPort"] == port for r in rules)


def test_no_cidr_ingress_on_any_non_alb_group(stack, groups):
    by_tier, _ = groups
    for tier in SERVICE_TIERS:
        for rule in _rules(stack, INGRESS, by_tier[tier]):
            assert "cidrIpv4" not in rule.inputs, rule.name
            assert rule.inputs.get("cidrIpv4") != ANYWHERE


def test_internet_egress_is_only_https_from_the_service_tiers(stack, groups):
    by_tier, tier_of = groups
    internet = [r for r in stack.of_type(EGRESS) if "cidrIpv4" in r.inputs]
    assert sorted(tier_of[r.inputs["securityGroupId"]] for r in internet) == sorted(SERVICE_TIERS)
    for rule in internet:
        assert rule.inputs["cidrIpv4"] == ANYWHERE
        assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("tcp", 443.0, 443.0)


@pytest.mark.parametrize(
    ("tier", "allowed_to"),
    [
        ("alb", {"frontend", "api-gateway"}),
        ("frontend", {"api-gateway", ANYWHERE}),
        ("api-gateway", {"processing-service", ANYWHERE}),
        ("processing-service", {ANYWHERE}),
    ],
)
def test_egress_only_to_the_next_tier_and_https(stack, state, groups, tier, allowed_to):
    by_tier, tier_of = groups
    rules = _rules(stack, EGRESS, by_tier[tier])
    assert {_source(r, tier_of) for r in rules} == allowed_to
    for rule in rules:
        target = _source(rule, tier_of)
        expected_port = 443.0 if target == ANYWHERE else float(state.services.get(target).port)
        assert rule.inputs["fromPort"] == expected_port, rule.name


def test_each_group_reference_has_a_matching_rule_on_the_other_side(stack, groups):
    """ALB -> frontend needs egress on the ALB *and* ingress on frontend, on the same port."""
    by_tier, tier_of = groups
    egress = {
        (tier_of[r.inputs["securityGroupId"]], tier_of[r.inputs["referencedSecurityGroupId"]], r.inputs["fromPort"])
        for r in stack.of_type(EGRESS)
        if "referencedSecurityGroupId" in r.inputs
    }
    ingress = {
        (tier_of[r.inputs["referencedSecurityGroupId"]], tier_of[r.inputs["securityGroupId"]], r.inputs["fromPort"])
        for r in stack.of_type(INGRESS)
        if "referencedSecurityGroupId" in r.inputs
    }
    assert egress == ingress
    assert {(a, b) for a, b, _ in egress} == {
        ("alb", "frontend"),
        ("alb", "api-gateway"),
        ("frontend", "api-gateway"),
        ("api-gateway", "processing-service"),
    }
