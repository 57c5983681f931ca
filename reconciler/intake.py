"""The intake Lambda: every event becomes at most one queued job per stack, exactly once.

EventBridge events (ECR pushes and scans, CodeCommit pushes, Scheduler ticks) and GitHub push
webhooks (Function URL) are parsed into typed :class:`~reconciler.models.Job` objects and sent
to the SQS FIFO job queue (message group = stack). EventBridge delivers at least once;
Powertools Idempotency on DynamoDB, keyed by the job id (event id + environment), drops the
duplicates. GitHub pushes are keyed by their content (repository, ref, before, after, pushed_at +
environment) instead, so the same body replayed under a new delivery id queues nothing new.

Every input gets a typed refusal: a webhook is answered with a 4xx, an EventBridge event that
cannot be used is dropped with a structured ``event dropped`` log line naming the reason (a
:class:`~reconciler.events.Reason` value) and an ``EventsDropped`` metric. Retrying such an event
can never succeed, so no exception leaves the handler for it.

Events a running rollout waits for (an alarm entering ALARM, an ECS deployment ending or failing,
an ECR scan completing; see :mod:`reconciler.wakeups`) queue no job: the intake looks up the
rollouts watching the event's resource (:class:`~reconciler.rollout.watch.RolloutWatchIndex`) and
wakes each at once through the tick scheduler. An event no rollout waits for is logged
(``event ignored``, with the reason) and counted, never an error.

This module must not import Pulumi (directly or through ``program``/``policies``): its cold start
stays close to boto3's own. ``tests/reconciler/intake/test_intake_handler.py`` checks that. For
the same reason the X-Ray SDK (about 0.2 s to import) is loaded only when tracing is on: in Lambda
and not switched off by ``POWERTOOLS_TRACE_DISABLED`` (see :func:`tracing_enabled`).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from reconciler.adapters.queue import JobQueue
from reconciler.adapters.secrets import SecretReader
from reconciler.clock import Clock, utc_now
from reconciler.errors import EventRejected, SettingsError
from reconciler.events import Reason
from reconciler.models import Job
from reconciler.rollout.watch import RolloutWatchIndex
from reconciler.settings import ReconcilerSettings, load_settings
from reconciler.triggers import jobs_from_eventbridge, jobs_from_github_push, push_content_key
from reconciler.wakeups import NoWakeUp, is_wake_up_event, wake_up_from_eventbridge
from reconciler.webhook import shown, verify_push

if TYPE_CHECKING:
    from reconciler.rollout.controller import TickScheduler

SERVICE = "ecs-gitops-intake"
METRICS_NAMESPACE = "EcsGitops"
IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600



def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether X-Ray tracing is on: Powertools' own rule, decided before the X-Ray SDK is imported.

    On inside Lambda (``LAMBDA_TASK_ROOT``), except under SAM local or Chalice local, unless
    ``POWERTOOLS_TRACE_DISABLED`` is truthy. Everywhere else there is no X-Ray daemon to send to.
    """
    if resolve_truthy_env_var_choice(env=environ.get("POWERTOOLS_TRACE_DISABLED", "false")):
        return False
    return bool(environ.get("LAMBDA_TASK_ROOT")) and not (environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE"))


def _tracer() -> Any:
    """Powertools' Tracer (which patches boto3/botocore for X-Ray) when tracing is on, else None."""
    if not tracing_enabled():
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


logger = Logger(service=SERVICE)
tracer = _tracer()
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


def _traced(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The handler as an X-Ray subsegment when tracing is on; unchanged otherwise."""
    return tracer.capture_lambda_handler(capture_response=False)(handler) if tracer is not None else handler


def is_http_event(event: Any) -> bool:
    """Function URL and API Gateway HTTP API (payload 2.0) events carry ``requestContext.http``."""
    return isinstance(event, Mapping) and isinstance(event.get("requestContext"), Mapping) and "http" in event["requestContext"]


def correlation_id(event: Any) -> str | None:
    """The EventBridge event id or the HTTP request id, when the event has one of a sensible size."""
    if not isinstance(event, Mapping):
        return None
    context = event.get("requestContext")
    value = event.get("id") or (context.get("requestId") if isinstance(context, Mapping) else None)
    return value if isinstance(value, str) and 0 < len(value) <= 256 else None


def _response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


class Intake:
    """Parses, deduplicates and enqueues. Every collaborator is injected (tests pass moto clients)."""

    def __init__(
        self,
        settings: ReconcilerSettings,
        queue: JobQueue,
        secrets: SecretReader,
        persistence: BasePersistenceLayer,
        clock: Clock = utc_now,
        watches: RolloutWatchIndex | None = None,
        ticks: TickScheduler | None = None,
    ):
        self.settings = settings
        self.queue = queue
        self.secrets = secrets
        self.clock = clock
        # Both or neither: without them (no rollout table or tick queue configured) wake-up events are ignored.
        self.watches = watches
        self.ticks = ticks
        # Keyed on "idempotency_key": the job id for EventBridge jobs (same value, so records written
        # before pushes were keyed on content still match), the push's content key for webhooks.
        self.idempotency_config = IdempotencyConfig(event_key_jmespath="idempotency_key", expires_after_seconds=IDEMPOTENCY_TTL_SECONDS)
        self._enqueue_once = idempotent_function(
            data_keyword_argument="request", config=self.idempotency_config, persistence_store=persistence
        )(
            self._enqueue
        )

    def _enqueue(self, request: dict[str, Any]) -> dict[str, Any]:
        job = Job.model_validate(request["job"])
        message_id = self.queue.send(job)
        return {"message_id": message_id, "invocation": request["invocation"]}

    def admit(self, job: Job, idempotency_key: str | None = None) -> bool:
        """Queue ``job`` unless an earlier delivery of the same thing already did. True when it was queued now.

        ``idempotency_key`` says what "the same thing" is; by default the job id.
        """
        invocation = uuid.uuid4().hex
        result = self._enqueue_once(
            request={
                "idempotency_key": idempotency_key or job.job_id,
                "job_id": job.job_id,
                "invocation": invocation,
                "job": json.loads(job.model_dump_json(by_alias=True)),
            }
        )
        admitted = result.get("invocation") == invocation
        logger.info(
            "job queued" if admitted else "duplicate delivery dropped",
            extra={"job_id": job.job_id, "stack": job.stack, "trigger": job.trigger.value, "event_id": job.event_id, "commit": job.commit},
        )
        return admitted

    def handle(self, event: Any) -> dict[str, Any]:
        if is_http_event(event):
            return self._handle_webhook(event)
        if is_wake_up_event(event):
            return self._wake(event)
        try:
            jobs = jobs_from_eventbridge(self.settings, event, self.clock())
        except EventRejected as exc:
            return self._drop(event, exc)
        return self._admit_all(jobs)

    def _wake(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Tick every rollout watching the event's resource, now. No job: a wake-up is not a converge.

        Not deduplicated: a second delivery only wakes the rollout once more, and a tick with
        nothing new to see changes nothing (every transition is a conditional write).
        """
        try:
            wake_up = wake_up_from_eventbridge(self.settings, event)
        except EventRejected as exc:
            return self._drop(event, exc)
        if isinstance(wake_up, NoWakeUp):
            return self._ignore(event, wake_up.reason)
        if self.watches is None or self.ticks is None:
            return self._ignore(event, f"{wake_up.cause}, but wake-ups are off here: settings aws.rolloutTable and aws.tickQueueUrl are not both set")
        woken = self.watches.watching(wake_up.kind, wake_up.key)
        if not woken:
            return self._ignore(event, f"{wake_up.cause}; no running rollout watches {wake_up.kind} {shown(wake_up.key)}")
        now = self.clock()
        for rollout_id in woken:
            self.ticks.schedule(rollout_id, now, now, cause=wake_up.cause)
            logger.info("rollout woken", extra={"rollout_id": rollout_id, "cause": wake_up.cause, "event_id": wake_up.event_id})
        metrics.add_metric(name="RolloutsWoken", unit=MetricUnit.Count, value=len(woken))
        return {"queued": 0, "duplicates": 0, "jobs": [], "woken": woken, "cause": wake_up.cause}

    def _ignore(self, event: Mapping[str, Any], reason: str) -> dict[str, Any]:
        """A well-formed event that concerns no running rollout: logged with why, counted, nothing else."""
        metrics.add_metric(name="EventsIgnored", unit=MetricUnit.Count, value=1)
        logger.info("event ignored", extra={"reason": reason, "source": shown(event.get("source")), "detail_type": shown(event.get("detail-type"))})
        return {"queued": 0, "duplicates": 0, "jobs": [], "woken": [], "ignored": reason}

    def _drop(self, event: Any, exc: EventRejected) -> dict[str, Any]:
        """An EventBridge event that can never become a job: logged with its reason, counted, not retried."""
        reason = str(getattr(exc, "reason", Reason.INVALID_EVENT))
        source = event.get("source") if isinstance(event, Mapping) else None
        metrics.add_metric(name="EventsDropped", unit=MetricUnit.Count, value=1)
        logger.warning("event dropped", extra={"reason": reason, "error": str(exc), "source": shown(source)})
        return {"queued": 0, "duplicates": 0, "jobs": [], "dropped": {"reason": reason, "error": str(exc)}}

    def _admit_all(self, jobs: list[Job], keys: list[str] | None = None) -> dict[str, Any]:
        keys = keys or [job.job_id for job in jobs]
        queued = sum(1 for job, key in zip(jobs, keys, strict=True) if self.admit(job, key))
        duplicates = len(jobs) - queued
        metrics.add_metric(name="JobsQueued", unit=MetricUnit.Count, value=queued)
        if duplicates:
            metrics.add_metric(name="DuplicatesDropped", unit=MetricUnit.Count, value=duplicates)
        return {"queued": queued, "duplicates": duplicates, "jobs": [job.job_id for job in jobs]}

    def _handle_webhook(self, event: Mapping[str, Any]) -> dict[str, Any]:
        secret_id = self.settings.repository.webhook_secret_id
        try:
            if not secret_id:
                raise EventRejected("webhooks are not enabled: repository.webhookSecretId is not set", 404)
            try:
                secret = self.secrets.read(secret_id)
            except SettingsError as exc:
                logger.error("webhook secret unreadable", extra={"reason": str(exc)})
                return _response(
                    503, {"error": "the webhook cannot be verified right now; redeliver it from the webhook's Recent Deliveries"}
                )
            push = verify_push(event, secret, self.settings.max_webhook_bytes)
            if push is None:
                return _response(200, {"message": "pong"})
            jobs = jobs_from_github_push(self.settings, push.delivery_id, push.payload, self.clock())
            keys = [push_content_key(self.settings, push.payload, job.environment) for job in jobs]
        except EventRejected as exc:
            metrics.add_metric(name="WebhooksRejected", unit=MetricUnit.Count, value=1)
            reason = str(getattr(exc, "reason", Reason.INVALID_EVENT))
            logger.warning("webhook rejected", extra={"status": exc.status_code, "reason": reason, "error": str(exc)})
            return _response(exc.status_code, {"error": str(exc)})
        return _response(202, self._admit_all(jobs, keys))


_intake: Intake | None = None


def build_intake() -> Intake:
    """The production wiring, from environment variables set by template.yaml."""
    import boto3

    settings = load_settings()
    aws = settings.aws
    if not (aws.job_queue_url and aws.idempotency_table):
        raise SettingsError("settings aws.jobQueueUrl and aws.idempotencyTable are required for the intake")
    sqs = boto3.client("sqs")
    watches = ticks = None
    if aws.rollout_table and aws.tick_queue_url:
        # Imported here, not at module level: the intake's cold start stays close to boto3's.
        from reconciler.ticks.schedule import CoalescingTickScheduler

        dynamodb = boto3.client("dynamodb")
        watches = RolloutWatchIndex(dynamodb, aws.rollout_table)
        # The same one-pending-wake-up-per-rollout scheduler as the controller's: an event replaces a later poll.
        ticks = CoalescingTickScheduler(
            dynamodb, aws.rollout_table, sqs, aws.tick_queue_url, overdue_grace_seconds=settings.ticks.overdue_grace_seconds
        )
    else:
        logger.warning("rollout wake-ups are off: settings aws.rolloutTable and aws.tickQueueUrl are not both set")
    return Intake(
        settings=settings,
        queue=JobQueue(sqs, aws.job_queue_url),
        secrets=SecretReader(boto3.client("secretsmanager")),
        persistence=DynamoDBPersistenceLayer(table_name=aws.idempotency_table),
        watches=watches,
        ticks=ticks,
    )


@logger.inject_lambda_context(log_event=False)
@_traced
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    global _intake
    correlation = correlation_id(event)
    if correlation:
        logger.set_correlation_id(correlation)
    if _intake is None:
        _intake = build_intake()
    # Lets an invocation that times out release its in-progress records instead of blocking redeliveries.
    _intake.idempotency_config.register_lambda_context(context)
    # Bad input is answered (4xx) or dropped with a log line inside handle(); what still raises
    # here is infrastructure (SQS, DynamoDB, Secrets Manager), which a retry can fix.
    return _intake.handle(event)
