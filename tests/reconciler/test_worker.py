"""The worker on moto: converge a queued job, delete finished messages, release waiting ones, keep failed ones."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from reconciler.adapters.audit import DynamoAuditLog
from reconciler.adapters.notify import SnsNotifier
from reconciler.adapters.queue import JobQueue
from reconciler.adapters.stack_state import DynamoStackStateStore
from reconciler.errors import UnexpectedJobError
from reconciler.events import Reason
from reconciler.settings import ChangeWindow
from reconciler.worker import Worker


class RecordingQueue(JobQueue):
    """The real SQS queue adapter, remembering what the worker did with each message."""

    def __init__(self, sqs, url):
        super().__init__(sqs, url)
        self.deleted: list[str] = []
        self.released: list[tuple[str, int]] = []

    def delete(self, received):
        self.deleted.append(received.job.job_id)
        super().delete(received)

    def release(self, received, delay_seconds):
        self.released.append((received.job.job_id, delay_seconds))
        super().release(received, delay_seconds)


@pytest.fixture
def setup(make_harness, reconciler_aws):
    harness = make_harness(
        states=DynamoStackStateStore(reconciler_aws.dynamodb, reconciler_aws.state_table),
        audit=DynamoAuditLog(reconciler_aws.dynamodb, reconciler_aws.audit_table),
        notifier=SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn),
    )
    queue = RecordingQueue(reconciler_aws.sqs, reconciler_aws.queue_url)
    return harness, queue, reconciler_aws


def in_queue(aws) -> tuple[int, int]:
    """(visible, in flight) messages in the job queue."""
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=aws.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_queued_job_is_converged_and_its_message_deleted(setup, git_repo, sns_inbox):
    harness, queue, aws = setup
    commit = git_repo.bump("dev")
    job = harness.job(commit)
    queue.send(job)

    outcomes = Worker(queue, harness.converger()).run_once(wait_seconds=0)

    assert [(o.outcome, o.reason) for o in outcomes] == [("succeeded", Reason.APPLIED)]
    assert queue.deleted == [job.job_id] and queue.released == []
    assert in_queue(aws) == (0, 0)
    assert harness.status().last_applied_commit == commit
    records = harness.history()
    assert len(records) == 1 and records[0].job_id == job.job_id and records[0].attempt == 1
    assert [n["attributes"]["kind"] for n in sns_inbox()] == ["converge-succeeded"]


def test_waiting_job_is_released_for_later_not_deleted(setup, git_repo, clock):
    harness, queue, aws = setup
    harness.configure(
        "dev",
        windows=(ChangeWindow(kind="deny", days=("mon", "tue", "wed", "thu", "fri"), start=time(9, 30), end=time(16, 0), timezone="America/New_York"),),
    )
    clock.set(datetime(2025, 3, 5, 15, 0, tzinfo=UTC))  # 10:00 in New York
    job = harness.job(git_repo.head)
    queue.send(job)

    outcomes = Worker(queue, harness.converger()).run_once(wait_seconds=0)

    assert [(o.outcome, o.reason) for o in outcomes] == [("waiting", Reason.OUTSIDE_WINDOW)]
    assert queue.deleted == []
    assert queue.released == [(job.job_id, 6 * 3600)]
    assert in_queue(aws) == (0, 1)  # still there, invisible until the window closes
    assert harness.engine.calls == []


def test_unexpected_error_leaves_the_message_and_propagates(setup, git_repo):
    harness, queue, aws = setup
    harness.engine.fail("preview", RuntimeError("worker ran out of memory"))
    job = harness.job(git_repo.head)
    queue.send(job)

    with pytest.raises(UnexpectedJobError, match="out of memory"):
        Worker(queue, harness.converger()).run_once(wait_seconds=0)

    assert queue.deleted == [] and queue.released == []
    assert in_queue(aws) == (0, 1)  # SQS redelivers it after the visibility timeout; the DLQ after 5 receives
    record = harness.history()[0]
    assert record.outcome == "failed" and record.error == "RuntimeError: worker ran out of memory"
    status = harness.status()
    assert status.lease is None and status.last_applied_commit is None


def test_one_worker_converges_pushes_that_arrive_after_it_started(setup, git_repo):
    """The worker is a long-running loop with one converger: a commit pushed later must still be fetched."""
    harness, queue, _ = setup
    worker = Worker(queue, harness.converger())
    first = git_repo.bump("dev")
    queue.send(harness.job(first))
    assert [o.reason for o in worker.run_once(wait_seconds=0)] == [Reason.APPLIED]

    second = git_repo.bump("dev")
    queue.send(harness.job(second))
    outcomes = worker.run_once(wait_seconds=0)

    assert [(o.outcome, o.reason) for o in outcomes] == [("succeeded", Reason.APPLIED)], outcomes[0].message
    assert harness.status().last_applied_commit == second
