"""What a verify run reports: one result per check, and the report over them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from reconciler.record import Record

CheckStatus = Literal["pass", "fail", "skipped"]
COUNT_KEYS = {"pass": "passed", "fail": "failed", "skipped": "skipped"}
GROUPS = ("network", "services", "traffic", "isolation", "logs", "secrets", "names")
# The results written when a whole group could not run (run.py: an API error, an output missing or of
# the wrong shape, anything raised; phase.py: no credentials): nothing of that group was judged.
UNCHECKED_SUFFIXES = (".api", ".outputs", ".error", ".setup")


class CheckResult(Record):
    """One check: its name (``services.frontend-blue.image``), group, verdict, the evidence behind it."""

    name: str
    group: str
    status: CheckStatus
    evidence: dict[str, Any] = Field(default_factory=dict)
    detail: str = ""

    @property
    def could_not_check(self) -> bool:
        """A failure that says the group could not look, not that it found something wrong."""
        return self.status == "fail" and self.name.endswith(UNCHECKED_SUFFIXES)


class VerifySummary(Record):
    """What an audit record (and a rollout's promotion gate) keeps of a report: never "passed" unless checks ran and passed."""

    status: Literal["passed", "failed", "skipped"]
    checked_at: datetime
    headline: str
    counts: dict[str, int] = Field(default_factory=dict)
    failures: list[CheckResult] = Field(default_factory=list)
    skipped_reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class VerifyReport(Record):
    environment: str
    checked_at: datetime
    results: list[CheckResult]
    # Why no check ran at all (no AWS clients here); None when the checks ran.
    skipped_reason: str | None = None

    @property
    def passed(self) -> bool:
        """Every check that ran passed; a report where nothing ran has not passed."""
        return self.skipped_reason is None and not self.failures and any(r.status == "pass" for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    def counts(self) -> dict[str, int]:
        # "passed", not "pass": a key named like a password is masked by the output scrubber.
        return {key: sum(1 for r in self.results if r.status == status) for status, key in COUNT_KEYS.items()}

    def summary(self) -> VerifySummary:
        """The short form an audit record or a rollout's evidence carries."""
        status = "failed" if self.failures else "passed" if self.passed else "skipped"
        return VerifySummary(
            status=status, checked_at=self.checked_at, headline=self.headline(), counts=self.counts(),
            failures=self.failures, skipped_reason=self.skipped_reason,
        )

    def headline(self) -> str:
        if self.skipped_reason:
            return f"{self.environment}: verify skipped: {self.skipped_reason}"
        counts = self.counts()
        if not self.failures:
            return f"{self.environment}: all {counts['passed']} checks passed ({counts['skipped']} skipped)"
        shown = "; ".join(f"{r.name}: {r.detail}" for r in self.failures[:5])
        more = f" and {len(self.failures) - 5} more" if len(self.failures) > 5 else ""
        return f"{self.environment}: {len(self.failures)} of {len(self.results)} checks failed: {shown}{more}"
