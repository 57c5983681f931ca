"""Edit a desired-state file in place, touching only the values that change.

A write-back commit must be exactly the changed image: a formatting-only commit triggers a
converge for nothing. So the file is never re-serialised. The loader's own bounded parser
finds each scalar of ``services.<service>.image`` by its position in the text, and only the
values whose parsed value differs are rewritten, in the style they were written in (block or
flow, quoted or plain, the file's line endings); fields the new image gains are added beside
the others in the same style, fields it loses are removed with their line. Comments, key
order, spacing and everything else stay byte for byte. An image equal by value to the new one,
however it is written, is no change: the text comes back as it was.

The result is checked by parsing it again: the document must equal the old one with only the
image replaced, or the edit is refused (an image shared through a YAML anchor, a merge key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from desired_state.errors import DesiredStateError, FieldProblem
from desired_state.loader import InputLimits, YamlRefusal, compose_bounded, read_yaml_data
from desired_state.schema import ImageRef

IMAGE_FIELDS = ("repository", "tag", "digest")


def image_flow_mapping(image: ImageRef) -> str:
    parts = [f"repository: {image.repository}"]
    if image.tag:
        parts.append(f"tag: {json.dumps(image.tag)}")  # quoted: 1.10 must stay a string
    if image.digest:
        parts.append(f"digest: {image.digest}")
    return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


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


def _reads_as(text: str) -> Any:
    """What the loader reads ``text`` as when it is a value (``None`` when it is no single value)."""
    try:
        return read_yaml_data(f"k: {text}\n", "<value>")["k"]
    except (DesiredStateError, KeyError, TypeError):
        return None


def _render(value: str, style: str | None, flow: bool) -> str:
    """``value`` as YAML in the style it replaces: quoted as it was, plain where plain reads back as the string."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"':
        return json.dumps(value)
    plain_ok = value.strip() == value and not any(c in value for c in ",[]{}" if flow) and _reads_as(value) == value
    return value if plain_ok else json.dumps(value)


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _after_line(text: str, index: int) -> int:
    """The index just past the line break of the line holding ``index`` (the end of the text if none)."""
    found = text.find("\n", index)
    return len(text) if found < 0 else found + 1


def _image_edits(text: str, node: yaml.MappingNode, image: ImageRef, current: dict[str, Any]) -> list[_Edit]:
    newline = "\r\n" if "\r\n" in text else "\n"
    entries = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    flow = bool(node.flow_style)
    edits: list[_Edit] = []
    # New fields go after the nearest field before them in repository, tag, digest order.
    last_present: tuple[yaml.Node, yaml.Node] | None = None
    pending: list[tuple[str, str]] = []  # fields to add after last_present (or at the end)

    def add_after(anchor: tuple[yaml.Node, yaml.Node] | None, fields: list[tuple[str, str]]) -> None:
        if not fields:
            return
        if flow:
            if anchor is None and node.value:
                anchor = node.value[-1]
            at = anchor[1].end_mark.index if anchor is not None else node.start_mark.index + 1
            lead = ", " if anchor is not None else ""
            edits.append(_Edit(at, at, lead + ", ".join(f"{k}: {v}" for k, v in fields)))
            return
        anchor = anchor or node.value[-1]
        indent = " " * node.value[0][0].start_mark.column
        at = _after_line(text, anchor[1].end_mark.index)
        lines = "".join(f"{indent}{k}: {v}{newline}" for k, v in fields)
        if at == len(text) and not text.endswith("\n"):
            lines = newline + lines[: -len(newline)]  # the file has no final line break: keep it so
        edits.append(_Edit(at, at, lines))

    for name in IMAGE_FIELDS:
        wanted = getattr(image, name)
        entry = entries.get(name)
        if entry is None:
            # Absent here; a merge key (``<<: *base``) may still give it the wanted value.
            if wanted is not None and current.get(name) != wanted:
                pending.append((name, _render(wanted, '"' if name == "tag" else None, flow)))
            continue
        add_after(last_present, pending)
        pending = []
        last_present = entry
        key, value = entry
        if wanted is not None and current.get(name) == wanted:
            continue  # equal by value, however it is written
        if wanted is not None:
            if not isinstance(value, yaml.ScalarNode):
                edits.append(_Edit(value.start_mark.index, value.end_mark.index, _render(wanted, None, True)))
            else:
                edits.append(_Edit(value.start_mark.index, value.end_mark.index, _render(wanted, value.style, flow)))
            continue
        # The new image has no such field: remove it.
        if flow:
            position = node.value.index(entry)
            if position + 1 < len(node.value):
                edits.append(_Edit(key.start_mark.index, node.value[position + 1][0].start_mark.index, ""))
            elif position > 0:
                edits.append(_Edit(node.value[position - 1][1].end_mark.index, value.end_mark.index, ""))
            else:
                edits.append(_Edit(key.start_mark.index, value.end_mark.index, ""))
        else:
            start = _line_start(text, key.start_mark.index)
            if text[start : key.start_mark.index].strip():
                start = key.start_mark.index
            edits.append(_Edit(start, _after_line(text, value.end_mark.index), ""))
    add_after(last_present, pending)
    return edits


