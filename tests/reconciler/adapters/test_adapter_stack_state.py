"""Stack status moves only by conditional writes on a version number (DynamoDB and local file)."""

from __future__ import annotations

import threading

import pytest

from reconciler.adapters.stack_state import (
    DynamoStackStateStore,
    FileStackStateStore,
    StackStatus,
)
from reconciler.errors import ConflictError
from reconciler.events import Phase

COMMIT_1 = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
COMMIT_2 = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"


@pytest.fixture(params=["dynamo", "file"])
def store(request, tmp_path):
    if request.param == "dynamo":
        aws = request.getfixturevalue("reconciler_aws")
        return DynamoStackStateStore(aws.dynamodb, aws.state_table)
    return FileStackStateStore(tmp_path / "state")


def test_unknown_stack_reads_as_version_zero(store):
    status = store.get("dev")

    assert status == StackStatus(stack="dev")
    assert status.version == 0


def test_put_increments_the_version_and_reads_back(store):
    first = store.put(store.get("dev"), StackStatus(stack="dev", environment="dev", last_applied_commit=COMMIT_1))
    second = store.put(first, first.model_copy(update={"phase": Phase.PLAN, "current_job_id": "j1"}))

    assert (first.version, second.version) == (1, 2)
    stored = store.get("dev")
    assert stored == second
    assert stored.last_applied_commit == COMMIT_1
    assert stored.phase == Phase.PLAN


def test_put_with_a_stale_version_conflicts_and_keeps_the_stored_item(store):
    v0 = store.get("dev")
    v1 = store.put(v0, StackStatus(stack="dev", last_applied_commit=COMMIT_1))
    v2 = store.put(v1, v1.model_copy(update={"last_applied_commit": COMMIT_2}))

    with pytest.raises(ConflictError, match="changed since version 1 was read"):
        store.put(v1, v1.model_copy(update={"last_outcome": "stale"}))
    with pytest.raises(ConflictError, match="changed since version 0 was read"):
        store.put(v0, StackStatus(stack="dev", last_outcome="stale"))

    assert store.get("dev") == v2
    assert store.get("dev").version == 2


def test_stacks_are_independent(store):
    store.put(store.get("dev"), StackStatus(stack="dev", last_outcome="succeeded"))

    prod = store.put(store.get("prod"), StackStatus(stack="prod", last_outcome="failed"))

    assert prod.version == 1
    assert store.get("dev").last_outcome == "succeeded"
    assert store.get("prod").last_outcome == "failed"


def test_update_retries_after_a_concurrent_writer(store):
    store.put(store.get("dev"), StackStatus(stack="dev", superseded_job_ids=["j0"]))
    calls: list[int] = []

    def change(current: StackStatus) -> StackStatus:
        calls.append(current.version)
        if len(calls) == 1:
            # Another worker moves the stack between our read and our write.
            store.put(current, current.model_copy(update={"superseded_job_ids": [*current.superseded_job_ids, "other"]}))
        return current.model_copy(update={"superseded_job_ids": [*current.superseded_job_ids, "mine"]})

    result = store.update("dev", change)

    assert calls == [1, 2]  # first attempt read v1 and lost; the retry read the other writer's v2
    assert result.version == 3
    assert result.superseded_job_ids == ["j0", "other", "mine"]  # nothing lost
    assert store.get("dev") == result


def test_update_returning_none_leaves_the_item(store):
    written = store.put(store.get("dev"), StackStatus(stack="dev", last_outcome="succeeded"))

    result = store.update("dev", lambda current: None)

    assert result == written
    assert store.get("dev").version == 1


def test_update_gives_up_after_its_attempts(store):
    store.put(store.get("dev"), StackStatus(stack="dev"))
    attempts: list[int] = []

    def always_interfered(current: StackStatus) -> StackStatus:
        attempts.append(current.version)
        store.put(current, current.model_copy(update={"last_outcome": f"other-{current.version}"}))
        return current.model_copy(update={"last_outcome": "mine"})

    with pytest.raises(ConflictError, match="kept changing under 3 attempts"):
        store.update("dev", always_interfered, attempts=3)

    assert attempts == [1, 2, 3]
    assert store.get("dev").version == 4
    assert store.get("dev").last_outcome == "other-3"


def test_two_workers_with_the_same_read_version_exactly_one_wins(store):
    store.put(store.get("dev"), StackStatus(stack="dev"))
    seen_by_a = store.get("dev")
    seen_by_b = store.get("dev")
    outcomes = []
    for name, seen in (("a", seen_by_a), ("b", seen_by_b)):
        try:
            store.put(seen, seen.model_copy(update={"current_job_id": name}))
            outcomes.append(name)
        except ConflictError:
            outcomes.append("conflict")

    assert outcomes == ["a", "conflict"]
    assert store.get("dev").current_job_id == "a"
    assert store.get("dev").version == 2


def test_first_write_race_on_a_new_stack_has_one_winner(store):
    fresh_a, fresh_b = store.get("new"), store.get("new")

    store.put(fresh_a, StackStatus(stack="new", current_job_id="a"))
    with pytest.raises(ConflictError):
        store.put(fresh_b, StackStatus(stack="new", current_job_id="b"))

    assert store.get("new").current_job_id == "a"


def test_file_store_threads_racing_from_one_read_have_exactly_one_winner(tmp_path):
    store = FileStackStateStore(tmp_path)
    store.put(store.get("dev"), StackStatus(stack="dev"))
    workers = 8
    seen = [store.get("dev") for _ in range(workers)]
    barrier = threading.Barrier(workers)
    winners: list[str] = []
    conflicts: list[str] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        barrier.wait()
        try:
            store.put(seen[index], seen[index].model_copy(update={"current_job_id": f"w{index}"}))
            with lock:
                winners.append(f"w{index}")
        except ConflictError:
            with lock:
                conflicts.append(f"w{index}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(winners) == 1
    assert len(conflicts) == workers - 1
    final = store.get("dev")
    assert final.version == 2
    assert final.current_job_id == winners[0]


def test_file_store_threads_using_update_lose_no_change(tmp_path):
    store = FileStackStateStore(tmp_path)
    workers = 6
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        barrier.wait()
        try:
            store.update("dev", lambda current: current.model_copy(update={"superseded_job_ids": [*current.superseded_job_ids, f"w{index}"]}), attempts=50)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == []
    final = store.get("dev")
    assert final.version == workers
    assert sorted(final.superseded_job_ids) == sorted(f"w{i}" for i in range(workers))


def test_the_lease_counter_token_and_fencing_token_round_trip(store):
    from datetime import UTC, datetime

    from reconciler.adapters.stack_state import Lease

    at = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
    lease = Lease(holder="worker-a:1", job_id="j1", acquired_at=at, heartbeat_at=at, counter=7, token=3)
    store.put(store.get("dev"), StackStatus(stack="dev", lease=lease, fencing_token=3))
    stored = store.get("dev")
    assert stored.lease == lease and stored.fencing_token == 3


def test_a_lease_written_before_counters_existed_still_reads():
    old = '{"stack": "dev", "version": 3, "lease": {"holder": "w:1", "jobId": "j", "acquiredAt": "2025-03-05T12:00:00Z", "heartbeatAt": "2025-03-05T12:00:00Z"}}'
    status = StackStatus.model_validate_json(old)
    assert (status.lease.counter, status.lease.token, status.fencing_token) == (0, 0, 0)
