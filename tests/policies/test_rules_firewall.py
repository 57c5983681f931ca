"""SG-001..003: the internet reaches only the ALB on 80/443, each tier only from the one before, limited egress."""

from __future__ import annotations

import pytest

from policies import aws_types as t
from policies.model import ResourceView

SG_RULES = ("SG-001", "SG-002", "SG-003")
SG_ID = {"alb": "sg-alb-dev", "frontend": "sg-frontend-dev", "api-gateway": "sg-api-gateway-dev", "processing-service": "sg-processing-service-dev"}


@pytest.mark.parametrize("rule_id", SG_RULES)
def test_clean_dev_and_prod_pass(kit, dev_views, prod_views, rule_id):
    assert kit.run(dev_views, rule_id) == []
    assert kit.run(prod_views, rule_id, kit.PROD) == []


def _open_to_internet(kit, views, name, *, from_port=None, to_port=None, protocol=None, cidr="0.0.0.0/0"):
    """Rule ``name`` rewritten to take traffic from ``cidr`` instead of a security group."""
    rule = kit.view(views, name)
    props = {k: v for k, v in rule.props.items() if k != "referencedSecurityGroupId"}
    props["cidrIpv6" if ":" in cidr else "cidrIpv4"] = cidr
    if from_port is not None:
        props["fromPort"] = from_port
    if to_port is not None:
        props["toPort"] = to_port
    if protocol is not None:
        props["ipProtocol"] = protocol
    deps = {"securityGroupId": rule.property_dependencies["securityGroupId"]}
    return kit.replace(views, name, props=props, property_dependencies=deps)


# --- SG-001 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_service_group_open_to_the_internet(kit, dev_views, cidr):
    broken = _open_to_internet(kit, dev_views, "sgr-frontend-from-alb-dev", cidr=cidr)
    violations = kit.run(broken, "SG-001")
    kit.expect(violations, "SG-001", "sgr-frontend-from-alb-dev", "opens sg-frontend-dev to the internet", "only the ALB's group may be")
    assert kit.resources(violations) == {"sgr-frontend-from-alb-dev"}


def test_alb_open_to_the_internet_on_ssh(kit, dev_views):
    broken = kit.replace(dev_views, "sgr-alb-from-internet-80-dev", update={"fromPort": 22.0, "toPort": 22.0})
    violations = kit.run(broken, "SG-001")
    kit.expect(violations, "SG-001", "sgr-alb-from-internet-80-dev", "opens ports 22-22 to the internet", "the ALB accepts only 80 and 443")
    assert kit.resources(violations) == {"sgr-alb-from-internet-80-dev"}


def test_alb_open_to_the_internet_on_a_port_range(kit, dev_views):
    broken = kit.replace(dev_views, "sgr-alb-from-internet-80-dev", update={"fromPort": 80.0, "toPort": 443.0})
    kit.expect(kit.run(broken, "SG-001"), "SG-001", "sgr-alb-from-internet-80-dev", "opens ports 80-443")


def test_alb_open_to_the_internet_on_all_traffic(kit, dev_views):
    broken = kit.replace(dev_views, "sgr-alb-from-internet-80-dev", update={"ipProtocol": "-1"})
    kit.expect(kit.run(broken, "SG-001"), "SG-001", "sgr-alb-from-internet-80-dev", "to the internet", "only 80 and 443")


def test_inline_open_ingress_on_a_group(kit, dev_views):
    inline = [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]
    broken = kit.replace(dev_views, "sg-api-gateway-dev", update={"ingress": inline})
    violations = kit.run(broken, "SG-001")
    kit.expect(violations, "SG-001", "sg-api-gateway-dev", "inline ingress rule open to the internet", "separate rule resources")
    assert kit.resources(violations) == {"sg-api-gateway-dev"}


# --- SG-002 ---------------------------------------------------------------------------------


def test_processing_service_reachable_from_frontend(kit, dev_views):
    name = "sgr-processing-service-from-api-gateway-dev"
    deps = {**kit.view(dev_views, name).property_dependencies, "referencedSecurityGroupId": (SG_ID["frontend"],)}
    broken = kit.replace(dev_views, name, property_dependencies=deps)
    violations = kit.run(broken, "SG-002")
    kit.expect(violations, "SG-002", name, "processing-service accepts traffic from frontend", "only api-gateway may reach it")
    assert kit.resources(violations) == {name}


def test_frontend_reachable_from_processing_service(kit, dev_views):
    name = "sgr-frontend-from-alb-dev"
    deps = {**kit.view(dev_views, name).property_dependencies, "referencedSecurityGroupId": (SG_ID["processing-service"],)}
    broken = kit.replace(dev_views, name, property_dependencies=deps)
    kit.expect(kit.run(broken, "SG-002"), "SG-002", name, "frontend accepts traffic from processing-service", "only alb may reach it")


