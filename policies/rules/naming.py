"""Every logical and physical name carries the environment suffix."""

from __future__ import annotations

from collections.abc import Iterator

from policies.model import Finding, Stack
from policies.rules import rule

# Properties that become a physical AWS name.
PHYSICAL_NAME_PROPS = ("name", "family", "namePrefix")


@rule("NAME-001", "mandatory", "Every logical and physical name contains the environment suffix")
def suffix_in_names(stack: Stack) -> Iterator[Finding]:
    suffix = stack.context.environment_suffix
    for resource in stack.resources:
        if suffix not in resource.name:
            yield Finding(
                resource.name,
                f"logical name '{resource.name}' lacks the environment suffix '{suffix}'; "
                f"name it {{resource-type}}-{{service}}-{suffix}",
            )
        if resource.type.startswith("pulumi:"):
            continue
        for prop in PHYSICAL_NAME_PROPS:
            value = resource.props.get(prop)
            if isinstance(value, str) and suffix not in value:
                yield Finding(
                    resource.name,
                    f"{prop} '{value}' lacks the environment suffix '{suffix}'; include it so environments never collide",
                )
