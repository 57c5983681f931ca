"""Drift a refreshed preview cannot see: rules and policies added beside the program's own resources.

The program makes every security-group rule its own ``aws.vpc.SecurityGroup{Ingress,Egress}Rule``
and every inline role policy its own ``aws.iam.RolePolicy``; the group's inline ``ingress``/``egress``
and the role's ``managedPolicyArns``/``inlinePolicies`` are computed, never inputs. A refresh re-reads
only the resources the stack knows, so a rule opened in the console, a managed policy attached to a
platform role or a second inline policy put on it is no diff at all. This module reads those
collections from the account and compares them with the offline render of the applied commit:

- :func:`desired_layout` (pure): the groups, rules and role policies the applied program declares,
  referenced groups and NAT addresses named by their logical names, never by the mocks' ids.
- :class:`LiveAccount` (adapter): the applied program's groups, found by the ids the stack holds
  (:func:`stack_group_ids`) or else by their names (AWS never renames a group), never by tags a
  person can remove; their rules, the NAT addresses, the roles' policies. A declared group the
  read cannot find, or finds twice, fails the probe: a partial probe names the missing group's
  rules by bare id and would call the program's own rules console rules.
- :func:`unmanaged_drift` (pure): every live rule or policy that matches nothing declared, by
  content only; a tag on a rule proves nothing (it can be copied).
- :func:`probe_unmanaged`: read, then decide; refusals by AWS become :class:`DriftProbeError`.

A managed rule changed in place or deleted is the refresh's to report (the rule is a stack
resource); here it shows only as the rule the group now has instead ("ingress gained ...").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from program.render import PROJECT, RenderedStack
from reconciler.drift.model import DriftedResource, DriftKind, DriftSeverity, PropertyDrift
from reconciler.errors import DriftProbeError
from reconciler.record import Record

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
EIP = "aws:ec2/eip:Eip"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
UNMANAGED_URN_PREFIX = "unmanaged:"

Direction = Literal["ingress", "egress"]

# IANA numbers AWS accepts in place of the names it answers with.
_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}


def normalise_protocol(protocol: object) -> str:
    """``tcp``/``6`` -> ``tcp``; ``-1``/``all`` -> ``-1``; any other number stays as AWS shows it."""
    text = str(protocol).strip().lower()
    return _PROTOCOL_NAMES.get(text, text)


def _port(value: object) -> int | None:
    if value is None:
        return None
    return int(float(value))  # the render's wire format gives floats (22.0)


class RuleContent(Record):
    """What a rule allows, and nothing else: the only thing that makes a live rule a declared one."""

    direction: Direction
    protocol: str  # normalised: tcp, udp, icmp, icmpv6, -1 (all traffic), or a protocol number
    from_port: int | None = None  # None for all traffic (AWS shows -1)
    to_port: int | None = None
    cidr_ipv4: str | None = None
    cidr_ipv6: str | None = None
    prefix_list_id: str | None = None
    referenced_group: str | None = None  # a platform group's name, or the foreign group's id

    def normalised(self) -> RuleContent:
        """Ports AWS does not keep for all-traffic rules dropped, so -1/None/0-65535 compare equal where AWS treats them so."""
        protocol = normalise_protocol(self.protocol)
        from_port, to_port = self.from_port, self.to_port
        if protocol == "-1" or (protocol in ("icmp", "icmpv6") and from_port == -1 and to_port in (-1, None)):
            from_port = to_port = None
        return self.model_copy(update={"protocol": protocol, "from_port": from_port, "to_port": to_port})


class DesiredRule(Record):
    """One rule the applied program declares, on the group named ``group``."""

    rule: str  # the rule resource's logical name, e.g. sgr-api-gateway-from-alb-prod
    group: str  # the group's name (its ``name`` input and ``Name`` tag)
    content: RuleContent
    # Set when the CIDR is ``<public IP>/32`` of an Elastic IP the program also creates (the NAT
    # addresses): the render only has a mock IP, so the live one is looked up by the address's Name tag.
    address_name: str | None = None


class DesiredRole(Record):
    """One role the program declares and the policies it puts on it."""

    name: str  # the role's name in IAM
    logical_name: str
    urn: str
    inline_policies: list[str] = Field(default_factory=list)
    managed_policy_arns: list[str] = Field(default_factory=list)
    # Managed policies the program creates itself: matched by ``:policy/<path><name>`` at the end of the ARN.
    managed_policy_names: list[str] = Field(default_factory=list)


class DesiredLayout(Record):
    """What the applied commit declares of the collections a refresh cannot see."""

    environment: str
    groups: dict[str, str]  # group name -> its URN (or the ``unmanaged:`` pseudo-URN when no stack was given)
    # The region the environment's resources are in (the desired state's ``region``): the probe reads there.
    region: str | None = None
    # group name -> its tier (its ``tier`` tag in the render): how the stack output ``securityGroupIds`` names it.
    group_tiers: dict[str, str] = Field(default_factory=dict)
    rules: list[DesiredRule] = Field(default_factory=list)
    roles: list[DesiredRole] = Field(default_factory=list)


class LiveRule(Record):
    group_id: str
    rule_id: str
    content: RuleContent
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class LiveRole(Record):
    name: str
    inline_policies: list[str] = Field(default_factory=list)
    managed_policy_arns: list[str] = Field(default_factory=list)


class LiveLayout(Record):
    """What the account has now: the environment's groups (id -> name), their rules, the NAT addresses, the roles."""

    groups: dict[str, str] = Field(default_factory=dict)
    rules: list[LiveRule] = Field(default_factory=list)
    addresses: dict[str, str] = Field(default_factory=dict)  # address Name tag -> public IP
    roles: list[LiveRole] = Field(default_factory=list)


