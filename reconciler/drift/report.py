"""A refreshed preview's steps mapped to a :class:`DriftReport`: what drifted, how, how serious.

The steps are the engine's own events (``pulumi.automation.events.StepEventMetadata``) from a
preview with refresh: ``old`` is the resource as AWS has it now (the refresh just read it) and
``new`` is what the applied desired state asks for (the program's inputs); ``detailed_diff``
names each differing property path. So per path the *expected* value comes from ``new`` and the
*actual* one from ``old``, and the summary says what happened out of band, in that direction:
a rule the program does not have but AWS does is a rule the group *gained*.

A step that would create a resource which is in the applied state means the refresh found it
gone: deleted out of band.

Secrets never leave this module: every state is masked before anything looks at it (values
Pulumi marks secret, and every value of a property the provider or the step marks secret), so
summaries, rules and the report see only :data:`SECRET_MASK`. A value nothing marks secret can
still be one: a plain environment variable a person adds to a task definition in the console
(``DB_PASSWORD=...``). So a task definition's ``containerDefinitions`` is never copied whole: it is
reported per container and field, ``environment``/``secrets`` by variable name only, and the other
fields that carry values (:data:`CONTAINER_VALUE_FIELDS`) masked.

Pure: no I/O, no clock; ``checked_at`` and the :class:`DriftContext` come from the caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.drift.model import SECRET_MASK, DriftedResource, DriftKind, DriftReport, IgnoredDrift, PropertyDrift
from reconciler.drift.rules import Difference, DriftContext, Segment, not_drift_rule
from reconciler.drift.severity import TAG_PROPERTIES, platform_tags_lost, severity_of
from reconciler.engine import DRIFT_STEP_PRIORITY as OP_PRIORITY
from reconciler.engine import STACK_TYPE

# How Pulumi marks a secret value in serialized state: {SIG_KEY: SECRET_SIG, "value"|"plaintext"|"ciphertext": ...}.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
# Properties the providers' schemas mark secret: their values are never shown, masked or not.
SECRET_PROPERTIES: Mapping[str, frozenset[str]] = {
    "aws:secretsmanager/secretVersion:SecretVersion": frozenset({"secretString", "secretBinary", "secretStringWo"}),
    "aws:iam/accessKey:AccessKey": frozenset({"secret", "sesSmtpPasswordV4", "encryptedSecret"}),
    "aws:ssm/parameter:Parameter": frozenset({"value"}),
    "random:index/randomPassword:RandomPassword": frozenset({"result", "bcryptHash"}),
}
REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})
PROVIDER_TYPE_PREFIX = "pulumi:providers:"
# What a preview puts where a value is computed and not yet known.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
HEADLINE_RESOURCES = 3
VALUE_WIDTH = 60


# --------------------------------------------------------------------------- property paths


_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


def parse_path(path: str) -> tuple[Segment, ...]:
    """Pulumi's property path syntax: ``ingress[0].cidrBlocks[1]``, ``tags.team``, ``tags["aws:x"]``."""
    segments: list[Segment] = []
    index = 0
    while index < len(path):
        char = path[index]
        if char == ".":
            index += 1
            continue
        if char == "[":
            end = path.find("]", index)
            if path.startswith('["', index):
                closing = index + 2
                text: list[str] = []
                while closing < len(path) and path[closing] != '"':
                    if path[closing] == "\\" and closing + 1 < len(path):
                        closing += 1
                    text.append(path[closing])
                    closing += 1
                segments.append("".join(text))
                index = closing + 2  # past '"]'
                continue
            if end == -1:
                segments.append(path[index:])
                break
            inner = path[index + 1 : end]
            segments.append(int(inner) if inner.isdigit() else inner.strip('"'))
            index = end + 1
            continue
        match = _IDENTIFIER.match(path, index)
        if match is None:
            segments.append(path[index:])
            break
        segments.append(match.group(0))
        index = match.end()
    return tuple(segments)


