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
    """Converge ``head`` (the branch head; a remediation's own commit); ``superseded`` is the job's own commit when it is an older one on the branch."""

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

    A drift remediation is the one job that converges its own commit, not the head: it puts the
    stack back to the commit that was applied when the drift was found (the head may hold a pushed
    change nobody has converged yet). If another commit has been applied since, it has nothing left
    to put back and is skipped; the next drift check compares against the new applied commit.
    """
    if trigger == Trigger.DRIFT_REMEDIATION and job_commit:
        if applied != job_commit:
            return Skip(
                Reason.SUPERSEDED,
                f"drift remediation to {job_commit[:12]} skipped: {(applied or 'nothing')[:12]} is applied now; "
                "the next drift check compares against that",
            )
        return Converge(head=job_commit)
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