# --------------------------------------------------------------------------- the render (pure)


def resource_urn(rendered: RenderedStack, logical_name: str, *, stack: str, project: str = PROJECT) -> str:
    """The URN Pulumi gives a rendered resource: its parents' types joined by ``$``, then its own, then its name."""
    by_name = {r.name: r for r in rendered.resources}
    types: list[str] = []
    current = by_name[logical_name]
    while True:
        types.append(current.type)
        if current.parent is None or current.parent not in by_name:
            break
        current = by_name[current.parent]
    # A fully qualified stack (org/project/stack) appears in a URN by its last part only.
    return f"urn:pulumi:{stack.rsplit('/', 1)[-1]}::{project}::{'$'.join(reversed(types))}::{logical_name}"


def unmanaged_urn(resource_type: str, name: str) -> str:
    """A stable pseudo-URN for a resource whose stack URN is not known (no stack given): never a real URN."""
    return f"{UNMANAGED_URN_PREFIX}{resource_type}::{name}"


def _physical_name(resource: Any) -> str:
    inputs = resource.inputs
    return str(inputs.get("name") or (inputs.get("tags") or {}).get("Name") or resource.name)


def _dependency(resource: Any, key: str) -> str | None:
    names = resource.property_dependencies.get(key) or []
    return names[0] if len(names) == 1 else None


def _refuse_rule_forms_not_read(rendered: RenderedStack) -> None:
    """Rules declared another way would all read as console rules: say so rather than report false drift."""
    for resource in rendered.resources:
        inline = resource.type == SECURITY_GROUP and any(resource.inputs.get(key) for key in ("ingress", "egress"))
        if resource.type == LEGACY_RULE or inline:
            form = "inline ingress/egress on the group" if inline else "aws.ec2.SecurityGroupRule"
            raise DriftProbeError(
                f"{resource.name} declares security-group rules as {form}, which the unmanaged-rule probe does not read; "
                "declare them as aws.vpc.SecurityGroupIngressRule/SecurityGroupEgressRule (program/components/security.py) "
                "or teach reconciler/drift/unmanaged.py that form"
            )


def desired_rules(rendered: RenderedStack) -> list[DesiredRule]:
    """Every security-group rule the render declares, groups named by their names (the mocks' ids mean nothing live)."""
    _refuse_rule_forms_not_read(rendered)
    by_name = {r.name: r for r in rendered.resources}
    group_names = {r.name: _physical_name(r) for r in rendered.of_type(SECURITY_GROUP)}
    rules: list[DesiredRule] = []
    for resource in rendered.resources:
        if resource.type not in (INGRESS_RULE, EGRESS_RULE):
            continue
        inputs = resource.inputs
        group_logical = _dependency(resource, "securityGroupId")
        if group_logical not in group_names:
            raise DriftProbeError(
                f"the rendered rule {resource.name} is on no rendered security group; "
                "the unmanaged-rule probe cannot tell which group it belongs to: check program/components/security.py"
            )
        referenced = None
        if inputs.get("referencedSecurityGroupId"):
            referenced_logical = _dependency(resource, "referencedSecurityGroupId")
            # A literal id (a group the program does not create) stays an id.
            referenced = group_names.get(referenced_logical or "", str(inputs["referencedSecurityGroupId"]))
        cidr, address_name = inputs.get("cidrIpv4"), None
        source_logical = _dependency(resource, "cidrIpv4")
        if source_logical and by_name.get(source_logical) is not None and by_name[source_logical].type == EIP:
            cidr, address_name = None, _physical_name(by_name[source_logical])
        content = RuleContent(
            direction="ingress" if resource.type == INGRESS_RULE else "egress",
            protocol=str(inputs.get("ipProtocol") or "-1"),
            from_port=_port(inputs.get("fromPort")),
            to_port=_port(inputs.get("toPort")),
            cidr_ipv4=cidr,
            cidr_ipv6=inputs.get("cidrIpv6"),
            prefix_list_id=inputs.get("prefixListId"),
            referenced_group=referenced,
        ).normalised()
        rules.append(DesiredRule(rule=resource.name, group=group_names[group_logical], content=content, address_name=address_name))
    return rules


