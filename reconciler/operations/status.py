"""``ecs-gitops status``: every environment on one screen, from what the stores hold.

:func:`observe` reads (the stack status, the newest audit record, the active rollouts, the stack's
lock files), one store at a time, and keeps the reason a store could not be read instead of
raising: one unreadable store marks that environment's row, never the whole screen.
:func:`environment_status` decides what to show from those reads and the clock (pure);
:func:`write_table` and :func:`status_document` print it. Nothing here writes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TextIO, TypeVar

from desired_state.naming import SERVICE_NAMES
from reconciler.adapters.audit import AuditLog
from reconciler.adapters.stack_state import StackStateStore, StackStatus
from reconciler.approvals import approve_command
from reconciler.drift.model import DriftCheckSummary
from reconciler.locks import LockStore, StackLock
from reconciler.models import AuditRecord, PlanSummary, Record
from reconciler.operations.suspend import resume_command
from reconciler.operations.text import one_line
from reconciler.rollout.model import RolloutRecord
from reconciler.rollout.store import RolloutStore
from reconciler.settings import EnvironmentSettings
from reconciler.windows import decide

T = TypeVar("T")

# The names of the stores in the output (table and JSON), so a script can tell which one failed.
STATUS_STORE = "status store"
AUDIT_LOG = "audit log"
ROLLOUT_STORE = "rollout store"
LOCK_STORE = "lock store"
LABEL_WIDTH = len("UNREADABLE")


@dataclass
class EnvironmentObservation:
    """What the stores said about one environment; a read that failed is in ``unreadable`` (store -> why)."""

    environment: str
    settings: EnvironmentSettings
    status: StackStatus | None = None
    newest_record: AuditRecord | None = None
    # None: the settings configure no rollout table (rollouts are not run here), or its read failed.
    rollouts: list[RolloutRecord] | None = None
    locks: list[StackLock] | None = None
    drift: DriftCheckSummary | None = None
    unreadable: dict[str, str] = field(default_factory=dict)


def _describe_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _read(observation: EnvironmentObservation, store: str, read: Callable[[], T]) -> T | None:
    # Any failure of one store (AWS errors, permissions, a corrupt or newer-schema item, a missing
    # directory) becomes that store's reason on the row; the other stores are still read.
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - reported on the row, never raised
        observation.unreadable[store] = _describe_error(exc)
        return None


def observe(
    environment: str,
    env: EnvironmentSettings,
    *,
    project: str,
    states: StackStateStore,
    audit: AuditLog,
    locks: LockStore | None,
    rollouts: RolloutStore | None,
) -> EnvironmentObservation:
    """Read what :func:`environment_status` needs of one environment; never raises for a store."""
    seen = EnvironmentObservation(environment, env)
    seen.status = _read(seen, STATUS_STORE, lambda: states.get(env.stack))
    if seen.status is not None:
        # Another branch adds StackStatus.last_drift_check; until then there is none to show.
        seen.drift = getattr(seen.status, "last_drift_check", None)
    newest = _read(seen, AUDIT_LOG, lambda: audit.history(env.stack, limit=1))
    seen.newest_record = newest[0] if newest else None
    if rollouts is not None:
        seen.rollouts = _read(
            seen, ROLLOUT_STORE, lambda: [r for r in (rollouts.active(env.stack, service) for service in SERVICE_NAMES) if r is not None]
        )
    if locks is not None:
        seen.locks = _read(seen, LOCK_STORE, lambda: locks.list(project, env.stack))
    return seen


# ---------------------------------------------------------------------- what is shown


class AppliedView(Record):
    commit: str
    at: datetime | None = None


class ConvergeView(Record):
    """A converge in progress: its phase and the worker holding the stack's lease."""

    job_id: str | None
    phase: str | None
    holder: str | None = None
    heartbeat_at: datetime | None = None
    # From the holder's own timestamp (another machine's clock): for people, not for deciding.
    heartbeat_age_seconds: int | None = None


