"""``ecs-gitops suspend`` / ``resume``: the suspension in the stack status, the converge guard refusing while
it is in force, one audit record and one notification per change, and no rewrite when nothing changes."""

from __future__ import annotations

import io
import json

import pytest

from reconciler.cli import main
from reconciler.events import EventKind, Phase, Reason
from reconciler.models import Trigger
from reconciler.operations.suspend import resume, suspend, suspension_refusal
from reconciler.settings import EnvironmentSettings
from reconciler.wiring import Components


def components_of(harness) -> Components:
    """The converger's own file stores, notifier and clock, handed to the command line as its components."""
    return Components(
        harness.settings, harness.states, harness.audit, harness.notifier, harness.source, harness.engine, harness.redactor,
        queue=None, locks=None, clock=harness.clock,
    )


def cli(harness, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err, components=components_of(harness))
    return code, out.getvalue(), err.getvalue()


def test_a_suspended_environment_refuses_converges_naming_who_and_why_until_resumed(harness, git_repo, engine, clock):
    suspend(harness.states, "dev", "dev", by="alice", reason="incident INC-42: payments latency", now=clock())

    outcome = harness.run(harness.job(git_repo.head))

    assert (outcome.outcome, outcome.kind, outcome.reason) == ("skipped", EventKind.SKIPPED, Reason.SUSPENDED)
    assert "suspended by alice" in outcome.message and "incident INC-42: payments latency" in outcome.message
    assert "ecs-gitops resume --environment dev" in outcome.message
    assert engine.calls == []
    assert harness.status().lease is None and harness.status().last_applied_commit is None
    record = harness.last_record()
    assert (record.reason, record.last_phase) == (Reason.SUSPENDED, Phase.GUARDS)
    # The other environment is not suspended.
    assert harness.run(harness.job(git_repo.head, environment="prod")).outcome == "succeeded"

    assert resume(harness.states, "dev").changed
    assert harness.run(harness.job(git_repo.head)).outcome == "succeeded"
    assert harness.status().last_applied_commit == git_repo.head


def test_the_settings_suspension_still_refuses_and_says_where_it_comes_from(harness, git_repo, engine):
    harness.configure("dev", suspended=True)
    outcome = harness.run(harness.job(git_repo.head))
    assert outcome.reason == Reason.SUSPENDED
    assert "suspended: true" in outcome.message
    assert engine.calls == []


def test_suspension_refusal_prefers_the_settings_and_is_none_when_nothing_suspends(clock):
    from reconciler.operations.model import Suspension

    runtime = Suspension(by="bob", reason="freeze", at=clock())
    assert suspension_refusal("dev", EnvironmentSettings(stack="dev", suffix="dev"), None) is None
    assert "suspended by bob" in suspension_refusal("dev", EnvironmentSettings(stack="dev", suffix="dev"), runtime)
    assert "settings" in suspension_refusal("dev", EnvironmentSettings(stack="dev", suffix="dev", suspended=True), runtime)


def test_suspend_from_the_command_line_is_stored_audited_and_notified_once(harness, git_repo, clock):
    code, out, err = cli(harness, "suspend", "--environment", "dev", "--by", "alice", "--reason", "quarter-end freeze")

    assert (code, err) == (0, "")
    assert "suspended by alice: quarter-end freeze" in out
    assert "running rollouts keep their ticks and rollback" in out
    suspension = harness.status().suspension
    assert (suspension.by, suspension.reason, suspension.at) == ("alice", "quarter-end freeze", clock())
    records = harness.history()
    assert len(records) == 1
    record = records[0]
    assert (record.kind, record.reason, record.trigger, record.outcome) == (EventKind.ENVIRONMENT_SUSPENDED, Reason.SUSPENDED, Trigger.MANUAL, "succeeded")
    assert (record.author, record.note, record.suspension) == ("alice", "quarter-end freeze", suspension)
    notes = harness.notifications()
    assert len(notes) == 1
    assert (notes[0]["kind"], notes[0]["severity"], notes[0]["environment"]) == ("environment-suspended", "warning", "dev")
    assert notes[0]["by"] == "alice" and notes[0]["why"] == "quarter-end freeze"
    assert "ecs-gitops resume --environment dev" in notes[0]["message"]


