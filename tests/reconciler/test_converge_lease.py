"""The stack lease does not trust clocks (issue 9): staleness is what a contender observes itself.

Two convergers share one status store, as two worker processes would; each has its own wall
clock, its own monotonic clock (MonotonicClock, moved by the test) and its own memory of leases.
Worker B is started from inside worker A's ``pulumi up`` (the engine double's hook), so B meets
A's lease while A really holds it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from reconciler.adapters.stack_state import StackStatus
from reconciler.errors import ConflictError
from reconciler.events import EventKind, Phase, Reason

WORKER_B = "worker-b:2"


def wait_until(condition, seconds: float = 5.0) -> bool:
    """Real time, for the heartbeat thread to run; the stale interval itself is on the fake monotonic clocks."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


class FailingWritesStore:
    """Wraps the harness's file store; while ``failing`` is set, this worker's writes fail (a network partition)."""

    def __init__(self, inner):
        self.inner = inner
        self.failing = threading.Event()
        self.failed = 0

    def get(self, stack):
        return self.inner.get(stack)

    def put(self, previous, new):
        if self.failing.is_set():
            self.failed += 1
            raise ConflictError("simulated: the state table is unreachable from this worker")
        return self.inner.put(previous, new)

    def update(self, stack, change, attempts=5):
        return type(self.inner).update(self, stack, change, attempts)


def test_a_worker_whose_clock_runs_16_minutes_ahead_does_not_take_a_live_lease(harness, git_repo, make_engine, clock):
    engine_a, engine_b = harness.engine, make_engine()
    converger_a = harness.converger()
    converger_a.heartbeat_seconds = 0.05
    skewed = lambda: clock() + timedelta(minutes=16)  # noqa: E731 - B's wall clock
    seen: dict[str, object] = {}

    def during_a_up(operation, request):
        if operation != "up" or seen:
            return
        converger_b = harness.converger(WORKER_B, clock=skewed, engine=engine_b)
        seen["first"] = converger_b.converge(harness.job(git_repo.head))
        # B waits longer than the stale interval on its own clock, but A's heartbeat keeps moving.
        counter = harness.states.get("dev").lease.counter
        assert wait_until(lambda: harness.states.get("dev").lease.counter > counter), "A's heartbeat never beat"
        harness.monotonic(WORKER_B).advance(16 * 60)
        seen["second"] = converger_b.converge(harness.job(git_repo.head))

    engine_a.on_call = during_a_up
    outcome_a = converger_a.converge(harness.job(git_repo.head))

    for key in ("first", "second"):
        outcome_b = seen[key]
        assert (outcome_b.outcome, outcome_b.kind, outcome_b.reason) == ("waiting", EventKind.STACK_BUSY, Reason.STACK_LOCKED), key
        assert "worker-a:1" in outcome_b.message
    assert engine_b.calls == []  # B never previewed nor applied
    assert (outcome_a.outcome, outcome_a.reason) == ("succeeded", Reason.APPLIED)
    assert engine_a.operations == ["preview", "up"]
    assert harness.status().lease is None


def test_a_holder_whose_heartbeat_stopped_silently_stops_before_its_next_phase(harness, git_repo, make_engine):
    """A's writes fail (its heartbeat stops without a word); B sees the lease unchanged for the stale interval and takes it."""
    engine_a, engine_b = harness.engine, make_engine()
    store_a = FailingWritesStore(harness.states)
    converger_a = harness.converger()
    converger_a.states = store_a
    converger_a.heartbeat_seconds = 0.05
    head = git_repo.bump("dev")
    results: dict[str, object] = {}

    def during_a_up(operation, request):
        if operation != "up" or results:
            return
        store_a.failing.set()
        converger_b = harness.converger(WORKER_B, engine=engine_b)
        results["b-first"] = converger_b.converge(harness.job(head))
        assert wait_until(lambda: store_a.failed >= 3), "A's heartbeat never tried to beat"
        harness.monotonic(WORKER_B).advance(15 * 60)
        results["job-b"] = harness.job(head)
        results["b"] = converger_b.converge(results["job-b"])
        store_a.failing.clear()

    engine_a.on_call = during_a_up
    outcome_a = converger_a.converge(harness.job(head))

    assert results["b-first"].kind == EventKind.STACK_BUSY
    assert (results["b"].outcome, results["b"].reason) == ("succeeded", Reason.APPLIED)
    assert engine_b.operations == ["preview", "up"]
    # A stopped before verify: it neither recorded the apply nor touched B's status.
    assert (outcome_a.outcome, outcome_a.kind, outcome_a.reason) == ("failed", EventKind.CONVERGE_FAILED, Reason.LEASE_LOST)
    assert outcome_a.retry_after_seconds == 60
    assert "taken over" in outcome_a.message or "released" in outcome_a.message
    status = harness.status()
    assert status.lease is None and status.last_applied_commit == head
    assert (status.last_job_id, status.last_outcome) == (results["job-b"].job_id, "succeeded")
    records = {record.reason: record for record in harness.history()}
    assert records[Reason.LEASE_LOST].last_phase == Phase.VERIFY
    assert len([n for n in harness.notifications() if n["reason"] == "LeaseLost"]) == 1


def test_a_heartbeat_that_keeps_failing_for_the_stale_interval_stops_the_holder(harness, git_repo, caplog):
    """Nobody took the stack, but A cannot prove it still holds it: it stops rather than carry on unseen."""
    caplog.set_level(logging.WARNING, logger="ecs_gitops.lease")
    store_a = FailingWritesStore(harness.states)
    converger_a = harness.converger()
    converger_a.states = store_a
    converger_a.heartbeat_seconds = 0.05

    def during_a_up(operation, request):
        if operation != "up" or store_a.failed:
            return
        store_a.failing.set()
        assert wait_until(lambda: store_a.failed >= 2)
        harness.monotonic().advance(15 * 60)
        # The first beat failing after the stale interval gives the lease up (the heartbeat thread logs it).
        assert wait_until(lambda: any(r.getMessage() == "stack lease lost" for r in caplog.records))
        store_a.failing.clear()

    harness.engine.on_call = during_a_up
    outcome = converger_a.converge(harness.job(git_repo.head))

    assert (outcome.outcome, outcome.reason) == ("failed", Reason.LEASE_LOST)
    assert "heartbeat" in outcome.message and "failed for" in outcome.message
    status = harness.status()
    assert status.last_applied_commit is None and status.lease is None  # its own lease, released in finally
    assert harness.last_record().reason == Reason.LEASE_LOST


def test_a_lease_left_by_a_dead_worker_is_taken_after_the_stale_interval_with_a_new_token(harness, git_repo):
    from reconciler.adapters.stack_state import Lease

    dead = Lease(holder="worker-z:9", job_id="j", acquired_at=harness.clock(), heartbeat_at=harness.clock() + timedelta(days=365), counter=7, token=5)
    harness.states.put(StackStatus(stack="dev"), StackStatus(stack="dev", lease=dead, fencing_token=5))

    # A heartbeat stamped a year in the future (a skewed clock) does not keep a dead lease alive either.
    assert harness.run(harness.job(git_repo.head)).kind == EventKind.STACK_BUSY
    harness.monotonic().advance(900)
    assert harness.run(harness.job(git_repo.head)).reason == Reason.APPLIED
    assert harness.status().fencing_token == 6
