"""The converge's approval step, after the plan: apply only a plan someone approved.

What an approval approves is :func:`reconciler.approval_digest.plan_digest` (the same commit, stack
inputs, program and changes); approving a waiting plan is :mod:`reconciler.approvals`. This module
decides, for one converge, whether its plan is the approved one (the approval is consumed), is
already waiting under the branch head (the older job is superseded), or must wait now (the plan is
recorded in the stack status as pending, with the command that approves it).
"""

from __future__ import annotations

from reconciler import approval_digest
from reconciler.adapters.stack_state import PendingApproval, StackStateStore
from reconciler.approvals import approve_command
from reconciler.clock import Clock
from reconciler.converge_run import ConvergeOutcome, ConvergeRun, StatusUpdate, describe_plan, program_version
from reconciler.engine import StackRequest
from reconciler.events import EventKind, Reason, Severity
from reconciler.models import Trigger


def approval(run: ConvergeRun, request: StackRequest, *, states: StackStateStore, update: StatusUpdate, clock: Clock) -> ConvergeOutcome | None:
    """Apply only a plan someone approved: the same commit, stack inputs, program and changes."""
    assert run.loaded is not None and run.plan is not None and run.checkout is not None
    commit = run.checkout.commit
    digest = approval_digest.plan_digest(commit, request, program_version(), run.plan)
    pending = states.get(run.job.stack).pending_approval
    if pending and pending.plan_digest == digest and pending.approved_by:
        run.details["approvedBy"] = pending.approved_by
        update(run, lambda s: s.model_copy(update={"pending_approval": None}))
        return None
    superseded = run.details.get("supersededCommit")
    if pending and superseded and pending.plan_digest == digest and not pending.approved_by:
        # An older commit's job (a late approval, a retry) converges the head, whose plan already waits.
        return ConvergeOutcome(
            "skipped", EventKind.SKIPPED, Reason.SUPERSEDED, Severity.INFO,
            f"commit {superseded[:12]} is superseded by the branch head {pending.commit[:12]}, whose plan waits for approval",
        )
    if run.job.trigger == Trigger.DRIFT_REMEDIATION and pending and pending.commit != commit:
        # The waiting plan is a person's change (a push, another remediation's commit): replacing it would
        # refuse its approval and, while the drift persists, do so at every check. The drift stays reported.
        return ConvergeOutcome(
            "skipped", EventKind.SKIPPED, Reason.ANOTHER_PLAN_AWAITS_APPROVAL, Severity.WARNING,
            f"the drift remediation of {(commit or '')[:12]} does not replace the plan for {pending.commit[:12]} that waits for "
            f"approval; approve or replace that plan first ({approve_command(run.job.environment, pending.commit)}), "
            "then the next drift check queues the remediation again",
        )
    stale = bool(pending and pending.approved_by and pending.plan_digest != digest)
    waiting = PendingApproval(
        commit=commit or "",
        job_id=run.job.job_id,
        desired_state_digest=run.loaded.digest,
        plan_digest=digest,
        plan=run.plan,
        requested_at=clock(),
        **({"trigger": run.job.trigger.value} if run.job.trigger == Trigger.DRIFT_REMEDIATION else {}),
    )
    update(run, lambda s: s.model_copy(update={"pending_approval": waiting}))
    run.details["approveWith"] = approve_command(run.job.environment, waiting.commit)
    reason = Reason.APPROVAL_STALE if stale else Reason.AWAITING_APPROVAL
    note = "the approved plan no longer matches what would be applied (stack inputs, program or changes); " if stale else ""
    return ConvergeOutcome(
        "waiting", EventKind.WAITING_FOR_APPROVAL, reason, Severity.WARNING,
        f"{note}plan for {waiting.commit[:12]} waits for approval ({describe_plan(run.plan)}); run: {run.details['approveWith']}",
    )
