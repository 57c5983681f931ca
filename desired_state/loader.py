"""Load and validate ``environments/<name>.yaml`` from a desired-state directory.

Every refusal names the file as it is in the desired-state repository (and the commit, when
known), the field path, the line YAML gives for it and the reason, and all problems in a file
are reported at once so one edit can fix them all.

The input is untrusted: whoever can push to the desired-state repository can write any bytes.
Reading is bounded so that no file, of any size or shape, costs more than a fraction of a
second or a few megabytes before it is refused: a size cap read at most once past its limit,
libyaml's C scanner feeding an iterative composer that caps nesting depth and node count, and a
budget on the values built after YAML aliases are expanded ("billion laughs"). Every parser and
converter error becomes a :class:`DesiredStateError`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from desired_state.errors import DesiredStateError, EnvironmentNotFoundError, FieldProblem, dotted, validation_problems
from desired_state.schema import DesiredState, Path, cross_field_problems

ENVIRONMENTS_DIR = "environments"
EXAMPLE_DIR = FsPath(__file__).parent / "example"
DEFAULT_MAX_FILE_BYTES = 1_048_576


@dataclass(frozen=True)
class InputLimits:
    """How much of a desired-state file the loader will read before refusing it.

    The bundled examples hold under 300 keys and values, nested 5 deep: the defaults leave room
    for thirty times that while keeping any refusal well under a second. ``max_file_bytes``
    comes from settings (``max_desired_state_file_bytes``).
    """

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_nodes: int = 10_000  # YAML nodes composed, and values built after aliases are expanded
    max_depth: int = 64  # nested mappings and lists
    max_scalar_chars: int = 65_536
    max_number_chars: int = 100  # an int of 4301 digits makes int() raise; nothing here needs 100


# --- YAML: bounded parsing into nodes --------------------------------------------------------

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_PLAIN_RESOLVERS = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}

try:  # libyaml scans a megabyte in milliseconds; the pure-Python scanner needs seconds
    from yaml.cyaml import CParser as _EventParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _EventParser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str):
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


class _PlainResolver(Resolver):
    """The YAML 1.1 resolver without timestamps: ``tag: 2024-01-01`` stays a string."""

    yaml_implicit_resolvers = _PLAIN_RESOLVERS


class YamlRefusal(Exception):
    """The whole document is refused: one problem, at ``line`` (1-based) when known."""

    def __init__(self, line: int | None, reason: str, field: str = ""):
        super().__init__(reason)
        self.line = line
        self.reason = reason
        self.field = field


def _line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


def _line_at(text: str, position: int | None) -> int | None:
    if position is None or position < 0:
        return None
    return text.count("\n", 0, position) + 1


def compose_bounded(text: str, limits: InputLimits = InputLimits()) -> Node | None:
    """The node tree of the single YAML document in ``text``; ``None`` when it holds none.

    Composes iteratively from parser events, so depth is limited by ``limits.max_depth``
    and never by Python's recursion limit. Raises :class:`YamlRefusal`.
    """
    if "\x00" in text:  # named here: libyaml reports it with a byte position only
        raise YamlRefusal(_line_at(text, text.index("\x00")), "contains a NUL character (#x0000); YAML files are text")
    parser = _EventParser(text)
    resolver = _PlainResolver()
    try:
        return _compose(parser, resolver, limits)
    except yaml.reader.ReaderError as exc:
        character = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        found = yaml.reader.Reader.NON_PRINTABLE.search(text)
        line = _line_at(text, found.start()) if found else None
        raise YamlRefusal(line, f"not valid YAML: {exc.reason} ({character}); remove the character") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "cannot be parsed"
        raise YamlRefusal(_line(mark), f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlRefusal(None, f"not valid YAML: {exc}") from None
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()


def _compose(parser: Any, resolver: Resolver, limits: InputLimits) -> Node | None:
    parser.get_event()  # stream start
    if parser.check_event(StreamEndEvent):
        return None
    parser.get_event()  # document start
    anchors: dict[str, Node] = {}
    # Open collections, innermost last; a mapping's pending key waits beside it.
    stack: list[tuple[Node, list[Node]]] = []
    count = 0
    root: Node | None = None
    while root is None:
        event = parser.get_event()
        node: Node | None
        if isinstance(event, AliasEvent):
            if event.anchor not in anchors:
                raise YamlRefusal(_line(event.start_mark), f"found undefined alias '{event.anchor}'")
            node = anchors[event.anchor]
        elif isinstance(event, ScalarEvent):
            if len(event.value) > limits.max_scalar_chars:
                raise YamlRefusal(
                    _line(event.start_mark), f"a value of {len(event.value)} characters; at most {limits.max_scalar_chars} are allowed"
                )
            tag = event.tag
            if tag is None or tag == "!":
                tag = resolver.resolve(ScalarNode, event.value, event.implicit)
            node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        elif isinstance(event, CollectionStartEvent):
            if len(stack) >= limits.max_depth:
                raise YamlRefusal(
                    _line(event.start_mark), f"nested more than {limits.max_depth} levels deep; desired state needs far fewer"
                )
            kind = SequenceNode if isinstance(event, SequenceStartEvent) else MappingNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = resolver.resolve(kind, None, event.implicit)
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
            node, _ = stack.pop()
            node.end_mark = event.end_mark
        else:  # pragma: no cover - the parser yields only the events above inside a document
            raise YamlRefusal(_line(event.start_mark), f"unexpected YAML event {type(event).__name__}")
        if isinstance(event, (ScalarEvent, CollectionStartEvent)):
            count += 1
            if count > limits.max_nodes:
                raise YamlRefusal(_line(event.start_mark), f"more than {limits.max_nodes} values; desired state needs far fewer")
            if event.anchor is not None:
                anchors[event.anchor] = node
        if isinstance(event, CollectionStartEvent):
            stack.append((node, []))
            continue
        if not stack:
            root = node
            break
        parent, pending = stack[-1]
        if isinstance(parent, SequenceNode):
            parent.value.append(node)
        elif pending:
            parent.value.append((pending.pop(), node))
        else:
            pending.append(node)
    parser.get_event()  # document end
    if not parser.check_event(StreamEndEvent):
        event = parser.get_event()
        line = _line(event.start_mark) if isinstance(event, DocumentStartEvent) else None
        raise YamlRefusal(line, "found another document ('---'); an environment file holds exactly one YAML document")
    return root


# --- nodes into plain data, with the line of every field path ---------------------------------

_STR, _INT, _FLOAT, _BOOL, _NULL = (f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"
_INT_LIMIT = 2**63


def _short_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag


def _disallowed_tag(tag: str) -> str:
    return (
        f"the tag {_short_tag(tag)[:60]} is not allowed: binary and set values are not allowed, nor timestamps, "
        "ordered maps or custom tags; write a plain string, number, boolean, list or mapping"
    )


class _Document:
    """Plain data built from a YAML node tree, with the line of every field path.

    A value refused here (a disallowed tag, a duplicate key) is replaced by a marker the
    schema refuses at the same path, so validation still reports every other problem;
    ``refused_paths`` lists where, so the schema's echo of the marker is dropped.
    """

    def __init__(self, file: str, text: str, limits: InputLimits, commit: str | None = None):
        self.file = file
        self.commit = commit
        self.limits = limits
        self.lines: dict[Path, int] = {}
        self.problems: list[FieldProblem] = []
        self.refused_paths: list[Path] = []
        self.data: Any = None
        self._built = 0
        self._constructor = SafeConstructor()
        try:
            root = compose_bounded(text, limits)
            if root is None:
                self.problems.append(FieldProblem(file, "", None, "the file is empty", commit))
                return
            self.data = self._build(root, (), frozenset())
        except YamlRefusal as refusal:
            self.problems = [FieldProblem(file, refusal.field, refusal.line, refusal.reason, commit)]
            self.data = None

    def _count(self, node: Node) -> None:
        self._built += 1
        if self._built > self.limits.max_nodes:
            raise YamlRefusal(
                _line(node.start_mark),
                f"expanding YAML aliases gives more than {self.limits.max_nodes} values; "
                "aliases must not multiply the document (write the values out instead)",
            )

    def _build(self, node: Node, path: Path, open_nodes: frozenset[int]) -> Any:
        self._count(node)
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, (MappingNode, SequenceNode)):
            if id(node) in open_nodes:
                raise YamlRefusal(
                    _line(node.start_mark),
                    "an anchor refers to itself; YAML aliases must not form a cycle",
                    dotted(path),
                )
            if len(path) >= self.limits.max_depth:
                raise YamlRefusal(_line(node.start_mark), f"nested more than {self.limits.max_depth} levels deep", dotted(path))
            inner = open_nodes | {id(node)}
            expected = _MAP if isinstance(node, MappingNode) else _SEQ
            if node.tag != expected:
                return self._refuse(path, node, _disallowed_tag(node.tag))
            if isinstance(node, SequenceNode):
                return [self._build(item, (*path, index), inner) for index, item in enumerate(node.value)]
            return self._mapping(node, path, inner)
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: Path, inner: frozenset[int]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            child = (*path, key)
            if key in result:
                self._problem(child, key_node, f"duplicate key; it is also set on line {self.lines[child]}")
                continue
            self.lines[child] = key_node.start_mark.line + 1
            result[key] = self._build(value_node, child, inner)
        # `<<: *anchor` merges, earlier merges winning over later ones, explicit keys over all.
        for merge in merges:
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, MappingNode):
                    self._problem(path, merge, "invalid merge key: '<<' must be followed by a mapping or a list of mappings")
                    continue
                merged = self._build(source, path, inner)
                if isinstance(merged, dict):
                    for key, value in merged.items():
                        result.setdefault(key, value)
        return result

    def _key(self, node: Node, path: Path) -> str | None:
        self._count(node)
        if not isinstance(node, ScalarNode):
            self._problem(path, node, "a key must be a plain string, not a list or mapping")
            return None
        value = self._scalar(node, path, as_key=True)
        if not isinstance(value, str):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            self._problem(path, node, f"key {shown} is not a string")
            return None
        return value

    def _scalar(self, node: ScalarNode, path: Path, as_key: bool = False) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag not in (_INT, _FLOAT, _BOOL, _NULL):
            return None if as_key else self._refuse(path, node, _disallowed_tag(tag))
        if tag in (_INT, _FLOAT) and len(node.value) > self.limits.max_number_chars:
            return None if as_key else self._refuse(path, node, f"a number of {len(node.value)} characters is out of range")
        kind = {_INT: "an integer", _FLOAT: "a number", _BOOL: "a boolean", _NULL: "null"}[tag]
        try:
            value = self._constructor.construct_object(node, deep=True)
        except Exception:  # noqa: BLE001 - PyYAML's converters raise ValueError, KeyError, IndexError, TypeError...
            return None if as_key else self._refuse(path, node, f"cannot be read as {kind} (tagged {_short_tag(tag)})")
        if as_key:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _INT_LIMIT:
            return self._refuse(path, node, "the integer is out of range (at most 2**63 - 1)")
        if isinstance(value, float) and not math.isfinite(value):
            return self._refuse(path, node, f"{value} is not a finite number")
        return value

    def _refuse(self, path: Path, node: Node, reason: str) -> dict[str, str]:
        self._problem(path, node, reason)
        self.refused_paths.append(path)
        return {"\x00refused": "refused"}

    def _problem(self, path: Path, node: Node, reason: str) -> None:
        self.problems.append(FieldProblem(self.file, dotted(path), node.start_mark.line + 1, reason, self.commit))

    def line_of(self, path: Path) -> int | None:
        return _nearest_line(self.lines, path)


def _nearest_line(lines: Mapping[Path, int], path: Path) -> int | None:
    """The line of ``path`` or of its nearest ancestor YAML has a line for."""
    for end in range(len(path), -1, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None


_PATH_PART = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def parse_field_path(field_path: str) -> Path:
    """``services.frontend.secrets[0].env`` -> ``("services", "frontend", "secrets", 0, "env")``."""
    return tuple(int(index) if index else name for index, name in _PATH_PART.findall(field_path))


# --- validation ------------------------------------------------------------------------------


def _related(path: Path, others: list[Path]) -> bool:
    """True when ``path`` lies at, inside or around one of ``others``."""
    return any(path[: len(other)] == other or other[: len(path)] == path for other in others)


def _validate(
    data: Any,
    file: str,
    line_of: Callable[[Path], int | None],
    commit: str | None,
    refused_paths: list[Path],
) -> tuple[DesiredState | None, list[FieldProblem]]:
    try:
        document = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return None, [FieldProblem(file, "", None, f"not representable as JSON: {exc}", commit)]
    try:
        state: DesiredState | None = DesiredState.model_validate_json(document)
        errors: list[Any] = []
    except ValidationError as exc:
        state = None
        errors = [e for e in exc.errors(include_url=False) if not _related(tuple(e["loc"]), refused_paths)]
    schema_problems = validation_problems(errors, file, line_of, commit)
    # The cross-field rules run on what the schema could read, so fixing a type error never
    # reveals a second round of problems.
    unusable = [tuple(e["loc"]) for e in errors] + refused_paths
    if state is not None and not refused_paths:
        cross = cross_field_problems(state.model_dump(by_alias=True, mode="json"))
    else:
        cross = cross_field_problems(data, lambda path: _related(path, unusable))
    cross_problems = [FieldProblem(file, dotted(path), line_of(path), reason, commit) for path, reason in cross]
    return state, schema_problems + cross_problems


def validate_document(
    data: Any, file: str, line_of: Callable[[Path], int | None] = lambda path: None, *, commit: str | None = None
) -> DesiredState:
    """Validate plain data (from YAML or JSON) into a :class:`DesiredState`, or raise with every problem."""
    state, problems = _validate(data, file, line_of, commit, [])
    if problems or state is None:
        raise DesiredStateError(problems or [FieldProblem(file, "", None, "invalid desired state", commit)])
    return state


# --- files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedEnvironment:
    """A validated desired state with where it came from and a digest of its content.

    ``file`` is the path on disk; ``source_file`` the path in the desired-state repository
    (``environments/dev.yaml``), the one messages name.
    """

    name: str
    file: str
    state: DesiredState
    digest: str
    source_file: str = ""
    commit: str | None = None
    lines: Mapping[Path, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def path(self) -> FsPath:
        return FsPath(self.file)

    def line_of(self, field_path: str) -> int | None:
        """The line of ``services.frontend.cpu`` (or its nearest ancestor) in the file; ``None`` if unknown."""
        if not self.lines:
            return None
        return _nearest_line(self.lines, parse_field_path(field_path))

    def refusal(self, problems: list[FieldProblem]) -> DesiredStateError:
        """Problems found after loading (by settings, not the schema), named like the loader's own: at this file's commit."""
        return DesiredStateError([replace(problem, commit=_short(self.commit)) for problem in problems])


def environment_file(desired_state_dir: str | FsPath, environment: str) -> FsPath:
    return FsPath(desired_state_dir) / ENVIRONMENTS_DIR / f"{environment}.yaml"


def source_file_of(environment: str) -> str:
    """The environment's file as it is named in the desired-state repository."""
    return f"{ENVIRONMENTS_DIR}/{environment}.yaml"


