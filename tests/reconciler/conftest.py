"""Fixtures for the reconciler's converge side: a real git repo, an engine test double, a settable clock.

Everything here is handed to tests through fixtures (tests/ has no ``__init__.py``, so test
modules do not import this file by name).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from desired_state.loader import EXAMPLE_DIR
from desired_state.naming import ALB_FACING_SERVICES
from desired_state.traffic import TrafficState
from reconciler.adapters.audit import FileAuditLog
from reconciler.adapters.notify import StreamNotifier
from reconciler.adapters.stack_state import (
    FileStackStateStore,
    StackStateStore,
    StackStatus,
)
from reconciler.converge import ConvergeOutcome, Converger
from reconciler.engine import EngineResult, StackRequest
from reconciler.errors import EngineError, StackLockedError
from reconciler.lease import LeaseObserver
from reconciler.events import EventKind, Phase, Reason
from reconciler.models import AuditRecord, Job, PlanSummary, Trigger
from reconciler.redact import Redactor
from reconciler.settings import (
    EnvironmentSettings,
    ReconcilerSettings,
    RepositorySettings,
)
from reconciler.source import GitSource

AUTHOR_NAME = "Test User"
AUTHOR_EMAIL = "test@example.com"
START = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)  # a Wednesday, 07:00 in New York


# --------------------------------------------------------------------------- clock


class FixedClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("the test clock needs a timezone-aware datetime")
        self.now = now

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


class MonotonicClock:
    """A worker's own monotonic clock (seconds), moved only by the test; each worker gets its own."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


# --------------------------------------------------------------------------- git repo


def _run_git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


class GitRepo:
    """A real desired-state repository in tmp_path, with helpers to commit changes."""

    def __init__(self, path: Path):
        self.path = path
        self._bumps = 0

    def git(self, *args: str) -> str:
        return _run_git(self.path, *args)

    @property
    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def file(self, environment: str) -> Path:
        return self.path / "environments" / f"{environment}.yaml"

    def commit_all(self, message: str, sign: bool = False) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", *(["-S"] if sign else ["--no-gpg-sign"]), "-m", message)
        return self.head

    def replace(self, environment: str, old: str, new: str, message: str | None = None, sign: bool = False) -> str:
        """Replace the first ``old`` in the environment's YAML with ``new``, commit, return the new SHA."""
        path = self.file(environment)
        text = path.read_text()
        if old not in text:
            raise AssertionError(f"{old!r} not in {path}")
        path.write_text(text.replace(old, new, 1))
        return self.commit_all(message or f"{environment}: {old} -> {new}", sign=sign)

    def bump(self, environment: str = "dev", sign: bool = False) -> str:
        """A valid change (the frontend image tag moves on), committed; returns the new SHA."""
        self._bumps += 1
        path = self.file(environment)
        text, count = re.subn(
            r'(image: \{repository: frontend, tag: ")[^"]+(")', rf"\g<1>1.5.{self._bumps}\g<2>", path.read_text(), count=1
        )
        assert count == 1
        path.write_text(text)
        return self.commit_all(f"{environment}: frontend 1.5.{self._bumps}", sign=sign)

    def line_of(self, environment: str, needle: str) -> int:
        for number, line in enumerate(self.file(environment).read_text().splitlines(), start=1):
            if needle in line:
                return number
        raise AssertionError(f"{needle!r} not in {environment}.yaml")


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    """``environments/{dev,prod}.yaml`` from the bundled example, committed on ``main``."""
    path = tmp_path / "desired-state"
    (path / "environments").mkdir(parents=True)
    for source in sorted((EXAMPLE_DIR / "environments").glob("*.yaml")):
        shutil.copy(source, path / "environments" / source.name)
    _run_git(path, "init", "-q", "-b", "main")
    for key, value in {"user.name": AUTHOR_NAME, "user.email": AUTHOR_EMAIL, "commit.gpgsign": "false", "tag.gpgsign": "false"}.items():
        _run_git(path, "config", key, value)
    repo = GitRepo(path)
    repo.commit_all("initial desired state")
    return repo



