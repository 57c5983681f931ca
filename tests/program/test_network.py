"""Network: VPC, subnets across three AZs, IGW, NAT (per AZ or single), route tables, flow logs."""

from __future__ import annotations

import ipaddress
import json

import pytest

from program.components.network import subnet_layout
from program.mocks import PLACEHOLDER_ACCOUNT

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
NAT = "aws:ec2/natGateway:NatGateway"
EIP = "aws:ec2/eip:Eip"
IGW = "aws:ec2/internetGateway:InternetGateway"


# --- subnet_layout ---------------------------------------------------------------------------


def test_subnet_layout_of_a_16_gives_private_18s_and_public_20s():
    layout = subnet_layout("10.20.0.0/16")
    assert layout.private == ("10.20.0.0/18", "10.20.64.0/18", "10.20.128.0/18")
    assert layout.public == ("10.20.192.0/20", "10.20.208.0/20", "10.20.224.0/20")


def test_subnet_layout_of_a_22_gives_private_24s_and_public_26s():
    layout = subnet_layout("10.0.4.0/22")
    assert layout.private == ("10.0.4.0/24", "10.0.5.0/24", "10.0.6.0/24")
    assert layout.public == ("10.0.7.0/26", "10.0.7.64/26", "10.0.7.128/26")


@pytest.mark.parametrize("cidr", ["10.20.0.0/16", "172.16.0.0/17", "192.168.0.0/20", "10.9.8.0/22"])
def test_subnet_layout_subnets_are_disjoint_inside_the_vpc_and_big_enough(cidr):
    vpc = ipaddress.IPv4Network(cidr)
    layout = subnet_layout(cidr)
    subnets = [ipaddress.IPv4Network(s) for s in (*layout.public, *layout.private)]
    assert len(subnets) == 6
    for subnet in subnets:
        assert subnet.subnet_of(vpc), f"{subnet} is outside {vpc}"
    for index, a in enumerate(subnets):
        for b in subnets[index + 1 :]:
            assert not a.overlaps(b), f"{a} overlaps {b}"
    # Private subnets get a quarter of the VPC each; public ones hold at least an ALB's /27.
    assert all(ipaddress.IPv4Network(s).prefixlen == vpc.prefixlen + 2 for s in layout.private)
    assert all(ipaddress.IPv4Network(s).prefixlen <= 27 for s in layout.public)


# --- VPC and subnets -------------------------------------------------------------------------


def test_vpc_cidr_and_dns(stack, state):
    (vpc,) = stack.of_type(VPC)
    assert vpc.name == f"vpc-platform-{state.environment_suffix}"
    assert vpc.inputs["cidrBlock"] == state.network.cidr
    assert vpc.inputs["enableDnsSupport"] is True
    assert vpc.inputs["enableDnsHostnames"] is True


@pytest.mark.parametrize("tier", ["public", "private"])
def test_three_subnets_per_tier_in_three_distinct_azs_with_the_layout_cidrs(stack, state, mock_state, tier):
    s = state.environment_suffix
    (vpc,) = stack.of_type(VPC)
    vpc_id = mock_state(vpc)["id"]
    subnets = [r for r in stack.of_type(SUBNET) if r.inputs["tags"]["tier"] == tier]
    assert len(subnets) == 3
    layout = getattr(subnet_layout(state.network.cidr), tier)
    zones = state.network.availability_zones
    assert len(set(zones)) == 3
    for zone, cidr in zip(zones, layout):
        subnet = stack.named(f"subnet-{tier}-{zone[-1]}-{s}")
        assert subnet.inputs["availabilityZone"] == zone
        assert subnet.inputs["cidrBlock"] == cidr
        assert subnet.inputs["vpcId"] == vpc_id
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    assert {r.inputs["availabilityZone"] for r in subnets} == set(zones)


def test_no_subnet_maps_public_ips_on_launch(stack):
    subnets = stack.of_type(SUBNET)
    assert len(subnets) == 6
    assert [r.inputs["mapPublicIpOnLaunch"] for r in subnets] == [False] * 6


# --- routing ---------------------------------------------------------------------------------


def test_internet_gateway_and_public_route_table(stack, state, mock_state):
    s = state.environment_suffix
    (vpc,) = stack.of_type(VPC)
    (igw,) = stack.of_type(IGW)
    assert igw.inputs["vpcId"] == mock_state(vpc)["id"]
    public_table = stack.named(f"rtb-public-{s}")
    assert public_table.inputs["routes"] == [{"cidrBlock": "0.0.0.0/0", "gatewayId": mock_state(igw)["id"]}]
    # Every public subnet uses it.
    table_id = mock_state(public_table)["id"]
    for zone in state.network.availability_zones:
        subnet = stack.named(f"subnet-public-{zone[-1]}-{s}")
        association = stack.named(f"rtbassoc-public-{zone[-1]}-{s}")
        assert association.inputs == {"subnetId": mock_state(subnet)["id"], "routeTableId": table_id}


def _private_routes(stack, state, mock_state):
    """AZ letter -> (NAT gateway id the private table of that AZ routes 0.0.0.0/0 to)."""
    s = state.environment_suffix
    routes = {}
    for zone in state.network.availability_zones:
        letter = zone[-1]
        table = stack.named(f"rtb-private-{letter}-{s}")
        (route,) = table.inputs["routes"]
        assert route["cidrBlock"] == "0.0.0.0/0"
        assert "gatewayId" not in route  # private subnets never route straight to the IGW
        association = stack.named(f"rtbassoc-private-{letter}-{s}")
        subnet = stack.named(f"subnet-private-{letter}-{s}")
        assert association.inputs == {"subnetId": mock_state(subnet)["id"], "routeTableId": mock_state(table)["id"]}
        routes[letter] = route["natGatewayId"]
    return routes


