"""Edit a desired-state file in place, touching only the value that changes.

Comments, key order and formatting of everything else stay as the authors wrote them, so a
write-back commit's diff is exactly the changed image.
"""

from __future__ import annotations

import json

import yaml

from desired_state.errors import DesiredStateError, FieldProblem
from desired_state.loader import InputLimits, YamlRefusal, compose_bounded
from desired_state.schema import ImageRef


def _entry(mapping: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if not isinstance(mapping, yaml.MappingNode):
        return None
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def _child(mapping: yaml.Node | None, key: str) -> yaml.Node | None:
    entry = _entry(mapping, key)
    return entry[1] if entry else None


def image_flow_mapping(image: ImageRef) -> str:
    parts = [f"repository: {image.repository}"]
    if image.tag:
        parts.append(f"tag: {json.dumps(image.tag)}")  # quoted: 1.10 must stay a string
    if image.digest:
        parts.append(f"digest: {image.digest}")
    return "{" + ", ".join(parts) + "}"


def set_service_image(text: str, service: str, image: ImageRef, file: str = "<desired state>") -> str:
    """``text`` with ``services.<service>.image`` replaced by ``image``; raise if the field is not there."""
    # The clone's head may be newer than what was validated: compose it with the loader's bounds.
    try:
        root = compose_bounded(text, InputLimits())
    except YamlRefusal as refusal:
        raise DesiredStateError([FieldProblem(file, refusal.field, refusal.line, refusal.reason)]) from None
    entry = _entry(_child(_child(root, "services"), service), "image")
    if entry is None:
        raise DesiredStateError([FieldProblem(file, f"services.{service}.image", None, "not found; cannot write the new image back")])
    key, node = entry
    if isinstance(node, yaml.MappingNode) and not node.flow_style:
        # A block mapping runs until the next key's line: replace from the key's colon to there.
        colon = text.index(":", key.end_mark.index)
        rest = node.end_mark.index - node.end_mark.column
        return text[:colon] + ": " + image_flow_mapping(image) + "\n" + text[rest:]
    return text[: node.start_mark.index] + image_flow_mapping(image) + text[node.end_mark.index :]
