"""Stack locks of a DIY backend: reported with holder and age, removed only when nobody can hold them."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.adapters.stack_state import FileStackStateStore, Lease
from reconciler.errors import ReconcilerError
from reconciler.locks import FileLockStore, S3LockStore, lock_prefix, lock_store_for, parse_lock, stuck_locks, unlock

NOW = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
STALE = timedelta(minutes=15)


def write_lock(root: Path, stack: str, name: str, *, pid: int, host: str, at: datetime, project: str = "ecs-gitops") -> Path:
    folder = root / lock_prefix(project, stack)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"pid": pid, "username": "ci", "hostname": host, "timestamp": at.isoformat().replace("+00:00", "Z")}))
    return path


def test_locks_are_listed_with_holder_and_age_and_only_old_ones_are_stuck(tmp_path):
    write_lock(tmp_path, "prod", "old", pid=4242, host="build-7", at=NOW - timedelta(hours=3))
    write_lock(tmp_path, "prod", "new", pid=4243, host="build-8", at=NOW - timedelta(minutes=5))
    store = FileLockStore(tmp_path)
    locks = {lock.key.rsplit("/", 1)[-1]: lock for lock in store.list("ecs-gitops", "prod")}
    assert locks["old.json"].holder == "ci@build-7 (pid 4242)"
    assert locks["old.json"].age(NOW) == timedelta(hours=3)
    stuck = stuck_locks(store, "ecs-gitops", "prod", NOW, timedelta(minutes=60))
    assert [lock.holder for lock in stuck] == ["ci@build-7 (pid 4242)"]
    assert store.list("ecs-gitops", "dev") == []


def test_a_file_that_is_not_a_lock_is_reported_not_guessed():
    with pytest.raises(ReconcilerError, match="is not a Pulumi lock file"):
        parse_lock(".pulumi/locks/organization/p/s/x.json", b"{not json")


def test_unlock_refuses_while_a_worker_lease_is_fresh(tmp_path):
    write_lock(tmp_path / "backend", "prod", "l1", pid=99999999, host="gone-host", at=NOW - timedelta(hours=2))
    states = FileStackStateStore(tmp_path / "status")
    lease = Lease(holder="worker-b:7", job_id="job-9", acquired_at=NOW - timedelta(hours=2), heartbeat_at=NOW - timedelta(minutes=1))
    states.update("prod", lambda s: s.model_copy(update={"lease": lease}))
    with pytest.raises(ReconcilerError, match="worker worker-b:7 holds it for job job-9"):
        unlock(FileLockStore(tmp_path / "backend"), states, "ecs-gitops", "prod", NOW, STALE)
    assert len(FileLockStore(tmp_path / "backend").list("ecs-gitops", "prod")) == 1


def test_unlock_refuses_while_the_holder_runs_on_this_host(tmp_path):
    write_lock(tmp_path, "prod", "mine", pid=os.getpid(), host=socket.gethostname(), at=NOW - timedelta(hours=2))
    with pytest.raises(ReconcilerError, match="is still running on this host"):
        unlock(FileLockStore(tmp_path), FileStackStateStore(tmp_path / "status"), "ecs-gitops", "prod", NOW, STALE)


def test_unlock_removes_abandoned_locks_and_clears_a_stale_lease(tmp_path):
    write_lock(tmp_path / "backend", "prod", "l1", pid=99999999, host="gone-host", at=NOW - timedelta(hours=2))
    states = FileStackStateStore(tmp_path / "status")
    lease = Lease(holder="worker-b:7", job_id="job-9", acquired_at=NOW - timedelta(hours=2), heartbeat_at=NOW - timedelta(minutes=20))
    states.update("prod", lambda s: s.model_copy(update={"lease": lease, "current_job_id": "job-9"}))
    removed = unlock(FileLockStore(tmp_path / "backend"), states, "ecs-gitops", "prod", NOW, STALE)
    assert [lock.holder for lock in removed] == ["ci@gone-host (pid 99999999)"]
    assert FileLockStore(tmp_path / "backend").list("ecs-gitops", "prod") == []
    assert (states.get("prod").lease, states.get("prod").current_job_id) == (None, None)


def test_s3_backend_locks(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="state-bucket")
    key = "stacks/" + lock_prefix("ecs-gitops", "prod") + "abc.json"
    s3.put_object(Bucket="state-bucket", Key=key, Body=json.dumps({"pid": 1, "username": "ci", "hostname": "h", "timestamp": "2026-11-25T17:00:00Z"}))
    store = lock_store_for("s3://state-bucket/stacks?region=us-east-1", s3)
    assert isinstance(store, S3LockStore)
    [lock] = store.list("ecs-gitops", "prod")
    assert (lock.key, lock.age(NOW)) == (key, timedelta(hours=3))
    store.delete(lock)
    assert store.list("ecs-gitops", "prod") == []


def test_backends_without_lock_files_are_refused_with_the_alternative():
    assert isinstance(lock_store_for("file:///tmp/backend"), FileLockStore)
    with pytest.raises(ReconcilerError, match="pulumi cancel"):
        lock_store_for("https://api.pulumi.com")


def test_a_converge_blocked_by_a_stuck_lock_reports_its_holder_and_age(make_harness, git_repo, tmp_path):
    from reconciler.events import EventKind

    harness = make_harness()
    write_lock(tmp_path / "locks", "dev", "stuck", pid=31337, host="old-worker", at=harness.clock() - timedelta(hours=2))
    harness.engine.fail_with_lock("preview")
    converger = harness.converger()
    converger.locks = FileLockStore(tmp_path / "locks")
    outcome = converger.converge(harness.job(git_repo.head))
    assert outcome.kind == EventKind.STUCK_LOCK
    assert "ci@old-worker (pid 31337), 120 minutes old" in outcome.message
    assert "ecs-gitops unlock --environment dev" in outcome.message


def test_an_s3_backend_lock_store_uses_the_region_in_the_backend_url(monkeypatch):
    """Pulumi's backend URL names the bucket's region; an empty AWS_REGION must not break the client."""
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(variable, "")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    store = lock_store_for("s3://example-ecs-gitops-state?region=eu-west-1")
    assert isinstance(store, S3LockStore)
    assert store.bucket == "example-ecs-gitops-state" and store.prefix == ""
    assert store._s3.meta.region_name == "eu-west-1"


class WatchClockDouble:
    """This machine's monotonic clock and sleep for unlock's watch, with no real waiting.

    ``during_sleep`` runs each time unlock waits: it is where another worker's heartbeat lands.
    """

    def __init__(self, during_sleep=lambda: None):
        self.now = 1000.0
        self.during_sleep = during_sleep
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds
        self.during_sleep()


def _old_looking_lease(states, counter=7):
    # The holder's clock runs 20 minutes behind this machine's: its fresh beats look stale here.
    lease = Lease(holder="worker-b:7", job_id="job-9", acquired_at=NOW - timedelta(hours=2), heartbeat_at=NOW - timedelta(minutes=20), counter=counter)
    states.update("prod", lambda s: s.model_copy(update={"lease": lease, "current_job_id": "job-9"}))
    return lease


def test_unlock_refuses_a_lease_whose_heartbeat_moves_while_it_watches_whatever_its_timestamp(tmp_path):
    write_lock(tmp_path / "backend", "prod", "l1", pid=99999999, host="gone-host", at=NOW - timedelta(hours=2))
    states = FileStackStateStore(tmp_path / "status")
    _old_looking_lease(states)

    def beat():
        states.update("prod", lambda s: s.model_copy(update={"lease": s.lease.model_copy(update={"counter": s.lease.counter + 1})}))

    clock = WatchClockDouble(during_sleep=beat)
    with pytest.raises(ReconcilerError, match="changed while this command watched it"):
        unlock(FileLockStore(tmp_path / "backend"), states, "ecs-gitops", "prod", NOW, STALE,
               observe_seconds=125, monotonic=clock.monotonic, sleep=clock.sleep)
    assert len(FileLockStore(tmp_path / "backend").list("ecs-gitops", "prod")) == 1
    assert states.get("prod").lease is not None


def test_unlock_clears_a_lease_that_holds_still_for_the_whole_watch(tmp_path):
    write_lock(tmp_path / "backend", "prod", "l1", pid=99999999, host="gone-host", at=NOW - timedelta(hours=2))
    states = FileStackStateStore(tmp_path / "status")
    _old_looking_lease(states)
    clock = WatchClockDouble()

    removed = unlock(FileLockStore(tmp_path / "backend"), states, "ecs-gitops", "prod", NOW, STALE,
                     observe_seconds=125, monotonic=clock.monotonic, sleep=clock.sleep)

    assert [lock.holder for lock in removed] == ["ci@gone-host (pid 99999999)"]
    assert clock.slept >= 125
    assert states.get("prod").lease is None
