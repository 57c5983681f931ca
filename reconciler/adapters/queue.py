"""The job queue: SQS FIFO, one message group per stack.

FIFO ordering within a group means one stack's jobs run one after another while different
stacks run in parallel; the deduplication id (the job id, derived from the event id) drops
EventBridge's duplicate deliveries inside SQS's five-minute window, and the intake's
idempotency table covers the rest. Messages that keep failing go to the DLQ by redrive policy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from reconciler.models import Job


# SQS keeps a received message hidden for at most 12 hours from its receipt, however often the
# visibility is changed; asking for more fails the call.
MAX_HIDDEN_SECONDS = 12 * 3600
SAFETY_SECONDS = 60


@dataclass(frozen=True)
class ReceivedJob:
    job: Job
    receipt_handle: str
    receive_count: int
    received_monotonic: float = field(default_factory=time.monotonic)


class JobQueue:
    def __init__(self, sqs_client: Any, queue_url: str):
        self._sqs = sqs_client
        self._url = queue_url

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

    def receive(self, max_messages: int = 10, wait_seconds: int = 0, visibility_timeout: int | None = None) -> list[ReceivedJob]:
        request: dict[str, Any] = {
            "QueueUrl": self._url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_seconds,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "MessageGroupId"],
        }
        if visibility_timeout is not None:
            request["VisibilityTimeout"] = visibility_timeout
        messages = self._sqs.receive_message(**request).get("Messages", [])
        return [
            ReceivedJob(
                job=Job.model_validate_json(m["Body"]),
                receipt_handle=m["ReceiptHandle"],
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            )
            for m in messages
        ]

    def delete(self, received: ReceivedJob) -> None:
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=received.receipt_handle)

    def release(self, received: ReceivedJob, delay_seconds: int, now_monotonic: float | None = None) -> int:
        """Make the message visible again after ``delay_seconds``, or as late as SQS allows.

        A longer wait comes back early; the job then checks its gate again and is released again.
        Returns the delay actually set.
        """
        held = (now_monotonic if now_monotonic is not None else time.monotonic()) - received.received_monotonic
        allowed = max(0, int(MAX_HIDDEN_SECONDS - held - SAFETY_SECONDS))
        delay = max(0, min(delay_seconds, allowed))
        self._sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=received.receipt_handle, VisibilityTimeout=delay)
        return delay
