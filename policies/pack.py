"""The policy pack: every rule, evaluated over one stack's resources."""

from __future__ import annotations

import json
from collections.abc import Iterable

from policies import aws_types as t
from policies.model import PolicyContext, PolicyReport, ResourceView, Rule, Stack
from policies.rules import containers, destroyability, edge, firewall, iam, naming, network, registry, scaling

RULE_MODULES = (naming, destroyability, registry, containers, network, firewall, iam, scaling, edge)
RULES: tuple[Rule, ...] = tuple(
    value for module in RULE_MODULES for value in vars(module).values() if isinstance(value, Rule)
)


class PolicyContextError(ValueError):
    """The resources do not say which environment they belong to."""


def context_from_resources(resources: Iterable[ResourceView]) -> PolicyContext:
    """Read the environment from the AWS provider's default tags (set by ``build_platform``)."""
    for resource in resources:
        if resource.type != t.PROVIDER:
            continue
        raw = resource.props.get("defaultTags")
        tags = (json.loads(raw) if isinstance(raw, str) else raw or {}).get("tags") or {}
        if tags.get("environment"):
            return PolicyContext(environment_suffix=tags["environment"], production=tags.get("environment-class") == "production")
    raise PolicyContextError(
        "no AWS provider with an 'environment' default tag in the stack; the policy pack cannot tell which environment this is"
    )


def evaluate(resources: Iterable[ResourceView], context: PolicyContext | None = None, rules: Iterable[Rule] = RULES) -> PolicyReport:
    views = list(resources)
    stack = Stack(views, context or context_from_resources(views))
    selected = list(rules)
    violations = [violation for r in selected for violation in r.evaluate(stack)]
    return PolicyReport(rules_evaluated=len(selected), violations=violations)
