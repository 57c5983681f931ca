"""Converge one environment's stack for one job: guards, then named phases, every attempt audited.

Guards first (suspended, stack busy, outside the change window), then the phases fetch →
validate → plan → (approval) → apply → verify. The stack's status is saved after each phase
and again in ``finally``; each attempt appends exactly one audit record and sends at most one
notification, all through :meth:`Converger._report`, which scrubs every string with the
:class:`~reconciler.redact.Redactor` first.

Expected refusals (invalid desired state, policy violations, unsigned commits, engine
failures) end the job with a recorded outcome. Anything unexpected is recorded too and then
re-raised, so the queue retries it and, after repeated failures, parks it in the DLQ.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from desired_state.errors import DesiredStateError
from desired_state.loader import LoadedEnvironment, load_environment
from desired_state.traffic import TrafficState
from reconciler.adapters.audit import AuditLog
from reconciler.adapters.notify import Notifier
from reconciler.adapters.stack_state import Lease, PendingApproval, StackStateStore, StackStatus
from reconciler.engine import Engine, EngineResult, StackRequest
from reconciler.errors import EngineError, EngineUnavailableError, SignatureError, SourceError, StackLockedError
from reconciler.events import EventKind, Phase, Reason, Severity
from reconciler.locks import LockStore, stuck_locks
from reconciler.models import AuditRecord, Job, Outcome, PlanSummary, PolicyResult, Trigger
from reconciler.redact import Redactor
from reconciler.settings import EnvironmentSettings, ReconcilerSettings
from reconciler.source import Checkout, DesiredStateSource, SignerTrust
from reconciler.windows import decide

log = logging.getLogger("ecs_gitops.converge")

LEASE_STALE_AFTER = timedelta(minutes=15)
BUSY_RETRY_SECONDS = 60
EXPECTED_OUTPUTS = ("albDnsName", "clusterArn", "serviceArns", "liveColours")
PUSH_TRIGGERS = (Trigger.GIT_PUSH, Trigger.CODECOMMIT_PUSH)


@dataclass
class ConvergeOutcome:
    outcome: Outcome
    kind: EventKind
    reason: Reason
    severity: Severity
    message: str
    retry_after_seconds: int | None = None


@dataclass
class _Run:
    """What one attempt has learned so far; the audit record is built from it."""

    job: Job
    env: EnvironmentSettings
    started_at: datetime
    phase: Phase = Phase.GUARDS
    checkout: Checkout | None = None
    loaded: LoadedEnvironment | None = None
    plan: PlanSummary | None = None
    policy: PolicyResult | None = None
    engine_version: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def plan_digest(commit: str | None, desired_digest: str, plan: PlanSummary) -> str:
    """What an approval approves: this commit, this desired state, this exact set of changes."""
    document = json.dumps({"commit": commit, "desired": desired_digest, "plan": plan.model_dump(mode="json")}, sort_keys=True)
    return "sha256:" + hashlib.sha256(document.encode()).hexdigest()


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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        worker_id: str | None = None,
        locks: LockStore | None = None,
        heartbeat_seconds: float = 60.0,
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
        self.heartbeat_seconds = heartbeat_seconds

    # ------------------------------------------------------------------ entry point

    def converge(self, job: Job, attempt: int = 1) -> ConvergeOutcome:
        run = _Run(job=job, env=self.settings.environment(job.environment), started_at=self.clock())
        leased = False
        try:
            outcome = self._guards(run)
            if outcome is None:
                leased = True
                with self._heartbeat(run):
                    outcome = self._phases(run)
        except Exception as exc:
            outcome = ConvergeOutcome("failed", EventKind.CONVERGE_FAILED, Reason.ENGINE_FAILED, Severity.ERROR, f"unexpected error in {run.phase.value}: {exc}")
            run.error = f"{type(exc).__name__}: {exc}"
            try:
                self._finish(run, outcome, attempt, leased)
            except Exception:
                # The original error is the one the queue must see; the reporting failure is logged beside it.
                log.exception("could not record the failed job", extra={"stack": job.stack, "job_id": job.job_id})
            raise
        else:
            self._finish(run, outcome, attempt, leased)
            return outcome

    def record_job(self, job: Job, outcome: ConvergeOutcome, details: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Audit and notify a job that is not a converge (an image push, a scan event): one record each."""
        run = _Run(job=job, env=self.settings.environment(job.environment), started_at=self.clock(), phase=Phase.DONE)
        run.details.update(details or {})
        run.error = error
        self._report(run, outcome, 1, self.clock())

    # ------------------------------------------------------------------ guards

    def _guards(self, run: _Run) -> ConvergeOutcome | None:
        job, env = run.job, run.env
        if env.suspended:
            return ConvergeOutcome("skipped", EventKind.SKIPPED, Reason.SUSPENDED, Severity.INFO, f"environment {job.environment} is suspended")
        now = self.clock()
        window = decide(env.windows, now)
        if not window.open:
            if job.window_override is None:
                wait = int((window.reopens_at - now).total_seconds()) if window.reopens_at else 3600
                reopens = window.reopens_at.isoformat() if window.reopens_at else "not within the next week"
                return ConvergeOutcome(
                    "waiting", EventKind.WAITING_FOR_WINDOW, Reason.OUTSIDE_WINDOW, Severity.INFO,
                    f"{window.reason}; waiting until {reopens}", retry_after_seconds=max(wait, 60),
                )
            run.details["windowOverride"] = {"window": window.reason, "by": job.window_override.by, "reason": job.window_override.reason}
        if not self._take_lease(run):
            return ConvergeOutcome(
                "waiting", EventKind.STACK_BUSY, Reason.STACK_LOCKED, Severity.WARNING,
                f"stack {job.stack} is being converged by another worker; retrying in {BUSY_RETRY_SECONDS}s",
                retry_after_seconds=BUSY_RETRY_SECONDS,
            )
        return None

    def _take_lease(self, run: _Run) -> bool:
        now = self.clock()
        taken = False

        def change(status: StackStatus) -> StackStatus | None:
            nonlocal taken
            lease = status.lease
            if lease and lease.holder != self.worker_id and now - lease.heartbeat_at < LEASE_STALE_AFTER:
                taken = False
                return None
            taken = True
            return status.model_copy(
                update={
                    "environment": run.job.environment,
                    "lease": Lease(holder=self.worker_id, job_id=run.job.job_id, acquired_at=now, heartbeat_at=now),
                    "current_job_id": run.job.job_id,
                    "phase": Phase.GUARDS,
                }
            )

        self.states.update(run.job.stack, change)
        return taken

    @contextmanager
    def _heartbeat(self, run: _Run) -> Iterator[None]:
        """Keep the lease fresh while a long engine call runs, so nobody takes the stack as abandoned."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.heartbeat_seconds):
                now = self.clock()

                def change(status: StackStatus, beat_at: datetime = now) -> StackStatus | None:
                    lease = status.lease
                    if lease is None or lease.holder != self.worker_id or lease.job_id != run.job.job_id:
                        return None
                    return status.model_copy(update={"lease": lease.model_copy(update={"heartbeat_at": beat_at})})

                try:
                    self.states.update(run.job.stack, change)
                except Exception:  # noqa: BLE001 - a missed beat is retried next time; the job itself must go on
                    log.warning("lease heartbeat failed", extra={"stack": run.job.stack, "job_id": run.job.job_id}, exc_info=True)

        thread = threading.Thread(target=beat, name=f"lease-{run.job.stack}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)

    # ------------------------------------------------------------------ phases

    def _enter(self, run: _Run, phase: Phase) -> None:
        run.phase = phase
        now = self.clock()

        def change(status: StackStatus) -> StackStatus:
            lease = status.lease.model_copy(update={"heartbeat_at": now}) if status.lease and status.lease.holder == self.worker_id else status.lease
            return status.model_copy(update={"phase": phase, "current_job_id": run.job.job_id, "lease": lease})

        self.states.update(run.job.stack, change)
        log.info("phase", extra={"stack": run.job.stack, "job_id": run.job.job_id, "phase": phase.value})

    def _phases(self, run: _Run) -> ConvergeOutcome:
        job, env = run.job, run.env
        status = self.states.get(job.stack)

        # fetch
        self._enter(run, Phase.FETCH)
        if hasattr(self.source, "refresh"):
            self.source.refresh()  # a long-running worker must see pushes made since its last job
        try:
            run.checkout = self.source.fetch(job.commit)
        except SourceError as exc:
            run.error = str(exc)
            return ConvergeOutcome("refused", EventKind.CONVERGE_FAILED, Reason.SOURCE_MISSING, Severity.ERROR, str(exc))
        skip = self._ordering(run, status)
        if skip is not None:
            return skip
        if env.signed_commits_required:
            try:
                run.details["signedBy"] = self.source.verify_signature(
                    run.checkout.commit or "", SignerTrust.for_environment(env)
                )
            except (SignatureError, SourceError) as exc:
                run.error = str(exc)
                return ConvergeOutcome("refused", EventKind.REFUSED_UNSIGNED, Reason.UNSIGNED_COMMIT, Severity.ERROR, str(exc))

        # validate: schema, then the policy gate on the offline render
        self._enter(run, Phase.VALIDATE)
        try:
            run.loaded = load_environment(run.checkout.path, job.environment)
        except DesiredStateError as exc:
            run.error = str(exc)
            return ConvergeOutcome("refused", EventKind.REFUSED_INVALID, Reason.INVALID_DESIRED_STATE, Severity.ERROR, str(exc))
        traffic = status.traffic or TrafficState()
        if status.image_overrides:
            git_images = {svc: spec.image for svc, spec in run.loaded.state.services.items()}
            caught_up = sorted(svc for svc, image in status.image_overrides.items() if git_images.get(svc) == image)
            if caught_up:
                # Git now says the same: the override has done its job.
                self.states.update(job.stack, lambda s: s.model_copy(update={"image_overrides": {k: v for k, v in s.image_overrides.items() if k not in caught_up}}))
            overrides = {svc: image for svc, image in status.image_overrides.items() if svc not in caught_up}
            if overrides:
                # A rollout staged these images without a git commit; they win over git until git catches up.
                run.details["imageOverrides"] = {svc: image.reference for svc, image in overrides.items()}
                run.loaded = replace(run.loaded, state=run.loaded.state.with_images(overrides))
        run.policy = self._policy(run.loaded, traffic)
        if not run.policy.passed:
            return ConvergeOutcome(
                "refused", EventKind.REFUSED_BY_POLICY, Reason.POLICY_VIOLATION, Severity.ERROR,
                f"{run.policy.mandatory} mandatory policy violation(s); nothing was applied",
            )

        # plan
        self._enter(run, Phase.PLAN)
        request = self._request(run, traffic, refresh=job.trigger == Trigger.SCHEDULED_DRIFT_CHECK)
        if job.dry_run and not _engine_available(self.engine):
            run.details["preview"] = "skipped: the Pulumi CLI is not installed"
            return ConvergeOutcome("dry-run", EventKind.DRY_RUN_COMPLETE, Reason.DRY_RUN, Severity.INFO, "schema and policy passed; engine preview skipped (no Pulumi CLI)")
        try:
            preview = self.engine.preview(request)
        except EngineError as exc:
            return self._engine_failure(run, exc)
        run.plan, run.engine_version = preview.summary, preview.engine_version
        if job.trigger == Trigger.SCHEDULED_DRIFT_CHECK:
            return self._drift_report(run)
        if job.dry_run:
            return ConvergeOutcome("dry-run", EventKind.DRY_RUN_COMPLETE, Reason.DRY_RUN, Severity.INFO, f"plan only: {_describe(run.plan)}")

        if env.require_approval:
            gate = self._approval(run)
            if gate is not None:
                return gate

        # apply
        self._enter(run, Phase.APPLY)
        try:
            applied = self.engine.up(request)
        except EngineError as exc:
            return self._engine_failure(run, exc)
        run.plan, run.engine_version = applied.summary, applied.engine_version or run.engine_version

        # verify
        self._enter(run, Phase.VERIFY)
        problem = self._verify(applied, traffic)
        if problem:
            run.error = problem
            return ConvergeOutcome("failed", EventKind.CONVERGE_FAILED, Reason.ENGINE_FAILED, Severity.ERROR, problem)
        self._record_applied(run)
        reason = Reason.APPLIED if run.plan.has_changes else Reason.NO_CHANGES
        return ConvergeOutcome("succeeded", EventKind.CONVERGE_SUCCEEDED, reason, Severity.INFO, _describe(run.plan))

    def _ordering(self, run: _Run, status: StackStatus) -> ConvergeOutcome | None:
        """Never go back to an older commit; skip a commit a newer queued push supersedes."""
        job, checkout = run.job, run.checkout
        assert checkout is not None
        commit, applied = checkout.commit, status.last_applied_commit
        # A manual job for a named commit (e.g. an approval's) may re-apply the applied commit, never an older one.
        named_manual = commit is not None and job.trigger == Trigger.MANUAL and job.commit is not None
        if named_manual and applied and commit != applied and self.source.is_ancestor(commit, applied):
            return ConvergeOutcome(
                "skipped", EventKind.SKIPPED, Reason.OLDER_THAN_APPLIED, Severity.WARNING,
                f"commit {commit[:12]} is older than the applied {applied[:12]}; a stack is never rolled back to an older commit",
            )
        if commit is None or job.trigger not in PUSH_TRIGGERS:
            return None
        if applied and commit == applied:
            return ConvergeOutcome("skipped", EventKind.SKIPPED, Reason.ALREADY_APPLIED, Severity.INFO, f"commit {commit[:12]} is already applied")
        if applied and self.source.is_ancestor(commit, applied):
            return ConvergeOutcome(
                "skipped", EventKind.SKIPPED, Reason.OLDER_THAN_APPLIED, Severity.WARNING,
                f"commit {commit[:12]} is older than the applied {applied[:12]}; a stack is never rolled back to an older commit",
            )
        head = checkout.branch_head
        if head and head != commit and self.source.is_ancestor(commit, head):
            # Converge the newest commit, which contains this one, instead of this one. Skipping would
            # lose the change when the newer push touched only other environments and queued no job here.
            self.states.update(job.stack, lambda s: s.model_copy(update={"superseded_job_ids": [*s.superseded_job_ids[-49:], job.job_id]}))
            run.details["supersededCommit"] = commit
            if hasattr(self.source, "cleanup"):
                self.source.cleanup(checkout)
            run.checkout = self.source.fetch(head)
            if applied and head == applied:
                return ConvergeOutcome(
                    "skipped", EventKind.SKIPPED, Reason.SUPERSEDED, Severity.INFO,
                    f"commit {commit[:12]} is superseded by {head[:12]}, which is already applied",
                )
            log.info("superseded commit; converging the branch head", extra={"stack": job.stack, "commit": commit, "head": head})
        return None

    def _policy(self, loaded: LoadedEnvironment, traffic: TrafficState) -> PolicyResult:
        from policies.offline import check_rendered
        from program.platform import StackInputs
        from program.render import render

        import pulumi

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

    def _drift_report(self, run: _Run) -> ConvergeOutcome:
        """A refreshed preview against the real resources; any change is drift. Nothing is applied.

        The rollout's listener weights are not drift: the program renders them from the traffic state.
        """
        assert run.plan is not None
        if not run.plan.has_changes:
            return ConvergeOutcome("dry-run", EventKind.NO_DRIFT, Reason.IN_SYNC, Severity.INFO, "no drift: the stack matches the desired state")
        drifted = sorted({name for kind, names in run.plan.resources.items() if kind != "same" for name in names})
        run.details["driftedResources"] = drifted
        shown = ", ".join(drifted[:10]) + (f" and {len(drifted) - 10} more" if len(drifted) > 10 else "")
        return ConvergeOutcome(
            "dry-run", EventKind.DRIFT_DETECTED, Reason.DRIFT, Severity.WARNING,
            f"drift: {_describe(run.plan)}; resources: {shown or 'see the plan'}; the next resync converges it",
        )

    def _request(self, run: _Run, traffic: TrafficState, refresh: bool = False) -> StackRequest:
        assert run.loaded is not None
        return StackRequest(
            stack=run.job.stack,
            config={
                "ecs-gitops:desiredState": run.loaded.state.model_dump_json(by_alias=True),
                "ecs-gitops:trafficState": traffic.model_dump_json(by_alias=True),
                "ecs-gitops:environment": run.job.environment,
            },
            message=f"ecs-gitops {run.job.trigger.value} {(run.checkout.commit or 'working tree')[:12] if run.checkout else ''} job {run.job.job_id}",
            refresh=refresh,
        )

    def _approval(self, run: _Run) -> ConvergeOutcome | None:
        """Apply only a plan someone approved: same commit, same desired state, same changes."""
        assert run.loaded is not None and run.plan is not None and run.checkout is not None
        digest = plan_digest(run.checkout.commit, run.loaded.digest, run.plan)
        pending = self.states.get(run.job.stack).pending_approval
        commit = run.checkout.commit
        if pending and commit and pending.commit != commit and self.source.is_ancestor(commit, pending.commit):
            # An older commit's job (a late approval, a retry) must not displace the newer plan that waits.
            return ConvergeOutcome(
                "skipped", EventKind.SKIPPED, Reason.SUPERSEDED, Severity.INFO,
                f"commit {commit[:12]} is older than the plan waiting for approval ({pending.commit[:12]}); that plan stays",
            )
        if pending and pending.plan_digest == digest and pending.approved_by:
            run.details["approvedBy"] = pending.approved_by
            self.states.update(run.job.stack, lambda s: s.model_copy(update={"pending_approval": None}))
            return None
        stale = bool(pending and pending.approved_by and pending.plan_digest != digest)
        request = PendingApproval(
            commit=run.checkout.commit or "",
            job_id=run.job.job_id,
            desired_state_digest=run.loaded.digest,
            plan_digest=digest,
            plan=run.plan,
            requested_at=self.clock(),
        )
        self.states.update(run.job.stack, lambda s: s.model_copy(update={"pending_approval": request}))
        run.details["approveWith"] = f"ecs-gitops approve --environment {run.job.environment} --commit {request.commit}"
        reason = Reason.APPROVAL_STALE if stale else Reason.AWAITING_APPROVAL
        note = "the approved plan no longer matches; " if stale else ""
        return ConvergeOutcome(
            "waiting", EventKind.WAITING_FOR_APPROVAL, reason, Severity.WARNING,
            f"{note}plan for {request.commit[:12]} waits for approval ({_describe(run.plan)}); run: {run.details['approveWith']}",
        )

    def _verify(self, applied: EngineResult, traffic: TrafficState) -> str | None:
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

    def _engine_failure(self, run: _Run, exc: EngineError) -> ConvergeOutcome:
        run.error = str(exc)
        if isinstance(exc, StackLockedError) and self.locks is not None:
            now = self.clock()
            stuck = stuck_locks(self.locks, self.settings.project, run.job.stack, now, timedelta(minutes=run.env.stuck_lock_after_minutes))
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
        commit = run.checkout.commit if run.checkout else None
        now = self.clock()

        def change(status: StackStatus) -> StackStatus:
            update: dict[str, Any] = {"last_applied_at": now}
            # Only move forward: a resync at an older head must not rewind the record.
            if commit and (not status.last_applied_commit or status.last_applied_commit == commit or self.source.is_ancestor(status.last_applied_commit, commit)):
                update["last_applied_commit"] = commit
            return status.model_copy(update=update)

        self.states.update(run.job.stack, change)

    # ------------------------------------------------------------------ reporting

    def _finish(self, run: _Run, outcome: ConvergeOutcome, attempt: int, leased: bool) -> None:
        finished = self.clock()

        def change(status: StackStatus) -> StackStatus:
            update: dict[str, Any] = {"last_job_id": run.job.job_id, "last_outcome": outcome.outcome}
            if leased and status.lease and status.lease.holder == self.worker_id:
                update.update({"lease": None, "current_job_id": None, "phase": Phase.DONE})
            return status.model_copy(update=update)

        try:
            self.states.update(run.job.stack, change)
        finally:
            self._report(run, outcome, attempt, finished)
            if run.checkout is not None and hasattr(self.source, "cleanup"):
                self.source.cleanup(run.checkout)

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
        )
        log.info(
            "job finished",
            extra={"stack": job.stack, "job_id": job.job_id, "outcome": outcome.outcome, "reason": outcome.reason.value, "detail": message},
        )
        if self.audit is not None:
            self.audit.append(record)
        if self.notifier is not None:
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
            short = (record.commit or "head")[:12]
            self.notifier.publish(
                kind=outcome.kind,
                severity=outcome.severity,
                environment=job.environment,
                subject=f"[{job.environment}] {outcome.kind.value}: {outcome.reason.value} ({short})",
                body=body,
            )


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
