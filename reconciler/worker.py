"""The converge worker: take jobs from the queue and converge them. Runs as a Fargate task (``python -m reconciler.worker``).

It runs no rollout ticks: those run in the tick runtime (``python -m reconciler.ticks``, see
:mod:`reconciler.ticks`), so a rollout's alarm watch and rollback never wait for a converge. An
image push still comes here: it starts a rollout (whose first tick goes to the tick queue).

A finished job's message is deleted; a job that must wait (change window, busy stack) is made
visible again after its wait, which also holds back later jobs of the same stack (FIFO group).

No message can stop the worker:

- a message that is not a job, an image that can never be deployed (moving tag, malformed
  digest, unknown repository) and a job for an environment the settings do not manage are
  refused before any phase runs: one audit record, one notification, and the message is
  deleted so the stack's FIFO group moves on;
- an unexpected error inside a job is recorded by the converger (outcome, audit record,
  notification); its message stays in the queue and comes back after a backoff, and after the
  queue's redrive limit (template.yaml) it lands in the DLQ. The worker goes on with other stacks;
- a round of the loop that fails (SQS unreachable, credentials expired) is logged and retried.

Only an interrupt (``KeyboardInterrupt``, ``SystemExit``) stops the loop. Whatever escapes is
logged by the process-level handlers with the traceback scrubbed, never printed raw.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any

from desired_state.errors import EcsGitopsError
from desired_state.loader import LoadedEnvironment, load_environment
from desired_state.schema import DIGEST_PATTERN
from reconciler.adapters.notify import Notifier
from reconciler.adapters.queue import JobQueue, ReceivedJob, UnreadableMessage
from reconciler.clock import Clock, utc_now
from reconciler.converge import ConvergeOutcome, Converger
from reconciler.converge_run import program_version
from reconciler.errors import SignatureError
from reconciler.events import EventKind, Phase, Reason, Severity
from reconciler.floors import floor_problems
from reconciler.identity import identity_problems
from reconciler.models import COMMIT_PATTERN, AuditRecord, Job, Trigger
from reconciler.redact import RedactingFilter, Redactor, format_exception_scrubbed
from reconciler.rollout.model import RolloutPhase
from reconciler.rollout.starter import undeployable_image
from reconciler.settings import MAX_CONVERGE_LOOPS, EnvironmentSettings, RetrySettings, WorkerSettings, load_settings
from reconciler.source import SignerTrust
from reconciler.structured_log import configure_logging
from reconciler.wiring import Components, RolloutComponents, build, build_rollouts

log = logging.getLogger("ecs_gitops.worker")

IMAGE_TRIGGERS = (Trigger.ECR_IMAGE_PUSH, Trigger.ECR_IMAGE_SCAN)
WORKER_ACTOR = "ecs-gitops worker"
ERROR_TEXT_LIMIT = 500


@dataclass(frozen=True)
class Backoff:
    """Retry delays: ``base_seconds`` for the first retry, doubled for each further one, at most ``cap_seconds``."""

    base_seconds: int
    cap_seconds: int

    def __post_init__(self) -> None:
        if self.base_seconds < 0 or self.cap_seconds < self.base_seconds:
            raise ValueError(f"a backoff needs 0 <= base <= cap (got base {self.base_seconds}s, cap {self.cap_seconds}s)")

    def delay(self, attempt: int) -> int:
        """The wait after failed attempt number ``attempt`` (1 for the first)."""
        return int(min(self.cap_seconds, self.base_seconds * 2 ** min(max(0, attempt - 1), 32)))

    @classmethod
    def of(cls, retry: RetrySettings) -> Backoff:
        return cls(base_seconds=retry.base_seconds, cap_seconds=retry.cap_seconds)


_DEFAULT_TIMINGS = WorkerSettings()


@dataclass(frozen=True)
class WorkerTimings:
    """How long the worker holds, retries and parks things; from the settings' ``worker`` section
    (:class:`~reconciler.settings.WorkerSettings`, where the defaults and their reasons live)."""

    job_visibility_seconds: int = _DEFAULT_TIMINGS.job_visibility_seconds
    job_retry: Backoff = field(default_factory=lambda: Backoff.of(_DEFAULT_TIMINGS.job_retry))
    loop_retry: Backoff = field(default_factory=lambda: Backoff.of(_DEFAULT_TIMINGS.loop_retry))

    @classmethod
    def from_settings(cls, worker: WorkerSettings) -> WorkerTimings:
        return cls(
            job_visibility_seconds=worker.job_visibility_seconds,
            job_retry=Backoff.of(worker.job_retry),
            loop_retry=Backoff.of(worker.loop_retry),
        )




@dataclass(frozen=True)
class JobIdentity:
    """What names a job in its audit record, also for a message that never became a :class:`Job`."""

    stack: str
    job_id: str
    environment: str
    trigger: Trigger
    event_id: str
    commit: str | None = None
    author: str | None = None

    @classmethod
    def of(cls, job: Job) -> JobIdentity:
        return cls(job.stack, job.job_id, job.environment, job.trigger, job.event_id, job.commit, job.author)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _settings_refusal(loaded: LoadedEnvironment, env: EnvironmentSettings) -> ConvergeOutcome | None:
    """A rollout starts only from a desired state the settings accept: the same identity and floors as a converge."""
    for problems, reason in (
        (identity_problems(loaded.state, env, loaded.source_file, loaded.line_of), Reason.IDENTITY_MISMATCH),
        (floor_problems(loaded.state, env.floors, loaded.source_file, loaded.line_of), Reason.BELOW_FLOOR),
    ):
        if problems:
            return ConvergeOutcome("refused", EventKind.REFUSED, reason, Severity.ERROR, str(loaded.refusal(problems)))
    return None


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        converger: Converger,
        rollouts: RolloutComponents | None = None,
        clock: Clock | None = None,
        timings: WorkerTimings | None = None,
        notifier: Notifier | None = None,
        redactor: Redactor | None = None,
    ):
        self.queue = queue
        self.converger = converger
        self.rollouts = rollouts
        # One clock: refusals are stamped like the converger's records unless a test says otherwise.
        self.clock = clock or getattr(converger, "clock", None) or utc_now
        self.timings = timings or WorkerTimings()
        # Refusals are reported like converges: through the converger's notifier and redactor.
        self.notifier = notifier if notifier is not None else getattr(converger, "notifier", None)
        self.redactor = redactor or getattr(converger, "redactor", None) or Redactor()

    # ------------------------------------------------------------------ jobs

    def run_once(self, wait_seconds: int = 20) -> list[ConvergeOutcome]:
        outcomes = []
        for received in self.queue.receive(max_messages=1, wait_seconds=wait_seconds, visibility_timeout=self.timings.job_visibility_seconds):
            outcome, retry = self._run(received)
            self._settle(received, retry)
            outcomes.append(outcome)
        return outcomes

    def _run(self, received: ReceivedJob | UnreadableMessage) -> tuple[ConvergeOutcome, int | None]:
        """The message's outcome and, if it must come back, after how many seconds (None: delete it)."""
        attempt = received.receive_count
        try:
            if isinstance(received, UnreadableMessage):
                return self._unreadable(received), None
            outcome = self._handle(received.job, attempt)
        except Exception as exc:  # noqa: BLE001 - the converger recorded it; the message must come back, the loop go on
            delay = self.timings.job_retry.delay(attempt)
            job = received.job if isinstance(received, ReceivedJob) else None
            carried = getattr(exc, "outcome", None)
            outcome = carried if isinstance(carried, ConvergeOutcome) else ConvergeOutcome(
                "failed", EventKind.CONVERGE_FAILED, Reason.UNEXPECTED_ERROR, Severity.ERROR,
                self.redactor.scrub(f"unexpected {_error_text(exc)}")[:ERROR_TEXT_LIMIT],
            )
            log.error(
                "job failed unexpectedly; its message comes back after the backoff and goes to the DLQ after the redrive limit",
                exc_info=True,
                extra={"stack": job.stack if job else None, "job_id": job.job_id if job else None, "attempt": attempt, "retry_in_seconds": delay},
            )
            return replace(outcome, retry_after_seconds=delay), delay
        return outcome, outcome.retry_after_seconds or None

    def _settle(self, received: ReceivedJob | UnreadableMessage, retry_after: int | None) -> None:
        try:
            if retry_after is None:
                self.queue.delete(received)
            else:
                self.queue.release(received, retry_after)
        except Exception:  # noqa: BLE001 - SQS redelivers the message after its visibility timeout; the job is idempotent
            log.warning("could not delete or release a job's message; SQS redelivers it after its visibility timeout", exc_info=True)

    def _handle(self, job: Job, attempt: int) -> ConvergeOutcome:
        refusal = self._refusal(job, attempt)
        if refusal is not None:
            return refusal
        if self.rollouts is not None and job.trigger in IMAGE_TRIGGERS:
            return self._image_job(job, attempt)
        return self.converger.converge(job, attempt=attempt)

    def _refusal(self, job: Job, attempt: int) -> ConvergeOutcome | None:
        """Refuse, audited, a job no phase may run for: unknown environment, foreign stack, undeployable image."""
        settings = self.converger.settings
        env = settings.environments.get(job.environment)
        if env is None:
            known = ", ".join(sorted(settings.environments)) or "none"
            return self._refuse(
                JobIdentity.of(job), attempt, Reason.UNKNOWN_ENVIRONMENT, Severity.WARNING,
                f"environment '{job.environment}' is not managed by this reconciler (managed: {known}); the job was dropped. "
                "If the environment should be managed, add it to the reconciler settings and push again",
            )
        if job.stack != env.stack:
            return self._refuse(
                JobIdentity.of(job), attempt, Reason.IDENTITY_MISMATCH, Severity.ERROR,
                f"the job names stack '{job.stack}' but the settings give environment '{job.environment}' stack '{env.stack}'; "
                "nothing was converged (the queue is written by the intake only: check who sent this job)",
            )
        if self.rollouts is None or job.trigger not in IMAGE_TRIGGERS:
            return None
        if job.trigger == Trigger.ECR_IMAGE_PUSH:
            problem = undeployable_image(job.image, env.suffix)
        elif job.image is None or not job.image.digest or not DIGEST_PATTERN.fullmatch(job.image.digest):
            problem = "the scan event carries no well-formed image digest; no rollout can wait for it"
        else:
            problem = None
        if problem is None:
            return None
        return self._refuse(JobIdentity.of(job), attempt, Reason.UNDEPLOYABLE_IMAGE, Severity.WARNING, problem, self._image_details(job))

    def _unreadable(self, message: UnreadableMessage) -> ConvergeOutcome:
        """A message that is not a job: refused under the stack its FIFO group names, then deleted."""
        fields, attributes = message.fields, message.attributes
        named = fields.get("trigger") or attributes.get("trigger")
        trigger = Trigger(named) if named in Trigger._value2member_map_ else None
        identity = JobIdentity(
            stack=message.group_id or fields.get("stack") or "unknown",
            job_id=fields.get("jobId") or attributes.get("deduplicationId") or message.message_id,
            environment=fields.get("environment") or attributes.get("environment") or "unknown",
            # An audit record needs a trigger; one the worker does not know is kept in the details instead.
            trigger=trigger or Trigger.UNREADABLE_MESSAGE,
            event_id=fields.get("eventId") or f"sqs:{message.message_id}",
            commit=fields.get("commit") if re.fullmatch(COMMIT_PATTERN, fields.get("commit") or "") else None,
            author=fields.get("author"),
        )
        details: dict[str, Any] = {"sqsMessageId": message.message_id, "receiveCount": message.receive_count}
        if trigger is None:
            details["trigger"] = named
        reason = Reason.UNDEPLOYABLE_IMAGE if trigger in IMAGE_TRIGGERS else Reason.MALFORMED_JOB
        text = f"queued message {message.message_id} cannot be read as a job: {message.problem}; it was deleted"
        return self._refuse(identity, message.receive_count, reason, Severity.ERROR, text, details)

    def _refuse(
        self, identity: JobIdentity, attempt: int, reason: Reason, severity: Severity, message: str, details: dict[str, Any] | None = None,
    ) -> ConvergeOutcome:
        """A job refused before any phase ran: one audit record and one notification, scrubbed, then done."""
        scrub = self.redactor.scrub
        message = scrub(message)[:2 * ERROR_TEXT_LIMIT]
        now = self.clock()
        record = AuditRecord(
            stack=scrub(identity.stack), job_id=scrub(identity.job_id), attempt=max(1, attempt), environment=scrub(identity.environment),
            trigger=identity.trigger, event_id=scrub(identity.event_id), commit=identity.commit,
            author=scrub(identity.author) if identity.author else None,
            outcome="refused", kind=EventKind.REFUSED, reason=reason, error=message, last_phase=Phase.GUARDS,
            started_at=now, finished_at=now, duration_ms=0, program_version=program_version(),
        )
        log.warning("job refused", extra={"stack": record.stack, "job_id": record.job_id, "reason": reason.value, "detail": message})
        audit = getattr(self.converger, "audit", None)
        if audit is not None:
            audit.append(record)
        if self.notifier is not None:
            self.notifier.publish(
                kind=EventKind.REFUSED, severity=severity, environment=record.environment,
                subject=f"[{record.environment}] {EventKind.REFUSED.value}: {reason.value} ({record.stack})",
                body={
                    "stack": record.stack, "jobId": record.job_id, "trigger": record.trigger.value, "commit": record.commit,
                    "author": record.author, "outcome": "refused", "reason": reason.value, "message": message, "error": message,
                    "phase": Phase.GUARDS.value, "plan": None, "policyViolations": [], "details": self.redactor.scrub_value(details or {}),
                },
            )
        return ConvergeOutcome("refused", EventKind.REFUSED, reason, severity, message)

    @staticmethod
    def _image_details(job: Job) -> dict[str, Any]:
        return {"image": job.image.model_dump() if job.image else None}

    def _image_job(self, job: Job, attempt: int = 1) -> ConvergeOutcome:
        """Image pushes and scans: start or advance a rollout; every one audited and notified like a converge."""
        try:
            outcome = self._image_pushed(job) if job.trigger == Trigger.ECR_IMAGE_PUSH else self._scan_finished(job)
        except EcsGitopsError as exc:
            # Expected refusals (no stack outputs yet, invalid desired state at the head, git unreachable):
            # recorded and finished, instead of blocking the stack's queue group with retries.
            outcome = ConvergeOutcome("failed", EventKind.ROLLOUT_NOT_STARTED, Reason.SKIPPED_ROLLOUT, Severity.ERROR, str(exc))
            self.converger.record_job(job, outcome, self._image_details(job), error=str(exc))
            return outcome
        except Exception as exc:  # noqa: BLE001 - recorded here (nobody else does for image jobs), then retried with backoff
            log.error("image job failed unexpectedly", exc_info=True, extra={"stack": job.stack, "job_id": job.job_id, "attempt": attempt})
            outcome = ConvergeOutcome(
                "failed", EventKind.ROLLOUT_NOT_STARTED, Reason.UNEXPECTED_ERROR, Severity.ERROR,
                f"unexpected {_error_text(exc)}"[:ERROR_TEXT_LIMIT], retry_after_seconds=self.timings.job_retry.delay(attempt),
            )
            self.converger.record_job(job, outcome, self._image_details(job), error=_error_text(exc))
            return outcome
        self.converger.record_job(job, outcome, self._image_details(job))
        return outcome

    def _image_pushed(self, job: Job) -> ConvergeOutcome:
        assert self.rollouts is not None
        env = self.converger.settings.environment(job.environment)
        if hasattr(self.converger.source, "refresh"):
            self.converger.source.refresh()
        checkout = self.converger.source.fetch(None)
        try:
            if env.signed_commits_required:
                # The rollout's steps, bake and gates come from this commit: it must be trusted like a converge's.
                try:
                    self.converger.source.verify_signature(checkout.commit or "", SignerTrust.for_environment(env))
                except SignatureError as exc:
                    return ConvergeOutcome("refused", EventKind.REFUSED_UNSIGNED, Reason.UNSIGNED_COMMIT, Severity.ERROR, str(exc))
            loaded = load_environment(
                checkout.path, job.environment, commit=checkout.commit, max_file_bytes=self.converger.settings.max_desired_state_file_bytes
            )
        finally:
            if hasattr(self.converger.source, "cleanup"):
                self.converger.source.cleanup(checkout)
        refusal = _settings_refusal(loaded, env)
        if refusal is not None:
            return refusal
        desired = loaded.state
        result = self.rollouts.starter.on_image_push(job, env, desired, self.clock())
        if result.undeployable:
            return ConvergeOutcome("refused", EventKind.REFUSED, Reason.UNDEPLOYABLE_IMAGE, Severity.WARNING, result.message)
        if result.suspended:
            return ConvergeOutcome("skipped", EventKind.ROLLOUT_NOT_STARTED, Reason.SUSPENDED, Severity.INFO, result.message)
        if result.started is None:
            log.info("no rollout started", extra={"stack": job.stack, "job_id": job.job_id, "reason": result.message})
            outcome = "waiting" if result.retry_after_seconds else "skipped"
            return ConvergeOutcome(outcome, EventKind.ROLLOUT_NOT_STARTED, Reason.SKIPPED_ROLLOUT, Severity.INFO, result.message, result.retry_after_seconds)
        return ConvergeOutcome("succeeded", EventKind.ROLLOUT_STARTED, Reason.ROLLOUT_STARTED, Severity.INFO, result.message)

    def _scan_finished(self, job: Job) -> ConvergeOutcome:
        """A finished scan wakes the rollout waiting for it instead of waiting for its next poll.

        The intake now wakes the rollout itself (reconciler.wakeups); this handles the scan jobs an older
        intake queued before an upgrade. A wake-up, not a tick: the tick runtime runs it at once."""
        assert self.rollouts is not None and job.image is not None
        active = self.rollouts.store.active(job.stack, job.image.service)
        if active is not None and active.phase == RolloutPhase.SCANNING and active.new_image.digest == job.image.digest:
            now = self.clock()
            self.rollouts.controller.scheduler.schedule(active.rollout_id, now, now)
            return ConvergeOutcome("succeeded", EventKind.ROLLOUT_PROGRESS, Reason.ROLLOUT_STARTED, Severity.INFO, f"rollout {active.rollout_id}: woken")
        return ConvergeOutcome("skipped", EventKind.SKIPPED, Reason.SKIPPED_ROLLOUT, Severity.INFO, "no rollout waits for this scan")