def test_service_tier_reachable_from_an_address_range(kit, dev_views):
    broken = _open_to_internet(kit, dev_views, "sgr-api-gateway-from-frontend-dev", cidr="10.20.0.0/16")
    violations = kit.run(broken, "SG-002")
    kit.expect(
        violations, "SG-002", "sgr-api-gateway-from-frontend-dev", "api-gateway accepts traffic from an address range", "accept only from the alb, frontend group(s)"
    )
    assert kit.resources(violations) == {"sgr-api-gateway-from-frontend-dev"}


def test_alb_accepting_address_ranges_is_not_a_tier_concern(kit, dev_views):
    """The ALB's own ingress (internet on 80, NAT on the test port) is SG-001's business, not SG-002's."""
    ingress_to_alb = [
        v for v in dev_views if v.type == t.INGRESS_RULE and v.depends_on("securityGroupId") == ("sg-alb-dev",)
    ]
    assert len(ingress_to_alb) >= 2
    assert kit.run(dev_views, "SG-002") == []


# --- SG-003 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["-1", "all"])
def test_all_traffic_egress_to_the_internet(kit, dev_views, protocol):
    broken = kit.replace(dev_views, "sgr-frontend-to-aws-https-dev", update={"ipProtocol": protocol})
    violations = kit.run(broken, "SG-003")
    kit.expect(violations, "SG-003", "sgr-frontend-to-aws-https-dev", "allows all traffic from sg-frontend-dev to the internet", "allow tcp 443 only")
    assert kit.resources(violations) == {"sgr-frontend-to-aws-https-dev"}


def test_service_tier_egress_on_http(kit, dev_views):
    broken = kit.replace(dev_views, "sgr-processing-service-to-aws-https-dev", update={"fromPort": 80.0, "toPort": 80.0})
    violations = kit.run(broken, "SG-003")
    kit.expect(
        violations, "SG-003", "sgr-processing-service-to-aws-https-dev", "allows sg-processing-service-dev ports 80-80 to the internet", "only on 443"
    )
    assert kit.resources(violations) == {"sgr-processing-service-to-aws-https-dev"}


def test_inline_all_traffic_egress(kit, dev_views):
    inline = [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]
    broken = kit.replace(dev_views, "sg-processing-service-dev", update={"egress": inline})
    violations = kit.run(broken, "SG-003")
    kit.expect(violations, "SG-003", "sg-processing-service-dev", "inline all-traffic egress rule to the internet", "allow tcp 443 only")
    assert kit.resources(violations) == {"sg-processing-service-dev"}


# --- the legacy rule resource (aws.ec2.SecurityGroupRule) -----------------------------------
# ``policies.aws_types.LEGACY_SG_RULE`` names this type, and it opens a group exactly like the
# ``aws.vpc`` rule resources do, so each tier rule must see it too.


def _legacy_rule(name: str, group: str, **props) -> ResourceView:
    return ResourceView(
        type=t.LEGACY_SG_RULE,
        name=name,
        props={"securityGroupId": f"id-of-{group}", **props},
        property_dependencies={"securityGroupId": (group,)},
    )


def test_legacy_rule_opening_a_service_group_to_the_internet(kit, dev_views):
    legacy = _legacy_rule(
        "sgr-legacy-processing-open-dev", "sg-processing-service-dev",
        type="ingress", protocol="tcp", fromPort=0, toPort=65535, cidrBlocks=["0.0.0.0/0"],
    )
    violations = kit.run(kit.add(dev_views, legacy), "SG-001")
    kit.expect(violations, "SG-001", "sgr-legacy-processing-open-dev", "to the internet")


def test_legacy_rule_letting_frontend_reach_processing_service(kit, dev_views):
    legacy = ResourceView(
        type=t.LEGACY_SG_RULE,
        name="sgr-legacy-processing-from-frontend-dev",
        props={"type": "ingress", "protocol": "tcp", "fromPort": 9000, "toPort": 9000, "securityGroupId": "x", "sourceSecurityGroupId": "y"},
        property_dependencies={"securityGroupId": ("sg-processing-service-dev",), "sourceSecurityGroupId": ("sg-frontend-dev",)},
    )
    violations = kit.run(kit.add(dev_views, legacy), "SG-002")
    kit.expect(violations, "SG-002", "sgr-legacy-processing-from-frontend-dev", "frontend")


def test_legacy_rule_allowing_all_egress_to_the_internet(kit, dev_views):
    legacy = _legacy_rule(
        "sgr-legacy-frontend-all-out-dev", "sg-frontend-dev",
        type="egress", protocol="-1", fromPort=0, toPort=0, cidrBlocks=["0.0.0.0/0"],
    )
    violations = kit.run(kit.add(dev_views, legacy), "SG-003")
    kit.expect(violations, "SG-003", "sgr-legacy-frontend-all-out-dev", "all traffic", "allow tcp 443 only")
