"""Network placement: private tasks, one internet-facing entry, three AZs, NAT per AZ in prod, flow logs."""

from __future__ import annotations

from collections.abc import Iterator

from policies import aws_types as t
from policies.model import Finding, ResourceView, Stack
from policies.rules import rule

REQUIRED_AZS = 3


def _tier(subnet: ResourceView) -> str | None:
    return subnet.tag("tier")


@rule("NET-001", "mandatory", "ECS services run only in private subnets")
def services_in_private_subnets(stack: Stack) -> Iterator[Finding]:
    for service in stack.of_type(t.ECS_SERVICE):
        subnets = stack.referenced(service, "networkConfiguration", t.SUBNET)
        if not subnets:
            yield Finding(service.name, "networkConfiguration.subnets names no subnet of this stack; place the service in the private subnets")
        for subnet in subnets:
            if _tier(subnet) != "private" or subnet.props.get("mapPublicIpOnLaunch") is True:
                yield Finding(service.name, f"networkConfiguration.subnets includes {subnet.name}, which is not a private subnet; use the private subnets only")


@rule("NET-002", "mandatory", "ECS services get no public IP")
def no_public_ip(stack: Stack) -> Iterator[Finding]:
    for service in stack.of_type(t.ECS_SERVICE):
        if service.prop("networkConfiguration", "assignPublicIp") is not False:
            yield Finding(service.name, "networkConfiguration.assignPublicIp is not false; set it to false")


@rule("NET-003", "mandatory", "Only the ALB is internet-facing")
def only_alb_internet_facing(stack: Stack) -> Iterator[Finding]:
    facing = [lb for lb in stack.of_type(*t.LOAD_BALANCERS) if lb.props.get("internal") is not True]
    for lb in facing:
        if lb.props.get("loadBalancerType", "application") != "application":
            yield Finding(lb.name, f"an internet-facing {lb.props.get('loadBalancerType')} load balancer; make it internal")
    if len(facing) > 1:
        for lb in facing[1:]:
            yield Finding(lb.name, f"a second internet-facing load balancer (besides {facing[0].name}); make it internal")
    for subnet in stack.of_type(t.SUBNET):
        if subnet.props.get("mapPublicIpOnLaunch") is True:
            yield Finding(subnet.name, "mapPublicIpOnLaunch is true; nothing in this platform should get a public IP by default")
    for eip in stack.of_type(t.EIP):
        if eip.props.get("instance") or eip.props.get("networkInterface"):
            yield Finding(eip.name, "an Elastic IP attached to an instance or interface; only NAT gateways may hold public addresses")


@rule("NET-004", "mandatory", "Public and private subnets each span three distinct AZs")
def three_azs(stack: Stack) -> Iterator[Finding]:
    for tier in ("public", "private"):
        zones = {s.props.get("availabilityZone") for s in stack.of_type(t.SUBNET) if _tier(s) == tier}
        zones.discard(None)
        if len(zones) < REQUIRED_AZS:
            yield Finding(f"{tier}-subnets", f"{tier} subnets span {len(zones)} AZ(s) ({', '.join(sorted(zones)) or 'none'}); spread them over {REQUIRED_AZS}")


@rule("NET-005", "mandatory", "Production runs one NAT gateway per AZ")
def nat_per_az_in_production(stack: Stack) -> Iterator[Finding]:
    if not stack.context.production:
        return
    nat_zones = set()
    for nat in stack.of_type(t.NAT_GATEWAY):
        for subnet in stack.referenced(nat, "subnetId", t.SUBNET):
            nat_zones.add(subnet.props.get("availabilityZone"))
    if len(nat_zones) < REQUIRED_AZS:
        yield Finding("nat-gateways", f"production has NAT gateways in {len(nat_zones)} AZ(s); set network.natGateways: per-az")


@rule("NET-006", "mandatory", "Every VPC has flow logs of all traffic")
def vpc_flow_logs(stack: Stack) -> Iterator[Finding]:
    logged = {
        vpc
        for flow_log in stack.of_type(t.FLOW_LOG)
        if flow_log.props.get("trafficType") == "ALL"
        for vpc in flow_log.depends_on("vpcId")
    }
    for vpc in stack.of_type(t.VPC):
        if vpc.name not in logged:
            yield Finding(vpc.name, "no flow log with trafficType ALL on this VPC; add an aws.ec2.FlowLog")
