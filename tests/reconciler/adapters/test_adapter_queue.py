"""JobQueue on a moto FIFO queue: send, receive, delete, release (visibility), redrive to the DLQ."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.adapters.queue import JobQueue
from reconciler.models import Job, Trigger

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


def make_job(event_id: str = "evt-1", environment: str = "dev", commit: str | None = "6113728f27ae82c7b1a177c8d03f9e96e0adf246") -> Job:
    return Job(
        job_id=Job.make_id(event_id, environment),
        environment=environment,
        stack=environment,
        trigger=Trigger.CODECOMMIT_PUSH,
        event_id=event_id,
        commit=commit,
        received_at=NOW,
    )


@pytest.fixture
def queue(reconciler_aws) -> JobQueue:
    return JobQueue(reconciler_aws.sqs, reconciler_aws.queue_url)


def test_send_and_receive_round_trip(queue, reconciler_aws):
    job = make_job()

    message_id = queue.send(job)
    [received] = queue.receive()

    assert message_id
    assert received.job == job
    assert received.receive_count == 1
    queue.delete(received)
    assert queue.receive() == []


def test_release_hides_the_message_until_the_delay_passes(queue):
    queue.send(make_job())
    [received] = queue.receive(visibility_timeout=60)

    queue.release(received, 30)

    assert queue.receive() == []  # still invisible right after the release


def test_release_with_zero_delay_makes_it_visible_again_with_a_higher_count(queue):
    job = make_job()
    queue.send(job)
    [received] = queue.receive(visibility_timeout=60)
    assert queue.receive() == []  # in flight

    queue.release(received, 0)

    [again] = queue.receive()
    assert again.job == job
    assert again.receive_count == 2


def test_release_for_longer_than_sqs_allows_still_hides_the_message(queue, reconciler_aws):
    """A job waiting for a change window that reopens in two days (the worker receives with 2 h visibility).

    SQS caps a message's visibility at 12 hours counted from its receive, so clamping the new
    timeout to 43200 s is not enough once any time has passed since the receive: SQS (and moto)
    answer InvalidParameterValue and the worker crashes instead of parking the job.
    """
    queue.send(make_job())
    [received] = queue.receive(visibility_timeout=2 * 3600)
    seen: list[int] = []
    reconciler_aws.sqs.meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility", lambda params, **_: seen.append(params["VisibilityTimeout"])
    )

    queue.release(received, 2 * 24 * 3600)

    assert seen and seen[-1] <= 43200
    assert queue.receive() == []


def test_release_with_a_negative_delay_is_clamped_to_zero(queue, reconciler_aws):
    queue.send(make_job())
    [received] = queue.receive(visibility_timeout=60)
    seen: list[int] = []
    reconciler_aws.sqs.meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility", lambda params, **_: seen.append(params["VisibilityTimeout"])
    )

    queue.release(received, -5)

    assert seen == [0]
    assert len(queue.receive()) == 1


def test_messages_that_keep_failing_reach_the_dlq(reconciler_aws, queue):
    """The fixture's redrive policy (maxReceiveCount 5) moves a job nobody deletes to the DLQ."""
    job = make_job()
    queue.send(job)
    for _ in range(5):
        [received] = queue.receive(visibility_timeout=0)
        queue.release(received, 0)

    assert queue.receive() == []
    dead = JobQueue(reconciler_aws.sqs, reconciler_aws.dlq_url).receive()
    assert [d.job for d in dead] == [job]


def test_how_long_a_message_was_held_is_measured_on_the_queues_own_monotonic_clock(reconciler_aws):
    """Eleven and a half hours after the receive (by the injected clock), only what is left of SQS's
    12 hours, less the safety margin, can still be asked for."""
    held_for = {"now": 100.0}
    queue = JobQueue(reconciler_aws.sqs, reconciler_aws.queue_url, monotonic=lambda: held_for["now"])
    queue.send(make_job())
    [received] = queue.receive(visibility_timeout=60)
    seen: list[int] = []
    reconciler_aws.sqs.meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility", lambda params, **_: seen.append(params["VisibilityTimeout"])
    )
    held_for["now"] += 11.5 * 3600

    queue.release(received, 6 * 3600)

    assert received.received_monotonic == 100.0
    assert seen == [1800 - 60]
