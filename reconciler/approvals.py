"""Approving a waiting plan. Only the plan that is waiting can be approved; an older one is refused.

An approval names the exact commit: the full SHA, compared for equality. A short prefix, or an
empty one (which every SHA starts with), is refused here; the command line resolves what a person
types against the branch first (:meth:`DesiredStateSource.resolve_on_branch`).
"""

from __future__ import annotations

import re
from datetime import datetime

from reconciler.adapters.queue import JobQueue
from reconciler.adapters.stack_state import PendingApproval, StackStateStore, StackStatus
from reconciler.errors import ApprovalError
from reconciler.models import Job, Trigger
from reconciler.settings import ReconcilerSettings

FULL_COMMIT = re.compile(r"[0-9a-f]{40}")


def approve_command(environment: str, commit: str, settings_file: str | None = None) -> str:
    """The command that approves ``commit``'s waiting plan, complete but for the approver's name (``--by`` is required)."""
    settings = f" --settings {settings_file}" if settings_file else ""
    return f"ecs-gitops approve --environment {environment} --commit {commit} --by <NAME>{settings}"


def waiting_plan(states: StackStateStore, settings: ReconcilerSettings, environment: str) -> PendingApproval:
    """The plan waiting for approval on ``environment``, or an error saying nothing waits."""
    pending = states.get(settings.environment(environment).stack).pending_approval
    if pending is None:
        raise ApprovalError(_nothing_waits(environment))
    return pending


def _nothing_waits(environment: str) -> str:
    return f"nothing waits for approval on {environment}; a plan appears after a converge of a new commit"


def approve(
    states: StackStateStore,
    settings: ReconcilerSettings,
    environment: str,
    commit: str,
    by: str,
    now: datetime,
    queue: JobQueue | None = None,
) -> PendingApproval:
    """Mark the waiting plan approved (conditional write) and, with a queue, queue the job that applies it.

    ``commit`` must be the full SHA of the waiting plan's commit.
    """
    if not FULL_COMMIT.fullmatch(commit):
        raise ApprovalError(
            f"an approval names the full 40-character commit SHA, not {commit[:12]!r}; "
            "ecs-gitops approve resolves a prefix of at least 7 characters on the branch first"
        )
    stack = settings.environment(environment).stack
    approved: PendingApproval | None = None

    def change(status: StackStatus) -> StackStatus:
        nonlocal approved
        pending = status.pending_approval
        if pending is None:
            raise ApprovalError(_nothing_waits(environment))
        if pending.commit != commit:
            raise ApprovalError(
                f"approval for {commit[:12]} rejected: the plan waiting on {environment} is for {pending.commit[:12]}; "
                "an older or different plan cannot be approved"
            )
        if pending.approved_by:
            raise ApprovalError(f"the plan for {pending.commit[:12]} was already approved by {pending.approved_by}")
        approved = pending.model_copy(update={"approved_by": by, "approved_at": now})
        return status.model_copy(update={"pending_approval": approved})

    states.update(stack, change)
    assert approved is not None
    if queue is not None:
        event_id = f"approval:{approved.plan_digest}"
        queue.send(
            Job(
                job_id=Job.make_id(event_id, environment),
                environment=environment,
                stack=stack,
                # A remediation's plan is for the applied commit, not the head: its approval re-runs it as a remediation.
                trigger=Trigger.DRIFT_REMEDIATION if approved.trigger == Trigger.DRIFT_REMEDIATION.value else Trigger.MANUAL,
                event_id=event_id,
                commit=approved.commit,
                author=by,
                received_at=now,
            )
        )
    return approved
