"""What a job converges: always the branch head; the job's commit is only a wake-up.

Git is the truth: whatever commit an event names, the stack is converged to what the branch says
*now*. A named commit that the branch no longer reaches (a replayed webhook, a job queued before a
force-push) is refused, never applied. A deliberate reset of the branch to an older commit is
converged like any other head. Pure decisions; the converger acts on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.events import Reason
from reconciler.models import Trigger

PUSH_TRIGGERS = (Trigger.GIT_PUSH, Trigger.CODECOMMIT_PUSH)


@dataclass(frozen=True)
class Skip:
    reason: Reason
    message: str


@dataclass(frozen=True)
class Converge:
    """Converge ``head``; ``superseded`` is the job's own commit when it is an older one on the branch."""

    head: str
    superseded: str | None = None


def not_on_branch_message(commit: str, branch: str) -> str:
    return (
        f"commit {commit[:12]} is not on branch {branch} (force-pushed away, or a replayed event); "
        "it is never applied: the branch head is what gets converged"
    )


def decide(
    trigger: Trigger,
    job_commit: str | None,
    head: str,
    applied: str | None,
) -> Converge | Skip:
    """For a job whose commit (if any) is already known to be on the branch: converge the head, or skip.

    Only push jobs skip: a push at an already applied head has nothing to do. Resyncs, drift checks
    and manual jobs always run (they re-assert the head).
    """
    superseded = job_commit if job_commit and job_commit != head else None
    if trigger in PUSH_TRIGGERS and applied == head:
        if superseded is None:
            return Skip(Reason.ALREADY_APPLIED, f"commit {head[:12]} is already applied")
        # On the branch and not its head, so an ancestor of the applied head.
        return Skip(
            Reason.OLDER_THAN_APPLIED,
            f"commit {superseded[:12]} is older than the applied {head[:12]}, which is the branch head; nothing to do",
        )
    return Converge(head=head, superseded=superseded)