def desired_roles(rendered: RenderedStack, *, stack: str | None = None) -> list[DesiredRole]:
    """Every role the render declares with the inline policies and attachments the program puts on it."""
    roles = {r.name: r for r in rendered.of_type(ROLE)}
    policy_names = {r.name: _physical_name(r) for r in rendered.of_type("aws:iam/policy:Policy")}
    inline: dict[str, list[str]] = {name: [] for name in roles}
    arns: dict[str, list[str]] = {name: list(roles[name].inputs.get("managedPolicyArns") or []) for name in roles}
    created: dict[str, list[str]] = {name: [] for name in roles}
    for name, role in roles.items():
        inline[name].extend(str(p["name"]) for p in role.inputs.get("inlinePolicies") or [] if p.get("name"))
    for resource in rendered.resources:
        role_logical = _dependency(resource, "role")
        if role_logical not in roles:
            continue
        if resource.type == ROLE_POLICY:
            inline[role_logical].append(_physical_name(resource))
        elif resource.type == ROLE_POLICY_ATTACHMENT:
            policy_logical = _dependency(resource, "policyArn")
            if policy_logical in policy_names:
                created[role_logical].append(policy_names[policy_logical])
            else:
                arns[role_logical].append(str(resource.inputs["policyArn"]))
    return [
        DesiredRole(
            name=_physical_name(role),
            logical_name=name,
            urn=resource_urn(rendered, name, stack=stack) if stack else unmanaged_urn(ROLE, name),
            inline_policies=sorted(set(inline[name])),
            managed_policy_arns=sorted(set(arns[name])),
            managed_policy_names=sorted(set(created[name])),
        )
        for name, role in sorted(roles.items())
    ]


def desired_layout(rendered: RenderedStack, *, stack: str | None = None) -> DesiredLayout:
    """The render's groups (with their URNs when ``stack`` is given), rules and roles."""
    groups = {
        _physical_name(g): resource_urn(rendered, g.name, stack=stack) if stack else unmanaged_urn(SECURITY_GROUP, g.name)
        for g in rendered.of_type(SECURITY_GROUP)
    }
    tiers = {_physical_name(g): str(tier) for g in rendered.of_type(SECURITY_GROUP) if (tier := (g.inputs.get("tags") or {}).get("tier"))}
    region = rendered.outputs.get("region")
    return DesiredLayout(
        environment=rendered.environment, groups=groups, region=str(region) if region else None, group_tiers=tiers,
        rules=desired_rules(rendered), roles=desired_roles(rendered, stack=stack),
    )


def stack_group_ids(desired: DesiredLayout, *, outputs: Mapping[str, Any] | None = None, steps: Sequence[Any] = ()) -> dict[str, str]:
    """The ids the stack holds for the applied program's groups (group name -> id), for :func:`probe_unmanaged`.

    From the stack output ``securityGroupIds`` (tier -> id) and from a refreshed preview's steps
    (each security group's ``old``/``new`` state ``id``, by URN; the refreshed one wins). The stack
    is the program's own record: unlike a tag, nobody changes it in the console.
    """
    ids: dict[str, str] = {}
    by_tier = (outputs or {}).get("securityGroupIds")
    if isinstance(by_tier, Mapping):
        for name, tier in desired.group_tiers.items():
            if by_tier.get(tier):
                ids[name] = str(by_tier[tier])
    by_urn = {urn: name for name, urn in desired.groups.items()}
    for step in steps:
        name = by_urn.get(str(getattr(step, "urn", "")))
        if name is None or str(getattr(step, "type", "")) != SECURITY_GROUP:
            continue
        for state in (getattr(step, "old", None), getattr(step, "new", None)):
            group_id = getattr(state, "id", None) if state is not None else None
            if group_id:
                ids[name] = str(group_id)
                break
    return ids


def applied_layout(state: Any, traffic: Any, *, stack: str) -> DesiredLayout:
    """Render the applied commit's ``DesiredState`` with the current ``TrafficState`` offline and take its layout.

    Secret config values are placeholders (no rule or policy is built from one), as in the converge's policy gate.
    """
    import pulumi

    from program.platform import StackInputs
    from program.render import render, thread_event_loop

    thread_event_loop()  # the check may run in a converge loop's thread: the secret outputs need an asyncio loop
    secret_config = {
        spec.config_key: pulumi.Output.secret(f"<stack config {spec.config_key}>")
        for spec in state.secrets.values()
        if spec.kind == "config" and spec.config_key
    }
    return desired_layout(render(StackInputs(state, traffic, secret_config)), stack=stack)


# --------------------------------------------------------------------------- deciding (pure)


def describe_traffic(content: RuleContent) -> str:
    """``tcp/22``, ``tcp/1024-2048``, ``all traffic``, ``udp (all ports)``, ``icmp type 8``."""
    protocol = content.protocol
    if protocol == "-1":
        return "all traffic"
    low, high = content.from_port, content.to_port
    if protocol in ("icmp", "icmpv6"):
        if low is None or low == -1:
            return f"{protocol} (all types)"
        return f"{protocol} type {low}" + ("" if high in (None, -1) else f" code {high}")
    if low is None or (low in (0, -1) and high in (65535, -1)):
        return f"{protocol} (all ports)"
    return f"{protocol}/{low}" if low == high or high is None else f"{protocol}/{low}-{high}"


def describe_peer(content: RuleContent, platform_groups: Iterable[str]) -> str:
    if content.cidr_ipv4:
        return content.cidr_ipv4
    if content.cidr_ipv6:
        return content.cidr_ipv6
    if content.prefix_list_id:
        return f"prefix list {content.prefix_list_id}"
    if content.referenced_group:
        group = content.referenced_group
        return group if group in set(platform_groups) else f"{group} (not a platform group)"
    return "an unknown peer"


