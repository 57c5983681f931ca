"""Typed records crossing the reconciler's boundaries: jobs, plan summaries, audit records."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator

from reconciler.events import EventKind, Phase, Reason
from reconciler.operations.model import Suspension
from reconciler.drift.model import DriftCheckSummary
from reconciler.record import Record
from reconciler.verify.model import VerifySummary

COMMIT_PATTERN = r"^[0-9a-f]{40}$"


class Trigger(StrEnum):
    GIT_PUSH = "git-push"
    CODECOMMIT_PUSH = "codecommit-push"
    ECR_IMAGE_PUSH = "ecr-image-push"
    ECR_IMAGE_SCAN = "ecr-image-scan"
    SCHEDULED_RESYNC = "scheduled-resync"
    SCHEDULED_DRIFT_CHECK = "scheduled-drift-check"
    MANUAL = "manual"
    # Only on audit records: a queued message the worker could not read as a job (its own trigger
    # is unknown or missing). Never a job's trigger: a Job refuses it.
    UNREADABLE_MESSAGE = "unreadable-message"
    # A converge back to the applied commit, queued by a drift check in remediate mode.
    DRIFT_REMEDIATION = "drift-remediation"


class ImageEvent(Record):
    repository: str
    service: str
    tag: str | None = None
    digest: str | None = None
    scan_status: str | None = None
    finding_counts: dict[str, int] = Field(default_factory=dict)


class WindowOverride(Record):
    """An audited decision to converge outside the change window."""

    by: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class Job(Record):
    """One unit of work: converge one environment's stack, for one reason, at one commit."""

    job_id: str
    environment: str
    stack: str
    trigger: Trigger
    event_id: str
    commit: str | None = Field(default=None, pattern=COMMIT_PATTERN)
    author: str | None = None
    received_at: datetime
    image: ImageEvent | None = None
    dry_run: bool = False
    window_override: WindowOverride | None = None

    @field_validator("trigger")
    @classmethod
    def _a_job_trigger(cls, trigger: Trigger) -> Trigger:
        if trigger == Trigger.UNREADABLE_MESSAGE:
            raise ValueError("unreadable-message marks audit records of messages that were not jobs; it is not a job's trigger")
        return trigger

    @staticmethod
    def make_id(event_id: str, environment: str) -> str:
        return hashlib.sha256(f"{event_id}|{environment}".encode()).hexdigest()[:32]


class PlanSummary(Record):
    create: int = 0
    update: int = 0
    delete: int = 0
    replace: int = 0
    same: int = 0
    resources: dict[str, list[str]] = Field(default_factory=dict)  # operation -> resource names

    @property
    def has_changes(self) -> bool:
        return bool(self.create or self.update or self.delete or self.replace)


class PolicyResult(Record):
    passed: bool
    mandatory: int
    advisory: int
    violations: list[dict[str, str]] = Field(default_factory=list)


Outcome = Literal["succeeded", "failed", "refused", "skipped", "waiting", "dry-run"]


class AuditRecord(Record):
    """One job's account of itself. Written once, never updated."""

    stack: str
    job_id: str
    attempt: int = 1
    environment: str
    trigger: Trigger
    event_id: str
    commit: str | None
    author: str | None
    desired_state_digest: str | None = None
    plan: PlanSummary | None = None
    policy: PolicyResult | None = None
    outcome: Outcome
    kind: EventKind
    reason: Reason
    error: str | None = None
    last_phase: Phase
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    engine_version: str | None = None
    program_version: str
    window_override: WindowOverride | None = None
    # Who vouched for this change: the commit's trusted signer and the plan's approver.
    signed_by: str | None = None
    approved_by: str | None = None
    # Images a rollout staged over git's desired state for this converge (service -> reference).
    image_overrides: dict[str, str] = Field(default_factory=dict)
    # The job's own commit when it converged the (newer) branch head in its place.
    superseded_commit: str | None = None
    # On environment-suspended / environment-resumed records: who suspended the environment, why and since when.
    suspension: Suspension | None = None
    # A person's stated reason for a manual action with no job behind it (suspend, resume: their --reason).
    note: str | None = None
    # The hash chain (reconciler/audit/chain.py): this record's place among its stack's records and the
    # hash of the one before. Set by the audit log when it appends; None on records written before the chain.
    sequence: int | None = Field(default=None, ge=1)
    previous_hash: str | None = None
    # A drift check's result (time, result, counts, remediation job): set on drift-check jobs only.
    drift: DriftCheckSummary | None = None
    # The verify phase's result (reconciler.verify): passed, counts, the failing checks with their
    # evidence, or why the checks did not run. None: the converge never reached the verify phase.
    verify: VerifySummary | None = None
