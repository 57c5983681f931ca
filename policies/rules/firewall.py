"""Security groups: the internet reaches only the ALB on 80/443, each tier only from the one before."""

from __future__ import annotations

from collections.abc import Iterator

from policies import aws_types as t
from policies.model import Finding, ResourceView, Stack
from policies.rules import rule

OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
PUBLIC_PORTS = {80, 443}
# Which tiers may open a connection to which.
ALLOWED_SOURCES: dict[str, set[str]] = {
    "frontend": {"alb"},
    "api-gateway": {"alb", "frontend"},
    "processing-service": {"api-gateway"},
}


def _ports(rule_view: ResourceView) -> tuple[int | None, int | None]:
    def as_int(value: object) -> int | None:
        return int(float(value)) if isinstance(value, (int, float, str)) and str(value).lstrip("-").replace(".", "", 1).isdigit() else None

    return as_int(rule_view.props.get("fromPort")), as_int(rule_view.props.get("toPort"))


def _cidrs(rule_view: ResourceView) -> set[str]:
    return {c for c in (rule_view.props.get("cidrIpv4"), rule_view.props.get("cidrIpv6")) if isinstance(c, str)}


def _all_traffic(rule_view: ResourceView) -> bool:
    return str(rule_view.props.get("ipProtocol")) in {"-1", "all"}


def _group_of(stack: Stack, rule_view: ResourceView, prop: str) -> ResourceView | None:
    groups = stack.referenced(rule_view, prop, t.SECURITY_GROUP)
    return groups[0] if groups else None


def _inline_rules(stack: Stack, kind: str) -> Iterator[tuple[ResourceView, dict]]:
    for group in stack.of_type(t.SECURITY_GROUP):
        for entry in group.props.get(kind) or []:
            if isinstance(entry, dict):
                yield group, entry


@rule("SG-001", "mandatory", "Open ingress (0.0.0.0/0, ::/0) only on the ALB's group and only on ports 80/443")
def open_ingress_only_on_alb(stack: Stack) -> Iterator[Finding]:
    for ingress in stack.of_type(t.INGRESS_RULE):
        if not _cidrs(ingress) & OPEN_CIDRS:
            continue
        group = _group_of(stack, ingress, "securityGroupId")
        ports = _ports(ingress)
        if group is None or group.tag("tier") != "alb":
            yield Finding(ingress.name, f"opens {group.name if group else 'a security group'} to the internet; only the ALB's group may be")
        elif _all_traffic(ingress) or ports[0] != ports[1] or ports[0] not in PUBLIC_PORTS:
            yield Finding(ingress.name, f"opens ports {ports[0]}-{ports[1]} to the internet; the ALB accepts only 80 and 443")
    for group, entry in _inline_rules(stack, "ingress"):
        if (set(entry.get("cidrBlocks") or []) | set(entry.get("ipv6CidrBlocks") or [])) & OPEN_CIDRS:
            yield Finding(group.name, "an inline ingress rule open to the internet; use separate rule resources on the ALB's group only")


@rule("SG-002", "mandatory", "Each tier is reachable only from the tier before it")
def tier_reachability(stack: Stack) -> Iterator[Finding]:
    for ingress in stack.of_type(t.INGRESS_RULE):
        target = _group_of(stack, ingress, "securityGroupId")
        tier = target.tag("tier") if target else None
        if tier not in ALLOWED_SOURCES:
            continue
        source = _group_of(stack, ingress, "referencedSecurityGroupId")
        if source is None:
            yield Finding(ingress.name, f"{tier} accepts traffic from an address range; accept only from the {', '.join(sorted(ALLOWED_SOURCES[tier]))} group(s)")
        elif source.tag("tier") not in ALLOWED_SOURCES[tier]:
            yield Finding(ingress.name, f"{tier} accepts traffic from {source.tag('tier')}; only {', '.join(sorted(ALLOWED_SOURCES[tier]))} may reach it")


@rule("SG-003", "mandatory", "No all-traffic egress to the internet; service tiers reach the internet only on HTTPS")
def limited_egress(stack: Stack) -> Iterator[Finding]:
    for egress in stack.of_type(t.EGRESS_RULE):
        if not _cidrs(egress) & OPEN_CIDRS:
            continue
        group = _group_of(stack, egress, "securityGroupId")
        name = group.name if group else "a security group"
        if _all_traffic(egress):
            yield Finding(egress.name, f"allows all traffic from {name} to the internet; allow tcp 443 only")
        elif group is not None and group.tag("tier") in ALLOWED_SOURCES and _ports(egress) != (443, 443):
            ports = _ports(egress)
            yield Finding(egress.name, f"allows {name} ports {ports[0]}-{ports[1]} to the internet; service tiers may leave only on 443")
    for group, entry in _inline_rules(stack, "egress"):
        if str(entry.get("protocol")) in {"-1", "all"} and set(entry.get("cidrBlocks") or []) & OPEN_CIDRS:
            yield Finding(group.name, "an inline all-traffic egress rule to the internet; allow tcp 443 only")
