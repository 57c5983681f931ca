"""NET-001..006: private tasks, one internet-facing entry, three AZs, NAT per AZ in prod, flow logs.

(Named ``test_rules_network.py``: ``tests/program/test_network.py`` already takes the basename.)
"""

from __future__ import annotations

import pytest

from policies import aws_types as t
from policies.model import ResourceView
from policies.offline import views_of
from policies.pack import context_from_resources

NET_RULES = ("NET-001", "NET-002", "NET-003", "NET-004", "NET-005", "NET-006")
PRIVATE_SUBNETS = ("subnet-private-a-dev", "subnet-private-b-dev", "subnet-private-c-dev")


@pytest.mark.parametrize("rule_id", NET_RULES)
def test_clean_dev_and_prod_pass(kit, dev_views, prod_views, rule_id):
    assert kit.run(dev_views, rule_id) == []
    assert kit.run(prod_views, rule_id, kit.PROD) == []


# --- NET-001 --------------------------------------------------------------------------------


def test_service_placed_in_a_public_subnet(kit, dev_views):
    deps = dict(kit.view(dev_views, "svc-frontend-blue-dev").property_dependencies)
    deps["networkConfiguration"] = ("sg-frontend-dev", "subnet-public-a-dev", *PRIVATE_SUBNETS[1:])
    broken = kit.replace(dev_views, "svc-frontend-blue-dev", property_dependencies=deps)
    violations = kit.run(broken, "NET-001")
    kit.expect(violations, "NET-001", "svc-frontend-blue-dev", "includes subnet-public-a-dev, which is not a private subnet", "use the private subnets only")
    assert kit.resources(violations) == {"svc-frontend-blue-dev"}
    assert len(violations) == 1  # the two private subnets are fine


def test_service_placed_in_no_subnet_of_the_stack(kit, dev_views):
    deps = dict(kit.view(dev_views, "svc-processing-service-dev").property_dependencies)
    deps["networkConfiguration"] = ("sg-processing-service-dev",)
    broken = kit.replace(dev_views, "svc-processing-service-dev", property_dependencies=deps)
    violations = kit.run(broken, "NET-001")
    kit.expect(violations, "NET-001", "svc-processing-service-dev", "networkConfiguration.subnets names no subnet of this stack")
    assert kit.resources(violations) == {"svc-processing-service-dev"}


def test_private_subnet_that_maps_public_ips(kit, dev_views):
    broken = kit.replace(dev_views, "subnet-private-b-dev", update={"mapPublicIpOnLaunch": True})
    violations = kit.run(broken, "NET-001")
    services = {v.name for v in dev_views if v.type == t.ECS_SERVICE}
    assert kit.resources(violations) == services
    kit.expect(violations, "NET-001", "svc-api-gateway-blue-dev", "includes subnet-private-b-dev, which is not a private subnet")


# --- NET-002 --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, None], ids=["true", "missing"])
def test_service_with_public_ip(kit, dev_views, value):
    service = kit.view(dev_views, "svc-api-gateway-green-dev")
    network = {k: v for k, v in service.props["networkConfiguration"].items() if k != "assignPublicIp"}
    if value is not None:
        network["assignPublicIp"] = value
    broken = kit.replace(dev_views, "svc-api-gateway-green-dev", update={"networkConfiguration": network})
    violations = kit.run(broken, "NET-002")
    kit.expect(violations, "NET-002", "svc-api-gateway-green-dev", "networkConfiguration.assignPublicIp is not false", "set it to false")
    assert kit.resources(violations) == {"svc-api-gateway-green-dev"}


# --- NET-003 --------------------------------------------------------------------------------


def _load_balancer(name: str, **props) -> ResourceView:
    return ResourceView(type="aws:lb/loadBalancer:LoadBalancer", name=name, props={"name": name, **props})


def test_second_internet_facing_alb(kit, dev_views):
    broken = kit.add(dev_views, _load_balancer("alb-admin-dev", internal=False, loadBalancerType="application"))
    violations = kit.run(broken, "NET-003")
    kit.expect(violations, "NET-003", "alb-admin-dev", "a second internet-facing load balancer (besides alb-platform-dev)", "make it internal")
    assert kit.resources(violations) == {"alb-admin-dev"}


def test_internal_second_load_balancer_passes(kit, dev_views):
    broken = kit.add(dev_views, _load_balancer("alb-admin-dev", internal=True, loadBalancerType="application"))
    assert kit.run(broken, "NET-003") == []


def test_internet_facing_network_load_balancer(kit, dev_views):
    broken = kit.replace(dev_views, "alb-platform-dev", update={"loadBalancerType": "network"})
    violations = kit.run(broken, "NET-003")
    kit.expect(violations, "NET-003", "alb-platform-dev", "an internet-facing network load balancer", "make it internal")