def test_suspending_an_already_suspended_environment_says_so_and_rewrites_nothing(harness, git_repo, clock):
    assert cli(harness, "suspend", "--environment", "dev", "--by", "alice", "--reason", "freeze")[0] == 0
    before = harness.status()
    clock.advance(minutes=5)

    code, out, _ = cli(harness, "suspend", "--environment", "dev", "--by", "bob", "--reason", "another reason")

    assert code == 0
    assert "already suspended by alice" in out and "freeze" in out and "nothing changed" in out
    assert harness.status() == before  # same version, same who and why
    assert len(harness.history()) == 1 and len(harness.notifications()) == 1


def test_resume_lifts_the_suspension_audited_and_notified_and_resuming_again_says_so(harness, git_repo, clock):
    cli(harness, "suspend", "--environment", "dev", "--by", "alice", "--reason", "freeze")
    clock.advance(minutes=30)

    code, out, err = cli(harness, "resume", "--environment", "dev", "--by", "bob", "--reason", "incident closed")

    assert (code, err) == (0, "")
    assert "resumed by bob: incident closed" in out and "suspended by alice" in out
    assert harness.status().suspension is None
    newest = harness.history()[0]
    assert (newest.kind, newest.reason, newest.author, newest.note) == (EventKind.ENVIRONMENT_RESUMED, Reason.RESUMED, "bob", "incident closed")
    assert newest.suspension is not None and newest.suspension.by == "alice"  # the suspension it lifted
    assert [n["kind"] for n in harness.notifications()] == ["environment-suspended", "environment-resumed"]

    version = harness.status().version
    code, out, _ = cli(harness, "resume", "--environment", "dev", "--by", "bob", "--reason", "again")
    assert code == 0 and "dev is not suspended; nothing changed" in out
    assert harness.status().version == version
    assert len(harness.history()) == 2 and len(harness.notifications()) == 2


def test_resume_cannot_lift_the_settings_suspension_and_exits_1(harness):
    harness.configure("dev", suspended=True)
    code, out, err = cli(harness, "resume", "--environment", "dev", "--by", "bob", "--reason", "done")
    assert code == 1
    assert "suspended: true" in err and "Traceback" not in err
    assert harness.history() == []


@pytest.mark.parametrize("missing", ["--by", "--reason"])
def test_suspend_needs_who_and_why(harness, missing, capsys):
    argv = {"--environment": "dev", "--by": "alice", "--reason": "freeze"}
    argv.pop(missing)
    with pytest.raises(SystemExit) as exited:
        cli(harness, "suspend", *[part for pair in argv.items() for part in pair])
    assert exited.value.code == 2
    assert missing in capsys.readouterr().err


def test_an_unknown_environment_is_refused_without_a_traceback(harness):
    code, _, err = cli(harness, "suspend", "--environment", "staging", "--by", "alice", "--reason", "x")
    assert code == 1 and "staging" in err and "Traceback" not in err
    assert json.dumps([r.model_dump(mode="json") for r in harness.history()]) == "[]"


class ConcurrentSuspendDouble:
    """TEST DOUBLE for another person's ``ecs-gitops suspend`` landing between the converge guard's read of
    the status and the lease's conditional write: two processes cannot be interleaved at that point here,
    so this file store writes the suspension itself right after the guard's read (its first ``get``)."""

    def __init__(self, store, clock):
        self.store, self.clock, self.reads = store, clock, 0

    def get(self, stack):
        status = self.store.get(stack)
        self.reads += 1
        if self.reads == 1:
            suspend(self.store, stack, stack, by="carol", reason="late freeze", now=self.clock())
        return status

    def __getattr__(self, name):
        return getattr(self.store, name)

    def update(self, stack, change, attempts=5):
        return type(self.store).update(self, stack, change, attempts)


def test_a_suspend_landing_after_the_guard_read_still_stops_the_converge_at_the_lease(harness, git_repo, engine, clock):
    harness.states = ConcurrentSuspendDouble(harness.states, clock)

    outcome = harness.run(harness.job(git_repo.head))

    assert harness.states.reads >= 2  # the guard's read, then the lease's
    assert (outcome.outcome, outcome.reason) == ("skipped", Reason.SUSPENDED)
    assert "suspended by carol" in outcome.message and "late freeze" in outcome.message
    assert engine.calls == [] and harness.status().lease is None
