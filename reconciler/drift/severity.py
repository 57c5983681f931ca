"""How serious a drifted resource is, decided by what it is and which of its properties moved.

High: whatever guards the way in or holds keys and credentials (security groups and their rules,
IAM, the load balancer and its listeners and rules, KMS, Secrets Manager, an ECR repository
policy); and, on types that are otherwise medium, the properties that do the same
(:data:`HIGH_PROPERTIES`: a service's network configuration, a task's roles, where a route
leads); and the removal or change of a tag the platform finds its resources by
(:data:`PLATFORM_TAGS`). Medium: scaling and logging settings, and anything not named here. Low:
a difference in other tags only, whatever the resource.

The type tokens are the ones the program creates (``ecs-gitops plan --output json``), by module
or by exact type; ``aws:alb/*`` is the provider's older alias of ``aws:lb/*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler.drift.model import DriftSeverity, PropertyDrift

# Every type of these provider modules (aws:<module>/<resource>:<Resource>).
HIGH_MODULES = frozenset({"iam", "kms", "secretsmanager"})
HIGH_TYPES = frozenset(
    {
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:lb/listener:Listener",
        "aws:lb/listenerRule:ListenerRule",
        "aws:lb/listenerCertificate:ListenerCertificate",
        "aws:alb/loadBalancer:LoadBalancer",
        "aws:alb/listener:Listener",
        "aws:alb/listenerRule:ListenerRule",
        # Who may pull and push the images the services run.
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "aws:ecr/registryPolicy:RegistryPolicy",
    }
)
# Top-level properties that guard the way in or who a task acts as, on types medium otherwise.
_ROUTE_TARGETS = frozenset(
    {"gatewayId", "natGatewayId", "transitGatewayId", "vpcPeeringConnectionId", "networkInterfaceId", "egressOnlyGatewayId",
     "carrierGatewayId", "localGatewayId", "vpcEndpointId", "coreNetworkArn"}
)
HIGH_PROPERTIES: Mapping[str, frozenset[str]] = {
    # Security groups, subnets and a public IP: what can reach the tasks.
    "aws:ecs/service:Service": frozenset({"networkConfiguration"}),
    "aws:ecs/taskDefinition:TaskDefinition": frozenset({"taskRoleArn", "executionRoleArn"}),
    # Where traffic leaves the network: a route's target and destination.
    "aws:ec2/route:Route": _ROUTE_TARGETS | {"destinationCidrBlock", "destinationIpv6CidrBlock", "destinationPrefixListId"},
    # The program's routes are inline on its tables (program/components/network.py).
    "aws:ec2/routeTable:RouteTable": frozenset({"routes", "propagatingVgws"}),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": frozenset({"routeTableId", "subnetId", "gatewayId"}),
}
TAG_PROPERTIES = frozenset({"tags", "tagsAll"})
# The provider's default tags the platform finds and tells apart its resources by (program/platform.py):
# a person removing one can hide a resource from whatever looks it up by tag.
PLATFORM_TAGS = frozenset({"managed-by", "environment"})


def top_property(path: str) -> str:
    """The first segment of a Pulumi property path: ``tags`` of ``tags.team`` or ``tags["aws:x"]``."""
    for index, char in enumerate(path):
        if char in ".[":
            return path[:index]
    return path


def tags_only(paths: Sequence[str]) -> bool:
    return bool(paths) and all(top_property(path) in TAG_PROPERTIES for path in paths)


def _tag_key(path: str) -> str | None:
    """``managed-by`` of ``tags.managed-by`` or ``tagsAll["managed-by"]``; None for a whole tags map or another path."""
    top = top_property(path)
    if top not in TAG_PROPERTIES or len(path) == len(top):
        return None
    rest = path[len(top) :]
    if rest.startswith("."):
        return rest[1:]
    if rest.startswith('["') and rest.endswith('"]'):
        return rest[2:-2].replace('\\"', '"').replace("\\\\", "\\")
    return rest.strip("[]")


def platform_tags_lost(properties: Iterable[PropertyDrift]) -> list[str]:
    """The :data:`PLATFORM_TAGS` the program sets that AWS no longer has as the program set them (removed or changed)."""
    lost: set[str] = set()
    for prop in properties:
        key = _tag_key(prop.path)
        if key is not None:
            if key in PLATFORM_TAGS and prop.expected is not None and prop.actual != prop.expected:
                lost.add(key)
            continue
        if top_property(prop.path) in TAG_PROPERTIES and prop.path in TAG_PROPERTIES:
            expected: Any = prop.expected if isinstance(prop.expected, Mapping) else {}
            actual: Any = prop.actual if isinstance(prop.actual, Mapping) else {}
            lost.update(k for k in PLATFORM_TAGS if k in expected and actual.get(k) != expected[k])
    return sorted(lost)


def severity_of(resource_type: str, paths: Sequence[str], *, removed_tags: Iterable[str] = ()) -> DriftSeverity:
    """The severity of a resource of ``resource_type`` whose ``paths`` differ.

    No paths (a resource deleted out of band) is judged by the type alone. ``removed_tags``: the
    platform tags the resource lost (:func:`platform_tags_lost`), high whatever the type.
    """
    if any(tag in PLATFORM_TAGS for tag in removed_tags):
        return DriftSeverity.HIGH
    if tags_only(paths):
        return DriftSeverity.LOW
    module = resource_type.split(":", 2)[1].split("/", 1)[0] if resource_type.count(":") >= 2 else ""
    if resource_type in HIGH_TYPES or module in HIGH_MODULES:
        return DriftSeverity.HIGH
    guarded = HIGH_PROPERTIES.get(resource_type, frozenset())
    if any(top_property(path) in guarded for path in paths):
        return DriftSeverity.HIGH
    # Scaling (aws:appautoscaling/*, an ECS service's counts and capacity strategy), logging
    # (aws:cloudwatch/logGroup, aws:ec2/flowLog) and everything else.
    return DriftSeverity.MEDIUM
