"""The same drift after a remediation: the check says the remediation did not clear it and queues no second one.

A remediation that cannot put something back (a converge that keeps failing, a rule someone re-adds by
script) would otherwise be queued again by every scheduled check. The status's last check keeps a digest
of what drifted and the remediation job queued for it; the same digest again is not remediated again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.adapters.stack_state import StackStatus
from reconciler.drift.check import DriftChecker, drift_digest
from reconciler.engine import EngineResult, StackRequest
from reconciler.events import EventKind
from reconciler.models import Job, PlanSummary, Trigger
from reconciler.settings import DriftSettings, EnvironmentSettings, ReconcilerSettings, RepositorySettings
from tests.reconciler.drift.steps import log_retention_lowered

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
COMMIT = "c" * 40


class PreviewDouble:
    """Stands in for the Pulumi CLI (not installed here): a refreshed preview with the given steps."""

    def __init__(self, *steps):
        self.steps = tuple(steps)

    def preview(self, request: StackRequest) -> EngineResult:
        return EngineResult("preview", PlanSummary(update=len(self.steps), same=10), engine_version="3.0.0-double", steps=self.steps)


def checker() -> tuple[DriftChecker, list[Job]]:
    env = EnvironmentSettings(stack="prod", suffix="prod", drift=DriftSettings(mode="remediate"))
    settings = ReconcilerSettings(repository=RepositorySettings(url="https://example.com/desired.git"), environments={"prod": env})
    queued: list[Job] = []
    return DriftChecker(settings, clock=lambda: NOW, enqueue=queued.append), queued


def check(status: StackStatus, *steps, job_id: str = "j" * 32):
    drift, queued = checker()
    job = Job(job_id=job_id, environment="prod", stack="prod", trigger=Trigger.SCHEDULED_DRIFT_CHECK, event_id=job_id, received_at=NOW)
    return drift.compare(PreviewDouble(*steps), StackRequest(stack="prod", config={}, refresh=True), job=job, status=status, commit=COMMIT), queued


def test_the_same_drift_after_a_remediation_is_not_remediated_again():
    first, queued = check(StackStatus(stack="prod"), log_retention_lowered())
    assert len(queued) == 1 and first.summary.digest == drift_digest(first.report)
    remediated = queued[0].job_id
    status = StackStatus(stack="prod", last_drift_check=first.summary, last_job_id=remediated, last_outcome="succeeded")

    second, queued_again = check(status, log_retention_lowered(), job_id="k" * 32)

    assert second.kind == EventKind.DRIFT_DETECTED and queued_again == [] and second.remediation_job is None
    assert f"the remediation {remediated} did not clear it (it ended succeeded); not remediated again" in second.message
    assert second.summary.remediation_job_id == remediated  # the remediation this drift already had
    # And a third check, the same again: still not re-queued.
    third, queued_third = check(status.model_copy(update={"last_drift_check": second.summary}), log_retention_lowered(), job_id="m" * 32)
    assert queued_third == [] and "not remediated again" in third.message


def test_a_remediation_still_waiting_is_not_queued_twice():
    first, queued = check(StackStatus(stack="prod"), log_retention_lowered())
    status = StackStatus(stack="prod", last_drift_check=first.summary)  # the remediation has not run yet
    second, queued_again = check(status, log_retention_lowered(), job_id="k" * 32)
    assert queued_again == [] and f"the remediation {queued[0].job_id} queued for this same drift has not run yet" in second.message


def test_near_miss_different_drift_after_a_remediation_is_remediated():
    first, queued = check(StackStatus(stack="prod"), log_retention_lowered())
    status = StackStatus(stack="prod", last_drift_check=first.summary, last_job_id=queued[0].job_id, last_outcome="succeeded")
    second, queued_again = check(status, log_retention_lowered(actual=1), job_id="k" * 32)
    assert len(queued_again) == 1 and "did not clear it" not in second.message
