"""How serious a drifted resource is, decided by what it is and which of its properties moved.

High: whatever guards the way in or holds keys and credentials (security groups and their rules,
IAM, the load balancer and its listeners and rules, KMS, Secrets Manager). Medium: scaling and
logging settings, and anything not named here. Low: a difference in tags only, whatever the
resource (tags carry no access and no behaviour the platform relies on).

The type tokens are the ones the program creates (``ecs-gitops plan --output json``), by module
or by exact type; ``aws:alb/*`` is the provider's older alias of ``aws:lb/*``.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.drift.model import DriftSeverity

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
    }
)
TAG_PROPERTIES = frozenset({"tags", "tagsAll"})


def top_property(path: str) -> str:
    """The first segment of a Pulumi property path: ``tags`` of ``tags.team`` or ``tags["aws:x"]``."""
    for index, char in enumerate(path):
        if char in ".[":
            return path[:index]
    return path


def tags_only(paths: Sequence[str]) -> bool:
    return bool(paths) and all(top_property(path) in TAG_PROPERTIES for path in paths)


def severity_of(resource_type: str, paths: Sequence[str]) -> DriftSeverity:
    """The severity of a resource of ``resource_type`` whose ``paths`` differ.

    No paths (a resource deleted out of band) is judged by the type alone.
    """
    if tags_only(paths):
        return DriftSeverity.LOW
    module = resource_type.split(":", 2)[1].split("/", 1)[0] if resource_type.count(":") >= 2 else ""
    if resource_type in HIGH_TYPES or module in HIGH_MODULES:
        return DriftSeverity.HIGH
    # Scaling (aws:appautoscaling/*, an ECS service's counts and capacity strategy), logging
    # (aws:cloudwatch/logGroup, aws:ec2/flowLog) and everything else.
    return DriftSeverity.MEDIUM
