"""The project's exception hierarchy.

Every error a user can see derives from :class:`EcsGitopsError` and carries a message that
says what is wrong and what to do about it. Modules further up (program, reconciler) subclass
these; nothing raises a bare ``Exception``.
"""

from __future__ import annotations

from dataclasses import dataclass


class EcsGitopsError(Exception):
    """Base of every error ecs-gitops raises on purpose."""


@dataclass(frozen=True)
class FieldProblem:
    """One reason a desired-state file was refused."""

    file: str
    field: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field or '<document>'}: {self.reason}"


class DesiredStateError(EcsGitopsError):
    """The desired state could not be loaded or is invalid; nothing was rendered or applied."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = list(problems)
        count = len(self.problems)
        header = f"desired state refused ({count} problem{'s' if count != 1 else ''}); nothing was rendered"
        super().__init__("\n".join([header, *(f"  {p}" for p in self.problems)]))


class EnvironmentNotFoundError(DesiredStateError):
    """The named environment has no file in the desired-state directory."""
