"""Whatever a job raises, the worker records it and goes on with the other stacks.

Each exception class a job can raise (every EcsGitopsError subclass of desired_state/errors.py and
reconciler/errors.py, found by walking the hierarchy so a new class is covered without editing this
file, plus the builtins, botocore and pydantic errors code can raise) is injected at the source seam
of a real converge and driven through the real worker loop (``Worker.run_once``) on a moto SQS FIFO
queue with the template's redrive policy (maxReceiveCount 5) and DLQ. For each: the outcome is
recorded, one audit record and at most one notification per attempt, the message is redelivered
(expected refusals are deleted instead), and a second stack's job is still processed.
``KeyboardInterrupt`` and ``SystemExit`` still stop the worker.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pydantic import BaseModel, ValidationError

import desired_state.errors
import reconciler.errors
from desired_state.errors import DesiredStateError, EcsGitopsError, FieldProblem
from reconciler.adapters.audit import DynamoAuditLog
from reconciler.adapters.notify import SnsNotifier
from reconciler.adapters.queue import JobQueue
from reconciler.adapters.stack_state import DynamoStackStateStore
from reconciler.errors import EventRefused, EventRejected, SourceError, UnexpectedJobError
from reconciler.events import Phase, Reason
from reconciler.source import GitSource
from reconciler.worker import Backoff, Worker, WorkerTimings

SECRET = "unexpected-secret-51d0c2"


class FaultySourceDouble(GitSource):
    """The real git source, except that ``fetch`` raises the exception under test while one stack is converged.

    It stands for a fault the real source cannot be made to produce on demand (a library bug, a
    full disk, a throttled API) at the first phase of a converge, so each case costs no render.
    Every converge fetches the branch head (an event's commit is only a wake-up), so the fault is
    keyed on the stack whose converge is in its fetch phase (read from the status store), not on
    the commit: the other stack's converge of the same head must go through.
    """

    def __init__(self, source: GitSource, states, stack: str, exc: BaseException):
        super().__init__(source.url, source.branch, source.work_dir)
        self.states = states
        self.faulty_stack = stack
        self.exc = exc

    def fetch(self, commit):
        status = self.states.get(self.faulty_stack)
        if status.phase == Phase.FETCH and status.lease is not None:
            raise self.exc
        return super().fetch(commit)


def _project_errors() -> list[type[EcsGitopsError]]:
    found, todo = [], [EcsGitopsError]
    while todo:
        cls = todo.pop()
        if cls.__module__ in (desired_state.errors.__name__, reconciler.errors.__name__):
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: c.__name__)


class _Model(BaseModel):
    count: int


def _validation_error() -> ValidationError:
    try:
        _Model(count=f"not a number {SECRET}")  # type: ignore[arg-type]
    except ValidationError as exc:
        return exc
    raise AssertionError("the model accepted a string count")


def make(cls: type[BaseException]) -> BaseException:
    """An instance of ``cls`` carrying the secret in its message."""
    if issubclass(cls, DesiredStateError):
        return cls([FieldProblem(file="environments/dev.yaml", field="services.frontend", line=3, reason=f"bad {SECRET}")])
    if cls is EventRejected:
        return cls(f"rejected {SECRET}", 400)
    if cls is EventRefused:
        return cls(f"refused {SECRET}", Reason.UNDEPLOYABLE_IMAGE.value)
    if cls is UnexpectedJobError:
        # Raised by a nested converger (e.g. a rollout converging through another worker's code path).
        return cls(f"unexpected {SECRET}", None)
    parameters = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self" and p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    assert len(parameters) <= 1, f"{cls.__name__} takes {parameters}; teach make() how to build it"
    return cls(f"{cls.__name__} {SECRET}: what to do")


OTHER_ERRORS: dict[str, BaseException] = {
    "RuntimeError": RuntimeError(f"boom {SECRET}"),
    "KeyError": KeyError(f"services.{SECRET}"),
    "AttributeError": AttributeError(f"'NoneType' has no attribute {SECRET}"),
    "TypeError": TypeError("unsupported operand"),
    "ValueError": ValueError(f"bad value {SECRET}"),
    "AssertionError": AssertionError("an invariant broke"),
    "RecursionError": RecursionError("maximum recursion depth exceeded"),
    "OSError": OSError(28, f"No space left on device: /work/{SECRET}"),
    "PermissionError": PermissionError(13, "Permission denied"),
    "MemoryError": MemoryError(),
    "UnicodeDecodeError": UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    "botocore ClientError": ClientError({"Error": {"Code": "ThrottlingException", "Message": f"Rate exceeded {SECRET}"}}, "GetItem"),
    "botocore EndpointConnectionError": EndpointConnectionError(endpoint_url=f"https://dynamodb.us-east-1.amazonaws.com/{SECRET}"),
    "pydantic ValidationError": _validation_error(),
    "json JSONDecodeError": json.JSONDecodeError("Expecting value", "{", 1),
}
CASES = {cls.__name__: make(cls) for cls in _project_errors()} | OTHER_ERRORS


def test_the_matrix_covers_every_project_error():
    names = {cls.__name__ for cls in _project_errors()}
    assert {"EcsGitopsError", "DesiredStateError", "EnvironmentNotFoundError", "ReconcilerError", "SettingsError", "EventRejected",
            "SourceError", "SignatureError", "EngineError", "EngineUnavailableError", "StackLockedError", "ConflictError", "ApprovalError"} <= names


class RecordingQueue(JobQueue):
    """The real SQS queue adapter, remembering the receipt and delay of every release."""

    def __init__(self, sqs, url):
        super().__init__(sqs, url)
        self.released: list[tuple[str, int]] = []

    def release(self, received, delay_seconds, now_monotonic=None):
        self.released.append((received.receipt_handle, delay_seconds))
        return super().release(received, delay_seconds, now_monotonic)


@pytest.fixture
def loop(make_harness, reconciler_aws, git_repo):
    """dev's job fails at fetch with the exception under test; prod (suspended: guards only, fast) must still be handled."""
    aws = reconciler_aws
    harness = make_harness(
        states=DynamoStackStateStore(aws.dynamodb, aws.state_table),
        audit=DynamoAuditLog(aws.dynamodb, aws.audit_table),
        notifier=SnsNotifier(aws.sns, aws.topic_arn),
    )
    harness.redactor.add(SECRET)
    harness.configure("prod", suspended=True)
    commit = git_repo.bump("dev")
    real_source = harness.source
    cases = iter(range(10_000))

    def start(exc: BaseException, timings: WorkerTimings = WorkerTimings()) -> tuple[Worker, RecordingQueue, str]:
        """Queue dev's job (it will raise ``exc``) and then prod's; a worker over them. Returns dev's job id."""
        n = next(cases)
        harness._source = FaultySourceDouble(real_source, harness.states, "dev", exc)
        queue = RecordingQueue(aws.sqs, aws.queue_url)
        dev = harness.job(commit, event_id=f"dev-push-{n}")
        queue.send(dev)
        queue.send(harness.job(None, environment="prod", event_id=f"prod-resync-{n}"))
        return Worker(queue, harness.converger(), timings=timings), queue, dev.job_id

    return harness, aws, start


def in_queue(aws) -> tuple[int, int]:
    """(visible, in flight) messages in the job queue."""
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=aws.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def messages(aws, url: str) -> list[dict]:
    """Receive (and so count a receive of) every visible message, then make them visible again."""
    found = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]).get("Messages", [])
    for message in found:
        aws.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return found


