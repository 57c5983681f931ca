"""One clock: what ``wiring.build(clock=...)`` is given stamps everything the deployed wiring writes.

A converge's audit record and stack status, the worker's refusals (through ``worker.main``), and
the command line's ``reconcile``, ``approve`` and ``unlock`` (through ``cli.main(components=...)``)
all take their time from ``Components.clock``; the real time is read in one place only
(:func:`reconciler.clock.utc_now`), which the grep guard at the end holds to.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler import cli, wiring
from reconciler.adapters.audit import DynamoAuditLog
from reconciler.adapters.notify import SnsNotifier
from reconciler.adapters.queue import JobQueue
from reconciler.adapters.stack_state import DynamoStackStateStore, Lease, PendingApproval
from reconciler.clock import utc_now
from reconciler.events import Reason
from reconciler.models import Job, PlanSummary, Trigger
from reconciler.settings import EnvironmentSettings, ReconcilerSettings, RepositorySettings
from reconciler.wiring import Components, build
from reconciler.worker import main as worker_main

ROOT = Path(__file__).resolve().parents[2]
# Far from the real date, so a stamp taken from the real clock cannot pass for it.
FAKE_NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake_clock(clock):
    clock.set(FAKE_NOW)
    return clock


def local_settings(git_repo, tmp_path, **environment) -> ReconcilerSettings:
    return ReconcilerSettings(
        repository=RepositorySettings(url=str(git_repo.path), branch="main", image_write_back=False),
        environments={"dev": EnvironmentSettings(stack="dev", suffix="dev", **environment)},
        backend_url=f"file://{tmp_path / 'state' / 'backend'}",
        work_dir=str(tmp_path / "state" / "work"),
    )


def push_job(commit: str, at: datetime) -> Job:
    return Job(
        job_id=Job.make_id("evt-clock-1", "dev"), environment="dev", stack="dev", trigger=Trigger.GIT_PUSH,
        event_id="evt-clock-1", commit=commit, author="Test User", received_at=at,
    )


# --------------------------------------------------------------------------- build


def test_build_uses_the_engine_it_is_given_and_constructs_none(git_repo, tmp_path, engine, monkeypatch):
    def no_engine(*args, **kwargs):
        raise AssertionError("build constructed an AutomationEngine although it was given an engine")

    monkeypatch.setattr(wiring, "AutomationEngine", no_engine)

    components = build(local_settings(git_repo, tmp_path), state_dir=tmp_path / "state", engine=engine)

    assert components.engine is engine
    assert components.converger().engine is engine


def test_without_a_clock_build_uses_the_real_utc_clock(git_repo, tmp_path, engine):
    components = build(local_settings(git_repo, tmp_path), state_dir=tmp_path / "state", engine=engine)

    assert components.clock is utc_now
    assert components.converger().clock is utc_now
    assert abs(components.clock() - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_converge_through_the_built_components_stamps_audit_status_and_lease_with_their_clock(
    git_repo, tmp_path, engine, fake_clock, capsys
):
    components = build(local_settings(git_repo, tmp_path), state_dir=tmp_path / "state", engine=engine, clock=fake_clock)
    commit = git_repo.bump("dev")
    leases: list[Lease] = []
    engine.on_call = lambda operation, request: leases.append(components.states.get("dev").lease)

    outcome = components.converger().converge(push_job(commit, fake_clock()))

    assert outcome.reason == Reason.APPLIED, outcome.message
    [record] = components.audit.history("dev")
    assert (record.started_at, record.finished_at, record.duration_ms) == (FAKE_NOW, FAKE_NOW, 0)
    status = components.states.get("dev")
    assert (status.last_applied_commit, status.last_applied_at) == (commit, FAKE_NOW)
    assert leases and {(lease.acquired_at, lease.heartbeat_at) for lease in leases} == {(FAKE_NOW, FAKE_NOW)}
    # Notifications carry no time of their own (SNS stamps its delivery); the converge's one went out.
    [notification] = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert (notification["jobId"], notification["reason"]) == (record.job_id, Reason.APPLIED.value)


def test_a_converge_waiting_for_approval_records_the_plan_at_the_components_time(git_repo, tmp_path, engine, fake_clock):
    components = build(
        local_settings(git_repo, tmp_path, require_approval=True), state_dir=tmp_path / "state", engine=engine, clock=fake_clock
    )

    outcome = components.converger().converge(push_job(git_repo.bump("dev"), fake_clock()))

    assert outcome.reason == Reason.AWAITING_APPROVAL, outcome.message
    assert components.states.get("dev").pending_approval.requested_at == FAKE_NOW


# --------------------------------------------------------------------------- the worker process


@pytest.fixture
def worker_parts(make_harness, reconciler_aws):
    aws = reconciler_aws
    harness = make_harness(
        states=DynamoStackStateStore(aws.dynamodb, aws.state_table),
        audit=DynamoAuditLog(aws.dynamodb, aws.audit_table),
        notifier=SnsNotifier(aws.sns, aws.topic_arn),
    )
    return harness, aws


@pytest.mark.parametrize("given_to", ["main", "components"])
def test_the_worker_process_stamps_converges_and_refusals_with_one_clock(worker_parts, git_repo, fake_clock, given_to):
    """``worker.main(clock=...)`` or ``Components.clock``: either way the converger and the refusals use it."""
    harness, aws = worker_parts
    extra = {"clock": fake_clock} if given_to == "components" else {}
    built = Components(harness.settings, harness.states, harness.audit, harness.notifier, harness.source, harness.engine,
                       harness.redactor, JobQueue(aws.sqs, aws.queue_url), None, aws.session, **extra)
    commit = git_repo.bump("dev")
    built.queue.send(harness.job(commit))
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody="not a job", MessageGroupId="dev", MessageDeduplicationId="garbage-1")

    code = worker_main(["--once"], components=built, configure_process=False, **({"clock": fake_clock} if given_to == "main" else {}))

    assert code == 0
    records = harness.history()
    assert sorted(r.reason for r in records) == sorted([Reason.APPLIED, Reason.MALFORMED_JOB])
    assert {(r.started_at, r.finished_at) for r in records} == {(FAKE_NOW, FAKE_NOW)}
    assert harness.status().last_applied_at == FAKE_NOW


# --------------------------------------------------------------------------- the command line


def run_cli(components: Components, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out=out, err=err, components=components)
    return code, out.getvalue(), err.getvalue()


def test_cli_reconcile_with_the_callers_components_converges_at_their_time(git_repo, tmp_path, engine, fake_clock):
    components = build(local_settings(git_repo, tmp_path), state_dir=tmp_path / "state", engine=engine, clock=fake_clock)
    commit = git_repo.bump("dev")

    code, out, err = run_cli(components, "reconcile", "--desired-state", str(git_repo.path), "--environment", "dev", "--by", "alice")

    assert (code, err) == (cli.EXIT_OK, ""), out
    assert out.startswith("succeeded: Applied")
    assert engine.operations == ["preview", "up"]
    [record] = components.audit.history("dev")
    assert (record.trigger, record.started_at, record.finished_at) == (Trigger.MANUAL, FAKE_NOW, FAKE_NOW)
    assert components.states.get("dev").last_applied_at == FAKE_NOW
    assert components.states.get("dev").last_applied_commit == commit


def test_cli_approve_stamps_the_approval_with_the_components_clock(git_repo, tmp_path, engine, fake_clock):
    components = build(local_settings(git_repo, tmp_path), state_dir=tmp_path / "state", engine=engine, clock=fake_clock)
    commit = git_repo.bump("dev")
    pending = PendingApproval(
        commit=commit, job_id="j" * 32, desired_state_digest="sha256:" + "0" * 64, plan_digest="sha256:" + "1" * 64,
        plan=PlanSummary(create=1), requested_at=FAKE_NOW - timedelta(hours=1),
    )
    components.states.update("dev", lambda status: status.model_copy(update={"pending_approval": pending}))

    code, out, err = run_cli(components, "approve", "--environment", "dev", "--commit", commit[:10], "--by", "alice")

    assert (code, err) == (cli.EXIT_OK, "")
    approved = components.states.get("dev").pending_approval
    assert (approved.approved_by, approved.approved_at) == ("alice", FAKE_NOW)


def test_cli_unlock_judges_the_lease_by_the_components_clock(git_repo, tmp_path, engine, fake_clock):
    """A lease whose last heartbeat is two hours before the components' now is stale, and cleared;
    by the real clock (years earlier) the same lease would still look fresh and be refused."""
    components = build(local_settings(git_repo, tmp_path), state_dir=tmp_path / "state", engine=engine, clock=fake_clock)
    beat = FAKE_NOW - timedelta(hours=2)
    lease = Lease(holder="gone-worker:1", job_id="k" * 32, acquired_at=beat, heartbeat_at=beat, counter=3, token=1)
    components.states.update("dev", lambda status: status.model_copy(update={"lease": lease, "current_job_id": lease.job_id}))

    code, out, err = run_cli(components, "unlock", "--environment", "dev", "--observe-seconds", "0")

    assert (code, err) == (cli.EXIT_OK, "")
    assert out == "removed 0 lock(s) from dev\n"
    assert components.states.get("dev").lease is None


class WatchDouble:
    """This process's monotonic clock and sleep for ``unlock``'s watch, so the watch takes no real time.

    Each sleep moves the clock on, and the holder's heartbeat lands during the second one.
    """

    def __init__(self, beat):
        self.now = 500.0
        self.sleeps: list[float] = []
        self.beat = beat

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if len(self.sleeps) == 2:
            self.beat()


def test_cli_unlock_watches_the_lease_on_the_components_monotonic_clock(git_repo, tmp_path, engine, fake_clock):
    """A stale-looking lease whose holder beats while ``unlock`` watches is alive: refused, with no real wait."""
    components = build(local_settings(git_repo, tmp_path), state_dir=tmp_path / "state", engine=engine, clock=fake_clock)
    beat = FAKE_NOW - timedelta(hours=2)
    lease = Lease(holder="slow-clock-worker:1", job_id="k" * 32, acquired_at=beat, heartbeat_at=beat, counter=3, token=1)
    components.states.update("dev", lambda status: status.model_copy(update={"lease": lease}))
    watch = WatchDouble(lambda: components.states.update(
        "dev", lambda status: status.model_copy(update={"lease": status.lease.model_copy(update={"counter": 4})})
    ))
    components.monotonic, components.sleep = watch.monotonic, watch.sleep

    code, out, err = run_cli(components, "unlock", "--environment", "dev", "--observe-seconds", "600")

    assert code == cli.EXIT_INVALID
    assert "changed while this command watched it" in err
    assert len(watch.sleeps) == 2 and sum(watch.sleeps) < 600
    assert components.states.get("dev").lease.counter == 4


def test_cli_locks_ages_locks_by_the_components_clock(git_repo, tmp_path, engine, fake_clock):
    components = build(local_settings(git_repo, tmp_path), state_dir=tmp_path / "state", engine=engine, clock=fake_clock)
    folder = tmp_path / "state" / "backend" / ".pulumi" / "locks" / "organization" / "ecs-gitops" / "dev"
    folder.mkdir(parents=True)
    acquired = (FAKE_NOW - timedelta(minutes=90)).isoformat().replace("+00:00", "Z")
    (folder / "old.json").write_text(json.dumps({"pid": 31337, "username": "ci", "hostname": "old-worker", "timestamp": acquired}))

    code, out, err = run_cli(components, "locks", "--environment", "dev")

    assert "90 min old" in out, (out, err)


# --------------------------------------------------------------------------- one place reads the real time

# Reads of the wall clock, and a direct wait or monotonic read, that no test could replace.
UNINJECTABLE_TIME = re.compile(
    r"\b(?:datetime\.(?:now|utcnow|today)|date\.today|time\.time(?:_ns)?)\b|\btime\.(?:monotonic|sleep)\("
)
# path -> why it may read the real time.
ALLOWED = {
    "reconciler/clock.py": "utc_now is the one default clock every component falls back to",
}
SCANNED = ("reconciler", "desired_state", "program", "policies")


def test_the_guard_pattern_catches_real_time_and_leaves_injected_defaults_alone():
    for line in ("clock = lambda: datetime.now(UTC)", "stamp = datetime.utcnow()", "t0 = time.time()", "time.sleep(1)",
                 "field(default_factory=datetime.now)", "held = time.monotonic() - start"):
        assert UNINJECTABLE_TIME.search(line), line
    for line in ("sleep: Callable[[float], None] = time.sleep,", "monotonic: Monotonic = time.monotonic", "now = self.clock()"):
        assert not UNINJECTABLE_TIME.search(line), line


def test_the_real_time_is_read_only_by_the_one_default_clock():
    found = []
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in ALLOWED:
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if UNINJECTABLE_TIME.search(line):
                    found.append(f"{relative}:{number}: {line.strip()}")
    assert found == [], "take the time from an injected clock (reconciler.clock.utc_now as the default):\n" + "\n".join(found)
    assert "datetime.now(UTC)" in (ROOT / "reconciler" / "clock.py").read_text()