@pytest.fixture
def origin(git_repo: GitRepo, tmp_path: Path) -> Path:
    """A bare clone of ``git_repo``: the desired-state repo as a git host holds it (write-back pushes here)."""
    bare = tmp_path / "desired-state-origin.git"
    _run_git(tmp_path, "clone", "-q", "--bare", str(git_repo.path), str(bare))
    return bare


# --------------------------------------------------------------------------- engine double


DEFAULT_SUMMARY = PlanSummary(
    create=2,
    update=1,
    same=40,
    resources={"create": ["svc-frontend-green-dev", "tg-frontend-green-dev"], "update": ["svc-frontend-blue-dev"]},
)


class EngineDouble:
    """TEST DOUBLE for :class:`reconciler.engine.AutomationEngine`.

    It stands in for the Pulumi CLI, which is not installed here, so the real engine cannot run.
    It records every call (operation + :class:`StackRequest`), answers with :class:`EngineResult`
    objects carrying a configurable :class:`PlanSummary`, and on ``up`` returns the outputs the
    converger verifies: ``albDnsName``, ``clusterArn``, ``serviceArns`` and ``liveColours`` (the
    latter taken from the request's ``ecs-gitops:trafficState`` config, as the real program does).
    ``fail(operation, exc)`` makes an operation raise (``EngineError``, ``StackLockedError`` or
    anything else); ``available()`` reports whether "the CLI" is there.
    """

    def __init__(self, summary: PlanSummary = DEFAULT_SUMMARY, version: str = "3.0.0-double"):
        self.summary = summary
        self.version = version
        self.calls: list[tuple[str, StackRequest]] = []
        self.failures: dict[str, BaseException] = {}
        self.is_available = True
        self.output_overrides: dict[str, Any] = {}
        self.drop_outputs: set[str] = set()
        self.on_call: Callable[[str, StackRequest], None] | None = None
        # What a refreshed preview reports as changed (StepEventMetadata objects built from the SDK's classes).
        self.refresh_steps: tuple[Any, ...] = ()

    # --- configuring
    def fail(self, operation: str, exc: BaseException) -> None:
        self.failures[operation] = exc

    def fail_with_engine_error(self, operation: str, message: str = "aws:ecs:Service svc-frontend-blue-dev: creating failed") -> None:
        self.fail(operation, EngineError(f"pulumi {operation} failed: {message}"))

    def fail_with_lock(self, operation: str) -> None:
        self.fail(operation, StackLockedError("stack dev is locked by another update after 5 attempts; it was not forced"))

    # --- inspecting
    @property
    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]

    def requests(self, operation: str) -> list[StackRequest]:
        return [request for op, request in self.calls if op == operation]

    # --- the Engine protocol
    def available(self) -> bool:
        return self.is_available

    def _call(self, operation: str, request: StackRequest) -> None:
        self.calls.append((operation, request))
        if self.on_call is not None:
            self.on_call(operation, request)
        failure = self.failures.get(operation)
        if failure is not None:
            raise failure

    def _outputs(self, request: StackRequest) -> dict[str, Any]:
        environment = request.config.get("ecs-gitops:environment", request.stack)
        traffic = TrafficState.model_validate_json(request.config.get("ecs-gitops:trafficState", "{}"))
        outputs: dict[str, Any] = {
            "albDnsName": f"alb-{environment}-1234567890.us-east-1.elb.amazonaws.com",
            "clusterArn": f"arn:aws:ecs:us-east-1:123456789012:cluster/ecs-cluster-{environment}",
            "serviceArns": {
                name: f"arn:aws:ecs:us-east-1:123456789012:service/ecs-cluster-{environment}/svc-{name}-{environment}"
                for name in ("frontend", "api-gateway", "processing-service")
            },
            "liveColours": {service: traffic.of(service).live_colour for service in ALB_FACING_SERVICES},
        }
        outputs.update(self.output_overrides)
        for key in self.drop_outputs:
            outputs.pop(key, None)
        return outputs

    def preview(self, request: StackRequest) -> EngineResult:
        self._call("preview", request)
        return EngineResult("preview", self.summary, {}, (), self.version, steps=self.refresh_steps if request.refresh else ())

    def up(self, request: StackRequest) -> EngineResult:
        self._call("up", request)
        return EngineResult("up", self.summary, self._outputs(request), (), self.version)

    def refresh(self, request: StackRequest) -> EngineResult:
        self._call("refresh", request)
        return EngineResult("refresh", PlanSummary(same=self.summary.same), {}, (), self.version)

    def outputs(self, stack: str) -> Mapping[str, Any]:
        self._call("outputs", StackRequest(stack=stack, config={}))
        return self._outputs(StackRequest(stack=stack, config={}))

    def destroy(self, request: StackRequest) -> EngineResult:
        self._call("destroy", request)
        return EngineResult("destroy", PlanSummary(delete=self.summary.same), {}, (), self.version)