def list_environments(desired_state_dir: str | FsPath) -> list[str]:
    return sorted(p.stem for p in (FsPath(desired_state_dir) / ENVIRONMENTS_DIR).glob("*.yaml"))


def _short(commit: str | None) -> str | None:
    return commit[:7] if commit else None


def read_environment_bytes(path: FsPath, file: str, commit: str | None, max_file_bytes: int) -> bytes:
    """The bytes of a regular file, refusing links, directories, special files and anything over the cap."""

    def refuse(reason: str) -> DesiredStateError:
        return DesiredStateError([FieldProblem(file, "", None, reason, commit)])

    try:
        info = os.lstat(path)
    except OSError as exc:
        raise refuse(f"cannot read the file: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise refuse(f"{file} is a symbolic link; environment files must be regular files (a link could name another environment's file)")
    if stat.S_ISDIR(info.st_mode):
        raise refuse(f"{file} is a directory, not a file; an environment is one YAML file")
    if not stat.S_ISREG(info.st_mode):
        raise refuse(f"{file} is not a regular file (a device, pipe or socket); environment files must be regular files")
    too_big = f"the file is larger than {max_file_bytes} bytes, the limit for one environment file (max_desired_state_file_bytes)"
    if info.st_size > max_file_bytes:
        raise refuse(too_big)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refuse(f"{file} is a symbolic link; environment files must be regular files") from None
        raise refuse(f"cannot read the file: {exc.strerror}") from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise refuse(f"{file} is not a regular file; environment files must be regular files")
        raw = handle.read(max_file_bytes + 1)  # it may have grown since lstat
    if len(raw) > max_file_bytes:
        raise refuse(too_big)
    return raw


def decode_text(raw: bytes, file: str, commit: str | None) -> str:
    """UTF-8 text of ``raw`` (a UTF-8 byte-order mark is allowed and dropped); anything else is refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DesiredStateError([FieldProblem(file, "", 1, "the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8", commit)])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DesiredStateError(
            [FieldProblem(file, "", line, f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} cannot be decoded; save the file as UTF-8", commit)]
        ) from None


def read_yaml_data(text: str, file: str, *, commit: str | None = None, limits: InputLimits = InputLimits()) -> Any:
    """The plain data of one environment's YAML text within every bound the loader applies (size,
    nesting, node count, aliases expanded), without the schema; raise :class:`DesiredStateError`
    for what YAML itself refuses (bounds, tags, duplicate keys). For tools that edit a file the
    schema may not accept yet."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_file_bytes:
        raise DesiredStateError(
            [FieldProblem(file, "", None, f"the file is larger than {limits.max_file_bytes} bytes, the limit for one environment file (max_desired_state_file_bytes)", commit)]
        )
    document = _Document(file, text, limits, commit)
    if document.problems:
        raise DesiredStateError(document.problems)
    return document.data


def parse_environment_text(
    text: str, file: str, *, commit: str | None = None, limits: InputLimits = InputLimits()
) -> tuple[DesiredState, dict[Path, int]]:
    """Parse and validate one environment's YAML text; raise :class:`DesiredStateError` with every problem."""
    document = _Document(file, text, limits, commit)
    if document.data is None and document.problems:
        raise DesiredStateError(document.problems)
    if not isinstance(document.data, dict):
        raise DesiredStateError([*document.problems, FieldProblem(file, "", 1, "the document must be a mapping of fields", commit)])
    state, problems = _validate(document.data, file, document.line_of, commit, document.refused_paths)
    problems = sorted([*document.problems, *problems], key=lambda p: (p.line is None, p.line or 0))
    if problems or state is None:
        raise DesiredStateError(problems)
    return state, document.lines


def load_environment(
    desired_state_dir: str | FsPath,
    environment: str,
    *,
    commit: str | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> LoadedEnvironment:
    """Read, parse and validate one environment. Raises :class:`DesiredStateError` with every problem.

    Problems name ``environments/<environment>.yaml`` and, when ``commit`` is given, ``at <commit[:7]>``:
    the place in the desired-state repository, not the temporary checkout it was read from.
    """
    path = environment_file(desired_state_dir, environment)
    file = source_file_of(environment)
    short = _short(commit)
    if not os.path.lexists(path):
        known = list_environments(desired_state_dir) if path.parent.is_dir() else []
        hint = f"known environments: {', '.join(known)}" if known else f"no {ENVIRONMENTS_DIR}/ directory there"
        raise EnvironmentNotFoundError([FieldProblem(file, "", None, f"environment '{environment}' not found ({hint})", short)])
    raw = read_environment_bytes(path, file, short, max_file_bytes)
    text = decode_text(raw, file, short)
    state, lines = parse_environment_text(text, file, commit=short, limits=InputLimits(max_file_bytes=max_file_bytes))
    return LoadedEnvironment(
        environment, str(path), state, "sha256:" + hashlib.sha256(raw).hexdigest(), file, short, lines
    )


def check_unique_suffixes(desired_state_dir: str | FsPath, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> None:
    """Refuse two environment files that claim the same ``environmentSuffix``.

    Without settings to say which suffix belongs to which environment (``plan`` and
    ``validate`` run locally), a suffix shared by two files would build one environment's
    resources under the other's names. Files that cannot be read are left to their own load,
    which reports why.
    """
    claims: dict[str, list[tuple[str, int | None]]] = {}
    for environment in list_environments(desired_state_dir):
        file = source_file_of(environment)
        try:
            raw = read_environment_bytes(environment_file(desired_state_dir, environment), file, None, max_file_bytes)
            document = _Document(file, decode_text(raw, file, None), InputLimits(max_file_bytes=max_file_bytes))
        except DesiredStateError:
            continue
        suffix = document.data.get("environmentSuffix") if isinstance(document.data, dict) else None
        if isinstance(suffix, str):
            claims.setdefault(suffix, []).append((file, document.lines.get(("environmentSuffix",))))
    problems: list[FieldProblem] = []
    for suffix, files in sorted(claims.items()):
        if len(files) < 2:
            continue
        names = " and ".join(name for name, _ in files)
        for name, line in files:
            problems.append(
                FieldProblem(
                    name,
                    "environmentSuffix",
                    line,
                    f"'{suffix}' is claimed by {names}; each environment needs its own suffix, "
                    "or one environment's resources are built under another's names",
                )
            )
    if problems:
        raise DesiredStateError(problems)
