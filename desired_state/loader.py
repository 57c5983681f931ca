"""Load and validate ``environments/<name>.yaml`` from a desired-state directory.

Every refusal names the file, the field path, the line YAML gives for it and the reason, and
all problems in a file are reported at once so one edit can fix them all.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import ValidationError

from desired_state.errors import DesiredStateError, EnvironmentNotFoundError, FieldProblem
from desired_state.schema import DesiredState, Path, semantic_problems

ENVIRONMENTS_DIR = "environments"
EXAMPLE_DIR = FsPath(__file__).parent / "example"


class _PlainScalarLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: ``tag: 2024-01-01`` stays a string."""


_PlainScalarLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class LoadedEnvironment:
    """A validated desired state with where it came from and a digest of its content."""

    name: str
    file: str
    state: DesiredState
    digest: str


class _Document:
    """Plain data built from a YAML node tree, with the line of every field path."""

    def __init__(self, file: str, text: str):
        self.file = file
        self.lines: dict[Path, int] = {}
        self.problems: list[FieldProblem] = []
        loader = _PlainScalarLoader(text)
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            self.problems.append(FieldProblem(file, "", line, f"not valid YAML: {getattr(exc, 'problem', exc)}"))
            self.data: Any = None
            return
        finally:
            loader.dispose()
        if root is None:
            self.problems.append(FieldProblem(file, "", None, "the file is empty"))
            self.data = None
            return
        self._constructor = _PlainScalarLoader("")
        try:
            self.data = self._build(root, ())
        except RecursionError:
            self.problems.append(FieldProblem(file, "", None, "an anchor refers to itself; YAML aliases must not form a cycle"))
            self.data = None

    def _build(self, node: yaml.Node, path: Path) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            try:
                self._constructor.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
            except yaml.YAMLError as exc:
                self._problem(path, node, f"invalid merge key: {getattr(exc, 'problem', exc)}")
                return None
            for key_node, value_node in node.value:
                key = self._scalar(key_node, path)
                if not isinstance(key, str):
                    self.problems.append(
                        FieldProblem(self.file, _dotted(path), key_node.start_mark.line + 1, f"key {key!r} is not a string")
                    )
                    continue
                child = (*path, key)
                if key in result:
                    self.problems.append(
                        FieldProblem(
                            self.file,
                            _dotted(child),
                            key_node.start_mark.line + 1,
                            f"duplicate key; it is also set on line {self.lines[child]}",
                        )
                    )
                    continue
                self.lines[child] = key_node.start_mark.line + 1
                result[key] = self._build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self._build(item, (*path, index)) for index, item in enumerate(node.value)]
        value = self._scalar(node, path)
        if isinstance(value, float) and not math.isfinite(value):
            self._problem(path, node, f"{value} is not a finite number")
            return None
        if isinstance(value, (bytes, set)):
            self.problems.append(
                FieldProblem(self.file, _dotted(path), node.start_mark.line + 1, "binary and set values are not allowed")
            )
            return None
        return value

    def _scalar(self, node: yaml.Node, path: Path) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self._problem(path, node, f"cannot read value: {getattr(exc, 'problem', None) or exc}")
            return None

    def _problem(self, path: Path, node: yaml.Node, reason: str) -> None:
        self.problems.append(FieldProblem(self.file, _dotted(path), node.start_mark.line + 1, reason))

    def line_of(self, path: Path) -> int | None:
        """The line of ``path`` or of its nearest ancestor YAML has a line for."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def _dotted(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _reason(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling against the schema)"
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        found = error.get("input")
        message += f" (found {type(found).__name__} {found!r})" if not isinstance(found, (dict, list)) else ""
    return message


def validate_document(data: Any, file: str, line_of: Any = lambda path: None) -> DesiredState:
    """Validate plain data (from YAML or JSON) into a :class:`DesiredState`, or raise with every problem."""
    try:
        state = DesiredState.model_validate_json(json.dumps(data, allow_nan=False))
    except ValidationError as exc:
        problems = [
            FieldProblem(file, _dotted(tuple(err["loc"])), line_of(tuple(err["loc"])), _reason(err))
            for err in exc.errors(include_url=False)
        ]
        raise DesiredStateError(problems) from None
    except ValueError as exc:
        raise DesiredStateError([FieldProblem(file, "", None, f"not representable as JSON: {exc}")]) from None
    semantic = semantic_problems(state)
    if semantic:
        raise DesiredStateError([FieldProblem(file, _dotted(p), line_of(p), reason) for p, reason in semantic])
    return state


def environment_file(desired_state_dir: str | FsPath, environment: str) -> FsPath:
    return FsPath(desired_state_dir) / ENVIRONMENTS_DIR / f"{environment}.yaml"


def list_environments(desired_state_dir: str | FsPath) -> list[str]:
    return sorted(p.stem for p in (FsPath(desired_state_dir) / ENVIRONMENTS_DIR).glob("*.yaml"))


def load_environment(desired_state_dir: str | FsPath, environment: str) -> LoadedEnvironment:
    """Read, parse and validate one environment. Raises :class:`DesiredStateError` with every problem."""
    path = environment_file(desired_state_dir, environment)
    file = str(path)
    if not path.is_file():
        known = list_environments(desired_state_dir) if path.parent.is_dir() else []
        hint = f"known environments: {', '.join(known)}" if known else f"no {ENVIRONMENTS_DIR}/ directory there"
        raise EnvironmentNotFoundError([FieldProblem(file, "", None, f"environment '{environment}' not found ({hint})")])
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DesiredStateError([FieldProblem(file, "", None, f"not UTF-8 text: {exc}")]) from None
    document = _Document(file, text)
    if document.problems:
        raise DesiredStateError(document.problems)
    if not isinstance(document.data, dict):
        raise DesiredStateError([FieldProblem(file, "", 1, "the document must be a mapping of fields")])
    state = validate_document(document.data, file, document.line_of)
    return LoadedEnvironment(environment, file, state, "sha256:" + hashlib.sha256(raw).hexdigest())