@pytest.fixture
def engine() -> EngineDouble:
    return EngineDouble()


@pytest.fixture
def make_engine() -> Callable[..., EngineDouble]:
    return EngineDouble


# --------------------------------------------------------------------------- stores


class PhaseRecordingStore(FileStackStateStore):
    """A file store that remembers every status it wrote (to see phases saved in order)."""

    def __init__(self, directory: Path):
        super().__init__(directory)
        self.written: list[StackStatus] = []

    def put(self, previous: StackStatus, new: StackStatus) -> StackStatus:
        written = super().put(previous, new)
        self.written.append(written)
        return written

    def phases(self) -> list[str]:
        seen: list[str] = []
        for status in self.written:
            phase = status.phase.value if status.phase else None
            if phase and (not seen or seen[-1] != phase):
                seen.append(phase)
        return seen


# --------------------------------------------------------------------------- a converger over the temp repo


# prod is a production environment, as its desired state says; signing is tested on its own.
CLASS_DEFAULTS: dict[str, dict[str, Any]] = {"prod": {"production": True, "require_signed_commits": False}}


def environment_settings(name: str, **overrides: Any) -> EnvironmentSettings:
    return EnvironmentSettings(stack=name, suffix=name, **{**CLASS_DEFAULTS.get(name, {}), **overrides})


