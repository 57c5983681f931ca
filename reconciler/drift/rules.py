"""What the platform changes on purpose, and is therefore not drift: every rule in one place.

A refreshed preview shows every difference between AWS and the applied desired state. Some of
them are the platform at work: auto-scaling moving a service's count, a running rollout shifting
listener weights and scaling the idle colour, a rollout's task-definition revision, tags AWS adds
by itself. Each rule here names one such difference and says why it is not drift; the report
lists what a rule set aside (``DriftReport.ignored``) with the rule's name and reason, and a
resource whose every difference is set aside is not drifted.

Rules look only at one difference (already masked: secrets never reach a rule) and at the
:class:`DriftContext`, what the platform itself owns right now, which drift-check builds from
the stack status and the rollout records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.rollout.model import RolloutRecord

ECS_SERVICE = "aws:ecs/service:Service"
SCALING_TARGET = "aws:appautoscaling/target:Target"
LISTENER_TYPES = frozenset({"aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule", "aws:alb/listener:Listener", "aws:alb/listenerRule:ListenerRule"})
ACTION_PROPERTIES = frozenset({"defaultActions", "actions"})
TAG_PROPERTIES = frozenset({"tags", "tagsAll"})
# Tags AWS sets itself: the reserved aws: prefix (CloudFormation, ECS managed tags, auto scaling)
# and ECS's marker on the groups its capacity providers manage.
AWS_TAG_PREFIX = "aws:"
AWS_TAG_KEYS = frozenset({"AmazonECSManaged"})

Segment = str | int


@dataclass(frozen=True)
class DriftContext:
    """What the platform itself owns at the time of the check.

    ``rollout_services``: platform services (``frontend``, ``api-gateway``) whose traffic a running
    rollout owns: their listener weights and their colours' scaling bounds are the rollout's.
    ``rollout_resources``: the ARNs/names that rollout acts on (listener, rule, ECS services, target
    groups: ``RolloutResources``), for resources not named by the program's convention.

    Task-definition revisions are not here: a rollout registers none; the images it stages are
    rendered by the program from the status's image overrides, so the applied state the preview
    compares against already carries them, and a revision nobody rendered is drift.
    """

    rollout_services: frozenset[str] = frozenset()
    rollout_resources: frozenset[str] = frozenset()

    @classmethod
    def from_rollouts(cls, records: Iterable[RolloutRecord]) -> DriftContext:
        """What the running rollouts among ``records`` own (finished ones own nothing)."""
        running = [record for record in records if not record.phase.terminal]
        resources: set[str] = set()
        for record in running:
            owned = record.resources
            resources.update(arn for arn in (owned.listener_arn, owned.rule_arn) if arn)
            resources.update(owned.ecs_services.values())
            resources.update(owned.target_groups.values())
        return cls(
            rollout_services=frozenset(record.service for record in running),
            rollout_resources=frozenset(resources),
        )


@dataclass(frozen=True)
class Difference:
    """One property path of one resource that differs, as a rule sees it (values already masked).

    ``expected`` is what the applied desired state says, ``actual`` what AWS has now (either is
    ``None`` when that side has no value); ``desired``/``real`` are the whole resource's masked
    program inputs and refreshed state, for rules that need the resource's other properties.
    """

    type: str
    name: str
    urn: str
    path: str
    segments: tuple[Segment, ...]
    expected: Any
    actual: Any
    desired: Mapping[str, Any] = field(default_factory=dict)
    real: Mapping[str, Any] = field(default_factory=dict)
    resource_id: str | None = None

    @property
    def top(self) -> str:
        return str(self.segments[0]) if self.segments else self.path


@dataclass(frozen=True)
class NotDriftRule:
    name: str
    reason: str
    matches: Callable[[Difference, DriftContext], bool]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _strings(item)]
    return []


def _names_service(text: str, service: str) -> bool:
    """``text`` names one of ``service``'s colours: its target group or its ECS service."""
    return re.search(rf"(?:^|[/:])(?:tg|svc)-{re.escape(service)}-(?:blue|green)-", text) is not None


def _rollout_owned(difference: Difference, context: DriftContext) -> bool:
    """The resource acts on the traffic or capacity of a service a running rollout owns."""
    mentioned = _strings(difference.real) + _strings(difference.desired) + [difference.name]
    if difference.resource_id is not None:
        mentioned.append(difference.resource_id)
    if context.rollout_resources and any(text in context.rollout_resources for text in mentioned):
        return True
    return any(_names_service(text, service) for service in context.rollout_services for text in mentioned)


def _without(value: Any, drop: Callable[[str], bool]) -> Any:
    """``value`` with every mapping key ``drop`` selects removed, at any depth."""
    if isinstance(value, Mapping):
        return {key: _without(item, drop) for key, item in value.items() if not drop(str(key))}
    if isinstance(value, (list, tuple)):
        return [_without(item, drop) for item in value]
    return value


def _only_weights_differ(difference: Difference) -> bool:
    if difference.segments and difference.segments[-1] == "weight":
        return True
    is_weight = lambda key: key == "weight"  # noqa: E731
    return _without(difference.expected, is_weight) == _without(difference.actual, is_weight)


def _is_aws_tag(key: str) -> bool:
    return key.startswith(AWS_TAG_PREFIX) or key in AWS_TAG_KEYS


def _aws_tags_only(difference: Difference, _: DriftContext) -> bool:
    # The report splits a whole tags map into one difference per key, so each tag is judged alone.
    return difference.top in TAG_PROPERTIES and len(difference.segments) >= 2 and _is_aws_tag(str(difference.segments[1]))


def _autoscaled_count(difference: Difference, _: DriftContext) -> bool:
    return difference.type == ECS_SERVICE and difference.top == "desiredCount"


def _rollout_weights(difference: Difference, context: DriftContext) -> bool:
    return (
        difference.type in LISTENER_TYPES
        and difference.top in ACTION_PROPERTIES
        and _only_weights_differ(difference)
        and _rollout_owned(difference, context)
    )


def _rollout_capacity(difference: Difference, context: DriftContext) -> bool:
    return (
        difference.type == SCALING_TARGET
        and difference.top in ("minCapacity", "maxCapacity")
        and _rollout_owned(difference, context)
    )


NOT_DRIFT_RULES: tuple[NotDriftRule, ...] = (
    NotDriftRule(
        "autoscaled-desired-count",
        "Application Auto Scaling (every ECS service the program creates has a scaling target) and the "
        "rollout controller set a service's running count; the program leaves it to them (ignore_changes)",
        _autoscaled_count,
    ),
    NotDriftRule(
        "rollout-traffic-weights",
        "a running rollout shifts this service's listener weights step by step; the traffic state "
        "records where it ends",
        _rollout_weights,
    ),
    NotDriftRule(
        "rollout-colour-capacity",
        "a running rollout scales the colours of this service (the idle colour's bounds and count) "
        "while it stages, shifts and scales down",
        _rollout_capacity,
    ),
    NotDriftRule(
        "aws-managed-tags",
        "AWS adds these tags itself (the reserved aws: prefix: CloudFormation, ECS managed tags, "
        "auto scaling; AmazonECSManaged); the program cannot set or remove them",
        _aws_tags_only,
    ),
)


def not_drift_rule(difference: Difference, context: DriftContext) -> NotDriftRule | None:
    """The first rule that says ``difference`` is the platform's own doing; None when it is drift."""
    return next((rule for rule in NOT_DRIFT_RULES if rule.matches(difference, context)), None)
