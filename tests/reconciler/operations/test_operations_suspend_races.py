"""Suspend and resume against what runs at the same time, and against what fails half-way.

A suspend that lands after a converge took its lease stops it before its next phase (the phase's own
fenced write re-reads the suspension), so it never reaches apply once the suspension is written;
``suspend`` names the converge in progress. The audit record is written before the status, so an
audit failure leaves the environment as it was and a retry works. ``--by`` and ``--reason`` are one
line of text: a line break cannot forge a status row or a notification line.
"""

from __future__ import annotations

import io

import pytest

from reconciler.cli import main
from reconciler.events import EventKind, Phase, Reason
from reconciler.operations.suspend import suspend
from reconciler.wiring import Components


def components_of(harness, audit=None) -> Components:
    return Components(
        harness.settings, harness.states, audit or harness.audit, harness.notifier, harness.source, harness.engine, harness.redactor,
        queue=None, locks=None, clock=harness.clock,
    )


def cli(harness, *argv: str, audit=None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err, components=components_of(harness, audit))
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------- M3: a suspend during a converge


def test_a_suspend_during_the_preview_stops_the_converge_before_apply(harness, git_repo, engine, clock):
    said: list[tuple[int, str, str]] = []

    def suspend_during_preview(operation, request):
        if operation == "preview":
            said.append(cli(harness, "suspend", "--environment", "dev", "--by", "carol", "--reason", "freeze now"))

    engine.on_call = suspend_during_preview

    outcome = harness.run(harness.job(git_repo.head))

    assert "up" not in engine.operations and engine.operations == ["preview"]
    assert (outcome.outcome, outcome.kind, outcome.reason) == ("skipped", EventKind.SKIPPED, Reason.SUSPENDED)
    assert "suspended by carol" in outcome.message and "freeze now" in outcome.message and "before apply" in outcome.message
    status = harness.status()
    assert status.lease is None and status.phase == Phase.DONE and status.last_applied_commit is None
    converge_record = next(r for r in harness.history() if r.kind == EventKind.SKIPPED)
    assert (converge_record.reason, converge_record.last_phase) == (Reason.SUSPENDED, Phase.PLAN)
    assert [n["reason"] for n in harness.notifications()] == ["Suspended", "Suspended"]  # the suspend's, then the converge's
    # What suspend told the operator: the converge in progress, and that it stops before apply.
    code, out, err = said[0]
    assert (code, err) == (0, "")
    assert "a converge of job" in out and "is in progress (phase plan); it stops before apply" in out


def test_a_suspend_during_the_apply_lets_it_finish_and_says_so(harness, git_repo, engine, clock):
    said: list[tuple[int, str, str]] = []

    def suspend_during_up(operation, request):
        if operation == "up":
            said.append(cli(harness, "suspend", "--environment", "dev", "--by", "carol", "--reason", "freeze now"))

    engine.on_call = suspend_during_up

    outcome = harness.run(harness.job(git_repo.head))

    assert outcome.outcome == "succeeded" and engine.operations == ["preview", "up"]
    assert "it is applying and will finish" in said[0][1]
    assert harness.status().suspension is not None
    assert harness.run(harness.job(git_repo.head)).reason == Reason.SUSPENDED  # the next one is refused


def test_suspend_with_no_converge_running_names_none(harness):
    code, out, _ = cli(harness, "suspend", "--environment", "dev", "--by", "carol", "--reason", "freeze")
    assert code == 0 and "in progress" not in out


# ---------------------------------------------------------------------- M5: the audit write fails


class FailingAuditDouble:
    """TEST DOUBLE for an audit table that cannot be reached (DynamoDB down, credentials expired): no
    AWS here, and the file log cannot be made to fail on one call only. ``fail`` switches it."""

    def __init__(self, inner):
        self.inner, self.fail = inner, True

    def append(self, record):
        if self.fail:
            raise ConnectionError("audit table unreachable")
        return self.inner.append(record)

    def history(self, stack, limit=50):
        return self.inner.history(stack, limit)


@pytest.mark.parametrize("command", ["suspend", "resume"])
def test_a_change_whose_audit_write_fails_changes_nothing_and_a_retry_works(harness, command):
    audit = FailingAuditDouble(harness.audit)
    if command == "resume":
        audit.fail = False
        assert cli(harness, "suspend", "--environment", "dev", "--by", "alice", "--reason", "INC-1", audit=audit)[0] == 0
    before = harness.status()
    notified = len(harness.notifications())
    audit.fail = True

    code, out, err = cli(harness, command, "--environment", "dev", "--by", "mallory", "--reason", "quiet", audit=audit)

    assert code == 1 and "audit table unreachable" in err and "Traceback" not in err
    assert harness.status() == before  # unchanged: still (not) suspended, same version
    assert len(harness.notifications()) == notified

    audit.fail = False
    code, out, err = cli(harness, command, "--environment", "dev", "--by", "mallory", "--reason", "retry", audit=audit)

    assert (code, err) == (0, "")
    assert (harness.status().suspension is None) == (command == "resume")
    expected = EventKind.ENVIRONMENT_RESUMED if command == "resume" else EventKind.ENVIRONMENT_SUSPENDED
    # The fixed clock gives the records one time: found by their notes, not by their order.
    assert [(r.kind, r.note) for r in harness.history() if r.author == "mallory"] == [(expected, "retry")]
    assert len(harness.notifications()) == notified + 1


# ---------------------------------------------------------------------- Low 4: one line of text


@pytest.mark.parametrize("separator", ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\x1b[2J", "\t"])
@pytest.mark.parametrize("option", ["--by", "--reason"])
def test_a_line_break_or_control_character_in_by_or_reason_is_refused_naming_the_option(harness, option, separator):
    values = {"--by": "alice", "--reason": "INC-1"}
    values[option] = f"INC-1{separator}  suspended   no"
    for command in ("suspend", "resume"):
        code, out, err = cli(harness, command, "--environment", "dev", *[part for pair in values.items() for part in pair])
        assert code == 1, (command, err)
        assert option in err and "one line" in err and "Traceback" not in err
    assert harness.status().suspension is None and harness.history() == [] and harness.notifications() == []


def test_a_stored_reason_with_line_breaks_prints_on_one_line(harness, clock):
    # Written before the command line refused them (or by another tool): printed folded, never as rows.
    suspend(harness.states, "dev", "dev", by="alice\u2028  suspended   no", reason="INC-1\r\n  window      open\x85x", now=clock())

    code, out, _ = cli(harness, "status", "--environment", "dev")

    rows = out.splitlines()
    assert out.count("\n") == len(rows) and not any(ch in out for ch in "\r\x85\u2028")
    suspended_rows = [row for row in rows if row.strip().startswith("suspended")]
    assert len(suspended_rows) == 1 and "YES, by alice suspended no since" in " ".join(suspended_rows[0].split())
    assert sum(row.strip().startswith("window") for row in rows) == 1

    code, out, _ = cli(harness, "resume", "--environment", "dev", "--by", "bob", "--reason", "done")
    assert code == 0 and out.count("\n") == 1 and "\x85" not in out and "\u2028" not in out
    note = harness.notifications()[-1]
    assert "\n" not in note["subject"] and "\n" not in note["message"] and "\u2028" not in note["message"]
