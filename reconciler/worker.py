"""The worker: take jobs from the queue and converge them. Runs as a Fargate task (``python -m reconciler.worker``).

A finished job's message is deleted; a job that must wait (change window, busy stack) is made
visible again after its wait, which also holds back later jobs of the same stack (FIFO group).
An unexpected error leaves the message in the queue: SQS redelivers it, and after the
redrive limit it lands in the DLQ. The process then exits non-zero so ECS replaces it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from desired_state.errors import EcsGitopsError
from desired_state.loader import load_environment
from reconciler.adapters.notify import Notifier
from reconciler.adapters.queue import JobQueue
from reconciler.converge import ConvergeOutcome, Converger
from reconciler.events import EventKind, Reason, Severity
from reconciler.models import Job, Trigger
from reconciler.redact import RedactingFilter, Redactor
from reconciler.rollout.model import RolloutPhase, RolloutRecord, Transition
from reconciler.settings import load_settings
from reconciler.wiring import RolloutComponents, build, build_rollouts

log = logging.getLogger("ecs_gitops.worker")
# Long enough for a full Pulumi update; the message stays invisible to other workers meanwhile.
VISIBILITY_TIMEOUT_SECONDS = 2 * 3600


ROLLOUT_KINDS = {
    RolloutPhase.SCANNING: EventKind.ROLLOUT_STARTED,
    RolloutPhase.PROMOTED: EventKind.ROLLOUT_PROMOTED,
    RolloutPhase.COMPLETE: EventKind.ROLLOUT_COMPLETE,
    RolloutPhase.ROLLING_BACK: EventKind.ROLLOUT_ROLLING_BACK,
    RolloutPhase.ROLLED_BACK: EventKind.ROLLOUT_ROLLED_BACK,
}


def rollout_notifier(notifier: Notifier | None, redactor: Redactor) -> Callable[[RolloutRecord, Transition], None]:
    """Every rollout transition goes out through this one helper, scrubbed."""

    def notify(record: RolloutRecord, transition: Transition) -> None:
        kind = ROLLOUT_KINDS.get(transition.to_phase, EventKind.ROLLOUT_PROGRESS)
        severity = Severity.ERROR if transition.to_phase in (RolloutPhase.ROLLING_BACK, RolloutPhase.ROLLED_BACK) else Severity.INFO
        body = redactor.scrub_value(
            {
                "stack": record.stack,
                "service": record.service,
                "rolloutId": record.rollout_id,
                "phase": transition.to_phase.value,
                "from": transition.from_phase.value if transition.from_phase else None,
                "reason": transition.reason,
                "evidence": transition.evidence,
                "weights": record.weights.model_dump(),
                "newImage": record.new_image.reference,
                "oldImage": record.old_image.reference,
            }
        )
        log.info("rollout transition", extra=body)
        if notifier is not None:
            notifier.publish(
                kind=kind, severity=severity, environment=record.environment,
                subject=f"[{record.environment}] {record.service} {kind.value}: {transition.to_phase.value}", body=body,
            )

    return notify


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        converger: Converger,
        rollouts: RolloutComponents | None = None,
        tick_queue: Any | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.queue = queue
        self.converger = converger
        self.rollouts = rollouts
        self.tick_queue = tick_queue  # an SQS client for the rollout tick queue
        self.clock = clock

    def run_once(self, wait_seconds: int = 20) -> list[ConvergeOutcome]:
        outcomes = []
        for received in self.queue.receive(max_messages=1, wait_seconds=wait_seconds, visibility_timeout=VISIBILITY_TIMEOUT_SECONDS):
            outcome = self._handle(received.job, received.receive_count)
            if outcome.retry_after_seconds:
                self.queue.release(received, outcome.retry_after_seconds)
            else:
                self.queue.delete(received)
            outcomes.append(outcome)
        return outcomes

    def _handle(self, job: Job, attempt: int) -> ConvergeOutcome:
        if self.rollouts is not None and job.trigger in (Trigger.ECR_IMAGE_PUSH, Trigger.ECR_IMAGE_SCAN):
            return self._image_job(job)
        return self.converger.converge(job, attempt=attempt)

    def _image_job(self, job: Job) -> ConvergeOutcome:
        """Image pushes and scans: start or advance a rollout; every one audited and notified like a converge."""
        try:
            outcome = self._image_pushed(job) if job.trigger == Trigger.ECR_IMAGE_PUSH else self._scan_finished(job)
        except EcsGitopsError as exc:
            # Expected refusals (no stack outputs yet, invalid desired state at the head, git unreachable):
            # recorded and finished, instead of blocking the stack's queue group with retries.
            outcome = ConvergeOutcome("failed", EventKind.ROLLOUT_NOT_STARTED, Reason.SKIPPED_ROLLOUT, Severity.ERROR, str(exc))
            self.converger.record_job(job, outcome, {"image": job.image.model_dump() if job.image else None}, error=str(exc))
            return outcome
        self.converger.record_job(job, outcome, {"image": job.image.model_dump() if job.image else None})
        return outcome

    def _image_pushed(self, job: Job) -> ConvergeOutcome:
        assert self.rollouts is not None
        env = self.converger.settings.environment(job.environment)
        if hasattr(self.converger.source, "refresh"):
            self.converger.source.refresh()
        checkout = self.converger.source.fetch(None)
        try:
            desired = load_environment(checkout.path, job.environment).state
        finally:
            if hasattr(self.converger.source, "cleanup"):
                self.converger.source.cleanup(checkout)
        result = self.rollouts.starter.on_image_push(job, env, desired, self.clock())
        if result.started is None:
            log.info("no rollout started", extra={"stack": job.stack, "job_id": job.job_id, "reason": result.message})
            outcome = "waiting" if result.retry_after_seconds else "skipped"
            return ConvergeOutcome(outcome, EventKind.ROLLOUT_NOT_STARTED, Reason.SKIPPED_ROLLOUT, Severity.INFO, result.message, result.retry_after_seconds)
        return ConvergeOutcome("succeeded", EventKind.ROLLOUT_STARTED, Reason.ROLLOUT_STARTED, Severity.INFO, result.message)

    def _scan_finished(self, job: Job) -> ConvergeOutcome:
        """A finished scan wakes the rollout waiting for it instead of waiting for its next poll."""
        assert self.rollouts is not None and job.image is not None
        active = self.rollouts.store.active(job.stack, job.image.service)
        if active is not None and active.phase == RolloutPhase.SCANNING and active.new_image.digest == job.image.digest:
            record = self.rollouts.controller.tick(active.rollout_id)
            return ConvergeOutcome("succeeded", EventKind.ROLLOUT_PROGRESS, Reason.ROLLOUT_STARTED, Severity.INFO, f"rollout {record.rollout_id}: {record.phase.value}")
        return ConvergeOutcome("skipped", EventKind.SKIPPED, Reason.SKIPPED_ROLLOUT, Severity.INFO, "no rollout waits for this scan")

    def run_ticks_once(self, wait_seconds: int = 0) -> list[RolloutRecord]:
        """Advance the rollouts whose next tick is due."""
        if self.rollouts is None or self.tick_queue is None:
            return []
        advanced = []
        url = self.rollouts.tick_queue_url
        for message in self.tick_queue.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds).get("Messages", []):
            body = json.loads(message["Body"])
            not_before = datetime.fromisoformat(body["notBefore"])
            if not_before > self.clock():
                # SQS delays stop at 15 minutes; a longer wait is re-queued until it is due.
                self.rollouts.controller.scheduler.schedule(body["rolloutId"], not_before, self.clock())
            else:
                advanced.append(self.rollouts.controller.tick(body["rolloutId"]))
            self.tick_queue.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return advanced


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m reconciler.worker", description="converge queued jobs and advance rollouts")
    parser.add_argument("--once", action="store_true", help="handle what is queued now, then exit (draining, end-to-end runs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    components = build(load_settings())
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(components.redactor))
    if components.queue is None:
        log.error("settings aws.jobQueueUrl is not set; the worker has no queue to read")
        return 2
    rollouts = None
    if components.settings.aws.rollout_table and components.settings.aws.tick_queue_url:
        rollouts = build_rollouts(components)
        rollouts.controller.on_transition = rollout_notifier(components.notifier, components.redactor)
    worker = Worker(components.queue, components.converger(), rollouts, components.session.client("sqs") if rollouts else None)
    while True:
        worker.run_ticks_once()
        handled = worker.run_once(wait_seconds=1 if args.once else (5 if rollouts else 20))
        if args.once and not handled:
            return 0


if __name__ == "__main__":
    sys.exit(main())
