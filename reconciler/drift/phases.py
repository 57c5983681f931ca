"""A drift-check job's own phases in the converger: deferred during a traffic shift, the applied commit fetched, compared.

The converger runs them in sequence over the guards and the validate phase it shares with a
converge (:meth:`reconciler.converge.Converger._drift_phases`); :mod:`reconciler.drift.check`
decides what is compared and when, and this module turns its answers into the job's outcome.
Nothing is applied. A check that did not compare is settled as failed or deferred, never "no drift".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from reconciler.adapters.stack_state import StackStateStore
from reconciler.converge_run import ConvergeOutcome, ConvergeRun
from reconciler.drift import check as drift_check
from reconciler.drift.check import DriftChecker
from reconciler.drift.model import DriftCheckSummary
from reconciler.engine import Engine, StackRequest
from reconciler.errors import DriftProbeError, EngineError, SourceError
from reconciler.events import EventKind, Phase, Reason, Severity
from reconciler.models import Job, Trigger
from reconciler.source import Checkout


def is_drift_check(job: Job) -> bool:
    return job.trigger == Trigger.SCHEDULED_DRIFT_CHECK


@dataclass(frozen=True)
class DriftCheckPhases:
    """The drift check's phases over the converger's collaborators.

    ``enter`` saves the phase (fenced by the lease); ``checkout`` fetches the desired state at a
    commit; ``request`` builds the stack inputs (``refresh`` for a comparison); ``engine_failure``
    turns an engine error into the job's outcome, as it does for a converge.
    """

    drift: DriftChecker
    engine: Engine
    states: StackStateStore
    enter: Callable[[ConvergeRun, Phase], None]
    checkout: Callable[[str | None], Checkout]
    request: Callable[..., StackRequest]
    engine_failure: Callable[[ConvergeRun, EngineError], ConvergeOutcome]

    def defer_during_rollout(self, run: ConvergeRun) -> ConvergeOutcome | None:
        self.enter(run, Phase.GUARDS)
        reason = self.drift.deferral(run.job, self.states.get(run.job.stack))  # bounded by drift.maxDeferralMinutes
        if reason is None:
            return None
        return ConvergeOutcome("skipped", EventKind.DRIFT_CHECK_DEFERRED, Reason.ROLLOUT_SHIFTING_TRAFFIC, Severity.INFO, reason)

    def fetch_applied(self, run: ConvergeRun) -> ConvergeOutcome | None:
        """The last applied commit, never the branch head: a pushed but unapplied change is pending, not drift."""
        job = run.job
        self.enter(run, Phase.FETCH)
        commit = drift_check.applied_commit(self.states.get(job.stack))
        if commit is None:
            return ConvergeOutcome(
                "skipped", EventKind.SKIPPED, Reason.NOTHING_APPLIED, Severity.INFO, drift_check.nothing_applied_message(job.stack), notify=False
            )
        try:
            run.checkout = self.checkout(commit)
        except SourceError as exc:
            run.error = f"the applied commit {commit[:12]} cannot be fetched: {exc}"
            return ConvergeOutcome("failed", EventKind.DRIFT_CHECK_FAILED, Reason.SOURCE_MISSING, Severity.ERROR, run.error)
        if run.checkout.branch_head and run.checkout.branch_head != commit:
            run.details["pendingHead"] = run.checkout.branch_head  # pushed, not applied: pending, not drift
        return None

    def compare(self, run: ConvergeRun) -> ConvergeOutcome:
        """A refreshed preview of the applied state against the real resources; nothing is applied."""
        self.enter(run, Phase.PLAN)
        assert run.checkout is not None and run.checkout.commit is not None
        try:
            found = self.drift.compare(
                self.engine, self.request(run, refresh=True), job=run.job, status=self.states.get(run.job.stack), commit=run.checkout.commit,
                state=run.loaded.state if run.loaded is not None else None, traffic=run.traffic,
            )
        except EngineError as exc:
            return self.engine_failure(run, exc)
        except DriftProbeError as exc:
            run.error = str(exc)
            return ConvergeOutcome("failed", EventKind.DRIFT_CHECK_FAILED, Reason.DRIFT_PROBE_FAILED, Severity.ERROR, f"drift check failed: {exc}")
        run.plan, run.engine_version = found.plan, found.engine_version
        if found.remediation_job is not None:
            run.details["remediationJobId"] = found.remediation_job.job_id
        return ConvergeOutcome(
            "dry-run", found.kind, found.reason, found.severity, found.message, subject=found.subject, attributes=found.attributes,
            notify=found.report.drifted, drift_report=found.report, drift=found.summary,
        )


def settle(run: ConvergeRun, outcome: ConvergeOutcome, finished: datetime, previous: DriftCheckSummary | None = None) -> ConvergeOutcome:
    """A drift check that did not compare is a failed or a deferred check, never "no drift"; its summary says which
    (a deferral keeps when deferring began, from ``previous``, the stack's last check)."""
    if not is_drift_check(run.job) or outcome.drift is not None:
        return outcome
    commit = run.checkout.commit if run.checkout else None
    if outcome.kind == EventKind.DRIFT_CHECK_DEFERRED:
        return replace(outcome, drift=drift_check.deferred_summary(finished, commit, outcome.message, previous=previous))
    if outcome.outcome in ("failed", "refused"):
        return replace(outcome, kind=EventKind.DRIFT_CHECK_FAILED, drift=drift_check.failed_summary(finished, commit, outcome.message))
    return outcome


def undo_console_changes(drift: DriftChecker, run: ConvergeRun) -> None:
    """After a drift remediation's ``up`` (past its guards, change window, approval and lease): remove the
    console-added rules and policies a converge cannot (they are no resources of the stack), re-probing
    first. What was removed, refused or left for a person is kept in ``run.details["unmanagedUndo"]``."""
    if run.job.trigger != Trigger.DRIFT_REMEDIATION or run.loaded is None:
        return
    undo = drift.undo_for_remediation(run.job, state=run.loaded.state, traffic=run.traffic)
    run.details["unmanagedUndo"] = {"message": undo.message, "complete": undo.complete, **undo.model_dump(mode="json", by_alias=True)}


def with_undo(run: ConvergeRun, outcome: ConvergeOutcome) -> ConvergeOutcome:
    """A succeeded remediation's outcome says what its undo did; one that left something behind is a warning."""
    undo = run.details.get("unmanagedUndo")
    if not undo or outcome.outcome != "succeeded":
        return outcome
    return replace(outcome, message=f"{outcome.message}; {undo['message']}", severity=outcome.severity if undo["complete"] else Severity.WARNING)
