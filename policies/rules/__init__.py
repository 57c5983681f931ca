"""The rules of the platform spec, one module per area. Each module's ``Rule`` objects are the pack."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from policies.model import Finding, Rule, Severity, Stack


def rule(rule_id: str, severity: Severity, description: str) -> Callable[[Callable[[Stack], Iterable[Finding]]], Rule]:
    """Turn a check function into a named :class:`Rule`."""

    def wrap(check: Callable[[Stack], Iterable[Finding]]) -> Rule:
        return Rule(id=rule_id, severity=severity, description=description, check=check)

    return wrap
