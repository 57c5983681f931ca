"""The audit records as people and spreadsheets read them: a table, JSON, CSV (pure functions)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import Any

from reconciler.models import AuditRecord

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection); such cells get a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _plan(record: AuditRecord, field: str) -> Any:
    return getattr(record.plan, field) if record.plan is not None else ""


# The CSV's columns, in this order, always (an auditor's sheet keeps its formulas across exports).
CSV_COLUMNS: tuple[tuple[str, Callable[[AuditRecord], Any]], ...] = (
    ("finishedAt", lambda r: r.finished_at.isoformat()),
    ("startedAt", lambda r: r.started_at.isoformat()),
    ("environment", lambda r: r.environment),
    ("stack", lambda r: r.stack),
    ("outcome", lambda r: r.outcome),
    ("kind", lambda r: r.kind.value),
    ("reason", lambda r: r.reason.value),
    ("trigger", lambda r: r.trigger.value),
    ("commit", lambda r: r.commit),
    ("supersededCommit", lambda r: r.superseded_commit),
    ("author", lambda r: r.author),
    ("signedBy", lambda r: r.signed_by),
    ("approvedBy", lambda r: r.approved_by),
    ("windowOverrideBy", lambda r: r.window_override.by if r.window_override else None),
    ("windowOverrideReason", lambda r: r.window_override.reason if r.window_override else None),
    ("jobId", lambda r: r.job_id),
    ("attempt", lambda r: r.attempt),
    ("eventId", lambda r: r.event_id),
    ("lastPhase", lambda r: r.last_phase.value),
    ("durationMs", lambda r: r.duration_ms),
    ("planCreate", lambda r: _plan(r, "create")),
    ("planUpdate", lambda r: _plan(r, "update")),
    ("planDelete", lambda r: _plan(r, "delete")),
    ("planReplace", lambda r: _plan(r, "replace")),
    ("policyPassed", lambda r: r.policy.passed if r.policy is not None else None),
    ("desiredStateDigest", lambda r: r.desired_state_digest),
    ("engineVersion", lambda r: r.engine_version),
    ("programVersion", lambda r: r.program_version),
    ("error", lambda r: r.error),
    ("sequence", lambda r: r.sequence),
    ("previousHash", lambda r: r.previous_hash),
)


def safe_cell(value: Any) -> str:
    """The cell's text; one a spreadsheet would evaluate is prefixed with ``'`` so it stays text."""
    if value is None:
        return ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(records: Sequence[AuditRecord]) -> str:
    buffer = io.StringIO()
    # Every cell quoted: a spreadsheet that splits on ";" (European locales) would start a new cell, maybe a formula, inside one.
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([name for name, _ in CSV_COLUMNS])
    for record in records:
        writer.writerow([safe_cell(value(record)) for _, value in CSV_COLUMNS])
    return buffer.getvalue()


def to_json(records: Sequence[AuditRecord]) -> str:
    return json.dumps([json.loads(r.model_dump_json(by_alias=True)) for r in records], indent=2) + "\n"


def to_table(records: Sequence[AuditRecord]) -> str:
    if not records:
        return "no audit records match\n"
    rows = [("FINISHED", "SEQ", "OUTCOME", "KIND", "REASON", "COMMIT", "TRIGGER", "BY", "JOB")]
    for r in records:
        by = r.approved_by or (r.window_override.by if r.window_override else None) or r.author or ""
        rows.append((
            r.finished_at.isoformat(timespec="seconds"), str(r.sequence or "-"), r.outcome, r.kind.value, r.reason.value,
            (r.commit or "-")[:12], r.trigger.value, by, f"{r.job_id[:12]}#{r.attempt}",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n" for row in rows)