def _apply(text: str, edits: list[_Edit]) -> str:
    # Last first, so earlier positions stay valid; at one position a removal before an insertion there.
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text


def set_service_image(
    text: str, service: str, image: ImageRef, file: str = "<desired state>", limits: InputLimits = InputLimits()
) -> str:
    """``text`` with ``services.<service>.image`` set to ``image``, edited in place; ``text`` itself when
    the image there already equals ``image`` by value. Raise :class:`DesiredStateError` if the field is not
    there or the file is refused by the loader's bounds."""
    field = f"services.{service}.image"
    # The clone's head may be newer than what was validated: read it within the loader's bounds
    # (size, depth, node count, aliases expanded) before anything else.
    before = read_yaml_data(text, file, limits=limits)
    try:
        root = compose_bounded(text, limits)
    except YamlRefusal as refusal:  # pragma: no cover - read_yaml_data refuses the same text first
        raise DesiredStateError([FieldProblem(file, refusal.field, refusal.line, refusal.reason)]) from None
    services = before.get("services") if isinstance(before, dict) else None
    entry = _entry(_child(root, "services"), service)
    image_entry = _entry(entry[1], "image") if entry else None
    if image_entry is None or not isinstance(services, dict) or not isinstance(services.get(service), dict):
        where = "no services section" if not isinstance(services, dict) else (
            f"no service '{service}' under services" if service not in services else f"no image under services.{service}"
        )
        raise DesiredStateError([FieldProblem(file, field, None, f"not found ({where}); cannot write the new image back")])
    key, node = image_entry
    line = key.start_mark.line + 1
    current = services[service].get("image")
    if isinstance(node, yaml.MappingNode) and isinstance(current, dict):
        if node.start_mark.index < key.end_mark.index:
            # An alias (``image: *x``): its node is written elsewhere, and editing it edits every use.
            raise DesiredStateError([FieldProblem(file, field, line, "is a YAML alias of an image written elsewhere (an anchor); write the image out in full here so only this service changes")])
        edits = _image_edits(text, node, image, current)
    else:
        # Not a mapping (null, a string): whatever is there becomes the image.
        start, end = node.start_mark.index, node.end_mark.index
        lead = "" if text[start - 1 : start].isspace() else " "
        edits = [_Edit(start, end, lead + image_flow_mapping(image))]
    if not edits:
        return text
    edited = _apply(text, edits)
    _check_only_the_image_changed(before, edited, service, image, current, file, field, line, limits)
    return edited


def _check_only_the_image_changed(
    before: dict[str, Any], edited: str, service: str, image: ImageRef, current: Any, file: str, field: str, line: int, limits: InputLimits
) -> None:
    """Read the edited text back: it must be the old document with only this service's image replaced."""
    kept = {k: v for k, v in current.items() if k not in IMAGE_FIELDS} if isinstance(current, dict) else {}
    expected = {**before, "services": {**before["services"], service: {**before["services"][service], "image": {**kept, **image.model_dump(exclude_none=True)}}}}
    try:
        after = read_yaml_data(edited, file, limits=limits)
    except DesiredStateError:
        after = None
    if after != expected:
        raise DesiredStateError(
            [FieldProblem(file, field, line, "cannot be edited in place without changing other values (is the image shared through a YAML anchor or merge key?); write the image out in full here")]
        )