def _drive(harness, aws, sns_inbox, start, exc: BaseException) -> None:
    """One exception through the loop; raises AssertionError naming what went wrong."""
    worker, queue, dev_job = start(exc)

    outcomes = worker.run_once(wait_seconds=0) + worker.run_once(wait_seconds=0)

    # prod, the other stack, was handled after dev's failure and its message deleted.
    assert [(o.outcome, o.reason) for o in outcomes][-1] == ("skipped", Reason.SUSPENDED), outcomes
    # dev: exactly one audit record for this attempt, naming the error, with the secret masked.
    records = [r for r in harness.history("dev") if r.job_id == dev_job]
    assert len(records) == 1, records
    [record] = records
    expected = isinstance(exc, SourceError)  # the converger refuses a commit it cannot fetch; nothing to retry
    assert record.outcome == ("refused" if expected else "failed"), record
    assert record.attempt == 1 and record.error, record
    if not expected:
        assert type(exc).__name__ in record.error, record.error
    assert outcomes[0].reason == (Reason.SOURCE_MISSING if expected else Reason.UNEXPECTED_ERROR), outcomes[0]
    notifications = sns_inbox()
    assert sorted(n["attributes"]["kind"] for n in notifications) == ["converge-failed", "skipped"], notifications
    assert SECRET not in json.dumps(notifications) + record.model_dump_json()
    if expected:
        assert in_queue(aws) == (0, 0) and queue.released == []  # refused: deleted
        return
    # Kept, hidden for the backoff (not the 2 h visibility timeout), then redelivered by SQS.
    assert in_queue(aws) == (0, 1) and [delay for _, delay in queue.released] == [60]
    aws.sqs.change_message_visibility(QueueUrl=aws.queue_url, ReceiptHandle=queue.released[0][0], VisibilityTimeout=0)  # the backoff elapsed
    [again] = aws.sqs.receive_message(QueueUrl=aws.queue_url, MessageSystemAttributeNames=["All"])["Messages"]
    assert (json.loads(again["Body"])["jobId"], again["Attributes"]["ApproximateReceiveCount"]) == (dev_job, "2")
    aws.sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=again["ReceiptHandle"])  # clear the group for the next case


