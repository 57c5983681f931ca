"""Converge one environment's stack for one job: guards, then named phases, every attempt audited.

Guards first (known environment, suspended, outside the change window, stack busy), then the
phases fetch → validate → plan → (approval) → apply → verify. The stack's status is saved after
each phase and again in ``finally``; each attempt appends exactly one audit record and sends at
most one notification, all through :meth:`Converger._report`, which scrubs every string with the
:class:`~reconciler.redact.Redactor` first.

The converger keeps only the guards, the lease and the sequence of phases; each phase's logic
lives in its own module: :mod:`reconciler.fetch_phase` over :mod:`reconciler.ordering` (the
branch head is what is converged), :mod:`reconciler.validate_phase` over :mod:`reconciler.identity`
and :mod:`reconciler.floors` (what the settings say the desired state must be),
:mod:`reconciler.converge_engine` (the stack request, what an engine failure means),
:mod:`reconciler.approval_phase` over :mod:`reconciler.approval_digest` (what an approval approves),
:mod:`reconciler.verify.phase` (what verify found), :mod:`reconciler.converge_report` (the audit
record and the notification) and :mod:`reconciler.lease` (who may converge the stack). The run
record they share is :class:`~reconciler.converge_run.ConvergeRun`.

A drift-check job runs its own sequence over the same guards and phases (:mod:`reconciler.drift.phases`;
:mod:`reconciler.drift.check` decides what is compared and when): deferred during a rollout's
traffic shift, else the last applied commit fetched and validated, then a refreshed preview
compared; nothing is applied.

Expected refusals (invalid desired state, policy violations, unsigned commits, engine
failures) end the job with a recorded outcome. Anything unexpected is recorded too and then
raised as :class:`~reconciler.errors.UnexpectedJobError`, so the queue retries it and, after
repeated failures, parks it in the DLQ.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from reconciler import converge_report, fetch_phase, validate_phase
from reconciler.adapters.audit import AuditLog
from reconciler.adapters.notify import Notifier
from reconciler.adapters.stack_state import Lease, StackStateStore, StackStatus
from reconciler.approval_phase import approval
from reconciler.clock import Clock, Monotonic, utc_now
from reconciler.converge_engine import engine_available, engine_failure, stack_request
from reconciler.converge_run import ConvergeOutcome, ConvergeRun, describe_plan
from reconciler.drift.check import DriftChecker
from reconciler.drift.model import DriftCheckSummary
from reconciler.drift.phases import DriftCheckPhases, is_drift_check, undo_console_changes, with_undo
from reconciler.drift.phases import settle as settle_drift_check
from reconciler.engine import Engine, StackRequest
from reconciler.errors import EngineError, LeaseLostError, SettingsError, UnexpectedJobError
from reconciler.events import EventKind, Phase, Reason, Severity
from reconciler.lease import HeldLease, LeaseObserver, LeaseTimings
from reconciler.locks import LockStore
from reconciler.models import Job, Trigger
from reconciler.operations.suspend import suspension_refusal
from reconciler.redact import Redactor
from reconciler.settings import ReconcilerSettings
from reconciler.source import Checkout, DesiredStateSource
from reconciler.verify import phase as verify_phase
from reconciler.verify.phase import EnvironmentVerifier, recordable_outputs
from reconciler.windows import decide

if TYPE_CHECKING:
    from reconciler.rollout.live import LiveTrafficSource

log = logging.getLogger("ecs_gitops.converge")

__all__ = ["ConvergeOutcome", "ConvergeRun", "Converger", "default_worker_id"]


class _SuspendedMidway(Exception):
    """The environment was suspended after this converge took its lease; raised by ``_enter``, never outside this module."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Converger:
    def __init__(
        self,
        settings: ReconcilerSettings,
        states: StackStateStore,
        source: DesiredStateSource,
        engine: Engine,
        audit: AuditLog | None = None,
        notifier: Notifier | None = None,
        redactor: Redactor | None = None,
        clock: Clock = utc_now,
        worker_id: str | None = None,
        locks: LockStore | None = None,
        heartbeat_seconds: float | None = None,
        monotonic: Monotonic = time.monotonic,
        lease_observer: LeaseObserver | None = None,
        live_traffic: LiveTrafficSource | None = None,
        wake_rollouts: Callable[[str], object] | None = None,
        drift: DriftChecker | None = None,
        verifier: EnvironmentVerifier | None = None,
    ):
        self.settings = settings
        self.states = states
        self.source = source
        self.engine = engine
        self.audit = audit
        self.notifier = notifier
        self.redactor = redactor or Redactor()
        self.clock = clock
        self.worker_id = worker_id or default_worker_id()
        self.locks = locks
        # None: the settings' leaseHeartbeatSeconds.
        self.heartbeat_seconds = heartbeat_seconds
        self.monotonic = monotonic
        # What this process has seen of other workers' leases; it must outlive one job.
        self.lease_observer = lease_observer or LeaseObserver(monotonic)
        # The traffic of services whose rollout is active (None: no rollouts here; the traffic state alone).
        self.live_traffic = live_traffic
        # Wakes a stack's active rollouts (None: no rollouts here). Called when a converge that ran
        # `up` finishes, so each rollout re-asserts its weights if the up moved them.
        self.wake_rollouts = wake_rollouts
        # Drift-check jobs: the check's own decisions and acting (rollouts, remediation queue, metric).
        self.drift = drift or DriftChecker(settings, clock=clock)
        # Runs the environment's checks after `up` (None: no AWS clients here; the phase records them as skipped).
        self.verifier = verifier

    @property
    def lease_timings(self) -> LeaseTimings:
        return LeaseTimings(
            stale_after_seconds=float(self.settings.lease_stale_after_seconds),
            heartbeat_seconds=float(self.heartbeat_seconds if self.heartbeat_seconds is not None else self.settings.lease_heartbeat_seconds),
            busy_retry_seconds=self.settings.stack_busy_retry_seconds,
        )

    # ------------------------------------------------------------------ entry point

    def converge(self, job: Job, attempt: int = 1) -> ConvergeOutcome:
        run = ConvergeRun(job=job, env=self.settings.environments.get(job.environment), started_at=self.clock())
        try:
            outcome = self._guards(run)
            if outcome is None:
                assert run.held is not None
                with run.held.heartbeat():
                    outcome = self._phases(run)
        except _SuspendedMidway as exc:
            # Released, recorded and notified like the guard's refusal; the record's last phase is the one it finished.
            outcome = ConvergeOutcome("skipped", EventKind.SKIPPED, Reason.SUSPENDED, Severity.INFO, str(exc))
        except LeaseLostError as exc:
            if run.held is None or run.held.lost_reason is None:
                # Not our lease's loss (a library raised it, or a nested call): as unexpected as any other error.
                raise self._unexpected(run, exc, attempt) from exc
            run.error = str(exc)
            outcome = ConvergeOutcome(
                "failed", EventKind.CONVERGE_FAILED, Reason.LEASE_LOST, Severity.ERROR,
                f"stopped in {run.phase.value}: {exc}; the job is retried", retry_after_seconds=self.lease_timings.busy_retry_seconds,
            )
        except Exception as exc:
            raise self._unexpected(run, exc, attempt) from exc
        return self._finish(run, outcome, attempt)

    def _unexpected(self, run: ConvergeRun, exc: Exception, attempt: int) -> UnexpectedJobError:
        """Record an error the code did not expect (outcome, audit, one notification); the caller raises what this returns."""
        job = run.job
        outcome = ConvergeOutcome(
            "failed", EventKind.CONVERGE_FAILED, Reason.UNEXPECTED_ERROR, Severity.ERROR, f"unexpected error in {run.phase.value}: {exc}"
        )
        run.error = f"{type(exc).__name__}: {exc}"
        try:
            outcome = self._finish(run, outcome, attempt)
        except Exception:
            # The original error is the one the queue must see; the reporting failure is logged beside it.
            log.exception("could not record the failed job", extra={"stack": job.stack, "job_id": job.job_id})
        message = self.redactor.scrub(f"job {job.job_id} on stack {job.stack} failed unexpectedly in {run.phase.value}: {run.error}")
        return UnexpectedJobError(message, outcome)

    def record_job(self, job: Job, outcome: ConvergeOutcome, details: dict[str, Any] | None = None, error: str | None = None) -> ConvergeOutcome:
        """Audit and notify a job that is not a converge (an image push, a scan event): one record each.

        A job of an environment the settings no longer manage is recorded as that refusal instead.
        Returns the outcome recorded.
        """
        run = ConvergeRun(job=job, env=self.settings.environments.get(job.environment), started_at=self.clock(), phase=Phase.DONE)
        run.details.update(details or {})
        run.error = error
        if run.env is None:
            outcome = self._unknown_environment(run)
        self._report(run, outcome, 1, self.clock())
        return outcome

    # ------------------------------------------------------------------ guards

    def _unknown_environment(self, run: ConvergeRun) -> ConvergeOutcome:
        try:
            self.settings.environment(run.job.environment)
        except SettingsError as exc:
            run.error = str(exc)
        return ConvergeOutcome(
            "refused", EventKind.REFUSED, Reason.UNKNOWN_ENVIRONMENT, Severity.ERROR,
            f"{run.error}; the job is dropped. If the environment should be managed, add it to the reconciler settings and push again",
        )

    def _guards(self, run: ConvergeRun) -> ConvergeOutcome | None:
        job = run.job
        if run.env is None:
            return self._unknown_environment(run)
        env = run.env
        # Suspended in the settings, or at runtime (`ecs-gitops suspend`, kept in the stack status): nothing runs.
        suspended = suspension_refusal(job.environment, env, None if env.suspended else self.states.get(job.stack).suspension)
        if suspended is not None:
            return ConvergeOutcome("skipped", EventKind.SKIPPED, Reason.SUSPENDED, Severity.INFO, suspended)
        now = self.clock()
        window = decide(env.windows, now)
        # A drift check applies nothing: change windows hold converges (a remediation too), not checks.
        if not window.open and not is_drift_check(job):
            if job.window_override is None:
                wait = int((window.reopens_at - now).total_seconds()) if window.reopens_at else 3600
                reopens = window.reopens_at.isoformat() if window.reopens_at else "not within the next week"
                return ConvergeOutcome(
                    "waiting", EventKind.WAITING_FOR_WINDOW, Reason.OUTSIDE_WINDOW, Severity.INFO,
                    f"{window.reason}; waiting until {reopens}", retry_after_seconds=max(wait, 60),
                )
            run.details["windowOverride"] = {"window": window.reason, "by": job.window_override.by, "reason": job.window_override.reason}
        return self._take_lease(run)

    def _take_lease(self, run: ConvergeRun) -> ConvergeOutcome | None:
        """Take the stack's lease (conditional write), unless another worker's lease still looks alive to us."""
        job, timings, now = run.job, self.lease_timings, self.clock()
        taken: Lease | None = None
        busy: Lease | None = None
        suspended: str | None = None

        def change(status: StackStatus) -> StackStatus | None:
            nonlocal taken, busy, suspended
            taken, busy, lease = None, None, status.lease
            # Checked again in the lease's own conditional write: a suspend written after the guard read
            # the status still stops this converge before any phase runs.
            suspended = suspension_refusal(job.environment, run.environment, status.suspension)
            if suspended is not None:
                return None
            if lease is not None and lease.holder != self.worker_id and not self.lease_observer.may_take(job.stack, lease, timings.stale_after_seconds):
                busy = lease
                return None
            token = max(status.fencing_token, lease.token if lease else 0) + 1
            taken = Lease(holder=self.worker_id, job_id=job.job_id, acquired_at=now, heartbeat_at=now, counter=0, token=token)
            if lease is not None and lease.holder != self.worker_id:
                # "fencingNumber", not "token": the redactor masks values under credential-named keys.
                run.details["tookOverFrom"] = {"holder": lease.holder, "jobId": lease.job_id, "fencingNumber": lease.token}
            return status.model_copy(
                update={"environment": job.environment, "lease": taken, "fencing_token": token, "current_job_id": job.job_id, "phase": Phase.GUARDS}
            )

        self.states.update(job.stack, change)
        if suspended is not None:
            return ConvergeOutcome("skipped", EventKind.SKIPPED, Reason.SUSPENDED, Severity.INFO, suspended)
        if taken is None:
            assert busy is not None
            return ConvergeOutcome(
                "waiting", EventKind.STACK_BUSY, Reason.STACK_LOCKED, Severity.WARNING,
                f"stack {job.stack} is being converged by {busy.holder} (job {busy.job_id}, heartbeat {busy.counter}); "
                f"it is taken over only after this worker sees no heartbeat for {int(timings.stale_after_seconds)}s; "
                f"retrying in {timings.busy_retry_seconds}s",
                retry_after_seconds=timings.busy_retry_seconds,
            )
        if "tookOverFrom" in run.details:
            log.warning("took over a stale stack lease", extra={"stack": job.stack, "job_id": job.job_id, **run.details["tookOverFrom"]})
        self.lease_observer.forget(job.stack)
        run.held = HeldLease(self.states, job.stack, taken, self.clock, self.monotonic, timings)
        return None

    # ------------------------------------------------------------------ phases

    def _enter(self, run: ConvergeRun, phase: Phase) -> None:
        """Save the phase (fenced by the lease: a worker that lost it stops here).

        The same conditional write re-reads the suspension: a suspend written after this converge took
        its lease (during a preview, say) stops it here, before its next phase and so before apply,
        with :class:`_SuspendedMidway`. Once the apply phase is entered, the apply finishes."""
        assert run.held is not None
        now = self.clock()
        suspended: str | None = None

        def change(status: StackStatus) -> StackStatus | None:
            nonlocal suspended
            assert status.lease is not None
            # Before apply only: once `up` has begun, the phases after it (verify, recording what was applied) must run.
            suspended = None if run.up_started else suspension_refusal(run.job.environment, run.environment, status.suspension)
            if suspended is not None:
                return None
            lease = status.lease.model_copy(update={"counter": status.lease.counter + 1, "heartbeat_at": now})
            return status.model_copy(update={"phase": phase, "current_job_id": run.job.job_id, "lease": lease})

        finished, run.phase = run.phase, phase  # a lease lost in this write is reported in the phase it was entering
        run.held.update(change)
        if suspended is not None:
            run.phase = finished  # never entered: the record names the last phase that ran
            raise _SuspendedMidway(f"stopped before {phase.value}: {suspended}")
        log.info("phase", extra={"stack": run.job.stack, "job_id": run.job.job_id, "phase": phase.value})

    def _phases(self, run: ConvergeRun) -> ConvergeOutcome:
        if is_drift_check(run.job):
            return self._drift_phases(run)
        for phase in (self._fetch, self._validate, self._plan, self._apply):
            outcome = phase(run)
            if outcome is not None:
                return outcome
        return self._verify(run)

    def _drift_phases(self, run: ConvergeRun) -> ConvergeOutcome:
        """A drift check: deferred during a traffic shift, else the applied commit fetched, validated and compared."""
        check = DriftCheckPhases(
            drift=self.drift, engine=self.engine, states=self.states, enter=self._enter, checkout=self._checkout,
            request=self._request, engine_failure=self._engine_failure,
        )
        for phase in (check.defer_during_rollout, check.fetch_applied, self._validate):
            outcome = phase(run)
            if outcome is not None:
                return outcome
        return check.compare(run)

    def _checkout(self, commit: str | None) -> Checkout:
        """The desired state at ``commit`` (None: the branch head), as a long-running worker must see it."""
        if hasattr(self.source, "refresh"):
            self.source.refresh()  # a long-running worker must see pushes made since its last job
        return self.source.fetch(commit)

    def _fetch(self, run: ConvergeRun) -> ConvergeOutcome | None:
        self._enter(run, Phase.FETCH)
        return fetch_phase.fetch(
            run, source=self.source, checkout=self._checkout, states=self.states, update=self._update, branch=self.settings.repository.branch
        )

    def _validate(self, run: ConvergeRun) -> ConvergeOutcome | None:
        self._enter(run, Phase.VALIDATE)
        return validate_phase.validate(
            run, states=self.states, update=self._update, max_file_bytes=self.settings.max_desired_state_file_bytes, live_traffic=self.live_traffic
        )

    def _plan(self, run: ConvergeRun) -> ConvergeOutcome | None:
        job = run.job
        self._enter(run, Phase.PLAN)
        request = self._request(run, refresh=_puts_drift_back(job))
        if job.dry_run and not engine_available(self.engine):
            run.details["preview"] = "skipped: the Pulumi CLI is not installed"
            return ConvergeOutcome("dry-run", EventKind.DRY_RUN_COMPLETE, Reason.DRY_RUN, Severity.INFO, "schema and policy passed; engine preview skipped (no Pulumi CLI)")
        try:
            preview = self.engine.preview(request)
        except EngineError as exc:
            return self._engine_failure(run, exc)
        run.plan, run.engine_version = preview.summary, preview.engine_version
        if job.dry_run:
            return ConvergeOutcome("dry-run", EventKind.DRY_RUN_COMPLETE, Reason.DRY_RUN, Severity.INFO, f"plan only: {describe_plan(run.plan)}")
        if run.environment.require_approval:
            return approval(run, request, states=self.states, update=self._update, clock=self.clock)
        return None

    def _apply(self, run: ConvergeRun) -> ConvergeOutcome | None:
        self._enter(run, Phase.APPLY)
        run.up_started = True
        try:
            applied = self.engine.up(self._request(run, refresh=_puts_drift_back(run.job)))
        except EngineError as exc:
            return self._engine_failure(run, exc)
        run.applied = applied
        run.plan, run.engine_version = applied.summary, applied.engine_version or run.engine_version
        undo_console_changes(self.drift, run)
        return None

    def _verify(self, run: ConvergeRun) -> ConvergeOutcome:
        self._enter(run, Phase.VERIFY)
        return with_undo(run, verify_phase.verify(run, self.verifier, record_applied=self._record_applied, clock=self.clock))

    def _update(self, run: ConvergeRun, change: Callable[[StackStatus], StackStatus | None]) -> StackStatus:
        """Every status write inside the phases goes through the lease's fence."""
        assert run.held is not None
        return run.held.update(change)

    def _request(self, run: ConvergeRun, refresh: bool = False) -> StackRequest:
        return stack_request(run, self.settings.aws.permissions_boundary_arn, refresh=refresh)

    def _engine_failure(self, run: ConvergeRun, exc: EngineError) -> ConvergeOutcome:
        return engine_failure(run, exc, locks=self.locks, project=self.settings.project, clock=self.clock)

    def _record_applied(self, run: ConvergeRun) -> None:
        """What was applied, always: also an older commit after a deliberate reset of the branch."""
        commit = run.checkout.commit if run.checkout else None
        now = self.clock()
        update: dict[str, Any] = {"last_applied_at": now, **({"last_applied_commit": commit} if commit else {})}
        # What the promotion gate checks against, written with the commit it came from (no secret-marked value).
        update["applied_outputs"] = recordable_outputs(run.applied.outputs) if run.applied is not None else None
        self._update(run, lambda status: status.model_copy(update=update))

    # ------------------------------------------------------------------ reporting

    def _last_drift_check(self, run: ConvergeRun, outcome: ConvergeOutcome) -> DriftCheckSummary | None:
        """The stack's last drift check, for a deferral to keep when deferring began; None when unreadable:
        reading it must never stop the outcome from being recorded."""
        if not is_drift_check(run.job) or outcome.drift is not None or run.env is None:
            return None
        try:
            return self.states.get(run.job.stack).last_drift_check
        except Exception:  # noqa: BLE001 - the deferral is still recorded, as starting now
            log.warning("could not read the last drift check of %s", run.job.stack, exc_info=True, extra={"stack": run.job.stack})
            return None

    def _finish(self, run: ConvergeRun, outcome: ConvergeOutcome, attempt: int) -> ConvergeOutcome:
        """Release the lease, keep the status, report; returns the outcome as recorded."""
        finished = self.clock()
        held = run.held
        outcome = settle_drift_check(run, outcome, finished, previous=self._last_drift_check(run, outcome))

        def change(status: StackStatus) -> StackStatus | None:
            if held is not None and not held.is_mine(status.lease):
                # The stack is someone else's now: its status is theirs to write.
                return None
            update: dict[str, Any] = {"last_job_id": run.job.job_id, "last_outcome": outcome.outcome}
            if outcome.drift is not None:
                update["last_drift_check"] = outcome.drift
            if held is not None:
                update.update({"lease": None, "current_job_id": None, "phase": Phase.DONE})
            return status.model_copy(update=update)

        try:
            if run.env is not None:
                self.states.update(run.job.stack, change)
        finally:
            self._report(run, outcome, attempt, finished)
            if outcome.drift is not None and run.env is not None:
                self.drift.record_metric(run.job.environment, outcome.drift)
            if run.checkout is not None and hasattr(self.source, "cleanup"):
                self.source.cleanup(run.checkout)
            self._wake_rollouts(run)
        return outcome

    def _wake_rollouts(self, run: ConvergeRun) -> None:
        """After an up (succeeded or not): the stack's active rollouts tick now and re-assert their weights.

        A converge that never ran ``up`` changed nothing a rollout owns. A failure here is logged:
        the rollouts' own polls still come, and the job's outcome is already recorded."""
        if self.wake_rollouts is None or not run.up_started:
            return
        try:
            self.wake_rollouts(run.job.stack)
        except Exception:
            log.exception("could not wake the active rollouts of %s after its converge", run.job.stack, extra={"stack": run.job.stack})

    def _report(self, run: ConvergeRun, outcome: ConvergeOutcome, attempt: int, finished: datetime) -> None:
        """The one place an outcome leaves the worker: log, audit record, notification; all scrubbed."""
        job = run.job
        record = converge_report.audit_record(run, outcome, attempt, finished, self.redactor)
        log.info(
            "job finished",
            extra={"stack": job.stack, "job_id": job.job_id, "outcome": outcome.outcome, "reason": outcome.reason.value, "detail": self.redactor.scrub(outcome.message)},
        )
        if self.audit is not None:
            self.audit.append(record)
        if self.notifier is not None and outcome.notify:
            body = converge_report.notification_body(run, outcome, record, self.redactor)
            self.notifier.publish(
                kind=outcome.kind,
                severity=outcome.severity,
                environment=job.environment,
                subject=converge_report.notification_subject(run, outcome, record, self.redactor),
                body=body,
                attributes=outcome.attributes,
            )


def _puts_drift_back(job: Job) -> bool:
    """A drift remediation plans and applies refreshed (``pulumi up --refresh``): the drift check's refreshed
    preview wrote nothing to the state, so unrefreshed the engine would diff against the state's stale copy
    and put nothing back. The plan an approver sees is then the same refreshed diff that is applied."""
    return job.trigger == Trigger.DRIFT_REMEDIATION
