"""The worker: take jobs from the queue and converge them. Runs as a Fargate task (``python -m reconciler.worker``).

A finished job's message is deleted; a job that must wait (change window, busy stack) is made
visible again after its wait, which also holds back later jobs of the same stack (FIFO group).
An unexpected error leaves the message in the queue: SQS redelivers it, and after the
redrive limit it lands in the DLQ. The process then exits non-zero so ECS replaces it.
"""

from __future__ import annotations

import logging
import sys

from reconciler.adapters.queue import JobQueue
from reconciler.converge import ConvergeOutcome, Converger
from reconciler.redact import RedactingFilter
from reconciler.settings import load_settings
from reconciler.wiring import build

log = logging.getLogger("ecs_gitops.worker")
# Long enough for a full Pulumi update; the message stays invisible to other workers meanwhile.
VISIBILITY_TIMEOUT_SECONDS = 2 * 3600


class Worker:
    def __init__(self, queue: JobQueue, converger: Converger):
        self.queue = queue
        self.converger = converger

    def run_once(self, wait_seconds: int = 20) -> list[ConvergeOutcome]:
        outcomes = []
        for received in self.queue.receive(max_messages=1, wait_seconds=wait_seconds, visibility_timeout=VISIBILITY_TIMEOUT_SECONDS):
            outcome = self.converger.converge(received.job, attempt=received.receive_count)
            if outcome.retry_after_seconds:
                self.queue.release(received, outcome.retry_after_seconds)
            else:
                self.queue.delete(received)
            outcomes.append(outcome)
        return outcomes


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    components = build(load_settings())
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(components.redactor))
    if components.queue is None:
        log.error("settings aws.jobQueueUrl is not set; the worker has no queue to read")
        return 2
    worker = Worker(components.queue, components.converger())
    while True:
        worker.run_once()


if __name__ == "__main__":
    sys.exit(main())