def test_subnet_that_maps_public_ips(kit, dev_views):
    broken = kit.replace(dev_views, "subnet-public-c-dev", update={"mapPublicIpOnLaunch": True})
    violations = kit.run(broken, "NET-003")
    kit.expect(violations, "NET-003", "subnet-public-c-dev", "mapPublicIpOnLaunch is true")
    assert kit.resources(violations) == {"subnet-public-c-dev"}


@pytest.mark.parametrize("prop", ["instance", "networkInterface"])
def test_elastic_ip_on_an_instance(kit, dev_views, prop):
    broken = kit.add(dev_views, ResourceView(type=t.EIP, name="eip-bastion-dev", props={"domain": "vpc", prop: "i-0123456789abcdef0"}))
    violations = kit.run(broken, "NET-003")
    kit.expect(violations, "NET-003", "eip-bastion-dev", "an Elastic IP attached to an instance or interface", "only NAT gateways")
    assert kit.resources(violations) == {"eip-bastion-dev"}  # the NAT's EIP is fine


# --- NET-004 --------------------------------------------------------------------------------


def test_private_subnets_in_two_azs(kit, dev_views):
    broken = kit.replace(dev_views, "subnet-private-c-dev", update={"availabilityZone": "us-east-1a"})
    violations = kit.run(broken, "NET-004")
    kit.expect(violations, "NET-004", "private-subnets", "private subnets span 2 AZ(s) (us-east-1a, us-east-1b)", "spread them over 3")
    assert kit.resources(violations) == {"private-subnets"}


def test_no_public_subnets(kit, dev_views):
    broken = kit.remove(dev_views, "subnet-public-a-dev", "subnet-public-b-dev", "subnet-public-c-dev")
    violations = kit.run(broken, "NET-004")
    kit.expect(violations, "NET-004", "public-subnets", "public subnets span 0 AZ(s) (none)")
    assert kit.resources(violations) == {"public-subnets"}


# --- NET-005 --------------------------------------------------------------------------------


def test_single_nat_in_a_production_desired_state(kit, render_mutated):
    def mutate(doc):
        doc["environmentClass"] = "production"
        assert doc["network"]["natGateways"] == "single"

    views = views_of(render_mutated(mutate))
    context = context_from_resources(views)
    assert context.production is True  # environmentClass reaches the provider's default tags
    violations = kit.run(views, "NET-005", context)
    kit.expect(violations, "NET-005", "nat-gateways", "production has NAT gateways in 1 AZ(s)", "set network.natGateways: per-az")
    assert len(violations) == 1


def test_single_nat_is_fine_outside_production(kit, dev_views):
    assert len([v for v in dev_views if v.type == t.NAT_GATEWAY]) == 1
    assert kit.run(dev_views, "NET-005", kit.DEV) == []


def test_prod_losing_two_nat_gateways(kit, prod_views):
    broken = kit.remove(prod_views, "nat-platform-b-prod", "nat-platform-c-prod")
    violations = kit.run(broken, "NET-005", kit.PROD)
    kit.expect(violations, "NET-005", "nat-gateways", "in 1 AZ(s)", "per-az")


def test_prod_nat_gateways_all_in_one_az(kit, prod_views):
    broken = prod_views
    for nat in ("nat-platform-b-prod", "nat-platform-c-prod"):
        deps = {**kit.view(broken, nat).property_dependencies, "subnetId": ("subnet-public-a-prod",)}
        broken = kit.replace(broken, nat, property_dependencies=deps)
    kit.expect(kit.run(broken, "NET-005", kit.PROD), "NET-005", "nat-gateways", "in 1 AZ(s)")


# --- NET-006 --------------------------------------------------------------------------------


def test_flow_logs_of_rejected_traffic_only_in_the_desired_state(kit, render_mutated):
    def mutate(doc):
        doc["network"]["flowLogs"]["trafficType"] = "REJECT"

    violations = kit.run(views_of(render_mutated(mutate)), "NET-006")
    kit.expect(violations, "NET-006", "vpc-platform-dev", "no flow log with trafficType ALL", "add an aws.ec2.FlowLog")
    assert kit.resources(violations) == {"vpc-platform-dev"}


def test_vpc_without_flow_log(kit, dev_views):
    violations = kit.run(kit.remove(dev_views, "flowlog-vpc-dev"), "NET-006")
    kit.expect(violations, "NET-006", "vpc-platform-dev", "no flow log with trafficType ALL")


def test_flow_log_on_another_vpc(kit, dev_views):
    extra_vpc = ResourceView(type=t.VPC, name="vpc-shared-dev", props={"cidrBlock": "10.30.0.0/16"})
    violations = kit.run(kit.add(dev_views, extra_vpc), "NET-006")
    assert kit.resources(violations) == {"vpc-shared-dev"}
