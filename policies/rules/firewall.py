"""Security groups: the internet reaches only the ALB on 80/443, each tier only from the one before."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from policies import aws_types as t
from policies.model import Finding, ResourceView, Stack
from policies.rules import rule

OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
PUBLIC_PORTS = {80, 443}
ALL_PROTOCOLS = {"-1", "all"}
# Which tiers may open a connection to which.
ALLOWED_SOURCES: dict[str, set[str]] = {
    "frontend": {"alb"},
    "api-gateway": {"alb", "frontend"},
    "processing-service": {"api-gateway"},
}


@dataclass(frozen=True)
class NetRule:
    """One ingress or egress rule, whichever resource type declared it."""

    name: str
    group: ResourceView | None
    peer_group: ResourceView | None
    cidrs: frozenset[str]
    all_traffic: bool
    ports: tuple[int | None, int | None]
    inline: bool = False


def _as_int(value: object) -> int | None:
    try:
        return int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _first(stack: Stack, rule_view: ResourceView, prop: str) -> ResourceView | None:
    groups = stack.referenced(rule_view, prop, t.SECURITY_GROUP)
    return groups[0] if groups else None


def net_rules(stack: Stack, direction: str) -> Iterator[NetRule]:
    """Every ingress or egress rule: ``aws.vpc`` rule resources and legacy ``aws.ec2.SecurityGroupRule``."""
    modern = t.INGRESS_RULE if direction == "ingress" else t.EGRESS_RULE
    for r in stack.of_type(modern):
        yield NetRule(
            name=r.name,
            group=_first(stack, r, "securityGroupId"),
            peer_group=_first(stack, r, "referencedSecurityGroupId"),
            cidrs=frozenset(c for c in (r.props.get("cidrIpv4"), r.props.get("cidrIpv6")) if isinstance(c, str)),
            all_traffic=str(r.props.get("ipProtocol")) in ALL_PROTOCOLS,
            ports=(_as_int(r.props.get("fromPort")), _as_int(r.props.get("toPort"))),
        )
    for r in stack.of_type(t.LEGACY_SG_RULE):
        if r.props.get("type") != direction:
            continue
        yield NetRule(
            name=r.name,
            group=_first(stack, r, "securityGroupId"),
            peer_group=_first(stack, r, "sourceSecurityGroupId"),
            cidrs=frozenset([*(r.props.get("cidrBlocks") or []), *(r.props.get("ipv6CidrBlocks") or [])]),
            all_traffic=str(r.props.get("protocol")) in ALL_PROTOCOLS,
            ports=(_as_int(r.props.get("fromPort")), _as_int(r.props.get("toPort"))),
        )
    for group in stack.of_type(t.SECURITY_GROUP):
        for entry in group.props.get(direction) or []:
            if not isinstance(entry, dict):
                continue
            yield NetRule(
                name=group.name,
                inline=True,
                group=group,
                peer_group=None,
                cidrs=frozenset([*(entry.get("cidrBlocks") or []), *(entry.get("ipv6CidrBlocks") or [])]),
                all_traffic=str(entry.get("protocol")) in ALL_PROTOCOLS,
                ports=(_as_int(entry.get("fromPort")), _as_int(entry.get("toPort"))),
            )


@rule("SG-001", "mandatory", "Open ingress (0.0.0.0/0, ::/0) only on the ALB's group and only on ports 80/443")
def open_ingress_only_on_alb(stack: Stack) -> Iterator[Finding]:
    for rule_ in net_rules(stack, "ingress"):
        if not rule_.cidrs & OPEN_CIDRS:
            continue
        if rule_.inline:
            yield Finding(rule_.name, "an inline ingress rule open to the internet; use separate rule resources on the ALB's group only")
            continue
        if rule_.group is None or rule_.group.tag("tier") != "alb":
            target = rule_.group.name if rule_.group else "a security group"
            yield Finding(rule_.name, f"opens {target} to the internet; only the ALB's group may be")
        elif rule_.all_traffic or rule_.ports[0] != rule_.ports[1] or rule_.ports[0] not in PUBLIC_PORTS:
            yield Finding(rule_.name, f"opens ports {rule_.ports[0]}-{rule_.ports[1]} to the internet; the ALB accepts only 80 and 443")


@rule("SG-002", "mandatory", "Each tier is reachable only from the tier before it")
def tier_reachability(stack: Stack) -> Iterator[Finding]:
    for rule_ in net_rules(stack, "ingress"):
        tier = rule_.group.tag("tier") if rule_.group else None
        if tier not in ALLOWED_SOURCES:
            continue
        allowed = ", ".join(sorted(ALLOWED_SOURCES[tier]))
        if rule_.peer_group is None:
            yield Finding(rule_.name, f"{tier} accepts traffic from an address range; accept only from the {allowed} group(s)")
        elif rule_.peer_group.tag("tier") not in ALLOWED_SOURCES[tier]:
            yield Finding(rule_.name, f"{tier} accepts traffic from {rule_.peer_group.tag('tier')}; only {allowed} may reach it")


@rule("SG-003", "mandatory", "No all-traffic egress to the internet; service tiers reach the internet only on HTTPS")
def limited_egress(stack: Stack) -> Iterator[Finding]:
    for rule_ in net_rules(stack, "egress"):
        if not rule_.cidrs & OPEN_CIDRS:
            continue
        name = rule_.group.name if rule_.group else "a security group"
        if rule_.inline and rule_.all_traffic:
            yield Finding(rule_.name, "an inline all-traffic egress rule to the internet; allow tcp 443 only")
        elif rule_.all_traffic:
            yield Finding(rule_.name, f"allows all traffic from {name} to the internet; allow tcp 443 only")
        elif rule_.group is not None and rule_.group.tag("tier") in ALLOWED_SOURCES and rule_.ports != (443, 443):
            yield Finding(rule_.name, f"allows {name} ports {rule_.ports[0]}-{rule_.ports[1]} to the internet; service tiers may leave only on 443")
