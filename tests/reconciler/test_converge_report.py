"""The audit record and notification a finished attempt is reported with: built from the run, every string scrubbed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from program.platform import PROGRAM_VERSION
from reconciler.converge_report import audit_record, notification_body, notification_subject
from reconciler.converge_run import ConvergeOutcome, ConvergeRun
from reconciler.events import EventKind, Phase, Reason, Severity
from reconciler.models import Job, PlanSummary, PolicyResult, Trigger
from reconciler.redact import MASK, Redactor
from reconciler.source import Checkout

SECRET = "tok_live_51HxQ9aRk0s3cr3t"
COMMIT = "a" * 40
STARTED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _job(commit: str | None = None) -> Job:
    return Job(
        job_id=Job.make_id("evt-report", "dev"), environment="dev", stack="dev", trigger=Trigger.GIT_PUSH,
        event_id="evt-report", commit=commit, author="Job Author", received_at=STARTED,
    )


def _run_with_secret_everywhere() -> tuple[ConvergeRun, ConvergeOutcome]:
    run = ConvergeRun(job=_job(), env=None, started_at=STARTED, phase=Phase.APPLY)
    run.checkout = Checkout(path=Path("/nowhere"), commit=COMMIT, author=f"Mallory {SECRET}", branch_head=COMMIT)
    run.plan = PlanSummary(create=1)
    run.policy = PolicyResult(passed=False, mandatory=1, advisory=0, violations=[{"policy": "no-secrets", "message": f"found {SECRET}"}])
    run.error = f"provider rejected token {SECRET}"
    run.details["note"] = {"nested": [f"at https://bob:{SECRET}@example.com"]}
    outcome = ConvergeOutcome(
        "failed", EventKind.CONVERGE_FAILED, Reason.ENGINE_FAILED, Severity.ERROR, f"up failed: {SECRET}", subject=f"[dev] leaked {SECRET}",
    )
    return run, outcome


def test_a_secret_in_the_run_never_reaches_the_record_the_subject_or_the_body():
    redactor = Redactor([SECRET])
    run, outcome = _run_with_secret_everywhere()

    record = audit_record(run, outcome, 1, STARTED + timedelta(seconds=2), redactor)
    body = notification_body(run, outcome, record, redactor)
    subject = notification_subject(run, outcome, record, redactor)

    for text in (record.model_dump_json(), json.dumps(body), subject):
        assert SECRET not in text
        assert MASK in text
    assert record.error == f"provider rejected token {MASK}" and body["error"] == record.error
    assert body["message"] == f"up failed: {MASK}"
    assert subject == f"[dev] leaked {MASK}"


def test_the_record_names_the_checkout_and_the_run_as_they_ended():
    run, outcome = _run_with_secret_everywhere()
    run.details.update(signedBy="ssh:SHA256:abc", supersededCommit="b" * 40)

    record = audit_record(run, outcome, 3, STARTED + timedelta(milliseconds=1500), Redactor())

    assert (record.commit, record.attempt, record.last_phase, record.duration_ms) == (COMMIT, 3, Phase.APPLY, 1500)
    assert (record.outcome, record.kind, record.reason) == ("failed", EventKind.CONVERGE_FAILED, Reason.ENGINE_FAILED)
    assert (record.signed_by, record.superseded_commit, record.approved_by) == ("ssh:SHA256:abc", "b" * 40, None)
    assert record.program_version == PROGRAM_VERSION
    assert record.verify is None and record.drift is None


def test_without_a_checkout_the_record_names_the_job_and_the_subject_its_outcome():
    job_commit = "c" * 40
    run = ConvergeRun(job=_job(job_commit), env=None, started_at=STARTED)
    outcome = ConvergeOutcome("skipped", EventKind.SKIPPED, Reason.SUSPENDED, Severity.INFO, "suspended")
    redactor = Redactor()

    record = audit_record(run, outcome, 1, STARTED, redactor)
    body = notification_body(run, outcome, record, redactor)

    assert (record.commit, record.author, record.last_phase) == (job_commit, "Job Author", Phase.GUARDS)
    assert notification_subject(run, outcome, record, redactor) == f"[dev] skipped: Suspended ({job_commit[:12]})"
    assert (body["commit"], body["phase"], body["plan"], body["policyViolations"], body["error"]) == (job_commit, "guards", None, [], None)
    assert "drift" not in body and "report" not in body


def test_a_run_without_any_commit_is_reported_against_the_head():
    run = ConvergeRun(job=_job(), env=None, started_at=STARTED)
    outcome = ConvergeOutcome("refused", EventKind.REFUSED, Reason.UNKNOWN_ENVIRONMENT, Severity.ERROR, "unknown")
    record = audit_record(run, outcome, 1, STARTED, Redactor())
    assert notification_subject(run, outcome, record, Redactor()) == "[dev] refused: UnknownEnvironment (head)"