class OutcomeView(Record):
    outcome: str
    kind: str | None = None
    reason: str | None = None
    at: datetime | None = None
    job_id: str | None = None
    commit: str | None = None
    error: str | None = None


class ApprovalView(Record):
    commit: str
    requested_at: datetime
    plan: PlanSummary
    approved_by: str | None = None
    command: str


class RolloutView(Record):
    service: str
    rollout_id: str
    mode: str
    phase: str
    paused: bool
    pause_reason: str | None = None
    step: str | None = None
    weights: dict[str, int]
    new_image: str


class LockView(Record):
    holder: str
    key: str
    age_minutes: int
    stuck: bool


class SuspensionView(Record):
    # "unknown": the status store could not be read, so whether it is suspended is not known (never "no").
    source: Literal["settings", "runtime", "unknown"]
    by: str | None = None
    reason: str | None = None
    since: datetime | None = None
    resume_command: str | None = None


class WindowView(Record):
    open: bool
    reason: str
    next_opening: datetime | None = None


class EnvironmentStatus(Record):
    environment: str
    stack: str
    readable: bool
    # Store -> why it could not be read; the fields it would have filled are empty.
    unreadable: dict[str, str] = {}
    applied: AppliedView | None = None
    converging: ConvergeView | None = None
    last_outcome: OutcomeView | None = None
    waiting_for_approval: ApprovalView | None = None
    # None: rollouts are not configured here (no rollout table) or the rollout store was unreadable.
    rollouts: list[RolloutView] | None = None
    drift: DriftCheckSummary | None = None
    locks: list[LockView] | None = None
    suspended: SuspensionView | None = None
    window: WindowView
    # The fields whose empty value means "could not be read", not "none" (their store is in ``unreadable``).
    unknown: list[str] = []


def _rollout_view(record: RolloutRecord) -> RolloutView:
    step = f"{record.step_index + 1}/{len(record.spec.steps)} ({record.current_step} %)" if record.step_index >= 0 else None
    return RolloutView(
        service=record.service, rollout_id=record.rollout_id, mode=record.mode, phase=record.phase.value, paused=record.paused,
        pause_reason=record.pause_reason, step=step, weights={"blue": record.weights.blue, "green": record.weights.green},
        new_image=record.new_image.reference,
    )


