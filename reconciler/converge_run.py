"""What one converge attempt has learned (:class:`ConvergeRun`) and how it ends (:class:`ConvergeOutcome`).

Apart from the converger so that each phase's module (:mod:`reconciler.fetch_phase`,
:mod:`reconciler.validate_phase`, :mod:`reconciler.converge_engine`, :mod:`reconciler.approval_phase`,
:mod:`reconciler.verify.phase`, :mod:`reconciler.drift.phases`) and the reporting
(:mod:`reconciler.converge_report`) read the run and build its outcome without importing
:mod:`reconciler.converge`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from desired_state.loader import LoadedEnvironment
from desired_state.traffic import TrafficState
from reconciler.adapters.stack_state import StackStatus
from reconciler.drift.model import DriftCheckSummary, DriftReport
from reconciler.engine import EngineResult
from reconciler.events import EventKind, Phase, Reason, Severity
from reconciler.lease import HeldLease
from reconciler.models import Job, Outcome, PlanSummary, PolicyResult
from reconciler.settings import EnvironmentSettings
from reconciler.source import Checkout
from reconciler.verify.model import VerifySummary


@dataclass
class ConvergeOutcome:
    """How one attempt ended: what its audit record, the stack status and its notification say."""

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


@dataclass
class ConvergeRun:
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


# A status write inside the phases, fenced by the run's lease: the change returns the new status, or None to write nothing.
StatusUpdate = Callable[["ConvergeRun", Callable[[StackStatus], StackStatus | None]], StackStatus]


def describe_plan(plan: PlanSummary | None) -> str:
    if plan is None:
        return "no plan"
    return f"{plan.create} to create, {plan.update} to update, {plan.replace} to replace, {plan.delete} to delete"


def program_version() -> str:
    # Read at call time, not import time: what an approval's digest and an audit record name is the program loaded now.
    from program.platform import PROGRAM_VERSION

    return PROGRAM_VERSION