_MISSING = object()
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _child_path(path: str, key: str) -> str:
    """``path.key``, or ``path["key"]`` for a key that is not a plain name (as Pulumi writes it)."""
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'{path}["{escaped}"]'


def _lookup(value: Any, segments: Sequence[Segment]) -> Any:
    for segment in segments:
        if isinstance(segment, int) and isinstance(value, (list, tuple)):
            if segment >= len(value):
                return _MISSING
            value = value[segment]
        elif isinstance(value, Mapping) and str(segment) in value:
            value = value[str(segment)]
        elif value == SECRET_MASK:
            return SECRET_MASK  # inside a secret: the part is as secret as the whole
        else:
            return _MISSING
    return value


# --------------------------------------------------------------------------- secrets


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SIG_KEY) == SECRET_SIG


def _mask(value: Any) -> Any:
    """``value`` with every Pulumi-marked secret in it, at any depth, replaced by :data:`SECRET_MASK`."""
    if _is_secret(value):
        return SECRET_MASK
    if isinstance(value, Mapping):
        return {str(key): _mask(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask(item) for item in value]
    return value


def _holds_secret(value: Any) -> bool:
    if value == SECRET_MASK:
        return True
    if isinstance(value, Mapping):
        return any(_holds_secret(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_secret(item) for item in value)
    return False


def _secret_properties(metadata: Any) -> frozenset[str]:
    """Property names whose values are secret by the provider's schema.

    (A step cannot list its ``additional_secret_outputs``: ``StepEventStateMetadata`` has no such
    field and ``from_json`` drops unknown keys. The engine wraps those outputs as secrets instead,
    and :func:`_masked_alike` carries that mark over to the plain input on the other side.)
    """
    return SECRET_PROPERTIES.get(str(getattr(metadata, "type", "")), frozenset())


def _secret_positions(value: Any, prefix: tuple[Segment, ...] = ()) -> list[tuple[Segment, ...]]:
    if value == SECRET_MASK:
        return [prefix]
    if isinstance(value, Mapping):
        return [p for key, item in value.items() for p in _secret_positions(item, (*prefix, str(key)))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _secret_positions(item, (*prefix, index))]
    return []


def _mask_at(value: Any, position: tuple[Segment, ...]) -> Any:
    if not position:
        return SECRET_MASK if value is not None else None
    head, rest = position[0], position[1:]
    if isinstance(value, dict) and head in value:
        value[head] = _mask_at(value[head], rest)
    elif isinstance(value, list) and isinstance(head, int) and head < len(value):
        value[head] = _mask_at(value[head], rest)
    return value


def _masked_alike(*states: Mapping[str, Any] | None, secret_names: frozenset[str]) -> list[dict[str, Any]]:
    """The states masked, and alike: a position secret in one (an output the program asked to keep
    secret, a secret input) is masked in all, so its plain value on the other side never shows."""
    masked = [_mask(dict(state or {})) for state in states]
    positions = {(name,) for name in secret_names} | {p for state in masked for p in _secret_positions(state)}
    for state in masked:
        for position in positions:
            _mask_at(state, position)
    return masked


# --------------------------------------------------------------------------- one resource's step


@dataclass(frozen=True)
class _Step:
    """One resource's step with its states masked: ``desired`` (program inputs) and ``real`` (refreshed)."""

    urn: str
    type: str
    name: str
    op: str
    resource_id: str | None
    desired: dict[str, Any]
    real: dict[str, Any]
    real_inputs: dict[str, Any]
    diff: Mapping[str, Any]  # path -> PropertyDiff (or None when the engine gave only the keys)
    keys: tuple[str, ...]

    @classmethod
    def of(cls, metadata: Any) -> _Step:
        secret_names = _secret_properties(metadata)
        old, new = getattr(metadata, "old", None), getattr(metadata, "new", None)
        real_outputs = getattr(old, "outputs", None) if old is not None else None
        real_inputs = getattr(old, "inputs", None) if old is not None else None
        detailed = dict(getattr(metadata, "detailed_diff", None) or {})
        diff: dict[str, Any] = detailed or {str(key): None for key in (getattr(metadata, "diffs", None) or ())}
        urn = str(metadata.urn)
        desired, real, masked_real_inputs = _masked_alike(
            getattr(new, "inputs", None) if new is not None else None,
            real_outputs if real_outputs else real_inputs,
            real_inputs,
            secret_names=secret_names,
        )
        return cls(
            urn=urn,
            type=str(metadata.type),
            name=urn.rsplit("::", 1)[-1],
            op=str(getattr(metadata.op, "value", metadata.op)),
            resource_id=(getattr(old, "id", None) or None) if old is not None else None,
            desired=desired,
            real=real,
            real_inputs=masked_real_inputs,
            diff=diff,
            keys=tuple(str(key) for key in (getattr(metadata, "keys", None) or ())),
        )

    @property
    def deleted_out_of_band(self) -> bool:
        return self.op == "create"

    def paths(self) -> list[str]:
        if self.diff:
            named = list(self.diff)
        else:
            # No diff detail from the engine: the desired properties whose real value differs.
            named = [key for key, value in self.desired.items() if self.real.get(key) != value]
        return sorted({path for name in named for path in self._per_tag(name)})

    def _per_tag(self, path: str) -> list[str]:
        """A whole tags map that differs, as one path per differing key: each tag is its own difference."""
        segments = parse_path(path)
        if len(segments) != 1 or segments[0] not in TAG_PROPERTIES:
            return [path]
        desired, real = self.desired.get(path), self.real.get(path)
        desired, real = (desired if isinstance(desired, Mapping) else {}), (real if isinstance(real, Mapping) else {})
        keys = sorted(key for key in desired.keys() | real.keys() if desired.get(key) != real.get(key))
        return [_child_path(path, key) for key in keys] or [path]

    def difference(self, path: str) -> Difference:
        segments = parse_path(path)
        property_diff = self.diff.get(path)
        real = self.real_inputs if getattr(property_diff, "input_diff", False) and self.real_inputs else self.real
        expected, actual = _lookup(self.desired, segments), _lookup(real, segments)
        return Difference(
            type=self.type,
            name=self.name,
            urn=self.urn,
            path=path,
            segments=segments,
            expected=None if expected is _MISSING else expected,
            actual=None if actual is _MISSING else actual,
            desired=self.desired,
            real=self.real,
            resource_id=self.resource_id,
        )


def _in_aws(metadata: Any) -> bool:
    """A resource AWS holds: not the Stack, not a provider (the engine's own, versioned with the
    reconciler's image), not a component (the program's grouping, with no state of its own)."""
    type_ = str(getattr(metadata, "type", ""))
    if type_ == STACK_TYPE or type_.startswith(PROVIDER_TYPE_PREFIX):
        return False
    states = [state for state in (getattr(metadata, "new", None), getattr(metadata, "old", None)) if state is not None]
    return not any(getattr(state, "custom", None) is False for state in states)


def _representative_steps(steps: Iterable[Any]) -> list[Any]:
    """One step per resource AWS holds (the most telling of a replacement's steps)."""
    chosen: dict[str, Any] = {}
    for metadata in steps:
        if metadata is None or not _in_aws(metadata):
            continue
        op = str(getattr(metadata.op, "value", metadata.op))
        if op not in OP_PRIORITY:
            continue
        current = chosen.get(metadata.urn)
        if current is None or OP_PRIORITY[op] < OP_PRIORITY[str(getattr(current.op, "value", current.op))]:
            chosen[metadata.urn] = metadata
    return list(chosen.values())


# --------------------------------------------------------------------------- summaries


def _plain(value: Any) -> Any:
    """Integral floats as ints: the engine's wire format makes every number a float (30 -> 30.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _show(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return "none"
    if value == UNKNOWN:
        return "(known after apply)"
    if isinstance(value, str):
        text = value
    elif isinstance(value, (Mapping, list)):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    else:
        text = str(value)
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def _ports(protocol: Any, from_port: Any, to_port: Any) -> str:
    protocol = str(_plain(protocol)).lower()
    if protocol in ("-1", "all"):
        return "all traffic"
    low, high = _plain(from_port), _plain(to_port)
    if low in (None, -1) and high in (None, -1):
        return protocol
    return f"{protocol}/{low}" if low == high or high is None else f"{protocol}/{low}-{high}"


def _inline_rules(rules: Any, direction: str) -> set[str]:
    """An inline ingress/egress list (the AWS provider's state shape) as one phrase per source."""
    word = "from" if direction == "ingress" else "to"
    phrases: set[str] = set()
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, Mapping):
            continue
        ports = _ports(rule.get("protocol"), rule.get("fromPort"), rule.get("toPort"))
        sources = [
            *(rule.get("cidrBlocks") or ()),
            *(rule.get("ipv6CidrBlocks") or ()),
            *(rule.get("prefixListIds") or ()),
            *(rule.get("securityGroups") or ()),
            *(["itself"] if rule.get("self") else ()),
        ]
        if sources:
            phrases.update(f"{ports} {word} {source}" for source in sources)
        else:
            phrases.add(ports)
    return phrases


def _standalone_rule(properties: Mapping[str, Any], direction: str) -> str:
    """One ``aws:vpc/securityGroup{Ingress,Egress}Rule`` as a phrase: ``tcp/443 from 0.0.0.0/0``."""
    word = "from" if direction == "ingress" else "to"
    source = next(
        (properties[key] for key in ("cidrIpv4", "cidrIpv6", "referencedSecurityGroupId", "prefixListId") if properties.get(key)),
        None,
    )
    ports = _ports(properties.get("ipProtocol"), properties.get("fromPort"), properties.get("toPort"))
    return f"{ports} {word} {source}" if source else ports


def _joined(items: Iterable[str]) -> str:
    items = sorted(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _security_group_pieces(step: _Step, paths: list[str], consumed: set[str]) -> list[str]:
    pieces: list[str] = []
    for direction in ("ingress", "egress"):
        mine = [path for path in paths if parse_path(path)[:1] == (direction,)]
        if not mine:
            continue
        real, desired = _inline_rules(step.real.get(direction), direction), _inline_rules(step.desired.get(direction), direction)
        gained, lost = real - desired, desired - real
        if gained:
            pieces.append(f"{direction} gained {_joined(gained)}")
        if lost:
            pieces.append(f"{direction} lost {_joined(lost)}")
        if gained or lost:
            consumed.update(mine)
    return pieces


STANDALONE_RULES = {
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "ingress",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "egress",
}
RULE_FIELDS = frozenset({"ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6", "referencedSecurityGroupId", "prefixListId"})


def _standalone_rule_pieces(step: _Step, paths: list[str], consumed: set[str]) -> list[str]:
    direction = STANDALONE_RULES.get(step.type)
    mine = [path for path in paths if str(parse_path(path)[0]) in RULE_FIELDS] if direction else []
    if not mine:
        return []
    consumed.update(mine)
    return [f"{direction} rule now allows {_standalone_rule(step.real, direction)} (expected {_standalone_rule(step.desired, direction)})"]


def _tag_pieces(step: _Step, differences: list[PropertyDrift], consumed: set[str]) -> list[str]:
    changes: dict[str, tuple[Any, Any]] = {}
    for drift in differences:
        segments = parse_path(drift.path)
        # A whole tags map arrives split into one path per key (``_Step.paths``); what is left whole
        # (not a map: a secret, say) is told generically.
        if len(segments) < 2 or segments[0] not in TAG_PROPERTIES:
            continue
        consumed.add(drift.path)
        changes.setdefault(str(segments[1]), (drift.expected, drift.actual))
    pieces = []
    for key in sorted(changes):
        expected, actual = changes[key]
        if expected is None:
            pieces.append(f"tag {key} added ({_show(actual)})")
        elif actual is None:
            pieces.append(f"tag {key} removed (was {_show(expected)})")
        else:
            pieces.append(f"tag {key} changed from {_show(expected)} to {_show(actual)}")
    return pieces


def _retention_pieces(step: _Step, differences: list[PropertyDrift], consumed: set[str]) -> list[str]:
    if step.type != "aws:cloudwatch/logGroup:LogGroup":
        return []
    drift = next((d for d in differences if d.path == "retentionInDays" and not d.secret), None)
    if drift is None:
        return []
    expected, actual = _plain(drift.expected), _plain(drift.actual)
    if not all(isinstance(days, (int, float)) or days is None for days in (expected, actual)):
        return []  # unknown until applied: told generically
    consumed.add(drift.path)
    if not actual:
        return [f"retention removed (was {expected} days): logs are kept forever"]
    if not expected:
        return [f"retention set to {actual} days (expected none)"]
    direction = "lowered" if actual < expected else "raised"
    return [f"retention {direction} from {expected} to {actual} days"]


def _containers(definitions: Any) -> dict[str, Mapping[str, Any]]:
    if isinstance(definitions, str):
        try:
            definitions = json.loads(definitions)
        except ValueError:
            return {}
    if not isinstance(definitions, list):
        return {}
    return {str(c.get("name")): c for c in definitions if isinstance(c, Mapping)}


def _image(reference: Any) -> str:
    """An image without its registry host (``api-gateway:hotfix``): the part a person tells apart."""
    text = str(reference)
    host, _, rest = text.partition("/")
    return rest if rest and ("." in host or ":" in host) else text


TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
CONTAINER_DEFINITIONS = "containerDefinitions"
# Container fields listing named values: reported by name, never by value ({"name": ..., <value key>: ...}).
CONTAINER_NAMED_VALUES = {"environment": "value", "secrets": "valueFrom"}
# Container fields that can carry a value a person typed (a password in an argument, a log driver's
# token, a label): masked whole; the report says only that they differ.
CONTAINER_VALUE_FIELDS = frozenset(
    {"command", "entryPoint", "dockerLabels", "healthCheck", "logConfiguration", "environmentFiles", "linuxParameters",
     "firelensConfiguration", "repositoryCredentials", "systemControls", "extraHosts", "ulimits"}
)


def _named_values(items: Any) -> dict[str, Any]:
    """``[{"name": "A", "value": "x"}]`` -> ``{"A": {"name": "A", "value": "x"}}`` (a malformed entry under its position)."""
    named: dict[str, Any] = {}
    for index, item in enumerate(items if isinstance(items, list) else []):
        key = str(item.get("name")) if isinstance(item, Mapping) and item.get("name") is not None else f"#{index}"
        named[key] = item
    return named


def _value_free_container(container: Mapping[str, Any]) -> dict[str, Any]:
    """A container definition with every value a person could have typed masked: variable names kept, values never."""
    shown: dict[str, Any] = {}
    for key, value in container.items():
        if key in CONTAINER_NAMED_VALUES:
            shown[key] = {name: SECRET_MASK for name in _named_values(value)}
        elif key in CONTAINER_VALUE_FIELDS:
            shown[key] = SECRET_MASK if value is not None else None
        else:
            shown[key] = _plain(value)
    return shown


def _keyed(key: str) -> str:
    """``["key"]`` in Pulumi's path syntax (what :func:`parse_path` reads back): a name, not a list position."""
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'["{escaped}"]'


def _container_path(name: str) -> str:
    return f"{CONTAINER_DEFINITIONS}{_keyed(name)}"


def _container_properties(drift: PropertyDrift) -> list[PropertyDrift]:
    """A ``containerDefinitions`` difference as one property per container field that differs, values masked
    where a field can carry one, and per variable name for ``environment``/``secrets``."""
    if drift.secret:
        return [drift]
    if any(not _parses_as_containers(side) for side in (drift.expected, drift.actual)):
        # Not container definitions this module can read (unknown until applied, or malformed): nothing of it is shown.
        return [drift.model_copy(update={
            "expected": SECRET_MASK if drift.expected is not None else None, "actual": SECRET_MASK if drift.actual is not None else None, "secret": True,
        })]
    real, desired = _containers(drift.actual), _containers(drift.expected)
    properties: list[PropertyDrift] = []
    for name in sorted(real.keys() | desired.keys()):
        now, wanted = real.get(name), desired.get(name)
        base = _container_path(name)
        if now is None or wanted is None:
            properties.append(PropertyDrift(
                path=base, expected=_value_free_container(wanted) if wanted is not None else None,
                actual=_value_free_container(now) if now is not None else None, secret=True,
            ))
            continue
        for field in sorted(key for key in now.keys() | wanted.keys() if now.get(key) != wanted.get(key)):
            if field in CONTAINER_NAMED_VALUES:
                real_values, desired_values = _named_values(now.get(field)), _named_values(wanted.get(field))
                for variable in sorted(real_values.keys() | desired_values.keys()):
                    if real_values.get(variable) != desired_values.get(variable):
                        properties.append(PropertyDrift(
                            path=f"{base}.{field}{_keyed(variable)}",
                            expected=SECRET_MASK if variable in desired_values else None,
                            actual=SECRET_MASK if variable in real_values else None, secret=True,
                        ))
            elif field in CONTAINER_VALUE_FIELDS:
                properties.append(PropertyDrift(
                    path=f"{base}.{field}", expected=SECRET_MASK if wanted.get(field) is not None else None,
                    actual=SECRET_MASK if now.get(field) is not None else None, secret=True,
                ))
            else:
                properties.append(PropertyDrift(path=f"{base}.{field}", expected=_plain(wanted.get(field)), actual=_plain(now.get(field))))
    return properties or [drift.model_copy(update={"expected": SECRET_MASK, "actual": SECRET_MASK, "secret": True})]


def _parses_as_containers(definitions: Any) -> bool:
    if definitions is None:
        return True
    if isinstance(definitions, str):
        try:
            definitions = json.loads(definitions)
        except ValueError:
            return False
    return isinstance(definitions, list) and all(isinstance(c, Mapping) for c in definitions)


def _variable_changes(now: Any, wanted: Any) -> str:
    """``added DB_PASSWORD, changed LOG_LEVEL``: names only."""
    real_values, desired_values = _named_values(now), _named_values(wanted)
    words = []
    for word, names in (
        ("added", sorted(real_values.keys() - desired_values.keys())),
        ("changed", sorted(k for k in real_values.keys() & desired_values.keys() if real_values[k] != desired_values[k])),
        ("removed", sorted(desired_values.keys() - real_values.keys())),
    ):
        if names:
            words.append(f"{word} {', '.join(names)}")
    return ", ".join(words)


def _container_details(drift: PropertyDrift) -> list[str]:
    """What differs between the containers, in words; never a value of :data:`CONTAINER_NAMED_VALUES`/:data:`CONTAINER_VALUE_FIELDS`."""
    real, desired = _containers(drift.actual), _containers(drift.expected)
    details = []
    for name in sorted(real.keys() | desired.keys()):
        now, wanted = real.get(name), desired.get(name)
        if now is None or wanted is None:
            details.append(f"container {name} {'added' if wanted is None else 'removed'}")
            continue
        if now.get("image") != wanted.get("image"):
            details.append(f"container {name} runs {_image(now.get('image'))}, expected {_image(wanted.get('image'))}")
        fields = sorted(key for key in now.keys() | wanted.keys() if key != "image" and now.get(key) != wanted.get(key))
        for field in (f for f in fields if f in CONTAINER_NAMED_VALUES):
            details.append(f"container {name} {field} {_variable_changes(now.get(field), wanted.get(field))}")
        others = [f for f in fields if f not in CONTAINER_NAMED_VALUES]
        if others:
            details.append(f"container {name} differs in {', '.join(others)}")
    return details


def _task_definition_pieces(step: _Step, differences: list[PropertyDrift], consumed: set[str]) -> list[str]:
    if step.type != TASK_DEFINITION:
        return []
    drift = next((d for d in differences if d.path == CONTAINER_DEFINITIONS and not d.secret), None)
    if step.op not in REPLACE_OPS:
        # Not a replacement (the engine has always replaced a task definition whose containers differ): the
        # containers are still told by field here, so the generic summary never shows their values.
        if drift is None:
            return []
        consumed.add(drift.path)
        return ["; ".join(_container_details(drift)) or "containerDefinitions differ"]
    why = ""
    if drift is not None:
        consumed.add(drift.path)
        details = _container_details(drift)
        why = ": " + "; ".join(details) if details else ": containerDefinitions differ"
    others = [d.path for d in differences if d.path not in consumed]
    if others:
        why += ("; " if why else ": ") + ", ".join(others) + " differ"
        consumed.update(others)
    return [f"task definition replaced out of band{why}"]


def _generic(differences: list[PropertyDrift], already: bool) -> str:
    if not differences:
        return "changed (the engine named no property)"
    if len(differences) == 1 and not already:
        drift = differences[0]
        if drift.secret:
            return f"{drift.path} changed (secret)"
        if drift.expected is None:
            return f"{drift.path} added ({_show(drift.actual)})"
        if drift.actual is None:
            return f"{drift.path} removed (was {_show(drift.expected)})"
        return f"{drift.path} changed from {_show(drift.expected)} to {_show(drift.actual)}"
    count = len(differences)
    word = "property" if count == 1 else "properties"
    return f"{count} {'more ' if already else ''}{word} changed: {', '.join(d.path for d in differences)}"


def _summary(step: _Step, differences: list[PropertyDrift]) -> str:
    if step.deleted_out_of_band:
        direction = STANDALONE_RULES.get(step.type)
        rule = f" ({direction} rule {_standalone_rule(step.desired, direction)})" if direction else ""
        return f"deleted out of band{rule}"
    if step.op == "delete":
        return "in the stack but not in the applied desired state: the engine would delete it"
    paths = [d.path for d in differences]
    consumed: set[str] = set()
    pieces = _task_definition_pieces(step, differences, consumed)
    if step.type == "aws:ec2/securityGroup:SecurityGroup":
        pieces += _security_group_pieces(step, paths, consumed)
    pieces += _standalone_rule_pieces(step, paths, consumed)
    pieces += _retention_pieces(step, differences, consumed)
    pieces += _tag_pieces(step, [d for d in differences if d.path not in consumed], consumed)
    rest = [d for d in differences if d.path not in consumed]
    if rest or not pieces:
        pieces.append(_generic(rest, already=bool(pieces)))
    if step.op in REPLACE_OPS and step.type != TASK_DEFINITION:
        forced = f" ({', '.join(step.keys)} cannot change in place)" if step.keys else ""
        pieces.append(f"the engine would replace it{forced}")
    return "; ".join(pieces)


# --------------------------------------------------------------------------- the report


def _drop_mirrored_tags_all(paths: list[str]) -> list[str]:
    """``tagsAll.k`` mirrors ``tags.k`` (the provider's merge with default tags): one difference, shown once."""
    tags = {parse_path(path)[1:] for path in paths if parse_path(path)[:1] == ("tags",)}
    return [path for path in paths if not (parse_path(path)[:1] == ("tagsAll",) and parse_path(path)[1:] in tags)]


def _property(difference: Difference, secret_names: frozenset[str]) -> PropertyDrift:
    secret = str(difference.top) in secret_names or _holds_secret(difference.expected) or _holds_secret(difference.actual)
    return PropertyDrift(path=difference.path, expected=difference.expected, actual=difference.actual, secret=secret)


def _resource(metadata: Any, context: DriftContext, ignored: list[IgnoredDrift]) -> DriftedResource | None:
    step = _Step.of(metadata)
    secret_names = _secret_properties(metadata)
    properties: list[PropertyDrift] = []
    if not step.deleted_out_of_band and step.op != "delete":
        paths = _drop_mirrored_tags_all(step.paths())
        for path in paths:
            difference = step.difference(path)
            rule = not_drift_rule(difference, context)
            if rule is not None:
                ignored.append(IgnoredDrift(urn=step.urn, name=step.name, path=path, rule=rule.name, reason=rule.reason))
                continue
            properties.append(_property(difference, secret_names))
        if paths and not properties:
            return None  # every difference was the platform's own doing
    # The summary reads the whole values (it tells containers apart by field and names variables only);
    # the report keeps only what carries no value a person may have typed.
    summary = _summary(step, properties)
    return DriftedResource(
        urn=step.urn,
        type=step.type,
        name=step.name,
        kind=DriftKind.DELETED if step.deleted_out_of_band else DriftKind.CHANGED,
        severity=severity_of(step.type, [p.path for p in properties], removed_tags=platform_tags_lost(properties)),
        properties=_value_free(step.type, properties),
        summary=summary,
    )


def _value_free(resource_type: str, properties: list[PropertyDrift]) -> list[PropertyDrift]:
    """The properties with the task definition's container values taken out (:func:`_container_properties`)."""
    if resource_type != TASK_DEFINITION:
        return properties
    shown: list[PropertyDrift] = []
    for drift in properties:
        if drift.path == CONTAINER_DEFINITIONS:
            shown.extend(_container_properties(drift))
        elif parse_path(drift.path)[:1] == (CONTAINER_DEFINITIONS,):
            # A path inside the definitions (not what the provider reports, but nothing says it never will): no value shown.
            shown.append(drift.model_copy(update={
                "expected": SECRET_MASK if drift.expected is not None else None, "actual": SECRET_MASK if drift.actual is not None else None, "secret": True,
            }))
        else:
            shown.append(drift)
    return shown


def build_report(
    steps: Sequence[Any],
    *,
    environment: str,
    stack: str,
    applied_commit: str | None,
    checked_at: datetime,
    context: DriftContext,
) -> DriftReport:
    """The drift a refreshed preview's changing steps show, the platform's own changes set aside.

    Resources are ordered most severe first, then by name.
    """
    ignored: list[IgnoredDrift] = []
    resources = [
        resource
        for metadata in _representative_steps(steps)
        if (resource := _resource(metadata, context, ignored)) is not None
    ]
    resources.sort(key=lambda r: (-r.severity.rank, r.name))
    return DriftReport(
        environment=environment,
        stack=stack,
        applied_commit=applied_commit,
        checked_at=checked_at,
        resources=resources,
        ignored=ignored,
    )


def headline(report: DriftReport) -> str:
    """The first line a person reads: ``prod: 3 resources drifted: sg-api-gateway-prod ingress gained tcp/22 from 0.0.0.0/0; ...``."""
    if not report.drifted:
        return f"{report.environment}: no drift"
    count = len(report.resources)
    shown = "; ".join(f"{r.name} {r.summary}" for r in report.resources[:HEADLINE_RESOURCES])
    more = f"; and {count - HEADLINE_RESOURCES} more" if count > HEADLINE_RESOURCES else ""
    return f"{report.environment}: {count} resource{'s' if count != 1 else ''} drifted: {shown}{more}"
