"""One drift check of one environment: what is compared, when it is deferred, what is done about drift.

The converger runs a drift-check job through its own guards (known environment, the stack lease)
and the phases it shares with a converge (fetch, validate, request building), with two
differences this module decides:

- **What is compared** is the last *applied* desired state, never the branch head: the stack
  status's ``lastAppliedCommit``, rendered with the image overrides a rollout staged and the
  current traffic state. A pushed but unapplied change is pending, not drift. No applied commit
  yet: nothing to compare, and the check says so (it is not "no drift").
- **When** it runs: a check that falls while a rollout shifts traffic (shifting, baking, rolling
  back) is deferred to the next scheduled check, and says so (``drift-check-deferred``). It is not
  re-queued: a rollout's bake can outlast the job queue's redrive limit, and the schedule comes
  round every few minutes anyway.

The engine call is a refreshed preview (``engine.preview(StackRequest(..., refresh=True))``); its
steps become a :class:`~reconciler.drift.model.DriftReport` (:func:`reconciler.drift.report.build_report`).
On drift, the environment's :class:`~reconciler.settings.DriftSettings` say whether a converge back
to the applied commit is queued (trigger ``drift-remediation``), which then goes through the queue,
lease, policy gate, approval and audit like any converge. A check that cannot compare (engine
unavailable or failing, stack locked past the engine's retries, the applied commit gone from the
source) is ``drift-check-failed``, never "no drift".

Pure decisions first; :class:`DriftChecker` acts on them (engine, job queue, CloudWatch).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from reconciler.clock import Clock, utc_now
from reconciler.drift.model import DriftCheckSummary, DriftReport, DriftSeverity
from reconciler.engine import Engine, StackRequest
from reconciler.events import EventKind, Reason, Severity
from reconciler.models import Job, PlanSummary, Trigger
from reconciler.settings import DriftSettings, ReconcilerSettings

if TYPE_CHECKING:
    from reconciler.adapters.stack_state import StackStatus
    from reconciler.drift.unmanaged import UndoResult
    from reconciler.drift.rules import DriftContext
    from reconciler.rollout.model import RolloutRecord

log = logging.getLogger("ecs_gitops.drift")

METRIC_DRIFTED = "DriftedResources"
METRIC_FAILED = "DriftCheckFailed"
SEVERITY_OF_DRIFT = {DriftSeverity.HIGH: Severity.ERROR, DriftSeverity.MEDIUM: Severity.WARNING, DriftSeverity.LOW: Severity.INFO}

# The active rollouts of a stack (every service's), as the rollout store holds them.
ActiveRollouts = Callable[[str], Sequence["RolloutRecord"]]


# --------------------------------------------------------------------------- pure decisions


def applied_commit(status: StackStatus) -> str | None:
    """The commit a drift check compares against: the last one applied, whatever the branch says now."""
    return status.last_applied_commit


def nothing_applied_message(stack: str) -> str:
    return (
        f"nothing to compare: no commit has been applied to stack {stack} yet, so there is no applied desired state "
        "to check the resources against (this is not 'no drift'); the first converge records one"
    )


def traffic_shift_phases() -> tuple[Any, ...]:
    from reconciler.rollout.model import RolloutPhase

    # The listener weights move in these phases: a refreshed preview would see a moving target.
    return (RolloutPhase.SHIFTING, RolloutPhase.BAKING, RolloutPhase.ROLLING_BACK)


def shifting_rollouts(rollouts: Sequence[RolloutRecord]) -> list[RolloutRecord]:
    """The rollouts whose listener weights are moving now: in a traffic-shift phase and not paused.

    A paused rollout (by an operator or a deny window) holds its weights where they are, so a refreshed
    preview sees no moving target; the not-drift rules set that rollout's own weights and bounds aside.
    """
    return sorted(
        (r for r in rollouts if not r.phase.terminal and r.phase in traffic_shift_phases() and not (r.paused or r.paused_by_window)),
        key=lambda r: (r.service, r.rollout_id),
    )


def deferral_began(last_check: DriftCheckSummary | None, now: datetime) -> datetime:
    """When the checks began to be deferred: the last check's ``deferredSince`` (or its own time) when it was
    deferred too, else now (this deferral is the first since a check compared)."""
    if last_check is None or last_check.result != "deferred":
        return now
    return last_check.deferred_since or last_check.checked_at


def _minute(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _named(rollouts: Sequence[RolloutRecord]) -> str:
    return ", ".join(f"{r.service} (rollout {r.rollout_id}, {r.phase.value})" for r in rollouts)


def deferral(
    rollouts: Sequence[RolloutRecord],
    *,
    now: datetime | None = None,
    last_check: DriftCheckSummary | None = None,
    max_deferral: timedelta | None = None,
) -> str | None:
    """Why the check waits (a rollout is shifting traffic, not paused), or None when it may run now.

    With ``now`` and ``max_deferral``: bounded. Once the checks have been deferred that long (since
    :func:`deferral_began`, from the status's last check) the check runs anyway.
    """
    shifting = shifting_rollouts(rollouts)
    if not shifting:
        return None
    bound = ""
    if now is not None and max_deferral is not None:
        began = deferral_began(last_check, now)
        if now - began >= max_deferral:
            return None
        bound = f" (deferred since {_minute(began)}; a check runs anyway from {_minute(began + max_deferral)}, drift.maxDeferralMinutes)"
    return (
        f"drift check deferred: a rollout is shifting traffic on {_named(shifting)}; nothing was compared{bound}. "
        "The next scheduled drift check runs once the rollout has ended (or run: ecs-gitops drift --environment ... then)"
    )


def drift_context(status: StackStatus, rollouts: Sequence[RolloutRecord]) -> DriftContext:
    """What the platform itself owns right now, so the report does not call it drift: what the
    stack's running rollouts own (:meth:`DriftContext.from_rollouts`)."""
    from reconciler.drift.rules import DriftContext

    return DriftContext.from_rollouts(rollouts)


@dataclass(frozen=True)
class Remediation:
    """Whether to queue a converge back to the applied commit, and why (or why not)."""

    remediate: bool
    message: str


def _allowed(resource: Any, settings: DriftSettings) -> bool:
    if not settings.remediate_types and not settings.remediate_severities:
        return True
    return resource.type in settings.remediate_types or resource.severity.value in settings.remediate_severities


def remediation(report: DriftReport, settings: DriftSettings) -> Remediation:
    """``report`` mode never remediates; ``remediate`` does when every drifted resource is allowed.

    A converge puts back everything that drifted, not only the allowed part: remediating when just
    one resource is allowed would also revert the others the settings only want reported.
    """
    if not report.drifted:
        return Remediation(False, "")
    if settings.mode == "report":
        return Remediation(False, "reported only (drift.mode: report); to put it back (a converge to the applied commit "
                           f"{(report.applied_commit or '<applied commit>')[:12]}, not the branch head): "
                           f"ecs-gitops drift --remediate --environment {report.environment}")
    outside = [r for r in report.resources if not _allowed(r, settings)]
    if outside:
        names = ", ".join(f"{r.name} ({r.type}, {r.severity.value})" for r in outside[:5]) + (f" and {len(outside) - 5} more" if len(outside) > 5 else "")
        return Remediation(
            False,
            f"not remediated: {names} is outside drift.remediateTypes/remediateSeverities, and a converge would put back "
            "every drifted resource; reported only",
        )
    return Remediation(True, f"remediation: a converge back to the applied commit {(report.applied_commit or '')[:12]} is queued")


def _remediation(environment: str, stack: str, commit: str, *, event_id: str, author: str, at: datetime) -> Job:
    """A drift-remediation job: a converge back to ``commit``, its id derived from ``event_id``."""
    return Job(
        job_id=Job.make_id(event_id, environment), environment=environment, stack=stack, trigger=Trigger.DRIFT_REMEDIATION,
        event_id=event_id, commit=commit, author=author, received_at=at,
    )


def remediation_job(check: Job, commit: str, received_at: datetime) -> Job:
    """The converge back to ``commit`` a check in remediate mode queues; one per check (its id derives from the check's)."""
    return _remediation(
        check.environment, check.stack, commit, event_id=f"drift-remediation:{check.job_id}", author="ecs-gitops drift check", at=received_at
    )


def remediation_request(environment: str, stack: str, commit: str, *, by: str | None, at: datetime, request_id: str) -> Job:
    """The converge back to ``commit`` (the applied one) a person asks for (``ecs-gitops drift --remediate``)."""
    return _remediation(
        environment, stack, commit, event_id=f"cli-drift-remediation:{request_id}", author=by or "ecs-gitops drift --remediate", at=at
    )


def drift_digest(report: DriftReport) -> str:
    """What drifted, against which commit: per resource its URN, kind and each property's path, expected and actual (masked)."""
    content = {
        "commit": report.applied_commit,
        "resources": [
            {"urn": r.urn, "kind": r.kind.value, "properties": sorted([p.path, p.expected, p.actual] for p in r.properties)}
            for r in sorted(report.resources, key=lambda r: r.urn)
        ],
    }
    return "sha256:" + hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class RepeatedDrift:
    """The same drift the last check found and queued a remediation for: not remediated again."""

    job_id: str
    outcome: str | None  # how that remediation ended, when it has run
    message: str


def repeated_drift(digest: str, status: StackStatus | None, environment: str) -> RepeatedDrift | None:
    """The remediation already queued for this same drift (same digest in the status's last check), or None."""
    previous = status.last_drift_check if status is not None else None
    if previous is None or previous.result != "drifted" or previous.digest != digest or not previous.remediation_job_id:
        return None
    job_id = previous.remediation_job_id
    outcome = previous.remediation_outcome or (status.last_outcome if status is not None and status.last_job_id == job_id else None)
    if outcome is not None:
        return RepeatedDrift(job_id, outcome, (
            f"the remediation {job_id} did not clear it (it ended {outcome}); not remediated again: look at its audit record, "
            f"put it back by hand or converge again yourself (ecs-gitops drift --remediate --environment {environment})"
        ))
    return RepeatedDrift(job_id, None, (
        f"the remediation {job_id} queued for this same drift has not run yet; not queued again "
        f"(to converge now: ecs-gitops drift --remediate --local --environment {environment})"
    ))


def summary(report: DriftReport, message: str, remediation_job_id: str | None = None) -> DriftCheckSummary:
    return DriftCheckSummary(
        checked_at=report.checked_at,
        result="drifted" if report.drifted else "no-drift",
        drifted=len(report.resources),
        counts=report.counts(),
        applied_commit=report.applied_commit,
        message=message,
        remediation_job_id=remediation_job_id,
    )


def failed_summary(at: datetime, commit: str | None, message: str) -> DriftCheckSummary:
    return DriftCheckSummary(checked_at=at, result="failed", applied_commit=commit, message=message)


def deferred_summary(at: datetime, commit: str | None, message: str, *, previous: DriftCheckSummary | None = None) -> DriftCheckSummary:
    """A deferred check's summary; ``previous`` (the status's last check) carries when the deferral began."""
    return DriftCheckSummary(
        checked_at=at, result="deferred", applied_commit=commit, message=message, deferred_since=deferral_began(previous, at),
    )


def notification_severity(report: DriftReport) -> Severity:
    """The highest drift severity found: high is an error, medium a warning, low info."""
    return SEVERITY_OF_DRIFT[report.severity] if report.severity is not None else Severity.INFO


def notification_attributes(report: DriftReport) -> dict[str, str | list[str]]:
    """Filterable SNS attributes beside environment/kind/severity: the drift severity and the drifted types."""
    return {
        "driftSeverity": report.severity.value if report.severity is not None else "none",
        "resourceTypes": sorted({r.type for r in report.resources}),
    }


def report_document(report: DriftReport) -> dict[str, Any]:
    """The report as JSON for people and subscribers (notification body, ``ecs-gitops drift --output json``).

    Each property's ``secret`` flag is written as ``masked``: a key named like a credential has its
    value masked whole by the redactor on the way out (``"secret": false`` would read ``[redacted]``).
    """
    document = report.model_dump(mode="json", by_alias=True)
    for resource in document.get("resources", []):
        resource["properties"] = [{("masked" if key == "secret" else key): value for key, value in prop.items()} for prop in resource.get("properties", [])]
    return document


def metric_data(environment: str, result: DriftCheckSummary) -> list[dict[str, Any]]:
    """CloudWatch data for one check: drifted resources when it compared, a failure count when it could not."""
    dimensions = [{"Name": "Environment", "Value": environment}]
    if result.result in ("drifted", "no-drift"):
        values = {METRIC_DRIFTED: result.drifted, METRIC_FAILED: 0}
    elif result.result == "failed":
        values = {METRIC_FAILED: 1}
    else:
        return []  # deferred: nothing was compared, nothing to count
    return [
        {"MetricName": name, "Dimensions": dimensions, "Timestamp": result.checked_at, "Value": float(value), "Unit": "Count"}
        for name, value in values.items()
    ]


def _undo_note(report: DriftReport, queued: Job | None) -> str:
    """What of the console-added rules and policies the remediation job removes, and what needs a person.

    The check itself removes nothing: it runs whatever the change window says. The remediation job
    removes them after its window, approval and lease (:meth:`DriftChecker.undo_for_remediation`).
    """
    from reconciler.drift.unmanaged import WITHHELD, by_hand, undo_actions

    actions = undo_actions(report.resources)
    note = ""
    allowed = [a for a in actions if a.kind not in WITHHELD]
    if queued is not None and allowed:
        note += (
            f"; the remediation job {queued.job_id} removes, after its change window, approval and lease: "
            + "; ".join(a.description for a in allowed)
        )
    manual = [a for a in actions if a.kind in WITHHELD]
    if manual:
        note += "; for a person: " + "; ".join(by_hand(a) for a in manual)
    return note


def _shifting_note(rollouts: Sequence[RolloutRecord]) -> str:
    """A check that compared while traffic moves (it ran past drift.maxDeferralMinutes) says so."""
    shifting = shifting_rollouts(rollouts)
    if not shifting:
        return ""
    return (
        f"; compared while {_named(shifting)} shifts traffic (the checks had been deferred for drift.maxDeferralMinutes): "
        "the rollout's own listener weights and colour bounds are set aside by the not-drift rules"
    )


# --------------------------------------------------------------------------- acting


def rollouts_in(store: Any) -> ActiveRollouts:
    """A stack's active rollouts as a :class:`~reconciler.rollout.store.RolloutStore` holds them (one per service)."""
    from desired_state.naming import SERVICE_NAMES

    def active(stack: str) -> list[RolloutRecord]:
        return [record for service in SERVICE_NAMES if (record := store.active(stack, service)) is not None]

    return active


@dataclass(frozen=True)
class DriftFinding:
    """What a check that compared found: the report, its summary, and how it is reported."""

    report: DriftReport
    summary: DriftCheckSummary
    kind: EventKind
    reason: Reason
    severity: Severity
    message: str
    subject: str | None
    attributes: dict[str, str | list[str]] | None
    plan: PlanSummary
    engine_version: str | None
    remediation_job: Job | None = None


def _stack_outputs(engine: Engine | None, status: StackStatus | None, stack: str) -> Any:
    """The stack's outputs (its security groups' ids, for the probe): those the last converge recorded in the
    status, else the engine's; None when neither can give them, and the probe finds the groups by their
    names (which AWS never lets anyone change)."""
    if status is not None and status.applied_outputs is not None:
        return status.applied_outputs
    if engine is None:
        return None
    try:
        return engine.outputs(stack)
    except Exception:  # noqa: BLE001 - the probe still runs, by the groups' names
        log.warning("drift: the stack's outputs could not be read; the probe finds the groups by name", exc_info=True, extra={"stack": stack})
        return None


class DriftChecker:
    """Does a drift check's acting: the refreshed preview, the remediation job, the metric.

    ``rollouts``: a stack's active rollout records (None: no rollouts here); ``enqueue``: sends a
    job to the job queue (None: no queue, so remediation cannot be queued and the check says so);
    ``cloudwatch``: a boto3 CloudWatch client for the metric (None: no metric, logged).
    ``ec2``: a factory of boto3 ec2 clients by region (``Callable[[str], EC2Client]``; the probe
    reads in the desired state's region), or one client; ``iam``: a boto3 IAM client; both of the
    environment's account, for what a refresh cannot see (console-added security-group rules and
    role policies, :mod:`reconciler.drift.unmanaged`); None: not read, and the check's message says so.
    """

    def __init__(
        self,
        settings: ReconcilerSettings,
        *,
        clock: Clock = utc_now,
        rollouts: ActiveRollouts | None = None,
        enqueue: Callable[[Job], object] | None = None,
        cloudwatch: Any | None = None,
        ec2: Any | None = None,
        iam: Any | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self.rollouts = rollouts
        self.enqueue = enqueue
        self.cloudwatch = cloudwatch
        self.ec2 = ec2
        self.iam = iam

    def active_rollouts(self, stack: str) -> list[RolloutRecord]:
        return list(self.rollouts(stack)) if self.rollouts is not None else []

    def deferral(self, job: Job, status: StackStatus | None) -> str | None:
        """Why ``job``'s check waits (:func:`deferral`, bounded by the environment's ``drift.maxDeferralMinutes``
        from ``status``'s last check), or None when it runs now."""
        env = self.settings.environment(job.environment)
        return deferral(
            self.active_rollouts(job.stack), now=self.clock(), last_check=status.last_drift_check if status is not None else None,
            max_deferral=timedelta(minutes=env.drift.max_deferral_minutes),
        )

    def compare(
        self, engine: Engine, request: StackRequest, *, job: Job, status: StackStatus, commit: str, state: Any = None, traffic: Any = None
    ) -> DriftFinding:
        """The refreshed preview of the applied state, as a report, with what a refresh cannot see added
        (``state``/``traffic``: the applied desired state and traffic the probe renders); remediation
        queued when the settings say so.

        Engine errors propagate (:class:`~reconciler.errors.EngineError`): the caller reports them as a
        failed check. A probe failure after the engine found drift keeps the report (drift-detected, the
        message and ``summary.probeError`` say the probe failed); with nothing else found it propagates
        (:class:`~reconciler.errors.DriftProbeError`), a failed check. Nothing is removed here: the
        console-added rules and policies are removed by the remediation job (:meth:`undo_for_remediation`).
        """
        assert request.refresh, "a drift check compares against the real resources: the preview must refresh"
        result = engine.preview(request)
        from reconciler.drift.report import build_report, headline

        env = self.settings.environment(job.environment)
        rollouts = self.active_rollouts(job.stack)
        report = build_report(
            result.steps, environment=job.environment, stack=job.stack, applied_commit=commit, checked_at=self.clock(),
            context=drift_context(status, rollouts),
        )
        report, layout, unread, probe_error = self._probe(
            report, env.suffix, job.stack, state, traffic, steps=result.steps, outputs=_stack_outputs(engine, status, job.stack)
        )
        unread += _shifting_note(rollouts)
        if not report.drifted:
            ignored = f" ({len(report.ignored)} difference(s) set aside by the not-drift rules)" if report.ignored else ""
            message = f"no drift: stack {job.stack} matches the applied commit {commit[:12]}{ignored}{unread}"
            return DriftFinding(
                report, summary(report, message), EventKind.NO_DRIFT, Reason.IN_SYNC, Severity.INFO, message, None, None,
                result.summary, result.engine_version,
            )
        decided = remediation(report, env.drift)
        queued: Job | None = None
        note = decided.message
        digest = drift_digest(report)
        repeat = repeated_drift(digest, status, job.environment) if decided.remediate else None
        if repeat is not None:
            note = repeat.message
        elif decided.remediate:
            queued, note = self._queue_remediation(job, commit, note)
        note += _undo_note(report, queued)
        if probe_error is not None:
            note += (
                f"; the console-rule probe failed, so console-added security-group rules and role policies are not in this report: {probe_error}"
            )
        title = headline(report)
        message = (f"{title}; {note}" if note else title) + unread
        remediation_id = queued.job_id if queued else (repeat.job_id if repeat else None)
        found_summary = summary(report, message, remediation_id).model_copy(
            update={"probe_error": probe_error, "digest": digest, "remediation_outcome": repeat.outcome if repeat else None}
        )
        return DriftFinding(
            report, found_summary, EventKind.DRIFT_DETECTED, Reason.DRIFT,
            notification_severity(report), message, title, notification_attributes(report), result.summary, result.engine_version, queued,
        )

    def _probe(
        self, report: DriftReport, suffix: str, stack: str, state: Any, traffic: Any, *, steps: Sequence[Any] = (), outputs: Any = None
    ) -> tuple[DriftReport, Any, str, str | None]:
        """The report with the console-added rules and role policies the applied program does not declare.

        Returns the report, the applied layout, a note for the message when nothing was read, and the
        probe's error when it failed after the engine found drift (the engine's report is kept and says so).
        A probe failure when the engine found nothing raises :class:`~reconciler.errors.DriftProbeError`:
        the check could not compare everything, and that is a failed check, never "no drift".
        """
        if self.ec2 is None or self.iam is None or state is None:
            return report, None, "; console-added security-group rules and role policies not read (no AWS clients here)", None
        from desired_state.traffic import TrafficState
        from reconciler.drift.unmanaged import applied_layout, merge_drift, probe_unmanaged, stack_group_ids
        from reconciler.errors import DriftProbeError

        layout = applied_layout(state, traffic if traffic is not None else TrafficState(), stack=stack)
        try:
            # The groups by the ids the stack holds (its outputs, the refreshed steps), never by tags a person can remove.
            group_ids = stack_group_ids(layout, outputs=outputs, steps=steps)
            found = probe_unmanaged(self.ec2, self.iam, suffix=suffix, desired=layout, group_ids=group_ids)
        except DriftProbeError as error:
            if not report.drifted:
                raise
            log.warning("drift: the console-rule probe failed after the engine found drift", extra={"stack": stack, "error": str(error)})
            return report, layout, "", str(error)
        if not found:
            return report, layout, "", None
        resources = merge_drift(report.resources, found)
        # Most severe first, then by name: the order the headline reads them in.
        resources.sort(key=lambda r: (-r.severity.rank, r.name))
        return report.model_copy(update={"resources": resources}), layout, "", None

    def undo_for_remediation(self, job: Job, *, state: Any, traffic: Any) -> UndoResult:
        """The removals of console-added rules and policies a remediation converge cannot make (they are no
        resources of the stack), for the remediation job's apply phase, after its guards, change window,
        approval and lease.

        Re-probes the account against the applied desired state ``state`` (the job's commit) and
        ``traffic``, removes what the environment's remediation limits allow, and probes again. Never
        raises for AWS: refusals and probe failures are in the result (:class:`UndoResult`, its ``message``).
        """
        from desired_state.traffic import TrafficState
        from reconciler.drift.unmanaged import UndoResult, applied_layout, probe_unmanaged, undo_unmanaged
        from reconciler.errors import DriftProbeError

        if job.trigger != Trigger.DRIFT_REMEDIATION:
            return UndoResult(skipped=f"job {job.job_id} is a {job.trigger.value} job, not a drift remediation")
        env = self.settings.environment(job.environment)
        if env.drift.mode != "remediate":
            return UndoResult(skipped=f"drift.mode of {job.environment} is {env.drift.mode} now, not remediate")
        if self.ec2 is None or self.iam is None:
            return UndoResult(skipped="no AWS clients here (ec2/iam) to read and remove them")
        layout = applied_layout(state, traffic if traffic is not None else TrafficState(), stack=job.stack)
        resources = None
        outside: list[str] = []
        if env.drift.remediate_types or env.drift.remediate_severities:
            try:
                found = probe_unmanaged(self.ec2, self.iam, suffix=env.suffix, desired=layout)
            except DriftProbeError as error:
                return UndoResult(probe_error=str(error))
            resources = [r for r in found if _allowed(r, env.drift)]
            outside = [r.name for r in found if not _allowed(r, env.drift)]
        result = undo_unmanaged(self.ec2, self.iam, suffix=env.suffix, desired=layout, resources=resources)
        if outside:
            result = result.model_copy(update={"outside_limits": outside, "remaining": [r for r in result.remaining if r.name not in outside]})
        log.info(
            "drift remediation: console-added rules and policies",
            extra={"stack": job.stack, "job_id": job.job_id, "undone": len(result.undone), "failed": len(result.failed), "left": len(result.left_for_person)},
        )
        return result

    def _queue_remediation(self, job: Job, commit: str, note: str) -> tuple[Job | None, str]:
        if self.enqueue is None:
            return None, (
                "remediation not queued: this reconciler has no job queue (aws.jobQueueUrl); converge back to the applied commit here: "
                f"ecs-gitops drift --remediate --local --environment {job.environment}"
            )
        queued = remediation_job(job, commit, self.clock())
        try:
            self.enqueue(queued)
        except Exception as exc:  # noqa: BLE001 - the drift is still reported; the next check queues again
            log.warning("could not queue the drift remediation", exc_info=True, extra={"stack": job.stack, "job_id": queued.job_id})
            return None, f"remediation could not be queued ({type(exc).__name__}); the next drift check tries again"
        log.info("drift remediation queued", extra={"stack": job.stack, "job_id": queued.job_id, "commit": commit})
        return queued, f"{note} (job {queued.job_id})"

    def record_metric(self, environment: str, result: DriftCheckSummary) -> None:
        """The check's metric; a failure to write it is logged, never the check's outcome."""
        data = metric_data(environment, result)
        if not data:
            return
        if self.cloudwatch is None:
            log.info("drift metric (no CloudWatch client)", extra={"environment": environment, "drifted": result.drifted, "result": result.result})
            return
        try:
            self.cloudwatch.put_metric_data(Namespace=self.settings.drift_check.metric_namespace, MetricData=data)
        except Exception:  # noqa: BLE001 - the check's result is recorded in the audit trail and the status either way
            log.warning("could not write the drift metric", exc_info=True, extra={"environment": environment})
