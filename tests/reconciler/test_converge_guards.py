"""Guards before any phase: suspended, change window (and its audited override), the worker lease."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from reconciler.adapters.stack_state import Lease, StackStatus
from reconciler.events import EventKind, Phase, Reason
from reconciler.models import WindowOverride
from reconciler.settings import ChangeWindow

MARKET_HOURS = ChangeWindow(
    kind="deny", days=("mon", "tue", "wed", "thu", "fri"), start=time(9, 30), end=time(16, 0), timezone="America/New_York"
)
# Wednesday 2025-03-05 15:00 UTC is 10:00 EST, inside market hours; 16:00 EST is 21:00 UTC.
INSIDE_MARKET_HOURS = datetime(2025, 3, 5, 15, 0, tzinfo=UTC)
MARKET_CLOSE = datetime(2025, 3, 5, 21, 0, tzinfo=UTC)


def test_suspended_environment_is_skipped_without_engine_or_lease(harness, git_repo, engine):
    harness.configure("dev", suspended=True)
    outcome = harness.run(harness.job(git_repo.head))

    assert (outcome.outcome, outcome.reason, outcome.kind) == ("skipped", Reason.SUSPENDED, EventKind.SKIPPED)
    assert engine.calls == []
    assert all(s.lease is None for s in harness.states.written)
    status = harness.status()
    assert status.lease is None and status.last_applied_commit is None and status.last_outcome == "skipped"
    records, notes = harness.history(), harness.notifications()
    assert len(records) == 1 and len(notes) == 1
    assert records[0].reason == Reason.SUSPENDED and records[0].last_phase == Phase.GUARDS
    assert notes[0]["kind"] == "skipped" and notes[0]["reason"] == "Suspended"


def test_inside_a_deny_window_the_job_waits_until_it_closes(harness, git_repo, engine, clock):
    harness.configure("dev", windows=(MARKET_HOURS,))
    clock.set(INSIDE_MARKET_HOURS)
    outcome = harness.converger().converge(harness.job(git_repo.head))

    assert (outcome.outcome, outcome.reason, outcome.kind) == ("waiting", Reason.OUTSIDE_WINDOW, EventKind.WAITING_FOR_WINDOW)
    assert outcome.retry_after_seconds == int((MARKET_CLOSE - INSIDE_MARKET_HOURS).total_seconds()) == 6 * 3600
    assert "deny" in outcome.message and "America/New_York" in outcome.message
    assert "waiting until 2025-03-05T16:00:00-05:00" in outcome.message
    assert engine.calls == []
    assert harness.status().lease is None
    record = harness.last_record()
    assert record.outcome == "waiting" and record.window_override is None
    assert harness.notifications()[0]["kind"] == "waiting-for-window"


def test_inside_market_hours_in_summer_time_the_wait_follows_dst(harness, git_repo, clock):
    harness.configure("dev", windows=(MARKET_HOURS,))
    clock.set(datetime(2025, 7, 2, 14, 0, tzinfo=UTC))  # 10:00 EDT
    outcome = harness.converger().converge(harness.job(git_repo.head))
    assert outcome.reason == Reason.OUTSIDE_WINDOW
    assert outcome.retry_after_seconds == 6 * 3600  # closes 16:00 EDT = 20:00 UTC


def test_window_override_proceeds_and_is_audited(harness, git_repo, engine, clock):
    harness.configure("dev", windows=(MARKET_HOURS,))
    clock.set(INSIDE_MARKET_HOURS)
    override = WindowOverride(by="alice", reason="INC-4711 hotfix")
    outcome = harness.run(harness.job(git_repo.head, window_override=override))

    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.APPLIED)
    assert engine.operations == ["preview", "up"]
    record = harness.last_record()
    assert record.window_override == override
    details = harness.notifications()[0]["details"]["windowOverride"]
    assert details["by"] == "alice" and details["reason"] == "INC-4711 hotfix" and "deny" in details["window"]


def test_outside_the_window_the_job_runs(harness, git_repo, clock):
    harness.configure("dev", windows=(MARKET_HOURS,))
    clock.set(MARKET_CLOSE + timedelta(minutes=1))
    assert harness.run(harness.job(git_repo.head)).outcome == "succeeded"


def test_fresh_lease_of_another_worker_makes_the_job_wait(harness, git_repo, engine, clock):
    other = Lease(holder="worker-b:7", job_id="other-job", acquired_at=clock() - timedelta(minutes=5), heartbeat_at=clock() - timedelta(minutes=5))
    harness.states.put(StackStatus(stack="dev"), StackStatus(stack="dev", lease=other, current_job_id="other-job", phase=Phase.APPLY))

    outcome = harness.run(harness.job(git_repo.head))

    assert (outcome.outcome, outcome.reason) == ("waiting", Reason.STACK_LOCKED)
    assert outcome.retry_after_seconds == 60
    assert engine.calls == []
    status = harness.status()
    assert status.lease == other and status.current_job_id == "other-job" and status.phase == Phase.APPLY
    assert len(harness.history()) == 1 and harness.last_record().reason == Reason.STACK_LOCKED


def test_stale_lease_is_taken_over_only_after_this_worker_saw_it_unchanged_for_the_stale_interval(harness, git_repo, engine, clock):
    """Staleness is what this worker observed itself (client-go's observed record), not the record's timestamps."""
    stale_at = clock() - timedelta(minutes=16)
    gone = Lease(holder="worker-b:7", job_id="other-job", acquired_at=stale_at, heartbeat_at=stale_at, counter=4, token=3)
    harness.states.put(StackStatus(stack="dev"), StackStatus(stack="dev", lease=gone, fencing_token=3, current_job_id="other-job", phase=Phase.APPLY))

    first = harness.run(harness.job(git_repo.head))
    assert (first.outcome, first.kind, first.retry_after_seconds) == ("waiting", EventKind.STACK_BUSY, 60)
    assert engine.calls == [] and harness.status().lease == gone

    harness.monotonic().advance(899)
    assert harness.run(harness.job(git_repo.head)).outcome == "waiting"
    harness.monotonic().advance(1)
    outcome = harness.run(harness.job(git_repo.head))

    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.APPLIED)
    taken = next(s for s in harness.states.written if s.phase == Phase.GUARDS and s.lease and s.lease.holder == harness.worker_id)
    assert taken.lease.token == 4 and taken.fencing_token == 4  # a new fencing token for the new holder
    assert harness.notifications()[-1]["details"]["tookOverFrom"] == {"holder": "worker-b:7", "jobId": "other-job", "fencingNumber": 3}
    taken = next(s for s in harness.states.written if s.phase == Phase.GUARDS)
    assert taken.lease.holder == harness.worker_id
    status = harness.status()
    assert status.lease is None and status.last_applied_commit == git_repo.head


def test_the_lease_heartbeat_runs_while_a_long_engine_call_is_in_progress(make_harness, git_repo):
    """unlock treats a lease without a heartbeat for 15 minutes as abandoned; a long apply must keep beating."""
    import threading


    harness = make_harness()
    converger = harness.converger()
    converger.heartbeat_seconds = 0.01
    beats: list[object] = []
    released = threading.Event()
    original_up = harness.engine.up

    def slow_up(request):
        # While "pulumi up" runs, the stored lease's heartbeat must move.
        first = harness.states.get(request.stack).lease.heartbeat_at
        for _ in range(200):
            harness.clock.advance(seconds=30)
            lease = harness.states.get(request.stack).lease
            if lease is not None and lease.heartbeat_at != first:
                beats.append(lease.heartbeat_at)
                break
            released.wait(0.01)
        return original_up(request)

    harness.engine.up = slow_up
    outcome = converger.converge(harness.job(commit=git_repo.head))
    assert outcome.outcome == "succeeded"
    assert beats, "the lease heartbeat never moved during the apply"
    assert harness.states.get("dev").lease is None
