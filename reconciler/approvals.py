"""Approving a waiting plan. Only the plan that is waiting can be approved; an older one is refused."""

from __future__ import annotations

from datetime import datetime

from reconciler.adapters.queue import JobQueue
from reconciler.adapters.stack_state import PendingApproval, StackStateStore, StackStatus
from reconciler.errors import ApprovalError
from reconciler.models import Job, Trigger
from reconciler.settings import ReconcilerSettings


def approve(
    states: StackStateStore,
    settings: ReconcilerSettings,
    environment: str,
    commit: str,
    by: str,
    now: datetime,
    queue: JobQueue | None = None,
) -> PendingApproval:
    """Mark the waiting plan approved (conditional write) and, with a queue, queue the job that applies it."""
    stack = settings.environment(environment).stack
    approved: PendingApproval | None = None

    def change(status: StackStatus) -> StackStatus:
        nonlocal approved
        pending = status.pending_approval
        if pending is None:
            raise ApprovalError(f"nothing waits for approval on {environment}; a plan appears after a converge of a new commit")
        if pending.commit != commit and not pending.commit.startswith(commit):
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
                trigger=Trigger.MANUAL,
                event_id=event_id,
                commit=approved.commit,
                author=by,
                received_at=now,
            )
        )
    return approved
