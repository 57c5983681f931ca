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
    """What the platform itself owns at the time of the check: per running rollout, by its service.

    ``rollout_target_groups``: service -> the ARNs of that rollout's own target groups
    (``RolloutResources.target_groups``): a weight difference is the rollout's only when every
    target group whose weight differs is one of these. Never the listener or its rules by ARN:
    the live listener is shared by every routed service, so owning it would hide a console change
    to another service's weights.
    ``rollout_scaling_targets``: service -> the scaling targets' resource ids of that rollout's own
    ECS services (``service/<cluster>/<ECS service>``): only their bounds are the rollout's.

    Task-definition revisions are not here: a rollout registers none; the images it stages are
    rendered by the program from the status's image overrides, so the applied state the preview
    compares against already carries them, and a revision nobody rendered is drift.
    """

    rollout_target_groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    rollout_scaling_targets: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def rollout_services(self) -> frozenset[str]:
        """The services a running rollout owns something of."""
        return frozenset(self.rollout_target_groups) | frozenset(self.rollout_scaling_targets)

    def owned_target_groups(self) -> frozenset[str]:
        return frozenset(arn for arns in self.rollout_target_groups.values() for arn in arns)

    def owned_scaling_targets(self) -> frozenset[str]:
        return frozenset(target for targets in self.rollout_scaling_targets.values() for target in targets)

    @classmethod
    def from_rollouts(cls, records: Iterable[RolloutRecord]) -> DriftContext:
        """What the running rollouts among ``records`` own (finished ones own nothing)."""
        target_groups: dict[str, set[str]] = {}
        scaling_targets: dict[str, set[str]] = {}
        for record in records:
            if record.phase.terminal:
                continue
            owned = record.resources
            target_groups.setdefault(record.service, set()).update(arn for arn in owned.target_groups.values() if arn)
            scaling_targets.setdefault(record.service, set()).update(
                scaling_target_id(owned.cluster, name) for name in owned.ecs_services.values() if name
            )
        return cls(
            rollout_target_groups={service: frozenset(arns) for service, arns in target_groups.items()},
            rollout_scaling_targets={service: frozenset(ids) for service, ids in scaling_targets.items()},
        )


def scaling_target_id(cluster: str, ecs_service: str) -> str:
    """An ECS service's Application Auto Scaling resource id, as the program declares it (program/components/service.py)."""
    return f"service/{cluster.rsplit('/', 1)[-1]}/{ecs_service}"


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


_MISSING = object()


def _lookup(value: Any, segments: Iterable[Segment]) -> Any:
    for segment in segments:
        if isinstance(segment, int) and isinstance(value, (list, tuple)) and -len(value) <= segment < len(value):
            value = value[segment]
        elif isinstance(value, Mapping) and segment in value:
            value = value[segment]
        else:
            return _MISSING
    return value


def _reweighted_groups(expected: Any, actual: Any) -> set[str] | None:
    """The target groups whose weight differs between two aligned values (only weights differ);
    None when a differing weight is on an entry that names no target group (nobody can own it)."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        found: set[str] = set()
        if expected.get("weight") != actual.get("weight"):
            arn = expected.get("arn") or expected.get("targetGroupArn")
            if not arn or arn != (actual.get("arn") or actual.get("targetGroupArn")):
                return None
            found.add(str(arn))
        for key in expected.keys() & actual.keys():
            if key == "weight":
                continue
            inner = _reweighted_groups(expected[key], actual[key])
            if inner is None:
                return None
            found |= inner
        return found
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        found = set()
        for left, right in zip(expected, actual, strict=False):
            inner = _reweighted_groups(left, right)
            if inner is None:
                return None
            found |= inner
        return found
    return set()


def _weights_owned(difference: Difference, context: DriftContext) -> bool:
    """Every target group whose weight differs is a running rollout's own (never the listener, never a string in the state)."""
    owned = context.owned_target_groups()
    if not owned:
        return False
    # A path ending at a weight: the target-group entry holding it says whose weight it is.
    prefix = difference.segments[:-1] if difference.segments and difference.segments[-1] == "weight" else difference.segments
    expected, actual = _lookup(difference.desired, prefix), _lookup(difference.real, prefix)
    if expected is _MISSING or actual is _MISSING:
        return False
    groups = _reweighted_groups(expected, actual)
    return bool(groups) and groups <= owned


def _capacity_owned(difference: Difference, context: DriftContext) -> bool:
    """The scaling target's resource id (declared and real) is one of a running rollout's own ECS services'."""
    owned = context.owned_scaling_targets()
    ids = {value for value in (difference.desired.get("resourceId"), difference.real.get("resourceId")) if value is not None}
    return bool(ids) and all(str(value) in owned for value in ids)


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
        and _weights_owned(difference, context)
    )


def _rollout_capacity(difference: Difference, context: DriftContext) -> bool:
    return (
        difference.type == SCALING_TARGET
        and difference.top in ("minCapacity", "maxCapacity")
        and _capacity_owned(difference, context)
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
