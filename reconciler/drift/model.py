"""The drift report: what drifted, how, and how serious it is; and the summary the stack status keeps."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from reconciler.record import Record

SECRET_MASK = "[secret]"


class DriftKind(StrEnum):
    """How a resource differs from the applied desired state."""

    CHANGED = "changed"  # one or more properties differ
    DELETED = "deleted"  # deleted out of band: the engine would create it again


class DriftSeverity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return ("low", "medium", "high").index(self.value)


class PropertyDrift(Record):
    """One property path that differs: what the applied state says and what AWS has now.

    ``expected``/``actual`` are :data:`SECRET_MASK` when the value is a secret or the property is
    secret-marked; ``None`` when the side has no value (added or removed).
    """

    path: str
    expected: Any = None
    actual: Any = None
    secret: bool = False


class DriftedResource(Record):
    urn: str
    type: str  # Pulumi type token, e.g. aws:ec2/securityGroup:SecurityGroup
    name: str  # logical name, e.g. sg-api-gateway-prod
    kind: DriftKind
    severity: DriftSeverity
    properties: list[PropertyDrift] = Field(default_factory=list)
    # One line a person reads at a glance: "ingress gained tcp/22 from 0.0.0.0/0".
    summary: str


class IgnoredDrift(Record):
    """A difference a rule says is not drift, kept so the report shows what was set aside and why."""

    urn: str
    name: str
    path: str
    rule: str
    reason: str


class DriftReport(Record):
    environment: str
    stack: str
    applied_commit: str | None
    checked_at: datetime
    resources: list[DriftedResource] = Field(default_factory=list)
    ignored: list[IgnoredDrift] = Field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.resources)

    @property
    def severity(self) -> DriftSeverity | None:
        """The highest severity found; None when nothing drifted."""
        return max((r.severity for r in self.resources), key=lambda s: s.rank, default=None)

    def counts(self) -> dict[str, int]:
        """Drifted resources per severity (every severity present, zero when none)."""
        return {s.value: sum(1 for r in self.resources if r.severity == s) for s in DriftSeverity}


DriftCheckResult = Literal["no-drift", "drifted", "failed", "deferred"]


class DriftCheckSummary(Record):
    """What the stack status keeps of the last drift check: when, the result, the counts, why."""

    checked_at: datetime
    result: DriftCheckResult
    drifted: int = 0
    counts: dict[str, int] = Field(default_factory=dict)  # severity -> drifted resources
    applied_commit: str | None = None
    message: str = ""
    remediation_job_id: str | None = None
    # A deferred check: when the checks began to be deferred (the first deferral since one compared),
    # so the next check knows how long they have waited (drift.maxDeferralMinutes).
    deferred_since: datetime | None = None
    # The engine compared but the console-rule probe failed: the report holds the engine's drift only.
    probe_error: str | None = None
    # What drifted, as a digest (drift_digest): the next check that finds the same drift after the
    # remediation queued for it does not queue another; remediationOutcome is how that remediation ended.
    digest: str | None = None
    remediation_outcome: str | None = None
