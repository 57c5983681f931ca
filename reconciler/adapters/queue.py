"""The job queue: SQS FIFO, one message group per stack.

FIFO ordering within a group means one stack's jobs run one after another while different
stacks run in parallel; the deduplication id (the job id, derived from the event id) drops
EventBridge's duplicate deliveries inside SQS's five-minute window, and the intake's
idempotency table covers the rest. Messages that keep failing go to the DLQ by redrive policy.

A message whose body is not a job (not JSON, missing or unknown fields, a hand-sent or forged
message) is handed back as an :class:`UnreadableMessage` instead of raising, so one bad message
cannot stop the worker or block its stack's group: the worker refuses it, audited, and deletes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from reconciler.models import Job


# SQS keeps a received message hidden for at most 12 hours from its receipt, however often the
# visibility is changed; asking for more fails the call.
MAX_HIDDEN_SECONDS = 12 * 3600
SAFETY_SECONDS = 60
# What the worker keeps of an unreadable body's fields to name it in the audit record; longer values are cut.
SALVAGED_FIELDS = ("jobId", "environment", "stack", "trigger", "eventId", "commit", "author")
SALVAGED_LENGTH = 200


@dataclass(frozen=True)
class ReceivedJob:
    job: Job
    receipt_handle: str
    receive_count: int
    received_monotonic: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class UnreadableMessage:
    """A queued message that is not a job. ``fields`` holds what could be read of it (strings only)."""

    receipt_handle: str
    receive_count: int
    message_id: str
    group_id: str | None
    problem: str
    fields: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    received_monotonic: float = field(default_factory=time.monotonic)


def describe_invalid_job(exc: ValidationError) -> str:
    """The fields that failed and why, without the offending values (they may carry secrets)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False)[:10]:
        where = ".".join(str(part) for part in error["loc"]) or "<body>"
        problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def salvage_fields(body: str) -> dict[str, str]:
    """The job's identifying fields, as far as the body is a JSON object with string values for them."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(document, dict):
        return {}
    return {key: value[:SALVAGED_LENGTH] for key in SALVAGED_FIELDS if isinstance(value := document.get(key), str) and value}


def read_message(message: dict[str, Any]) -> ReceivedJob | UnreadableMessage:
    """One SQS message as a job, or as the reason it is not one."""
    attributes = message.get("Attributes", {})
    receive_count = int(attributes.get("ApproximateReceiveCount", 1))
    body = message.get("Body", "")
    try:
        job = Job.model_validate_json(body)
    except ValidationError as exc:
        problem = describe_invalid_job(exc)
    except (ValueError, RecursionError) as exc:  # pydantic-core raises these for some malformed JSON
        problem = f"not a JSON job document ({type(exc).__name__})"
    else:
        return ReceivedJob(job=job, receipt_handle=message["ReceiptHandle"], receive_count=receive_count)
    return UnreadableMessage(
        receipt_handle=message["ReceiptHandle"],
        receive_count=receive_count,
        message_id=str(message.get("MessageId", "")),
        group_id=attributes.get("MessageGroupId"),
        problem=problem,
        fields=salvage_fields(body),
        attributes={
            name: str(value.get("StringValue", ""))[:SALVAGED_LENGTH]
            for name, value in (message.get("MessageAttributes") or {}).items()
            if isinstance(value, dict)
        }
        | ({"deduplicationId": attributes["MessageDeduplicationId"]} if attributes.get("MessageDeduplicationId") else {}),
    )


class JobQueue:
    def __init__(self, sqs_client: Any, queue_url: str, monotonic: Callable[[], float] = time.monotonic):
        self._sqs = sqs_client
        self._url = queue_url
        # How long a received message has been held is measured on this process's own clock.
        self._monotonic = monotonic

    def send(self, job: Job) -> str:
        response = self._sqs.send_message(
            QueueUrl=self._url,
            MessageBody=job.model_dump_json(by_alias=True),
            MessageGroupId=job.stack,
            MessageDeduplicationId=job.job_id,
            MessageAttributes={
                "environment": {"DataType": "String", "StringValue": job.environment},
                "trigger": {"DataType": "String", "StringValue": job.trigger.value},
            },
        )
        return str(response["MessageId"])

    def receive(self, max_messages: int = 10, wait_seconds: int = 0, visibility_timeout: int | None = None) -> list[ReceivedJob | UnreadableMessage]:
        """The next messages: jobs, and any message that is not one as an :class:`UnreadableMessage`."""
        request: dict[str, Any] = {
            "QueueUrl": self._url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_seconds,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "MessageGroupId", "MessageDeduplicationId"],
            "MessageAttributeNames": ["environment", "trigger"],
        }
        if visibility_timeout is not None:
            request["VisibilityTimeout"] = visibility_timeout
        messages = self._sqs.receive_message(**request).get("Messages", [])
        received = self._monotonic()
        return [replace(read_message(m), received_monotonic=received) for m in messages]

    def delete(self, received: ReceivedJob | UnreadableMessage) -> None:
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=received.receipt_handle)

    def release(self, received: ReceivedJob | UnreadableMessage, delay_seconds: int, now_monotonic: float | None = None) -> int:
        """Make the message visible again after ``delay_seconds``, or as late as SQS allows.

        A longer wait comes back early; the job then checks its gate again and is released again.
        Returns the delay actually set.
        """
        held = (now_monotonic if now_monotonic is not None else self._monotonic()) - received.received_monotonic
        allowed = max(0, int(MAX_HIDDEN_SECONDS - held - SAFETY_SECONDS))
        delay = max(0, min(delay_seconds, allowed))
        self._sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=received.receipt_handle, VisibilityTimeout=delay)
        return delay
