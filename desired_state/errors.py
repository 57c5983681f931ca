"""The project's exception hierarchy.

Every error a user can see derives from :class:`EcsGitopsError` and carries a message that
says what is wrong and what to do about it. Modules further up (program, reconciler) subclass
these; nothing raises a bare ``Exception``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


FieldPath = tuple[str | int, ...]


class EcsGitopsError(Exception):
    """Base of every error ecs-gitops raises on purpose."""


@dataclass(frozen=True)
class FieldProblem:
    """One reason a desired-state file was refused.

    ``file`` is the path as it is in the desired-state repository (``environments/dev.yaml``),
    ``commit`` the short commit it was read at, when known. A reason never carries a
    credential-shaped value, whoever built it.
    """

    file: str
    field: str
    line: int | None
    reason: str
    commit: str | None = None

    def __post_init__(self) -> None:
        # Imported on the first problem, not with this module: its patterns cost the intake's cold start.
        from desired_state.credentials import hide_credential_values

        object.__setattr__(self, "reason", hide_credential_values(self.reason))

    @property
    def where(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where} at {self.commit}" if self.commit else where

    def __str__(self) -> str:
        return f"{self.where}: {self.field or '<document>'}: {self.reason}"


def _unique(problems: Sequence[FieldProblem]) -> list[FieldProblem]:
    seen: set[tuple[str, str, int | None, str, str | None]] = set()
    unique: list[FieldProblem] = []
    for problem in problems:
        key = (problem.file, problem.field, problem.line, problem.reason, problem.commit)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique


class DesiredStateError(EcsGitopsError):
    """The desired state could not be loaded or is invalid; nothing was rendered or applied."""

    heading = "desired state refused"

    def __init__(self, problems: Sequence[FieldProblem]):
        self.problems = _unique(problems)
        count = len(self.problems)
        header = f"{self.heading} ({count} problem{'s' if count != 1 else ''}); nothing was rendered"
        super().__init__("\n".join([header, *(f"  {p}" for p in self.problems)]))


class EnvironmentNotFoundError(DesiredStateError):
    """The named environment has no file in the desired-state directory."""


class TrafficStateError(DesiredStateError):
    """The rollout's traffic state (which colour is live, at which weights) is invalid."""

    heading = "traffic state refused"


# --- turning a pydantic ValidationError into problems a person can act on -------------------

_KEY_MARKER = "[key]"


def dotted(path: FieldPath) -> str:
    """``services.frontend.secrets[0].env``: the field path as the YAML/JSON author wrote it."""
    text = ""
    for part in path:
        if part == _KEY_MARKER:
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _type_name(value: Any) -> str:
    return type(value).__name__


def hides_value(path: FieldPath, value: Any = None) -> bool:
    """True when a message about the field at ``path`` must not show its value.

    The field's own name or key (the last name in the path) looks like a credential
    (``environment.DB_PASSWORD``), or the value itself has a credential's shape.
    """
    from desired_state.credentials import looks_like_credential_name, looks_like_credential_value

    names = [part for part in path if isinstance(part, str) and part != _KEY_MARKER]
    # A bare KEY counts here: hiding a value costs the message only its example.
    if names and looks_like_credential_name(names[-1], bare_key_counts=True):
        return True
    return value is not None and not isinstance(value, (dict, list)) and looks_like_credential_value(value)


def pydantic_reason(error: dict[str, Any]) -> str:
    """The reason of one pydantic error, without its "Value error," prefix and without a credential's value."""
    kind = error["type"]
    loc = tuple(error.get("loc", ()))
    found = error.get("input")
    hidden = hides_value(loc, found)
    if kind == "extra_forbidden":
        return "unknown key (check its spelling against the schema)"
    if kind == "missing":
        if loc and isinstance(loc[-1], int):
            return f"item {loc[-1]} is missing (the list is too short)"
        return "required field is missing"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if hidden and found is not None and not isinstance(found, (dict, list)) and str(found):
        message = message.replace(repr(found), "<value hidden>").replace(str(found), "<value hidden>")
    if (kind.endswith("_type") or kind.endswith("_parsing")) and not isinstance(found, (dict, list)):
        if hidden:
            message += f" (found {_type_name(found)}; value hidden: the key looks like a credential)"
        else:
            shown = repr(found)
            message += f" (found {_type_name(found)} {shown if len(shown) <= 80 else shown[:77] + '...'})"
    return message


def validation_problems(
    errors: Sequence[dict[str, Any]],
    file: str,
    line_of: Callable[[FieldPath], int | None] = lambda path: None,
    commit: str | None = None,
) -> list[FieldProblem]:
    """One :class:`FieldProblem` per pydantic error, at the field's path and line."""
    return [
        FieldProblem(file, dotted(tuple(err["loc"])), line_of(tuple(err["loc"])), pydantic_reason(err), commit)
        for err in errors
    ]