# ---------------------------------------------------------------------- the process


def serve(
    worker: Worker, *, once: bool = False, wait_seconds: int = 20, sleep: Callable[[float], None] = time.sleep, timings: WorkerTimings | None = None,
    stop: threading.Event | None = None,
) -> int:
    """The worker's loop: jobs, forever (``once``: until the queue is empty).

    A round that fails as a whole (SQS unreachable, expired credentials) is logged and retried
    after a backoff; with ``once`` it ends the run with exit code 1. Only an interrupt stops the loop,
    or ``stop`` being set (checked between rounds: a job in progress is finished first; exit code 0).
    """
    retry = (timings or worker.timings).loop_retry
    failed_rounds = 0
    while stop is None or not stop.is_set():
        try:
            handled = worker.run_once(wait_seconds=wait_seconds)
        except Exception:  # noqa: BLE001 - the process never dies of one round
            failed_rounds += 1
            log.exception("worker round failed; carrying on after a backoff", extra={"failed_rounds": failed_rounds})
            if once:
                return 1
            sleep(retry.delay(failed_rounds))
            continue
        failed_rounds = 0
        if once and not handled:
            return 0
    return 0


class ProcessHandlers:
    """``sys.excepthook`` and ``threading.excepthook`` that log the traceback scrubbed, and the logs' redacting filter.

    ``process`` names the process in the log lines (the converge worker, the tick runtime)."""

    def __init__(self, redactor: Redactor, process: str = "worker"):
        self.redactor = redactor
        self.filter = RedactingFilter(redactor)
        self.process = process

    def use(self, redactor: Redactor) -> None:
        """Scrub with ``redactor`` from now on (it knows more secrets once the settings are read)."""
        self.redactor = redactor
        self.filter.redactor = redactor

    def excepthook(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            log.warning("%s interrupted; stopping", self.process)
            return
        log.critical("%s stopped by an unexpected error:\n%s", self.process, format_exception_scrubbed(exc_type, exc, tb, self.redactor))

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread else "unknown"
        log.critical("%s thread %s stopped by an unexpected error:\n%s", self.process, name,
                     format_exception_scrubbed(args.exc_type, args.exc_value, args.exc_traceback, self.redactor))


def install_process_handlers(redactor: Redactor, process: str = "worker") -> ProcessHandlers:
    """Scrub every log record, and log (scrubbed) whatever exception escapes the main thread or any other."""
    handlers = ProcessHandlers(redactor, process)
    for handler in logging.getLogger().handlers:
        handler.addFilter(handlers.filter)
    sys.excepthook = handlers.excepthook
    threading.excepthook = handlers.thread_excepthook
    return handlers


def configure_process_logging(process: str) -> ProcessHandlers:
    """A worker process's logging (JSON lines where ``ECS_GITOPS_LOG_FORMAT=json``, as template.yaml sets for
    the log metric filters) and its scrubbing handlers, before anything can fail: the environment's own
    secrets are known from the start, the settings' once :func:`process_components` has them."""
    configure_logging(os.environ)
    early = Redactor()
    early.add_environment(dict(os.environ))
    return install_process_handlers(early, process)


def process_components(components: Components | None, clock: Callable[[], datetime] | None, handlers: ProcessHandlers | None) -> Components:
    """The caller's components (tests) or those the settings build, with the caller's clock as THE clock
    (converges, audit records and ticks alike); the process handlers then scrub with their redactor."""
    if components is None:
        components = build(load_settings(), clock=clock)
    elif clock is not None:
        components = replace(components, clock=clock)
    if handlers is not None:
        handlers.use(components.redactor)
    return components


def main(
    argv: list[str] | None = None,
    *,
    components: Components | None = None,
    rollouts: RolloutComponents | None = None,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], None] | None = None,
    timings: WorkerTimings | None = None,
    configure_process: bool = True,
) -> int:
    """Run the worker: ``--concurrency`` converge loops (:mod:`reconciler.worker_pool`). Tests pass their own
    ``components`` (engine, stores, session), clock and sleep (None: the loops' backoffs end early on a stop),
    and ``configure_process=False`` to leave logging, signals and the process's exception hooks alone."""
    parser = argparse.ArgumentParser(prog="python -m reconciler.worker", description="converge queued jobs and start rollouts")
    parser.add_argument("--once", action="store_true", help="handle what is queued now, then exit (draining, end-to-end runs)")
    parser.add_argument(
        "--concurrency", type=_loop_count, metavar="N",
        help="converge loops in this process, each one stack at a time (default: the settings' worker.concurrency, 2)",
    )
    args = parser.parse_args(argv)
    handlers = configure_process_logging("worker") if configure_process else None
    try:
        components = process_components(components, clock, handlers)
        if components.queue is None:
            log.error("error: settings aws.jobQueueUrl is not set (or ECS_GITOPS_JOB_QUEUE_URL); the worker has no queue to read")
            return 2
        aws = components.settings.aws
        if rollouts is None and aws.rollout_table and aws.tick_queue_url:
            rollouts = build_rollouts(components)
        # The caller's timings (tests) win; otherwise the settings' worker section.
        timings = timings or WorkerTimings.from_settings(components.settings.worker)
        queue = components.queue

        def make_worker(converger: Converger) -> Worker:
            return Worker(queue, converger, rollouts, clock=components.clock, timings=timings)

        # Imported here: the pool module builds on this one.
        from reconciler.worker_pool import JobLoops

        concurrency = args.concurrency or components.settings.worker.concurrency
        loops = JobLoops.for_components(
            components, concurrency=concurrency, make_worker=make_worker, once=args.once,
            wait_seconds=1 if args.once else 20, timings=timings, sleep=sleep,
        )
    except EcsGitopsError as exc:
        log.error("error: %s", exc)
        return 2
    if configure_process and threading.current_thread() is threading.main_thread():
        # ECS stops a task (a deployment, a scale-in) with SIGTERM: stop the loops as an interrupt does.
        signal.signal(signal.SIGTERM, _interrupt)
    log.info("worker started", extra={"concurrency": concurrency})
    return loops.run(join_seconds=components.settings.worker.stop_grace_seconds)


def _loop_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of converge loops") from None
    if not 1 <= count <= MAX_CONVERGE_LOOPS:
        raise argparse.ArgumentTypeError(f"give between 1 and {MAX_CONVERGE_LOOPS} converge loops (got {count})")
    return count


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    sys.exit(main())
