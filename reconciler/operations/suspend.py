"""Suspend and resume one environment at runtime: converges and new rollouts stop until it is resumed.

The suspension lives in the stack status (``StackStatus.suspension``), moved only by the store's
conditional ``update``, so a suspend racing a converge's status write is retried, never lost. The
settings' ``suspended: true`` still works and is reported the same way; ``resume`` cannot lift it
(the settings file is where it was set).

What a suspension stops: the converge guard refuses every job of the environment (pushes, resyncs,
drift checks, ``reconcile``), and the rollout starter refuses new rollouts, both with
``Reason.SUSPENDED`` naming who suspended it and why. What it does not stop: a rollout already
running keeps its safety loop (ticks, alarm gates, rollback), and a person can still promote, pause
or abort it: cutting a running rollout off from its rollback would be less safe, not more.

Each change that happens is audited (one record, trigger ``manual``, kind environment-suspended or
environment-resumed) and notified once. Suspending an environment that is already suspended, or
resuming one that is not, changes nothing and records nothing. The audit record is written before
the status (``before_write``): an audit store that fails leaves the environment as it was, so the
command can simply be run again; a status write that fails after it leaves a record of a change that
did not happen, which the retry's own record follows. A converge already past its lease stops
before its next phase (:meth:`reconciler.converge.Converger._enter` re-reads the suspension in the
phase's fenced write); one already applying finishes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.adapters.audit import AuditLog
from reconciler.adapters.notify import Notifier
from reconciler.adapters.stack_state import StackStateStore, StackStatus
from reconciler.events import EventKind, Phase, Reason, Severity
from reconciler.models import AuditRecord, Job, Trigger
from reconciler.operations.model import Suspension
from reconciler.operations.text import one_line
from reconciler.redact import Redactor
from reconciler.settings import EnvironmentSettings

__all__ = [
    "Suspension",
    "SuspensionChange",
    "change_message",
    "change_record",
    "converge_in_progress",
    "notify_change",
    "report_change",
    "resume",
    "resume_command",
    "suspend",
    "suspension_refusal",
]


def resume_command(environment: str) -> str:
    return f"ecs-gitops resume --environment {environment} --by <NAME> --reason <TEXT>"


def suspension_refusal(environment: str, env: EnvironmentSettings, suspension: Suspension | None) -> str | None:
    """Why nothing new may start in ``environment`` (naming who and why), or None when it is not suspended."""
    if env.suspended:
        return f"environment {environment} is suspended in the reconciler settings (suspended: true); set it to false there to restart it"
    if suspension is not None:
        return (
            f"environment {environment} is suspended by {one_line(suspension.by)} since {suspension.at.isoformat()}: {one_line(suspension.reason)}; "
            f"to restart converges and rollouts run: {resume_command(environment)}"
        )
    return None


@dataclass(frozen=True)
class SuspensionChange:
    """What ``suspend``/``resume`` found and did.

    ``changed``: the status was written. ``suspension``: after ``suspend``, the suspension in force
    (the new one, or the earlier one left as it was); after ``resume``, the one lifted (or None when
    there was none). ``status``: the stack status as written or as read.
    """

    changed: bool
    suspension: Suspension | None
    status: StackStatus


# Called with the suspension to be written (or lifted) and the status it was decided from, before the
# status is written: the audit record goes there, so a failure leaves the status as it was.
BeforeWrite = Callable[[Suspension, StackStatus], None]


def suspend(
    states: StackStateStore, stack: str, environment: str, *, by: str, reason: str, now: datetime, before_write: BeforeWrite | None = None,
) -> SuspensionChange:
    """Record a suspension unless one is already in force (that one is kept: who and why stay the first person's)."""
    current = states.get(stack)
    if current.suspension is not None:
        return SuspensionChange(False, current.suspension, current)
    new = Suspension(by=by, reason=reason, at=now)
    if before_write is not None:
        before_write(new, current)
    found: Suspension | None = None

    def change(status: StackStatus) -> StackStatus | None:
        nonlocal found
        found = status.suspension
        if found is not None:
            return None  # someone suspended it in between: theirs stays
        return status.model_copy(update={"suspension": new, "environment": status.environment or environment})

    written = states.update(stack, change)
    if found is not None:
        return SuspensionChange(False, found, written)
    return SuspensionChange(True, new, written)


def resume(states: StackStateStore, stack: str, *, before_write: BeforeWrite | None = None) -> SuspensionChange:
    """Lift the runtime suspension, if there is one."""
    current = states.get(stack)
    if current.suspension is None:
        return SuspensionChange(False, None, current)
    if before_write is not None:
        before_write(current.suspension, current)
    lifted: Suspension | None = None

    def change(status: StackStatus) -> StackStatus | None:
        nonlocal lifted
        lifted = status.suspension
        if lifted is None:
            return None  # someone resumed it in between
        return status.model_copy(update={"suspension": None})

    written = states.update(stack, change)
    return SuspensionChange(lifted is not None, lifted, written)


def converge_in_progress(status: StackStatus) -> str | None:
    """What a suspend does to the converge that holds the stack's lease now (None: none does)."""
    lease = status.lease
    if lease is None:
        return None
    phase = status.phase
    where = f"a converge of job {lease.job_id} (worker {one_line(lease.holder)}) is in progress (phase {phase.value if phase else 'starting'})"
    if phase == Phase.APPLY:
        return f"{where}; it is applying and will finish"
    if phase == Phase.VERIFY:
        return f"{where}; it has applied and will finish"
    if phase == Phase.PLAN:
        return f"{where}; it stops before apply"
    return f"{where}; it stops before its next phase"


def change_record(
    *, stack: str, environment: str, kind: EventKind, by: str, reason: str, suspension: Suspension, commit: str | None, now: datetime,
    program_version: str,
) -> AuditRecord:
    """The audit record of a suspend or a resume: who (author), the reason they gave (note), the suspension concerned."""
    event_id = f"manual:{kind.value}:{uuid.uuid4()}"
    return AuditRecord(
        stack=stack,
        job_id=Job.make_id(event_id, environment),
        environment=environment,
        trigger=Trigger.MANUAL,
        event_id=event_id,
        commit=commit,
        author=by,
        outcome="succeeded",
        kind=kind,
        reason=Reason.SUSPENDED if kind == EventKind.ENVIRONMENT_SUSPENDED else Reason.RESUMED,
        last_phase=Phase.DONE,
        started_at=now,
        finished_at=now,
        duration_ms=0,
        program_version=program_version,
        suspension=suspension,
        note=reason,
    )


def change_message(record: AuditRecord) -> str:
    """What a suspend or resume did, on one line (the values people typed are folded to one line)."""
    environment, suspension = record.environment, record.suspension
    assert suspension is not None
    by, reason, author, note = one_line(suspension.by), one_line(suspension.reason), one_line(record.author or ""), one_line(record.note or "")
    if record.kind == EventKind.ENVIRONMENT_SUSPENDED:
        return (
            f"environment {environment} suspended by {by}: {reason}. Converges and new rollouts are refused "
            f"until it is resumed; running rollouts keep their ticks and rollback. To restart: {resume_command(environment)}"
        )
    return (
        f"environment {environment} resumed by {author}: {note} (it was suspended by {by} since "
        f"{suspension.at.isoformat()}: {reason}). The next push or scheduled resync converges it; "
        f"to converge now: ecs-gitops reconcile --environment {environment} --desired-state <REPO>"
    )


def report_change(record: AuditRecord, audit: AuditLog | None, notifier: Notifier | None, redactor: Redactor) -> str:
    """Audit, then notify, one suspend or resume; returns the (scrubbed) message both carry."""
    if audit is not None:
        audit.append(record)
    return notify_change(record, notifier, redactor)


def notify_change(record: AuditRecord, notifier: Notifier | None, redactor: Redactor) -> str:
    """Notify one suspend or resume (already audited); returns the (scrubbed) message it carries."""
    message = redactor.scrub(change_message(record))
    if notifier is not None:
        suspension = record.suspension
        assert suspension is not None
        body: dict[str, Any] = {
            "stack": record.stack,
            "jobId": record.job_id,
            "trigger": record.trigger.value,
            "commit": record.commit,
            "author": one_line(record.author or ""),
            "outcome": record.outcome,
            "reason": record.reason.value,
            "message": message,
            "by": one_line(record.author or ""),
            "why": one_line(record.note or ""),
            "suspension": redactor.scrub_value(suspension.model_dump(mode="json", by_alias=True)),
        }
        suspended = record.kind == EventKind.ENVIRONMENT_SUSPENDED
        notifier.publish(
            kind=record.kind,
            severity=Severity.WARNING if suspended else Severity.INFO,
            environment=record.environment,
            subject=redactor.scrub(one_line(f"[{record.environment}] {record.kind.value} by {record.author}")),
            body=redactor.scrub_value(body),
        )
    return message
