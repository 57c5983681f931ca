"""The policy gate's vocabulary: the resources rules look at, the rules, and what they report.

Rules are plain functions over :class:`ResourceView` lists, so one implementation serves both
the offline plan (resources recorded under Pulumi's mocks) and the Pulumi CrossGuard pack
(resources the engine hands to a stack validation). Both give wire-format properties:
camelCase keys, JSON documents as strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Severity = Literal["mandatory", "advisory"]


@dataclass(frozen=True)
class ResourceView:
    """One resource as a policy sees it."""

    type: str
    name: str
    props: Mapping[str, Any]
    parent: str | None = None
    protect: bool = False
    retain_on_delete: bool = False
    # Logical names of the resources each property was computed from.
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def prop(self, *path: str | int, default: Any = None) -> Any:
        value: Any = self.props
        for key in path:
            if isinstance(key, int):
                if not isinstance(value, list) or key >= len(value):
                    return default
                value = value[key]
            else:
                if not isinstance(value, Mapping) or key not in value:
                    return default
                value = value[key]
        return value

    def json_prop(self, key: str) -> Any:
        """A property holding a JSON document (policies, container definitions), parsed."""
        raw = self.props.get(key)
        if isinstance(raw, str):
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                return None
        return raw

    def tag(self, key: str) -> str | None:
        tags = self.props.get("tags") or {}
        return tags.get(key) if isinstance(tags, Mapping) else None

    def depends_on(self, prop: str) -> tuple[str, ...]:
        return tuple(self.property_dependencies.get(prop, ()))


class Violation(BaseModel):
    """One broken rule: which, how bad, where, and how to fix it."""

    model_config = ConfigDict(frozen=True)

    policy: str
    severity: Severity
    resource: str
    message: str


@dataclass(frozen=True)
class PolicyContext:
    """What rules need to know about the environment beyond its resources."""

    environment_suffix: str
    production: bool


@dataclass(frozen=True)
class Finding:
    """What a rule's check yields: a resource and what is wrong with it, including the fix."""

    resource: str
    message: str


class Stack:
    """The resources of one stack with look-ups rules need."""

    def __init__(self, resources: Iterable[ResourceView], context: PolicyContext):
        self.resources = list(resources)
        self.context = context
        self._by_name = {r.name: r for r in self.resources}

    def of_type(self, *types: str) -> Iterator[ResourceView]:
        return (r for r in self.resources if r.type in types)

    def get(self, name: str) -> ResourceView | None:
        return self._by_name.get(name)

    def referenced(self, resource: ResourceView, prop: str, type_: str) -> list[ResourceView]:
        """Resources of ``type_`` that ``resource``'s property ``prop`` was computed from."""
        found = [self._by_name.get(n) for n in resource.depends_on(prop)]
        return [r for r in found if r is not None and r.type == type_]


Check = Callable[[Stack], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    description: str
    check: Check

    def evaluate(self, stack: Stack) -> list[Violation]:
        return [
            Violation(policy=self.id, severity=self.severity, resource=f.resource, message=f.message)
            for f in self.check(stack)
        ]


class PolicyReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    rules_evaluated: int
    violations: list[Violation]

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "mandatory"]

    @property
    def passed(self) -> bool:
        return not self.mandatory