def environment_status(seen: EnvironmentObservation, now: datetime, settings_file: str | None = None) -> EnvironmentStatus:
    """What ``status`` shows of one environment (pure: from the reads and ``now``)."""
    env, status, name = seen.settings, seen.status, seen.environment
    status_unknown = STATUS_STORE in seen.unreadable
    applied = converging = approval = suspended = None
    if status is not None:
        if status.last_applied_commit:
            applied = AppliedView(commit=status.last_applied_commit, at=status.last_applied_at)
        if status.lease is not None or status.current_job_id:
            lease = status.lease
            converging = ConvergeView(
                job_id=lease.job_id if lease else status.current_job_id,
                phase=status.phase.value if status.phase else None,
                holder=lease.holder if lease else None,
                heartbeat_at=lease.heartbeat_at if lease else None,
                heartbeat_age_seconds=max(0, int((now - lease.heartbeat_at).total_seconds())) if lease else None,
            )
        pending = status.pending_approval
        if pending is not None and not pending.approved_by:
            approval = ApprovalView(
                commit=pending.commit, requested_at=pending.requested_at, plan=pending.plan, command=approve_command(name, pending.commit, settings_file)
            )
        elif pending is not None:
            # Approved, not yet applied: show it, without a command to run again.
            approval = ApprovalView(
                commit=pending.commit, requested_at=pending.requested_at, plan=pending.plan, approved_by=pending.approved_by,
                command=f"(approved by {pending.approved_by}; the next converge of {pending.commit[:12]} applies it)",
            )
    if env.suspended:
        suspended = SuspensionView(source="settings", reason="suspended: true in the reconciler settings")
    elif status is not None and status.suspension is not None:
        s = status.suspension
        suspended = SuspensionView(source="runtime", by=s.by, reason=s.reason, since=s.at, resume_command=resume_command(name))
    elif status_unknown:
        suspended = SuspensionView(source="unknown", reason=f"the {STATUS_STORE} could not be read")
    unknown: list[str] = []
    if status_unknown:
        # Nothing the status holds is known: never shown as "nothing applied yet" or "not suspended".
        unknown += ["applied", "converging", "waitingForApproval", "drift", *([] if env.suspended else ["suspended"])]
    record = seen.newest_record
    if record is not None:
        last: OutcomeView | None = OutcomeView(
            outcome=record.outcome, kind=record.kind.value, reason=record.reason.value, at=record.finished_at, job_id=record.job_id,
            commit=record.commit, error=record.error or record.note,
        )
    elif status is not None and status.last_outcome:
        last = OutcomeView(outcome=status.last_outcome, job_id=status.last_job_id)
    else:
        last = None
        if AUDIT_LOG in seen.unreadable or status_unknown:
            unknown.append("lastOutcome")
    stuck_after = timedelta(minutes=env.stuck_lock_after_minutes)
    locks = None if seen.locks is None else [
        LockView(holder=lock.holder, key=lock.key, age_minutes=int(lock.age(now).total_seconds() // 60), stuck=lock.age(now) > stuck_after)
        for lock in seen.locks
    ]
    window = decide(env.windows, now)
    return EnvironmentStatus(
        environment=name,
        stack=env.stack,
        readable=not seen.unreadable,
        unreadable=dict(seen.unreadable),
        applied=applied,
        converging=converging,
        last_outcome=last,
        waiting_for_approval=approval,
        rollouts=None if seen.rollouts is None else [_rollout_view(r) for r in sorted(seen.rollouts, key=lambda r: r.service)],
        drift=seen.drift,
        locks=locks,
        suspended=suspended,
        window=WindowView(open=window.open, reason=window.reason, next_opening=window.reopens_at),
        unknown=unknown,
    )


# ---------------------------------------------------------------------- printing


def status_document(statuses: Sequence[EnvironmentStatus], now: datetime) -> dict[str, Any]:
    """The JSON of ``status --output json``: camelCase, every environment in settings order."""
    return {
        "at": now.isoformat(),
        "readable": all(s.readable for s in statuses),
        "environments": [s.model_dump(mode="json", by_alias=True) for s in statuses],
    }


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "unknown time"


def _plan(plan: PlanSummary) -> str:
    return f"{plan.create} to create, {plan.update} to update, {plan.replace} to replace, {plan.delete} to delete"


def _lines(s: EnvironmentStatus) -> list[str]:
    rows: list[tuple[str, str]] = []
    for store, why in s.unreadable.items():
        rows.append(("UNREADABLE", f"{store}: {why}"))
    unknown = f"unknown ({STATUS_STORE} unreadable)"
    if "applied" in s.unknown:
        rows.append(("applied", unknown))
    else:
        rows.append(("applied", f"{s.applied.commit[:12]} at {_when(s.applied.at)}" if s.applied else "nothing applied yet"))
    if "converging" in s.unknown:
        rows.append(("converging", unknown))
    elif s.converging:
        c = s.converging
        holder = f", held by {c.holder} (heartbeat {c.heartbeat_age_seconds}s ago)" if c.holder else ""
        rows.append(("converging", f"{c.phase or 'starting'}{holder}, job {c.job_id}"))
    if s.last_outcome:
        o = s.last_outcome
        words = [o.outcome, *([o.reason] if o.reason else []), *([f"({o.kind})"] if o.kind else []), "at", _when(o.at)]
        rows.append(("last", " ".join(words) + (f": {o.error}" if o.error else "")))
    elif "lastOutcome" in s.unknown:
        rows.append(("last", "unknown (audit log and status store unreadable)" if STATUS_STORE in s.unreadable else f"unknown ({AUDIT_LOG} unreadable)"))
    else:
        rows.append(("last", "no converge recorded"))
    if "waitingForApproval" in s.unknown:
        rows.append(("approval", unknown))
    if s.waiting_for_approval:
        a = s.waiting_for_approval
        state = f"approved by {a.approved_by}" if a.approved_by else "waits for approval"
        rows.append(("approval", f"plan for {a.commit[:12]} {state} since {_when(a.requested_at)} ({_plan(a.plan)})"))
        if not a.approved_by:
            rows.append(("", f"run: {a.command}"))
    if s.rollouts is None:
        rows.append(("rollouts", "unreadable" if ROLLOUT_STORE in s.unreadable else "not configured here (no rollout table)"))
    elif not s.rollouts:
        rows.append(("rollouts", "none active"))
    for r in s.rollouts or []:
        paused = f" PAUSED ({r.pause_reason})" if r.paused else ""
        step = f" step {r.step}" if r.step else ""
        weights = "" if r.mode == "rolling" else f", blue {r.weights['blue']} % / green {r.weights['green']} %"
        rows.append(("rollout", f"{r.service} {r.phase}{paused}{step}{weights} -> {r.new_image} ({r.rollout_id})"))
    if s.drift is not None:
        d = s.drift
        counts = ", ".join(f"{count} {severity}" for severity, count in d.counts.items() if count)
        drifted = f": {d.drifted} resource(s) drifted{' (' + counts + ')' if counts else ''}" if d.drifted else ""
        rows.append(("drift", f"{d.result} at {_when(d.checked_at)}{drifted}{'; ' + d.message if d.message else ''}"))
    elif "drift" in s.unknown:
        rows.append(("drift", unknown))
    else:
        rows.append(("drift", "no drift check recorded"))
    if s.locks is None:
        rows.append(("locks", "unreadable" if LOCK_STORE in s.unreadable else "not readable for this backend"))
    elif not s.locks:
        rows.append(("locks", "none"))
    for lock in s.locks or []:
        rows.append(("lock", f"{'STUCK ' if lock.stuck else ''}{lock.holder}, {lock.age_minutes} min old ({lock.key})"))
    if s.locks and any(lock.stuck for lock in s.locks):
        rows.append(("", f"check no update still runs, then: ecs-gitops unlock --environment {s.environment}"))
    if s.suspended is None:
        rows.append(("suspended", "no"))
    elif s.suspended.source == "settings":
        rows.append(("suspended", "YES, by the reconciler settings (suspended: true)"))
    elif s.suspended.source == "unknown":
        rows.append(("suspended", unknown))
    else:
        rows.append(("suspended", f"YES, by {s.suspended.by} since {_when(s.suspended.since)}: {s.suspended.reason}"))
        rows.append(("", f"resume with: {s.suspended.resume_command}"))
    w = s.window
    opening = f"; opens {w.next_opening.isoformat()}" if w.next_opening else ("" if w.open else "; no opening within the next week")
    rows.append(("window", f"{'open' if w.open else 'CLOSED'} ({w.reason}){opening}"))
    # One column width for every environment, so the rows of all of them line up on the screen.
    # One line per row: a value someone typed (a reason, a name) cannot start a row of its own.
    return [f"  {label:<{LABEL_WIDTH}}  {one_line(text)}" for label, text in rows]


def write_table(statuses: Sequence[EnvironmentStatus], out: TextIO) -> None:
    for index, s in enumerate(statuses):
        if index:
            out.write("\n")
        out.write(f"{one_line(s.environment)} (stack {one_line(s.stack)}){'' if s.readable else ' - UNREADABLE'}\n")
        out.writelines(line + "\n" for line in _lines(s))