def test_each_exception_a_job_raises_is_recorded_and_the_worker_goes_on(loop, sns_inbox):
    """All cases through one moto account, one after the other; every failing case is reported, not just the first."""
    harness, aws, start = loop
    failures = {}
    for name, exc in CASES.items():
        try:
            _drive(harness, aws, sns_inbox, start, exc)
        except AssertionError as problem:
            failures[name] = str(problem)[:600]
    assert failures == {}
    assert len(CASES) >= 28


def test_a_job_that_keeps_failing_lands_in_the_dlq_after_the_redrive_limit_and_other_stacks_carry_on(loop, sns_inbox):
    harness, aws, start = loop
    harness.configure("prod", suspended=False)
    worker, queue, _ = start(RuntimeError(f"the converge keeps breaking {SECRET}"), WorkerTimings(job_retry=Backoff(base_seconds=0, cap_seconds=0)))

    seen = []
    for _ in range(10):
        seen += [(o.outcome, o.reason) for o in worker.run_once(wait_seconds=0)]
        if in_queue(aws) == (0, 0):
            break

    assert seen.count(("failed", Reason.UNEXPECTED_ERROR)) == 5  # the fixture's (and the template's) maxReceiveCount
    assert ("succeeded", Reason.APPLIED) in seen  # prod converged meanwhile
    dead = JobQueue(aws.sqs, aws.dlq_url).receive()
    assert [d.job.stack for d in dead] == ["dev"]
    assert [r.attempt for r in harness.history("dev")] == [5, 4, 3, 2, 1]  # one audit record per attempt
    kinds = [n["attributes"]["kind"] for n in sns_inbox()]
    assert kinds.count("converge-failed") == 5 and kinds.count("converge-succeeded") == 1


def test_a_failed_job_is_released_with_backoff(loop):
    """SQS would otherwise hide the message for the whole visibility timeout (2 h) before each retry."""
    harness, aws, start = loop
    worker, queue, _ = start(RuntimeError("boom"))
    for _ in range(8):
        before = len(queue.released)
        worker.run_once(wait_seconds=0)
        if len(queue.released) > before:  # let the backoff elapse
            aws.sqs.change_message_visibility(QueueUrl=aws.queue_url, ReceiptHandle=queue.released[-1][0], VisibilityTimeout=0)
    assert [delay for _, delay in queue.released] == [60, 120, 240, 480, 960]
    assert JobQueue(aws.sqs, aws.dlq_url).receive()[0].job.stack == "dev"
    assert WorkerTimings().job_retry.delay(20) == WorkerTimings().job_retry.cap_seconds == 1800


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)], ids=["KeyboardInterrupt", "SystemExit"])
def test_an_interrupt_still_stops_the_worker_and_leaves_the_message(loop, exc):
    harness, aws, start = loop
    worker, queue, _ = start(exc)
    with pytest.raises(type(exc)):
        worker.run_once(wait_seconds=0)
    # dev's message is in flight, not deleted or released: after its visibility timeout the next worker converges it.
    assert in_queue(aws) == (1, 1) and queue.released == []