def test_prod_has_one_nat_and_eip_per_az_and_each_private_table_uses_its_own(rendered_prod, prod_state, mock_state):
    assert prod_state.network.nat_gateways == "per-az"
    nats, eips = rendered_prod.of_type(NAT), rendered_prod.of_type(EIP)
    assert len(nats) == 3
    assert len(eips) == 3
    routes = _private_routes(rendered_prod, prod_state, mock_state)
    for letter in "abc":
        nat = rendered_prod.named(f"nat-platform-{letter}-prod")
        eip = rendered_prod.named(f"eip-nat-{letter}-prod")
        public_subnet = rendered_prod.named(f"subnet-public-{letter}-prod")
        assert nat.inputs["allocationId"] == mock_state(eip)["allocationId"]
        assert nat.inputs["subnetId"] == mock_state(public_subnet)["id"]  # a NAT lives in its AZ's public subnet
        assert nat.inputs["connectivityType"] == "public"
        assert eip.inputs["domain"] == "vpc"
        assert routes[letter] == mock_state(nat)["id"]
    assert len(set(routes.values())) == 3


def test_dev_has_a_single_nat_that_every_private_table_uses(rendered_dev, dev_state, mock_state):
    assert dev_state.network.nat_gateways == "single"
    (nat,) = rendered_dev.of_type(NAT)
    (eip,) = rendered_dev.of_type(EIP)
    assert nat.inputs["allocationId"] == mock_state(eip)["allocationId"]
    assert nat.inputs["subnetId"] in rendered_dev.outputs["publicSubnetIds"]
    routes = _private_routes(rendered_dev, dev_state, mock_state)
    assert set(routes) == {"a", "b", "c"}
    assert set(routes.values()) == {mock_state(nat)["id"]}


def test_nat_gateways_switch_follows_the_yaml_alone(render_mutated, mock_state, dev_state):
    def per_az(doc):
        doc["network"]["natGateways"] = "per-az"

    stack = render_mutated(per_az)
    assert len(stack.of_type(NAT)) == 3
    assert len(stack.of_type(EIP)) == 3
    routes = _private_routes(stack, dev_state, mock_state)
    assert routes == {letter: mock_state(stack.named(f"nat-platform-{letter}-dev"))["id"] for letter in "abc"}


# --- flow logs -------------------------------------------------------------------------------


def test_flow_log_goes_to_its_log_group_with_configured_retention_and_traffic_type(stack, state, mock_state):
    s = state.environment_suffix
    (vpc,) = stack.of_type(VPC)
    (flow_log,) = stack.of_type("aws:ec2/flowLog:FlowLog")
    group = stack.named(f"logs-vpc-flow-{s}")
    role = stack.named(f"role-vpc-flow-logs-{s}")
    assert group.inputs["retentionInDays"] == float(state.network.flow_logs.retention_in_days)
    assert flow_log.inputs["vpcId"] == mock_state(vpc)["id"]
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["trafficType"] == state.network.flow_logs.traffic_type
    assert flow_log.inputs["logDestinationType"] == "cloud-watch-logs"
    assert flow_log.inputs["logDestination"] == mock_state(group)["arn"]
    assert flow_log.inputs["iamRoleArn"] == mock_state(role)["arn"]
    assert flow_log.inputs["maxAggregationInterval"] == float(state.network.flow_logs.max_aggregation_interval)


def test_flow_log_retention_values_from_yaml(rendered_dev, rendered_prod):
    assert rendered_dev.named("logs-vpc-flow-dev").inputs["retentionInDays"] == 30.0
    assert rendered_prod.named("logs-vpc-flow-prod").inputs["retentionInDays"] == 365.0


def test_flow_log_role_trusts_only_vpc_flow_logs_of_this_account(stack, state):
    role = stack.named(f"role-vpc-flow-logs-{state.environment_suffix}")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": PLACEHOLDER_ACCOUNT}


def test_flow_log_role_policy_is_scoped_to_its_own_log_group(stack, state, mock_state):
    s = state.environment_suffix
    group_arn = mock_state(stack.named(f"logs-vpc-flow-{s}"))["arn"]
    role = stack.named(f"role-vpc-flow-logs-{s}")
    policy = stack.named(f"policy-vpc-flow-logs-{s}")
    assert policy.inputs["role"] == mock_state(role)["id"]
    document = json.loads(policy.inputs["policy"])
    assert document["Statement"], "the flow-log role needs a statement to write its logs"
    for statement in document["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "*" not in resources
        assert "*" not in actions
        assert all(a.startswith("logs:") for a in actions)
        if actions == ["logs:DescribeLogGroups"]:
            # Lookup by name, which AWS cannot narrow to one group: only this account's groups.
            assert resources == [f"arn:aws:logs:{state.region}:123456789012:log-group:*"]
            continue
        for resource in resources:
            assert resource == group_arn or resource.startswith(f"{group_arn}:"), resource
    actions = {a for st in document["Statement"] for a in st["Action"]}
    assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= actions