@dataclass
class Harness:
    """A Converger wired to the temp repo, file stores, a StreamNotifier into a StringIO and the engine double."""

    repo: GitRepo
    root: Path
    engine: EngineDouble
    clock: FixedClock
    env_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    redactor: Redactor = field(default_factory=Redactor)
    stream: io.StringIO = field(default_factory=io.StringIO)
    states: StackStateStore | None = None
    audit: Any = None
    notifier: Any = None
    worker_id: str = "worker-a:1"
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    _source: GitSource | None = None
    _events: int = 0
    # Each worker process has its own monotonic clock and its own memory of the leases it saw.
    monotonic_clocks: dict[str, MonotonicClock] = field(default_factory=dict)
    lease_observers: dict[str, LeaseObserver] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.states = self.states or PhaseRecordingStore(self.root / "status")
        self.audit = self.audit or FileAuditLog(self.root / "audit")
        self.notifier = self.notifier or StreamNotifier(self.stream)

    # settings
    def configure(self, environment: str, **overrides: Any) -> None:
        self.env_overrides[environment] = {**self.env_overrides.get(environment, {}), **overrides}

    @property
    def settings(self) -> ReconcilerSettings:
        return ReconcilerSettings(
            # These tests converge; rollouts and their write-back commits are tested elsewhere.
            repository=RepositorySettings(url=str(self.repo.path), branch="main", image_write_back=False),
            environments={name: environment_settings(name, **self.env_overrides.get(name, {})) for name in ("dev", "prod")},
            backend_url=f"file://{self.root / 'backend'}",
            work_dir=str(self.root / "work"),
            **self.settings_overrides,
        )

    @property
    def source(self) -> GitSource:
        if self._source is None:
            self._source = GitSource(str(self.repo.path), "main", self.root / "work")
        return self._source

    def monotonic(self, worker_id: str | None = None) -> MonotonicClock:
        return self.monotonic_clocks.setdefault(worker_id or self.worker_id, MonotonicClock())

    def converger(self, worker_id: str | None = None, clock: Callable[[], datetime] | None = None, engine: Any = None) -> Converger:
        worker = worker_id or self.worker_id
        monotonic = self.monotonic(worker)
        return Converger(
            settings=self.settings,
            states=self.states,
            source=self.source,
            engine=engine or self.engine,
            audit=self.audit,
            notifier=self.notifier,
            redactor=self.redactor,
            clock=clock or self.clock,
            worker_id=worker,
            monotonic=monotonic,
            lease_observer=self.lease_observers.setdefault(worker, LeaseObserver(monotonic)),
        )

    # jobs
    def job(self, commit: str | None = None, environment: str = "dev", trigger: Trigger = Trigger.GIT_PUSH, **extra: Any) -> Job:
        self._events += 1
        event_id = extra.pop("event_id", f"evt-{self._events:04d}")
        return Job(
            job_id=Job.make_id(event_id, environment),
            environment=environment,
            stack=environment,
            trigger=trigger,
            event_id=event_id,
            commit=commit,
            author=extra.pop("author", AUTHOR_NAME),
            received_at=self.clock(),
            **extra,
        )

    def run(self, job: Job, attempt: int = 1) -> ConvergeOutcome:
        """Converge ``job`` as a fresh worker would see the repo (the mirror is re-fetched first)."""
        self.source.refresh()
        try:
            return self.converger().converge(job, attempt=attempt)
        finally:
            self.clock.advance(minutes=1)

    # what came out
    def status(self, environment: str = "dev") -> StackStatus:
        assert self.states is not None
        return self.states.get(environment)

    def history(self, environment: str = "dev") -> list[AuditRecord]:
        return self.audit.history(environment)

    def notifications(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]

    def last_record(self, environment: str = "dev") -> AuditRecord:
        return self.history(environment)[0]


@pytest.fixture
def harness(git_repo: GitRepo, tmp_path: Path, engine: EngineDouble, clock: FixedClock) -> Harness:
    return Harness(repo=git_repo, root=tmp_path / "reconciler", engine=engine, clock=clock)


@pytest.fixture
def make_harness(git_repo: GitRepo, tmp_path: Path, clock: FixedClock) -> Callable[..., Harness]:
    """A harness with other stores/notifier (e.g. the DynamoDB ones on moto)."""

    def _make(**kwargs: Any) -> Harness:
        kwargs.setdefault("engine", EngineDouble())
        return Harness(repo=git_repo, root=tmp_path / "reconciler", clock=clock, **kwargs)

    return _make


@pytest.fixture
def sns_inbox(read_notifications: Callable[[Any, str], list[dict[str, Any]]], reconciler_aws: Any) -> Callable[[], list[dict[str, Any]]]:
    """Read what SNS delivered to the test inbox."""
    return lambda: read_notifications(reconciler_aws.sqs, reconciler_aws.inbox_url)


