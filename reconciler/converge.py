"""Converge one environment's stack for one job: guards, then named phases, every attempt audited.

Guards first (known environment, suspended, outside the change window, stack busy), then the
phases fetch → validate → plan → (approval) → apply → verify. The stack's status is saved after
each phase and again in ``finally``; each attempt appends exactly one audit record and sends at
most one notification, all through :meth:`Converger._report`, which scrubs every string with the
:class:`~reconciler.redact.Redactor` first.

Each phase's decisions live in their own module: :mod:`reconciler.ordering` (the branch head is
what is converged), :mod:`reconciler.identity` and :mod:`reconciler.floors` (what the settings
say the desired state must be), :mod:`reconciler.approval_digest` (what an approval approves) and
:mod:`reconciler.lease` (who may converge the stack). The converger keeps only their sequence.

A drift-check job runs its own sequence over the same guards and phases (:mod:`reconciler.drift.check`
decides what is compared and when): deferred during a rollout's traffic shift, else the last
applied commit fetched and validated, then a refreshed preview compared; nothing is applied.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from desired_state.errors import DesiredStateError, FieldProblem
from desired_state.loader import LoadedEnvironment, load_environment
from desired_state.traffic import TrafficState
from reconciler import approval_digest, ordering
from reconciler.approvals import approve_command
from reconciler.adapters.audit import AuditLog
from reconciler.adapters.notify import Notifier
from reconciler.adapters.stack_state import Lease, PendingApproval, StackStateStore, StackStatus
from reconciler.clock import Clock, Monotonic, utc_now
from reconciler.drift import check as drift_check
from reconciler.drift.check import DriftChecker
from reconciler.drift.model import DriftCheckSummary, DriftReport
from reconciler.engine import Engine, EngineResult, StackRequest
from reconciler.errors import (
    DriftProbeError,
    EngineError,
    EngineUnavailableError,
    LeaseLostError,
    SettingsError,
    SignatureError,
    SourceError,
    StackLockedError,
    UnexpectedJobError,
)
from reconciler.events import EventKind, Phase, Reason, Severity
from reconciler.floors import floor_problems
from reconciler.identity import identity_problems
from reconciler.lease import HeldLease, LeaseObserver, LeaseTimings
from reconciler.locks import LockStore, stuck_locks
from reconciler.models import AuditRecord, Job, Outcome, PlanSummary, PolicyResult, Trigger
from reconciler.operations.suspend import suspension_refusal
from reconciler.redact import Redactor
from reconciler.settings import EnvironmentSettings, ReconcilerSettings
from reconciler.source import Checkout, DesiredStateSource, SignerTrust
from reconciler.verify.model import VerifySummary
from reconciler.verify.phase import EnvironmentVerifier, recordable_outputs, verify_after_up
from reconciler.windows import decide

if TYPE_CHECKING:
    from reconciler.rollout.live import LiveTrafficSource

log = logging.getLogger("ecs_gitops.converge")

EXPECTED_OUTPUTS = ("albDnsName", "clusterArn", "serviceArns", "liveColours")


@dataclass
class ConvergeOutcome:
    outcome: Outcome
    kind: EventKind
    reason: Reason
    severity: Severity
    message: str
    retry_after_seconds: int | None = None
    # The notification's subject (None: "[env] kind: reason (commit)") and extra filterable attributes.
    subject: str | None = None
    attributes: Mapping[str, str | Sequence[str]] | None = None
    # False: audited and logged, no notification (a drift check that found nothing).
    notify: bool = True
    # A drift check's report (when it compared) and its summary (status, audit record).
    drift_report: DriftReport | None = None
    drift: DriftCheckSummary | None = None


class _SuspendedMidway(Exception):
    """The environment was suspended after this converge took its lease; raised by ``_enter``, never outside this module."""


@dataclass
class _Run:
    """What one attempt has learned so far; the audit record is built from it."""

    job: Job
    env: EnvironmentSettings | None
    started_at: datetime
    phase: Phase = Phase.GUARDS
    held: HeldLease | None = None
    checkout: Checkout | None = None
    loaded: LoadedEnvironment | None = None
    plan: PlanSummary | None = None
    policy: PolicyResult | None = None
    engine_version: str | None = None
    traffic: TrafficState | None = None
    applied: EngineResult | None = None
    up_started: bool = False  # the engine's up ran (or began): the listener and colours may have moved
    verify: VerifySummary | None = None  # what the verify phase found (None: it never ran)
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def environment(self) -> EnvironmentSettings:
        assert self.env is not None, "the guards refuse jobs of unknown environments"
        return self.env


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
        run = _Run(job=job, env=self.settings.environments.get(job.environment), started_at=self.clock())
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

    def _unexpected(self, run: _Run, exc: Exception, attempt: int) -> UnexpectedJobError:
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
        run = _Run(job=job, env=self.settings.environments.get(job.environment), started_at=self.clock(), phase=Phase.DONE)
        run.details.update(details or {})
        run.error = error
        if run.env is None:
            outcome = self._unknown_environment(run)
        self._report(run, outcome, 1, self.clock())
        return outcome

    # ------------------------------------------------------------------ guards

    def _unknown_environment(self, run: _Run) -> ConvergeOutcome:
        try:
            self.settings.environment(run.job.environment)
        except SettingsError as exc:
            run.error = str(exc)
        return ConvergeOutcome(
            "refused", EventKind.REFUSED, Reason.UNKNOWN_ENVIRONMENT, Severity.ERROR,
            f"{run.error}; the job is dropped. If the environment should be managed, add it to the reconciler settings and push again",
        )

    def _guards(self, run: _Run) -> ConvergeOutcome | None:
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
        if not window.open and not _is_drift_check(job):
            if job.window_override is None:
                wait = int((window.reopens_at - now).total_seconds()) if window.reopens_at else 3600
                reopens = window.reopens_at.isoformat() if window.reopens_at else "not within the next week"
                return ConvergeOutcome(
                    "waiting", EventKind.WAITING_FOR_WINDOW, Reason.OUTSIDE_WINDOW, Severity.INFO,
                    f"{window.reason}; waiting until {reopens}", retry_after_seconds=max(wait, 60),
                )
            run.details["windowOverride"] = {"window": window.reason, "by": job.window_override.by, "reason": job.window_override.reason}
        return self._take_lease(run)

    def _take_lease(self, run: _Run) -> ConvergeOutcome | None:
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

    def _enter(self, run: _Run, phase: Phase) -> None:
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

    def _phases(self, run: _Run) -> ConvergeOutcome:
        if _is_drift_check(run.job):
            return self._drift_phases(run)
        for phase in (self._fetch, self._validate, self._plan, self._apply):
            outcome = phase(run)
            if outcome is not None:
                return outcome
        return self._verify(run)

    def _drift_phases(self, run: _Run) -> ConvergeOutcome:
        """A drift check: deferred during a traffic shift, else the applied commit fetched, validated and compared."""
        for phase in (self._defer_during_rollout, self._fetch_applied, self._validate):
            outcome = phase(run)
            if outcome is not None:
                return outcome
        return self._compare(run)

    def _checkout(self, commit: str | None) -> Checkout:
        """The desired state at ``commit`` (None: the branch head), as a long-running worker must see it."""
        if hasattr(self.source, "refresh"):
            self.source.refresh()  # a long-running worker must see pushes made since its last job
        return self.source.fetch(commit)

    def _fetch(self, run: _Run) -> ConvergeOutcome | None:
        """The branch head, whatever commit woke this job; a named commit off the branch is refused."""
        job, env = run.job, run.environment
        self._enter(run, Phase.FETCH)
        try:
            run.checkout = self._checkout(None)
            head = run.checkout.commit
            # Reachable from the very head fetched (one snapshot of the branch, so a push in between cannot
            # slip an unchecked commit through): what the source's on_branch means.
            if job.commit and head is None:
                raise SourceError(f"the desired-state source has no commits (a plain directory); a job naming commit {job.commit[:12]} cannot run on it")
            if job.commit and head is not None and job.commit != head and not self.source.is_ancestor(job.commit, head):
                run.error = ordering.not_on_branch_message(job.commit, self.settings.repository.branch)
                self._drop_checkout(run)  # the record names the refused commit, not the head
                return ConvergeOutcome("refused", EventKind.REFUSED, Reason.NOT_ON_BRANCH, Severity.ERROR, run.error)
        except SourceError as exc:
            run.error = str(exc)
            if job.commit:
                self._drop_checkout(run)
            return ConvergeOutcome("refused", EventKind.CONVERGE_FAILED, Reason.SOURCE_MISSING, Severity.ERROR, str(exc))
        if head is not None:
            decision = ordering.decide(job.trigger, job.commit, head, self.states.get(job.stack).last_applied_commit)
            if isinstance(decision, ordering.Skip):
                if job.commit:
                    self._drop_checkout(run)  # nothing is converged: the record names the job's own commit
                severity = Severity.INFO if decision.reason == Reason.ALREADY_APPLIED else Severity.WARNING
                return ConvergeOutcome("skipped", EventKind.SKIPPED, decision.reason, severity, decision.message)
            if decision.head != head:
                # A remediation converges the commit it names (the applied one), not the branch head.
                try:
                    self._drop_checkout(run)
                    run.checkout = self.source.fetch(decision.head)
                except SourceError as exc:
                    run.error = str(exc)
                    return ConvergeOutcome("refused", EventKind.CONVERGE_FAILED, Reason.SOURCE_MISSING, Severity.ERROR, str(exc))
                run.details["pendingHead"] = head
            elif decision.superseded:
                run.details["supersededCommit"] = decision.superseded
                self._update(run, lambda s: s.model_copy(update={"superseded_job_ids": [*s.superseded_job_ids[-49:], job.job_id]}))
                log.info("converging the branch head in place of the job's commit", extra={"stack": job.stack, "commit": decision.superseded, "head": head})
        if env.signed_commits_required:
            try:
                run.details["signedBy"] = self.source.verify_signature(
                    run.checkout.commit or "", SignerTrust.for_environment(env)
                )
            except (SignatureError, SourceError) as exc:
                run.error = str(exc)
                return ConvergeOutcome("refused", EventKind.REFUSED_UNSIGNED, Reason.UNSIGNED_COMMIT, Severity.ERROR, str(exc))
        return None

    def _validate(self, run: _Run) -> ConvergeOutcome | None:
        """Schema, identity (settings), overrides, floors (settings), then the policy gate on the offline render."""
        job, env = run.job, run.environment
        self._enter(run, Phase.VALIDATE)
        assert run.checkout is not None
        try:
            run.loaded = self._load(run.checkout, job.environment)
        except DesiredStateError as exc:
            run.error = str(exc)
            return ConvergeOutcome("refused", EventKind.REFUSED_INVALID, Reason.INVALID_DESIRED_STATE, Severity.ERROR, str(exc))
        file, line_of = run.loaded.source_file, run.loaded.line_of
        identity = identity_problems(run.loaded.state, env, file, line_of)
        if identity:
            return self._refused_by_settings(run, identity, Reason.IDENTITY_MISMATCH)
        status = self.states.get(job.stack)
        if status.image_overrides:
            git_images = {svc: spec.image for svc, spec in run.loaded.state.services.items()}
            caught_up = sorted(svc for svc, image in status.image_overrides.items() if git_images.get(svc) == image)
            if caught_up:
                # Git now says the same: the override has done its job.
                self._update(run, lambda s: s.model_copy(update={"image_overrides": {k: v for k, v in s.image_overrides.items() if k not in caught_up}}))
            overrides = {svc: image for svc, image in status.image_overrides.items() if svc not in caught_up}
            if overrides:
                # A rollout staged these images without a git commit; they win over git until git catches up.
                run.details["imageOverrides"] = {svc: image.reference for svc, image in overrides.items()}
                run.loaded = replace(run.loaded, state=run.loaded.state.with_images(overrides))
        floors = floor_problems(run.loaded.state, env.floors, file, line_of)
        if floors:
            return self._refused_by_settings(run, floors, Reason.BELOW_FLOOR)
        run.traffic = self._traffic(run, status.traffic or TrafficState())
        if _is_drift_check(job):
            return None  # nothing is applied: the policy gates the converges (a remediation's too), not the comparison
        run.policy = self._policy(run.loaded, run.traffic)
        if not run.policy.passed:
            return ConvergeOutcome(
                "refused", EventKind.REFUSED_BY_POLICY, Reason.POLICY_VIOLATION, Severity.ERROR,
                f"{run.policy.mandatory} mandatory policy violation(s); nothing was applied",
            )
        return None

    def _plan(self, run: _Run) -> ConvergeOutcome | None:
        job = run.job
        self._enter(run, Phase.PLAN)
        request = self._request(run)
        if job.dry_run and not _engine_available(self.engine):
            run.details["preview"] = "skipped: the Pulumi CLI is not installed"
            return ConvergeOutcome("dry-run", EventKind.DRY_RUN_COMPLETE, Reason.DRY_RUN, Severity.INFO, "schema and policy passed; engine preview skipped (no Pulumi CLI)")
        try:
            preview = self.engine.preview(request)
        except EngineError as exc:
            return self._engine_failure(run, exc)
        run.plan, run.engine_version = preview.summary, preview.engine_version
        if job.dry_run:
            return ConvergeOutcome("dry-run", EventKind.DRY_RUN_COMPLETE, Reason.DRY_RUN, Severity.INFO, f"plan only: {_describe(run.plan)}")
        if run.environment.require_approval:
            return self._approval(run, request)
        return None

    def _apply(self, run: _Run) -> ConvergeOutcome | None:
        self._enter(run, Phase.APPLY)
        run.up_started = True
        try:
            applied = self.engine.up(self._request(run))
        except EngineError as exc:
            return self._engine_failure(run, exc)
        run.applied = applied
        run.plan, run.engine_version = applied.summary, applied.engine_version or run.engine_version
        return None

    def _verify(self, run: _Run) -> ConvergeOutcome:
        self._enter(run, Phase.VERIFY)
        assert run.applied is not None and run.traffic is not None
        problem = _verify_outputs(run.applied, run.traffic)
        if problem:
            run.error = problem
            return ConvergeOutcome("failed", EventKind.CONVERGE_FAILED, Reason.ENGINE_FAILED, Severity.ERROR, problem)
        self._record_applied(run)
        assert run.plan is not None and run.loaded is not None
        report = verify_after_up(self.verifier, outputs=run.applied.outputs, desired=run.loaded.state, traffic=run.traffic, now=self.clock())
        run.verify = report.summary()
        if report.failures:
            run.error = report.headline()
            run.details["verifyFailures"] = [{"name": r.name, "detail": r.detail, "evidence": r.evidence} for r in report.failures]
            return ConvergeOutcome(
                "failed", EventKind.VERIFY_FAILED, Reason.VERIFY_FAILED, Severity.ERROR,
                f"applied ({_describe(run.plan)}), but verify failed: {report.headline()}; see: ecs-gitops verify --environment {run.job.environment}",
            )
        reason = Reason.APPLIED if run.plan.has_changes else Reason.NO_CHANGES
        return ConvergeOutcome("succeeded", EventKind.CONVERGE_SUCCEEDED, reason, Severity.INFO, _describe(run.plan))

    def _drop_checkout(self, run: _Run) -> None:
        if run.checkout is not None and hasattr(self.source, "cleanup"):
            self.source.cleanup(run.checkout)
        run.checkout = None

    def _update(self, run: _Run, change: Callable[[StackStatus], StackStatus | None]) -> StackStatus:
        """Every status write inside the phases goes through the lease's fence."""
        assert run.held is not None
        return run.held.update(change)

    def _load(self, checkout: Checkout, environment: str) -> LoadedEnvironment:
        return load_environment(
            checkout.path, environment, commit=checkout.commit, max_file_bytes=self.settings.max_desired_state_file_bytes
        )

    def _traffic(self, run: _Run, recorded: TrafficState) -> TrafficState:
        """The traffic to render: the recorded state, with each active rollout's own in place of its service's.

        The traffic state can be behind the listener (a worker died between the two writes); a
        converge must never render weights older than the listener's while a rollout runs.
        """
        if self.live_traffic is None:
            return recorded
        rendered = self.live_traffic.render(run.job.stack, recorded)
        if rendered.rollouts:
            run.details["rolloutTraffic"] = {
                service: {"rolloutId": rollout_id, "weights": rendered.traffic.of(service).resolved_weights().model_dump()}
                for service, rollout_id in sorted(rendered.rollouts.items())
            }
        return rendered.traffic

    def _refused_by_settings(self, run: _Run, problems: list[FieldProblem], reason: Reason) -> ConvergeOutcome:
        """The desired state asks for what the settings do not allow; nothing is rendered."""
        assert run.loaded is not None
        run.error = str(run.loaded.refusal(problems))
        return ConvergeOutcome("refused", EventKind.REFUSED, reason, Severity.ERROR, run.error)

    def _policy(self, loaded: LoadedEnvironment, traffic: TrafficState) -> PolicyResult:
        from policies.offline import check_rendered
        from program.platform import StackInputs
        from program.render import render, thread_event_loop

        import pulumi

        thread_event_loop()  # a converge loop's thread: the secret outputs below need an asyncio loop
        secret_config = {
            spec.config_key: pulumi.Output.secret(f"<stack config {spec.config_key}>")
            for spec in loaded.state.secrets.values()
            if spec.kind == "config" and spec.config_key
        }
        report = check_rendered(render(StackInputs(loaded.state, traffic, secret_config)), loaded.state)
        return PolicyResult(
            passed=report.passed,
            mandatory=len(report.mandatory),
            advisory=len(report.violations) - len(report.mandatory),
            violations=[v.model_dump() for v in report.violations],
        )

    def _defer_during_rollout(self, run: _Run) -> ConvergeOutcome | None:
        self._enter(run, Phase.GUARDS)
        reason = drift_check.deferral(self.drift.active_rollouts(run.job.stack))
        if reason is None:
            return None
        return ConvergeOutcome("skipped", EventKind.DRIFT_CHECK_DEFERRED, Reason.ROLLOUT_SHIFTING_TRAFFIC, Severity.INFO, reason)

    def _fetch_applied(self, run: _Run) -> ConvergeOutcome | None:
        """The last applied commit, never the branch head: a pushed but unapplied change is pending, not drift."""
        job = run.job
        self._enter(run, Phase.FETCH)
        commit = drift_check.applied_commit(self.states.get(job.stack))
        if commit is None:
            return ConvergeOutcome(
                "skipped", EventKind.SKIPPED, Reason.NOTHING_APPLIED, Severity.INFO, drift_check.nothing_applied_message(job.stack), notify=False
            )
        try:
            run.checkout = self._checkout(commit)
        except SourceError as exc:
            run.error = f"the applied commit {commit[:12]} cannot be fetched: {exc}"
            return ConvergeOutcome("failed", EventKind.DRIFT_CHECK_FAILED, Reason.SOURCE_MISSING, Severity.ERROR, run.error)
        if run.checkout.branch_head and run.checkout.branch_head != commit:
            run.details["pendingHead"] = run.checkout.branch_head  # pushed, not applied: pending, not drift
        return None

    def _compare(self, run: _Run) -> ConvergeOutcome:
        """A refreshed preview of the applied state against the real resources; nothing is applied."""
        self._enter(run, Phase.PLAN)
        assert run.checkout is not None and run.checkout.commit is not None
        try:
            found = self.drift.compare(
                self.engine, self._request(run, refresh=True), job=run.job, status=self.states.get(run.job.stack), commit=run.checkout.commit,
                state=run.loaded.state if run.loaded is not None else None, traffic=run.traffic,
            )
        except EngineError as exc:
            return self._engine_failure(run, exc)
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

    def _settle_drift_check(self, run: _Run, outcome: ConvergeOutcome, finished: datetime) -> ConvergeOutcome:
        """A drift check that did not compare is a failed or a deferred check, never "no drift"; its summary says which."""
        if not _is_drift_check(run.job) or outcome.drift is not None:
            return outcome
        commit = run.checkout.commit if run.checkout else None
        if outcome.kind == EventKind.DRIFT_CHECK_DEFERRED:
            return replace(outcome, drift=drift_check.deferred_summary(finished, commit, outcome.message))
        if outcome.outcome in ("failed", "refused"):
            return replace(outcome, kind=EventKind.DRIFT_CHECK_FAILED, drift=drift_check.failed_summary(finished, commit, outcome.message))
        return outcome

    def _request(self, run: _Run, refresh: bool = False) -> StackRequest:
        """The final stack inputs: what the engine gets and what an approval's digest covers."""
        assert run.loaded is not None and run.traffic is not None
        return StackRequest(
            stack=run.job.stack,
            config={
                "ecs-gitops:desiredState": run.loaded.state.model_dump_json(by_alias=True),
                "ecs-gitops:trafficState": run.traffic.model_dump_json(by_alias=True),
                "ecs-gitops:environment": run.job.environment,
                **(
                    {"ecs-gitops:permissionsBoundaryArn": self.settings.aws.permissions_boundary_arn}
                    if self.settings.aws.permissions_boundary_arn
                    else {}
                ),
            },
            message=f"ecs-gitops {run.job.trigger.value} {(run.checkout.commit or 'working tree')[:12] if run.checkout else ''} job {run.job.job_id}",
            refresh=refresh,
        )

    def _approval(self, run: _Run, request: StackRequest) -> ConvergeOutcome | None:
        """Apply only a plan someone approved: the same commit, stack inputs, program and changes."""
        assert run.loaded is not None and run.plan is not None and run.checkout is not None
        commit = run.checkout.commit
        digest = approval_digest.plan_digest(commit, request, _program_version(), run.plan)
        pending = self.states.get(run.job.stack).pending_approval
        if pending and pending.plan_digest == digest and pending.approved_by:
            run.details["approvedBy"] = pending.approved_by
            self._update(run, lambda s: s.model_copy(update={"pending_approval": None}))
            return None
        superseded = run.details.get("supersededCommit")
        if pending and superseded and pending.plan_digest == digest and not pending.approved_by:
            # An older commit's job (a late approval, a retry) converges the head, whose plan already waits.
            return ConvergeOutcome(
                "skipped", EventKind.SKIPPED, Reason.SUPERSEDED, Severity.INFO,
                f"commit {superseded[:12]} is superseded by the branch head {pending.commit[:12]}, whose plan waits for approval",
            )
        stale = bool(pending and pending.approved_by and pending.plan_digest != digest)
        waiting = PendingApproval(
            commit=commit or "",
            job_id=run.job.job_id,
            desired_state_digest=run.loaded.digest,
            plan_digest=digest,
            plan=run.plan,
            requested_at=self.clock(),
            **({"trigger": run.job.trigger.value} if run.job.trigger == Trigger.DRIFT_REMEDIATION else {}),
        )
        self._update(run, lambda s: s.model_copy(update={"pending_approval": waiting}))
        run.details["approveWith"] = approve_command(run.job.environment, waiting.commit)
        reason = Reason.APPROVAL_STALE if stale else Reason.AWAITING_APPROVAL
        note = "the approved plan no longer matches what would be applied (stack inputs, program or changes); " if stale else ""
        return ConvergeOutcome(
            "waiting", EventKind.WAITING_FOR_APPROVAL, reason, Severity.WARNING,
            f"{note}plan for {waiting.commit[:12]} waits for approval ({_describe(run.plan)}); run: {run.details['approveWith']}",
        )

    def _engine_failure(self, run: _Run, exc: EngineError) -> ConvergeOutcome:
        run.error = str(exc)
        if isinstance(exc, StackLockedError) and self.locks is not None:
            now = self.clock()
            stuck = stuck_locks(self.locks, self.settings.project, run.job.stack, now, timedelta(minutes=run.environment.stuck_lock_after_minutes))
            if stuck:
                run.details["stuckLocks"] = [
                    {"holder": lock.holder, "ageMinutes": int(lock.age(now).total_seconds() // 60), "key": lock.key} for lock in stuck
                ]
                oldest = max(stuck, key=lambda lock: lock.age(now))
                return ConvergeOutcome(
                    "failed", EventKind.STUCK_LOCK, Reason.STACK_LOCKED, Severity.ERROR,
                    f"stack {run.job.stack} is held by a stuck lock: {oldest.holder}, {int(oldest.age(now).total_seconds() // 60)} minutes old; "
                    f"if that process is gone, run: ecs-gitops unlock --environment {run.job.environment}",
                )
        reason = Reason.ENGINE_UNAVAILABLE if isinstance(exc, EngineUnavailableError) else Reason.ENGINE_FAILED
        return ConvergeOutcome("failed", EventKind.CONVERGE_FAILED, reason, Severity.ERROR, str(exc))

    def _record_applied(self, run: _Run) -> None:
        """What was applied, always: also an older commit after a deliberate reset of the branch."""
        commit = run.checkout.commit if run.checkout else None
        now = self.clock()
        update: dict[str, Any] = {"last_applied_at": now, **({"last_applied_commit": commit} if commit else {})}
        # What the promotion gate checks against, written with the commit it came from (no secret-marked value).
        update["applied_outputs"] = recordable_outputs(run.applied.outputs) if run.applied is not None else None
        self._update(run, lambda status: status.model_copy(update=update))

    # ------------------------------------------------------------------ reporting

    def _finish(self, run: _Run, outcome: ConvergeOutcome, attempt: int) -> ConvergeOutcome:
        """Release the lease, keep the status, report; returns the outcome as recorded."""
        finished = self.clock()
        held = run.held
        outcome = self._settle_drift_check(run, outcome, finished)

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

    def _wake_rollouts(self, run: _Run) -> None:
        """After an up (succeeded or not): the stack's active rollouts tick now and re-assert their weights.

        A converge that never ran ``up`` changed nothing a rollout owns. A failure here is logged:
        the rollouts' own polls still come, and the job's outcome is already recorded."""
        if self.wake_rollouts is None or not run.up_started:
            return
        try:
            self.wake_rollouts(run.job.stack)
        except Exception:
            log.exception("could not wake the active rollouts of %s after its converge", run.job.stack, extra={"stack": run.job.stack})

    def _report(self, run: _Run, outcome: ConvergeOutcome, attempt: int, finished: datetime) -> None:
        """The one place an outcome leaves the worker: log, audit record, notification; all scrubbed."""
        scrub = self.redactor.scrub
        job = run.job
        message, error = scrub(outcome.message), scrub(run.error) if run.error else None
        record = AuditRecord(
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
            policy=PolicyResult.model_validate(self.redactor.scrub_value(run.policy.model_dump())) if run.policy else None,
            outcome=outcome.outcome,
            kind=outcome.kind,
            reason=outcome.reason,
            error=error,
            last_phase=run.phase,
            started_at=run.started_at,
            finished_at=finished,
            duration_ms=int((finished - run.started_at).total_seconds() * 1000),
            engine_version=run.engine_version,
            program_version=_program_version(),
            window_override=job.window_override,
            signed_by=run.details.get("signedBy"),
            approved_by=run.details.get("approvedBy"),
            image_overrides=run.details.get("imageOverrides") or {},
            superseded_commit=run.details.get("supersededCommit"),
            drift=outcome.drift,
            verify=VerifySummary.model_validate(self.redactor.scrub_value(run.verify.model_dump(by_alias=True, mode="json"))) if run.verify else None,
        )
        log.info(
            "job finished",
            extra={"stack": job.stack, "job_id": job.job_id, "outcome": outcome.outcome, "reason": outcome.reason.value, "detail": message},
        )
        if self.audit is not None:
            self.audit.append(record)
        if self.notifier is not None and outcome.notify:
            body = {
                "stack": job.stack,
                "jobId": job.job_id,
                "trigger": job.trigger.value,
                "commit": record.commit,
                "author": record.author,
                "outcome": outcome.outcome,
                "reason": outcome.reason.value,
                "message": message,
                "error": error,
                "phase": run.phase.value,
                "plan": run.plan.model_dump(mode="json") if run.plan else None,
                "policyViolations": record.policy.violations if record.policy else [],
                "details": self.redactor.scrub_value(run.details),
            }
            if outcome.drift is not None:
                body["drift"] = self.redactor.scrub_value(outcome.drift.model_dump(mode="json", by_alias=True))
            if outcome.drift_report is not None:
                body["headline"] = scrub(outcome.subject or outcome.message)
                body["report"] = self.redactor.scrub_value(drift_check.report_document(outcome.drift_report))
            short = (record.commit or "head")[:12]
            self.notifier.publish(
                kind=outcome.kind,
                severity=outcome.severity,
                environment=job.environment,
                subject=scrub(outcome.subject) if outcome.subject else f"[{job.environment}] {outcome.kind.value}: {outcome.reason.value} ({short})",
                body=body,
                attributes=outcome.attributes,
            )


def _verify_outputs(applied: EngineResult, traffic: TrafficState) -> str | None:
    outputs = applied.outputs
    missing = [key for key in EXPECTED_OUTPUTS if key not in outputs]
    if missing:
        return f"apply finished but the stack lacks outputs {', '.join(missing)}"
    live = outputs.get("liveColours") or {}
    for service, colour in live.items():
        expected = traffic.of(service).live_colour
        if colour != expected:
            return f"apply finished but {service} is live on {colour}, not {expected} as the traffic state says"
    return None


def _is_drift_check(job: Job) -> bool:
    return job.trigger == Trigger.SCHEDULED_DRIFT_CHECK


def _engine_available(engine: Engine) -> bool:
    available = getattr(engine, "available", None)
    return bool(available()) if callable(available) else True


def _describe(plan: PlanSummary | None) -> str:
    if plan is None:
        return "no plan"
    return f"{plan.create} to create, {plan.update} to update, {plan.replace} to replace, {plan.delete} to delete"


def _program_version() -> str:
    from program.platform import PROGRAM_VERSION

    return PROGRAM_VERSION
