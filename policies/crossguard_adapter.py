"""The same rules as a Pulumi CrossGuard policy pack, for ``pulumi up --policy-pack policies/crossguard``.

Each rule becomes one ``StackValidationPolicy``; mandatory rules block the update, advisory
ones warn. The engine's ``PolicyResource`` objects are turned into :class:`ResourceView` so the
rule functions are exactly the ones the offline plan runs. Known gap: the policy SDK does not
expose ``retainOnDelete``, so DESTROY-001 sees only ``protect`` on this path.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, StackValidationArgs, StackValidationPolicy
from pulumi_policy.secret import Secret

from policies.model import ResourceView, Rule, Stack
from policies.pack import RULES, context_from_resources

SECRET_MASK = "[secret]"


def _plain(value: Any) -> Any:
    """Props with every secret masked: a rule never needs, and must never report, a secret value."""
    if isinstance(value, Secret):
        return SECRET_MASK
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def view_of(resource: PolicyResource) -> ResourceView:
    return ResourceView(
        type=resource.resource_type,
        name=resource.name,
        props=_plain(dict(resource.props)),
        parent=resource.parent.name if resource.parent is not None else None,
        protect=bool(resource.opts.protect) if resource.opts is not None else False,
        property_dependencies={
            key: tuple(dep.name for dep in deps) for key, deps in (resource.property_dependencies or {}).items()
        },
    )


def stack_validation(rule: Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: Any) -> None:
        views = [view_of(r) for r in args.resources]
        urns = {r.name: r.urn for r in args.resources}
        stack = Stack(views, context_from_resources(views))
        for violation in rule.evaluate(stack):
            report_violation(f"[{violation.resource}] {violation.message}", urns.get(violation.resource))

    return StackValidationPolicy(
        name=rule.id.lower(),
        description=rule.description,
        enforcement_level=EnforcementLevel.MANDATORY if rule.severity == "mandatory" else EnforcementLevel.ADVISORY,
        validate=validate,
    )


def crossguard_policies() -> list[StackValidationPolicy]:
    return [stack_validation(rule) for rule in RULES]