AUDIT_FINISHED_AT = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def audit_record() -> Callable[..., AuditRecord]:
    """An AuditRecord for one finished job; ``minutes`` shifts its finish time."""

    def _make(stack: str = "dev", job_id: str = "a" * 32, minutes: int = 0, attempt: int = 1, **overrides: Any) -> AuditRecord:
        finished = AUDIT_FINISHED_AT + timedelta(minutes=minutes)
        fields: dict[str, Any] = {
            "stack": stack,
            "job_id": job_id,
            "attempt": attempt,
            "environment": stack,
            "trigger": Trigger.GIT_PUSH,
            "event_id": f"github:{job_id}",
            "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "author": "janedoe",
            "desired_state_digest": "sha256:" + "d" * 64,
            "plan": PlanSummary(create=1, update=2, resources={"create": ["svc-frontend-dev"], "update": ["tg-a", "tg-b"]}),
            "outcome": "succeeded",
            "kind": EventKind.CONVERGE_SUCCEEDED,
            "reason": Reason.APPLIED,
            "last_phase": Phase.DONE,
            "started_at": finished - timedelta(seconds=90),
            "finished_at": finished,
            "duration_ms": 90_000,
            "engine_version": "3.150.0",
            "program_version": "0.1.0",
        }
        fields.update(overrides)
        return AuditRecord(**fields)

    return _make


# --------------------------------------------------------------------------- objects whose ids share a prefix


def object_id(kind: str, body: bytes) -> str:
    """The SHA-1 git gives an object of ``kind`` with ``body`` (what ``git hash-object -t kind`` prints)."""
    return hashlib.sha1(f"{kind} {len(body)}\0".encode() + body).hexdigest()


def commit_body(tree: str, parent: str, n: int) -> bytes:
    """A raw commit object over ``tree`` with ``parent``; ``n`` in the message makes each one different."""
    return (
        f"tree {tree}\nparent {parent}\nauthor A <a@example.com> 1700000000 +0000\n"
        f"committer A <a@example.com> 1700000000 +0000\n\nattempt {n}\n"
    ).encode()


def shared_prefix(first: Callable[[int], tuple[str, bytes]], second: Callable[[int], tuple[str, bytes]]) -> tuple[bytes, bytes]:
    """Bodies ``first(n)``/``second(m)`` whose object ids share their first 7 hex digits (a birthday search over 28 bits: tens of thousands of SHA-1s, well under a second)."""
    seen_first: dict[str, bytes] = {}
    seen_second: dict[str, bytes] = {}
    for n in range(2_000_000):
        (kind_a, body_a), (kind_b, body_b) = first(n), second(n)
        a, b = object_id(kind_a, body_a)[:7], object_id(kind_b, body_b)[:7]
        seen_first.setdefault(a, body_a)
        seen_second.setdefault(b, body_b)
        if a in seen_second and seen_second[a] != body_a:
            return body_a, seen_second[a]
        if b in seen_first and seen_first[b] != body_b:
            return seen_first[b], body_b
    raise AssertionError("no shared prefix found")


def twin_commits(repo: GitRepo) -> tuple[str, str]:
    """Two real commits on top of ``repo``'s head whose SHAs share their first 7 hex digits, written to its object store.

    Neither is on any branch yet; the caller decides where each goes.
    """
    head = repo.head
    tree = repo.git("rev-parse", "HEAD^{tree}")
    one, other = shared_prefix(lambda n: ("commit", commit_body(tree, head, 2 * n)), lambda n: ("commit", commit_body(tree, head, 2 * n + 1)))
    written = []
    for body in (one, other):
        result = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=repo.path, input=body, capture_output=True, check=True)
        written.append(result.stdout.decode().strip())
    a, b = written
    assert a[:7] == b[:7] and a != b
    return a, b


@dataclass(frozen=True)
class PrefixTwins:
    """The birthday-search helpers, handed to tests by the ``prefix_twins`` fixture (test modules do not import conftest)."""

    object_id: Callable[[str, bytes], str] = object_id
    commit_body: Callable[[str, str, int], bytes] = commit_body
    shared_prefix: Callable[..., tuple[bytes, bytes]] = shared_prefix
    twin_commits: Callable[[GitRepo], tuple[str, str]] = twin_commits


@pytest.fixture
def prefix_twins() -> PrefixTwins:
    return PrefixTwins()