def rule_summary(content: RuleContent, platform_groups: Iterable[str]) -> str:
    """``ingress gained tcp/22 from 0.0.0.0/0``; ``egress gained all traffic to 0.0.0.0/0``."""
    preposition = "from" if content.direction == "ingress" else "to"
    return f"{content.direction} gained {describe_traffic(content)} {preposition} {describe_peer(content, platform_groups)}"


def _resolved(rule: DesiredRule, addresses: Mapping[str, str]) -> RuleContent | None:
    if rule.address_name is None:
        return rule.content
    ip = addresses.get(rule.address_name)
    # An address that is gone is the refresh's to report (the Eip is a stack resource); its rule then matches nothing.
    return rule.content.model_copy(update={"cidr_ipv4": f"{ip}/32"}) if ip else None


def _rule_value(rule: LiveRule) -> dict[str, Any]:
    value: dict[str, Any] = {"groupId": rule.group_id, "ruleId": rule.rule_id, "protocol": rule.content.protocol}
    if rule.content.from_port is not None:
        value |= {"fromPort": rule.content.from_port, "toPort": rule.content.to_port}
    for key, field in (("cidrIpv4", "cidr_ipv4"), ("cidrIpv6", "cidr_ipv6"), ("prefixListId", "prefix_list_id"), ("referencedGroup", "referenced_group")):
        if getattr(rule.content, field):
            value[key] = getattr(rule.content, field)
    if rule.description:
        value["description"] = rule.description
    return value


def unmanaged_drift(live: LiveLayout, desired: DesiredLayout) -> list[DriftedResource]:
    """Every live rule and role policy the applied program does not declare, one drifted resource per group or role.

    A live rule is declared only when a desired rule on the same group has the same content
    (direction, protocol, ports, CIDR / prefix list / referenced group); its tags and description
    are not evidence. Each declared rule accounts for one live rule (AWS refuses duplicates anyway).
    """
    platform_groups = set(desired.groups)
    unmatched: dict[str, list[RuleContent]] = {}
    for rule in desired.rules:
        content = _resolved(rule, live.addresses)
        if content is not None:
            unmatched.setdefault(rule.group, []).append(content)

    gained: dict[str, list[LiveRule]] = {}
    for rule in sorted(live.rules, key=lambda r: (r.group_id, r.content.direction, r.rule_id)):
        group = live.groups.get(rule.group_id)
        if group is None or group not in desired.groups:
            continue  # not a group of this applied program: nothing to compare it with
        content = rule.content.normalised()
        candidates = unmatched.get(group, [])
        if content in candidates:
            candidates.remove(content)
        else:
            gained.setdefault(group, []).append(rule.model_copy(update={"content": content}))

    def reading_order(rule: LiveRule) -> tuple[str, str]:
        # Rule ids are random: the summary's words order it, so the same drift always reads the same.
        return rule_summary(rule.content, platform_groups), rule.rule_id

    drifted = [
        DriftedResource(
            urn=desired.groups[group],
            type=SECURITY_GROUP,
            name=group,
            kind=DriftKind.CHANGED,
            severity=DriftSeverity.HIGH,
            properties=[
                PropertyDrift(path=f"{r.content.direction}[{r.rule_id}]", expected=None, actual=_rule_value(r)) for r in rules
            ],
            summary=", ".join(rule_summary(r.content, platform_groups) for r in rules),
        )
        for group, rules in ((g, sorted(found, key=reading_order)) for g, found in sorted(gained.items()))
    ]
    live_roles = {role.name: role for role in live.roles}
    for role in desired.roles:
        found = live_roles.get(role.name)
        if found is None:
            continue  # a deleted role is the refresh's to report
        properties: list[PropertyDrift] = []
        phrases: list[str] = []
        for policy in sorted(set(found.inline_policies) - set(role.inline_policies)):
            properties.append(PropertyDrift(path=f"inlinePolicies[{policy}]", expected=None, actual={"roleName": role.name, "policyName": policy}))
            phrases.append(f"gained inline policy {policy}")
        for arn in sorted(set(found.managed_policy_arns)):
            declared = arn in role.managed_policy_arns or any(arn.endswith(f"/{n}") for n in role.managed_policy_names)
            if not declared:
                properties.append(PropertyDrift(path=f"managedPolicyArns[{arn}]", expected=None, actual={"roleName": role.name, "policyArn": arn}))
                phrases.append(f"gained managed policy {arn}")
        if properties:
            drifted.append(
                DriftedResource(
                    urn=role.urn, type=ROLE, name=role.logical_name, kind=DriftKind.CHANGED, severity=DriftSeverity.HIGH,
                    properties=properties, summary=", ".join(phrases),
                )
            )
    return drifted


def merge_drift(resources: Sequence[DriftedResource], unmanaged: Sequence[DriftedResource]) -> list[DriftedResource]:
    """The refresh's drifted resources with the probe's added: one entry per URN, properties and summaries joined, severity the higher."""
    merged: dict[str, DriftedResource] = {r.urn: r for r in resources}
    for extra in unmanaged:
        known = merged.get(extra.urn)
        if known is None:
            merged[extra.urn] = extra
            continue
        merged[extra.urn] = known.model_copy(
            update={
                "properties": [*known.properties, *extra.properties],
                "summary": f"{known.summary}, {extra.summary}" if known.summary else extra.summary,
                "severity": max(known.severity, extra.severity, key=lambda s: s.rank),
            }
        )
    return list(merged.values())


