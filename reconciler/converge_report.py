"""What a finished attempt says: its audit record, its notification's subject and body, every string scrubbed.

Pure: built from the run and its outcome through the :class:`~reconciler.redact.Redactor`; the
converger appends the record and publishes the notification (:meth:`reconciler.converge.Converger._report`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reconciler.converge_run import ConvergeOutcome, ConvergeRun, program_version
from reconciler.drift import check as drift_check
from reconciler.models import AuditRecord, PolicyResult
from reconciler.redact import Redactor
from reconciler.verify.model import VerifySummary


def audit_record(run: ConvergeRun, outcome: ConvergeOutcome, attempt: int, finished: datetime, redactor: Redactor) -> AuditRecord:
    """The attempt's one audit record."""
    scrub = redactor.scrub
    job = run.job
    return AuditRecord(
        stack=job.stack,
        job_id=job.job_id,
        attempt=attempt,
        environment=job.environment,
        trigger=job.trigger,
        event_id=job.event_id,
        commit=run.checkout.commit if run.checkout and run.checkout.commit else job.commit,
        author=scrub(run.checkout.author) if run.checkout and run.checkout.author else job.author,
        desired_state_digest=run.loaded.digest if run.loaded else None,
        plan=run.plan,
        policy=PolicyResult.model_validate(redactor.scrub_value(run.policy.model_dump())) if run.policy else None,
        outcome=outcome.outcome,
        kind=outcome.kind,
        reason=outcome.reason,
        error=scrub(run.error) if run.error else None,
        last_phase=run.phase,
        started_at=run.started_at,
        finished_at=finished,
        duration_ms=int((finished - run.started_at).total_seconds() * 1000),
        engine_version=run.engine_version,
        program_version=program_version(),
        window_override=job.window_override,
        signed_by=run.details.get("signedBy"),
        approved_by=run.details.get("approvedBy"),
        image_overrides=run.details.get("imageOverrides") or {},
        superseded_commit=run.details.get("supersededCommit"),
        drift=outcome.drift,
        verify=VerifySummary.model_validate(redactor.scrub_value(run.verify.model_dump(by_alias=True, mode="json"))) if run.verify else None,
    )


def notification_body(run: ConvergeRun, outcome: ConvergeOutcome, record: AuditRecord, redactor: Redactor) -> dict[str, Any]:
    """The notification's body; ``record`` is the attempt's :func:`audit_record` (its commit, author, policy)."""
    scrub = redactor.scrub
    job = run.job
    body = {
        "stack": job.stack,
        "jobId": job.job_id,
        "trigger": job.trigger.value,
        "commit": record.commit,
        "author": record.author,
        "outcome": outcome.outcome,
        "reason": outcome.reason.value,
        "message": scrub(outcome.message),
        "error": record.error,
        "phase": run.phase.value,
        "plan": run.plan.model_dump(mode="json") if run.plan else None,
        "policyViolations": record.policy.violations if record.policy else [],
        "details": redactor.scrub_value(run.details),
    }
    if outcome.drift is not None:
        body["drift"] = redactor.scrub_value(outcome.drift.model_dump(mode="json", by_alias=True))
    if outcome.drift_report is not None:
        body["headline"] = scrub(outcome.subject or outcome.message)
        body["report"] = redactor.scrub_value(drift_check.report_document(outcome.drift_report))
    return body


def notification_subject(run: ConvergeRun, outcome: ConvergeOutcome, record: AuditRecord, redactor: Redactor) -> str:
    """The outcome's own subject, else "[env] kind: reason (commit)"."""
    if outcome.subject:
        return redactor.scrub(outcome.subject)
    short = (record.commit or "head")[:12]
    return f"[{run.job.environment}] {outcome.kind.value}: {outcome.reason.value} ({short})"
