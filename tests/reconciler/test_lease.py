"""The lease rules alone: a contender's own observations decide staleness; the holder's beats are fenced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.adapters.stack_state import FileStackStateStore, Lease, StackStatus
from reconciler.errors import ConflictError, LeaseLostError
from reconciler.lease import HeldLease, LeaseObserver, LeaseTimings, may_take_over

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
STALE = 900.0


def lease(counter: int = 0, token: int = 1, holder: str = "worker-a:1", heartbeat_at: datetime = NOW) -> Lease:
    return Lease(holder=holder, job_id="job-1", acquired_at=NOW, heartbeat_at=heartbeat_at, counter=counter, token=token)


def test_first_sight_never_allows_a_takeover_whatever_the_timestamps_say():
    ancient = lease(heartbeat_at=NOW - timedelta(days=30))
    allowed, seen = may_take_over(None, ancient, now=5000.0, stale_after_seconds=STALE)
    assert not allowed and seen.since == 5000.0


def test_the_same_record_unchanged_for_the_stale_interval_may_be_taken():
    _, seen = may_take_over(None, lease(), 100.0, STALE)
    assert may_take_over(seen, lease(), 100.0 + STALE - 0.001, STALE)[0] is False
    assert may_take_over(seen, lease(), 100.0 + STALE, STALE)[0] is True


@pytest.mark.parametrize("changed", [lease(counter=1), lease(token=2), lease(holder="worker-c:3"), lease().model_copy(update={"job_id": "job-2"})])
def test_any_change_of_holder_job_counter_or_token_restarts_the_wait(changed):
    _, seen = may_take_over(None, lease(), 0.0, STALE)
    allowed, again = may_take_over(seen, changed, 10_000.0, STALE)
    assert not allowed and again.since == 10_000.0


def test_the_record_timestamps_play_no_part():
    _, seen = may_take_over(None, lease(), 0.0, STALE)
    skewed = lease(heartbeat_at=NOW + timedelta(minutes=16))  # same counter, a heartbeat stamp from a fast clock
    assert may_take_over(seen, skewed, STALE, STALE)[0] is True


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 2 * STALE), st.booleans()), min_size=1, max_size=12))
def test_taken_exactly_when_no_beat_was_seen_for_the_stale_interval(steps):
    """Over any sequence of (time passing, holder beat or not), observed at each step: taken iff STALE passed since the last change seen."""
    clock, counter, first_seen_unchanged, seen = 0.0, 0, 0.0, None
    for index, (passed, beat) in enumerate(steps):
        clock += passed
        if beat:
            counter += 1
        if index == 0 or beat:
            first_seen_unchanged = clock  # this observation is the first of the record as it is now
        allowed, seen = may_take_over(seen, lease(counter=counter), clock, STALE)
        assert allowed == (clock - first_seen_unchanged >= STALE and not (index == 0 or beat))


def test_the_observer_remembers_per_stack_and_forgets_on_request():
    clock = [0.0]
    observer = LeaseObserver(lambda: clock[0])
    assert not observer.may_take("dev", lease(), STALE)
    clock[0] = STALE
    assert not observer.may_take("prod", lease(), STALE)  # another stack: a first sight
    assert observer.may_take("dev", lease(), STALE)
    observer.forget("dev")
    assert not observer.may_take("dev", lease(), STALE)


# --------------------------------------------------------------------------- the holder


@pytest.fixture
def held(tmp_path):
    store = FileStackStateStore(tmp_path)
    mine = lease(token=4)
    store.put(StackStatus(stack="dev"), StackStatus(stack="dev", lease=mine, fencing_token=4))
    clock = [0.0]
    held = HeldLease(store, "dev", mine, lambda: NOW, lambda: clock[0], LeaseTimings(stale_after_seconds=STALE, heartbeat_seconds=1))
    return store, held, clock


def test_a_beat_bumps_the_counter(held):
    store, lease_held, _ = held
    lease_held.beat()
    lease_held.beat()
    assert store.get("dev").lease.counter == 2
    lease_held.check()


def test_a_beat_that_finds_another_token_marks_the_lease_lost_and_writes_nothing(held):
    store, lease_held, _ = held
    taken = lease(holder="worker-b:2", token=5)
    store.update("dev", lambda s: s.model_copy(update={"lease": taken, "fencing_token": 5}))
    lease_held.beat()
    assert store.get("dev").lease == taken
    with pytest.raises(LeaseLostError, match="taken over by worker-b:2.*token 5, ours was 4"):
        lease_held.check()


def test_failing_beats_lose_the_lease_only_after_the_stale_interval(held, monkeypatch):
    store, lease_held, clock = held

    def unreachable(*args, **kwargs):
        raise ConflictError("simulated outage")

    monkeypatch.setattr(store, "put", unreachable)
    clock[0] = STALE - 1
    lease_held.beat()
    lease_held.check()  # still ours: one missed beat is not a lost lease
    clock[0] = STALE
    lease_held.beat()
    with pytest.raises(LeaseLostError, match="failed for 900s"):
        lease_held.check()


def test_fenced_writes_refuse_once_the_lease_is_gone(held):
    store, lease_held, _ = held
    store.update("dev", lambda s: s.model_copy(update={"lease": None}))
    with pytest.raises(LeaseLostError, match="released"):
        lease_held.update(lambda s: s.model_copy(update={"last_applied_commit": "f" * 40}))
    assert store.get("dev").last_applied_commit is None