# --------------------------------------------------------------------------- reading the account (adapter)

# The IAM action each read needs, named in the error when AWS refuses it.
PERMISSIONS = {
    "DescribeSecurityGroups": "ec2:DescribeSecurityGroups",
    "DescribeSecurityGroupRules": "ec2:DescribeSecurityGroupRules",
    "DescribeAddresses": "ec2:DescribeAddresses",
    "ListRolePolicies": "iam:ListRolePolicies",
    "ListAttachedRolePolicies": "iam:ListAttachedRolePolicies",
    "RevokeSecurityGroupIngress": "ec2:RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress": "ec2:RevokeSecurityGroupEgress",
    "DetachRolePolicy": "iam:DetachRolePolicy",
    "DeleteRolePolicy": "iam:DeleteRolePolicy",
}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess", "AuthFailure"}
_CREDENTIALS = {"InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException", "SignatureDoesNotMatch"}


READING = "the drift check cannot read the rules and policies a refresh does not see"
UNDOING = "the drift remediation cannot remove the rules and policies added out of band"


def _refused(operation: str, error: Exception, doing: str = READING) -> DriftProbeError:
    from botocore.exceptions import ClientError, NoCredentialsError

    permission = PERMISSIONS.get(operation, operation)
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in _DENIED:
            return DriftProbeError(
                f"AWS refused {permission} ({code}): {doing}; "
                f"allow {permission} to the reconciler's worker role (template.yaml) and run the check again"
            )
        if code in _CREDENTIALS:
            return DriftProbeError(
                f"AWS rejected the reconciler's credentials on {permission} ({code}): refresh the worker's credentials and run the check again"
            )
        return DriftProbeError(f"AWS failed {permission} ({code or 'unknown error'}): run the check again; if it persists, look at the worker's AWS health")
    if isinstance(error, NoCredentialsError):
        return DriftProbeError(f"no AWS credentials for {permission}: give the worker credentials and run the check again")
    return DriftProbeError(f"AWS could not be reached for {permission} ({type(error).__name__}): run the check again")


def _paginate(client: Any, operation: str, result_key: str, **kwargs: Any) -> list[dict[str, Any]]:
    from botocore.exceptions import BotoCoreError, ClientError

    method = "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")
    try:
        items: list[dict[str, Any]] = []
        for page in client.get_paginator(method).paginate(**kwargs):
            items.extend(page.get(result_key, []))
        return items
    except (ClientError, BotoCoreError) as error:
        raise _refused(operation, error) from error


def _tags(items: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


# A boto3 ``ec2`` client, or a factory of one per region (``Callable[[str], EC2Client]``): the probe
# reads in the environment's region (the desired state's ``region``), never the worker's default.
Ec2Clients = Any | Callable[[str], Any]
_FILTER_VALUES = 200  # a DescribeSecurityGroups filter takes at most 200 values


def ec2_client_for(ec2: Ec2Clients, region: str | None) -> Any:
    """The ec2 client for ``region``: the factory's, or the client given, refused when it reads another region."""
    if callable(ec2):  # a boto3 client is not callable: this is a factory
        if not region:
            raise DriftProbeError("the applied program names no region, so the probe does not know where to read: render it with its desired state")
        return ec2(region)
    client_region = getattr(getattr(ec2, "meta", None), "region_name", None)
    if region and client_region and client_region != region:
        raise DriftProbeError(
            f"the ec2 client reads region {client_region}, but the environment is in {region}: the probe would find none of its groups; "
            "give the drift check an ec2 client of the environment's region (reconciler/wiring.py)"
        )
    return ec2


def _chunks(values: Sequence[str]) -> list[list[str]]:
    return [list(values[start : start + _FILTER_VALUES]) for start in range(0, len(values), _FILTER_VALUES)]


class LiveAccount:
    """Reads what the account has for one environment (boto3 ``ec2`` and ``iam`` clients injected); never writes.

    ``group_ids``: the stack's ids of the declared groups (:func:`stack_group_ids`); a group it
    does not name is found by its name, which AWS never changes.
    """

    def __init__(self, ec2: Any, iam: Any, *, suffix: str, group_ids: Mapping[str, str] | None = None, region: str | None = None):
        self._ec2 = ec2
        self._iam = iam
        self._suffix = suffix
        self._group_ids = dict(group_ids or {})
        self._region = region

    def declared_groups(self, desired: DesiredLayout) -> dict[str, str]:
        """The applied program's groups as the account has them (id -> name): each exactly once, or a :class:`DriftProbeError`."""
        names = sorted(desired.groups)
        by_stack = {name: self._group_ids[name] for name in names if self._group_ids.get(name)}
        found: dict[str, list[str]] = {name: [] for name in names}
        stack_names = {group_id: name for name, group_id in by_stack.items()}
        for chunk in _chunks(sorted(stack_names)):
            for group in _paginate(self._ec2, "DescribeSecurityGroups", "SecurityGroups", Filters=[{"Name": "group-id", "Values": chunk}]):
                if group["GroupId"] in stack_names:
                    found[stack_names[group["GroupId"]]].append(group["GroupId"])
        for chunk in _chunks([name for name in names if name not in by_stack]):
            for group in _paginate(self._ec2, "DescribeSecurityGroups", "SecurityGroups", Filters=[{"Name": "group-name", "Values": chunk}]):
                if group.get("GroupName") in found and group["GroupName"] not in by_stack:
                    found[group["GroupName"]].append(group["GroupId"])
        where = f" in region {self._region}" if self._region else ""
        missing = [name for name in names if not found[name]]
        if missing and len(missing) == len(names):
            raise DriftProbeError(
                f"none of the applied program's {len(names)} security groups ({', '.join(names)}) was found{where}: "
                "is the probe reading the environment's region and account? (the desired state's region, the worker's credentials); "
                "nothing was compared"
            )
        if missing:
            told = ", ".join(f"{name} ({by_stack[name]} in the stack)" if name in by_stack else f"{name} (by its name)" for name in missing)
            raise DriftProbeError(
                f"security group {told} not found{where}: the probe cannot tell the program's rules from console ones without it, "
                "so nothing was compared; converge to recreate it (ecs-gitops reconcile) or find out who deleted it, then run the check again"
            )
        ambiguous = {name: ids for name, ids in found.items() if len(ids) > 1}
        if ambiguous:
            told = "; ".join(f"{name}: {len(ids)} groups ({', '.join(sorted(ids))})" for name, ids in sorted(ambiguous.items()))
            raise DriftProbeError(
                f"security group names that are not unique{where}: {told}; the probe cannot tell which is the program's without "
                "the stack's ids (a group of the same name in another VPC?); nothing was compared: remove the look-alike or "
                "let the check pass the stack's group ids"
            )
        return {ids[0]: name for name, ids in found.items()}

    def read(self, desired: DesiredLayout) -> LiveLayout:
        groups = self.declared_groups(desired)
        rules: list[LiveRule] = []
        for chunk in _chunks(sorted(groups)):
            for raw in _paginate(self._ec2, "DescribeSecurityGroupRules", "SecurityGroupRules", Filters=[{"Name": "group-id", "Values": chunk}]):
                rules.append(self._rule(raw, groups))
        address_names = sorted({r.address_name for r in desired.rules if r.address_name})
        addresses: dict[str, str] = {}
        if address_names:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                found = self._ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": address_names}])
            except (ClientError, BotoCoreError) as error:
                raise _refused("DescribeAddresses", error) from error
            seen: dict[str, list[str]] = {}
            for address in found.get("Addresses", []):
                tag_name = _tags(address.get("Tags")).get("Name")
                if tag_name and address.get("PublicIp"):
                    seen.setdefault(tag_name, []).append(address["PublicIp"])
            # A NAT address not found (or found twice) would make its rule read as a console rule, and its undo revoke it.
            unsure = [name for name in address_names if len(seen.get(name, [])) != 1]
            if unsure:
                raise DriftProbeError(
                    f"the NAT address(es) {', '.join(unsure)} the applied program's rules allow were not found exactly once by their Name tag: "
                    "the probe cannot tell those rules from console ones, so nothing was compared; converge, or fix the addresses' Name tags"
                )
            addresses = {name: ips[0] for name, ips in seen.items() if name in address_names}
        roles = [role for role in (self._role(r.name) for r in desired.roles) if role is not None]
        return LiveLayout(groups=groups, rules=rules, addresses=addresses, roles=roles)

    @staticmethod
    def _rule(raw: Mapping[str, Any], groups: Mapping[str, str]) -> LiveRule:
        referenced = (raw.get("ReferencedGroupInfo") or {}).get("GroupId")
        from_port, to_port = raw.get("FromPort"), raw.get("ToPort")
        return LiveRule(
            group_id=raw["GroupId"],
            rule_id=raw.get("SecurityGroupRuleId", ""),
            content=RuleContent(
                direction="egress" if raw.get("IsEgress") else "ingress",
                protocol=str(raw.get("IpProtocol", "-1")),
                from_port=None if from_port is None else int(from_port),
                to_port=None if to_port is None else int(to_port),
                cidr_ipv4=raw.get("CidrIpv4"),
                cidr_ipv6=raw.get("CidrIpv6"),
                prefix_list_id=raw.get("PrefixListId"),
                # A platform group by its name; any other group by its id, which is what a person can look up.
                referenced_group=groups.get(referenced, referenced) if referenced else None,
            ).normalised(),
            description=raw.get("Description"),
            tags=_tags(raw.get("Tags")),
        )

    def _role(self, role_name: str) -> LiveRole | None:
        from botocore.exceptions import ClientError

        try:
            inline = [str(n) for n in _paginate(self._iam, "ListRolePolicies", "PolicyNames", RoleName=role_name)]
            attached = [p["PolicyArn"] for p in _paginate(self._iam, "ListAttachedRolePolicies", "AttachedPolicies", RoleName=role_name)]
        except DriftProbeError as error:
            cause = error.__cause__
            if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") == "NoSuchEntity":
                return None  # a deleted role is the refresh's to report
            raise
        return LiveRole(name=role_name, inline_policies=inline, managed_policy_arns=attached)


def probe_unmanaged(
    ec2: Ec2Clients,
    iam: Any,
    *,
    suffix: str,
    desired: DesiredLayout,
    group_ids: Mapping[str, str] | None = None,
) -> list[DriftedResource]:
    """Read the environment's rules and role policies, then report those the applied program does not declare.

    ``ec2``: a client, or a factory of one per region (read in ``desired.region``). ``group_ids``:
    the stack's ids of the declared groups (:func:`stack_group_ids`); groups it leaves out are found
    by name. Raises :class:`DriftProbeError` (what AWS refused and the permission to grant) when a
    read fails or a declared group is not found exactly once, so the check reports
    ``drift-check-failed`` rather than "no drift" or a partial answer.
    """
    client = ec2_client_for(ec2, desired.region)
    live = LiveAccount(client, iam, suffix=suffix, group_ids=group_ids, region=desired.region).read(desired)
    return unmanaged_drift(live, desired)


# --------------------------------------------------------------------------- putting it back


UndoKind = Literal["revoke-ingress", "revoke-egress", "detach-policy", "delete-inline-policy"]


class UndoAction(Record):
    """One thing to remove so the account has only what the applied program declares."""

    kind: UndoKind
    target: str  # the group id, or the role's name
    item: str  # the rule id, the policy ARN, or the inline policy's name
    urn: str
    description: str  # "revoke ingress tcp/22 from 0.0.0.0/0 on sg-api-gateway-prod"


def _content_of(actual: Mapping[str, Any], direction: Direction) -> RuleContent:
    """The rule a probe's ``actual`` value describes (see :func:`_rule_value`)."""
    return RuleContent(
        direction=direction, protocol=actual.get("protocol", "-1"), from_port=actual.get("fromPort"), to_port=actual.get("toPort"),
        cidr_ipv4=actual.get("cidrIpv4"), cidr_ipv6=actual.get("cidrIpv6"), prefix_list_id=actual.get("prefixListId"),
        referenced_group=actual.get("referencedGroup"),
    )


def undo_actions(resources: Sequence[DriftedResource]) -> list[UndoAction]:
    """The removals that undo the probe's findings among ``resources``; the refresh's own properties are left to a converge."""
    actions: list[UndoAction] = []
    for resource in resources:
        for prop in resource.properties:
            actual = prop.actual if isinstance(prop.actual, dict) else {}
            if resource.type == SECURITY_GROUP and "groupId" in actual and "ruleId" in actual:
                content = _content_of(actual, "egress" if prop.path.startswith("egress[") else "ingress")
                phrase = rule_summary(content, [content.referenced_group or ""]).replace(" gained ", " ", 1)
                actions.append(UndoAction(
                    kind=f"revoke-{content.direction}", target=actual["groupId"], item=actual["ruleId"],
                    urn=resource.urn, description=f"revoke {phrase} on {resource.name}",
                ))
            elif resource.type == ROLE and "roleName" in actual and "policyArn" in actual:
                actions.append(UndoAction(
                    kind="detach-policy", target=actual["roleName"], item=actual["policyArn"], urn=resource.urn,
                    description=f"detach {actual['policyArn']} from {actual['roleName']}",
                ))
            elif resource.type == ROLE and "roleName" in actual and "policyName" in actual:
                actions.append(UndoAction(
                    kind="delete-inline-policy", target=actual["roleName"], item=actual["policyName"], urn=resource.urn,
                    description=f"delete inline policy {actual['policyName']} of {actual['roleName']}",
                ))
    return actions


def refuse_unresolved_lookalikes(resources: Sequence[DriftedResource], desired: DesiredLayout) -> None:
    """Raise before any removal when a rule to revoke is a declared rule in all but a group the probe could not name.

    A referenced group the probe could not resolve to a declared one shows as its bare id; if the
    rule is otherwise exactly one the program declares on that group, it may well be the program's
    rule seen through a lookup that failed: revoking it could cut a tier off. A person decides.
    """
    declared: dict[str, list[tuple[str, RuleContent]]] = {}
    for rule in desired.rules:
        if rule.content.referenced_group in desired.groups:
            declared.setdefault(rule.group, []).append((rule.rule, rule.content.model_copy(update={"referenced_group": None})))
    for resource in resources:
        if resource.type != SECURITY_GROUP:
            continue
        for prop in resource.properties:
            actual = prop.actual if isinstance(prop.actual, dict) else {}
            referenced = actual.get("referencedGroup")
            if "ruleId" not in actual or not referenced or referenced in desired.groups:
                continue
            content = _content_of(actual, "egress" if prop.path.startswith("egress[") else "ingress").normalised()
            bare = content.model_copy(update={"referenced_group": None})
            twin = next((name for name, candidate in declared.get(resource.name, []) if candidate == bare), None)
            if twin is not None:
                phrase = rule_summary(content, []).replace(" gained ", " ", 1).replace(" (not a platform group)", "")
                raise DriftProbeError(
                    f"refusing to revoke {phrase} on {resource.name} ({actual['ruleId']}): it is the declared rule {twin} but for the group "
                    f"{referenced}, which the probe could not name; nothing was removed. If {referenced} is not the platform's group, revoke "
                    "the rule by hand; otherwise find out why the probe could not resolve it"
                )


# Removals the worker role is not allowed to make, while template.yaml withholds the permission: the
# deploy role gives the program's roles inline policies only, so iam:DetachRolePolicy is not granted.
# A managed policy attached to a platform role is reported for a person to detach, never attempted.
WITHHELD: dict[str, str] = {"detach-policy": "iam:DetachRolePolicy"}


def by_hand(action: UndoAction) -> str:
    """What a person runs for a removal the reconciler may not make."""
    return (
        f"{action.description} by hand (the worker role is not granted {WITHHELD[action.kind]}): "
        f"aws iam detach-role-policy --role-name {action.target} --policy-arn {action.item}"
    )


class UndoFailure(Record):
    action: UndoAction
    error: str  # what AWS refused and the permission to grant


class UndoResult(Record):
    """What a remediation's undo did: removed, refused by AWS, left for a person, still found after acting."""

    undone: list[UndoAction] = Field(default_factory=list)
    failed: list[UndoFailure] = Field(default_factory=list)
    left_for_person: list[UndoAction] = Field(default_factory=list)
    # Found by the probe but outside the environment's remediation limits: reported, not removed.
    outside_limits: list[str] = Field(default_factory=list)
    remaining: list[DriftedResource] = Field(default_factory=list)  # what a fresh probe still finds afterwards
    probe_error: str | None = None  # a probe before or after acting failed
    skipped: str | None = None  # nothing was attempted, and why

    @property
    def complete(self) -> bool:
        """Every removal asked for was made and the probe after acting found nothing left."""
        return not (self.failed or self.left_for_person or self.outside_limits or self.remaining or self.probe_error or self.skipped)

    @property
    def message(self) -> str:
        if self.skipped:
            return f"console-added rules and policies not removed: {self.skipped}"
        parts = [f"console-added rules and policies removed: {'; '.join(a.description for a in self.undone) or 'nothing'}"]
        if self.failed:
            parts.append("could not remove: " + "; ".join(f"{f.action.description} ({f.error})" for f in self.failed))
        if self.left_for_person:
            parts.append("left for a person: " + "; ".join(by_hand(a) for a in self.left_for_person))
        if self.outside_limits:
            parts.append(f"outside drift.remediateTypes/remediateSeverities: {', '.join(self.outside_limits)} (reported, not removed)")
        if self.probe_error:
            parts.append(f"the console-rule probe failed: {self.probe_error}")
        if self.remaining:
            parts.append(f"still found after acting: {', '.join(r.name for r in self.remaining)}")
        return "; ".join(parts)


def undo_unmanaged(
    ec2: Any, iam: Any, *, suffix: str, desired: DesiredLayout, resources: Sequence[DriftedResource] | None = None
) -> UndoResult:
    """Remove what a fresh probe finds (and, with ``resources``, only what they also name), then probe again.

    Only a removal that a fresh probe still asks for is made (a rule someone already revoked, or
    one the program now declares, is left alone). Never raises for AWS: a removal AWS refuses is
    recorded (``failed``) and the others are still made, a probe that fails is ``probe_error``; a
    removal the worker role is not granted (:data:`WITHHELD`) is ``left_for_person``, never tried.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if resources is not None:
            refuse_unresolved_lookalikes(resources, desired)  # before any AWS call
        ec2 = ec2_client_for(ec2, desired.region)
        fresh = probe_unmanaged(ec2, iam, suffix=suffix, desired=desired)
        refuse_unresolved_lookalikes(fresh, desired)
    except DriftProbeError as error:  # a failed read or a refused look-alike: nothing is removed
        return UndoResult(probe_error=str(error))
    actions = undo_actions(fresh)
    if resources is not None:
        wanted = {(a.kind, a.target, a.item) for a in undo_actions(resources)}
        actions = [a for a in actions if (a.kind, a.target, a.item) in wanted]
    calls: dict[str, tuple[str, Any]] = {
        "revoke-ingress": ("RevokeSecurityGroupIngress", lambda a: ec2.revoke_security_group_ingress(GroupId=a.target, SecurityGroupRuleIds=[a.item])),
        "revoke-egress": ("RevokeSecurityGroupEgress", lambda a: ec2.revoke_security_group_egress(GroupId=a.target, SecurityGroupRuleIds=[a.item])),
        "delete-inline-policy": ("DeleteRolePolicy", lambda a: iam.delete_role_policy(RoleName=a.target, PolicyName=a.item)),
    }
    undone: list[UndoAction] = []
    failed: list[UndoFailure] = []
    left = [action for action in actions if action.kind in WITHHELD]
    for action in (a for a in actions if a.kind not in WITHHELD):
        operation, call = calls[action.kind]
        try:
            call(action)
        except (ClientError, BotoCoreError) as error:
            failed.append(UndoFailure(action=action, error=str(_refused(operation, error, UNDOING))))
            continue
        undone.append(action)
    try:
        remaining = probe_unmanaged(ec2, iam, suffix=suffix, desired=desired)
    except DriftProbeError as error:
        return UndoResult(undone=undone, failed=failed, left_for_person=left, probe_error=f"after acting: {error}")
    return UndoResult(undone=undone, failed=failed, left_for_person=left, remaining=remaining)
