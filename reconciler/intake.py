"""The intake Lambda: every event becomes at most one queued job per stack, exactly once.

EventBridge events (ECR pushes and scans, CodeCommit pushes, Scheduler ticks) and GitHub push
webhooks (Function URL) are parsed into typed :class:`~reconciler.models.Job` objects and sent
to the SQS FIFO job queue (message group = stack). EventBridge delivers at least once;
Powertools Idempotency on DynamoDB, keyed by the job id (event id + environment), drops the
duplicates.

This module must not import Pulumi (directly or through ``program``/``policies``): its cold start
stays close to boto3's own. ``tests/reconciler/intake/test_intake_handler.py`` checks that.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from reconciler.adapters.queue import JobQueue
from reconciler.adapters.secrets import SecretReader
from reconciler.errors import EventRejected, SettingsError
from reconciler.models import Job
from reconciler.settings import ReconcilerSettings, load_settings
from reconciler.triggers import jobs_from_eventbridge, jobs_from_github_push
from reconciler.webhook import verify_push

SERVICE = "ecs-gitops-intake"
METRICS_NAMESPACE = "EcsGitops"
IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


def is_http_event(event: Mapping[str, Any]) -> bool:
    """Function URL and API Gateway HTTP API (payload 2.0) events carry ``requestContext.http``."""
    return isinstance(event.get("requestContext"), Mapping) and "http" in event["requestContext"]


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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.settings = settings
        self.queue = queue
        self.secrets = secrets
        self.clock = clock
        self.idempotency_config = IdempotencyConfig(event_key_jmespath="job_id", expires_after_seconds=IDEMPOTENCY_TTL_SECONDS)
        self._enqueue_once = idempotent_function(
            data_keyword_argument="request", config=self.idempotency_config, persistence_store=persistence
        )(
            self._enqueue
        )

    def _enqueue(self, request: dict[str, Any]) -> dict[str, Any]:
        job = Job.model_validate(request["job"])
        message_id = self.queue.send(job)
        return {"message_id": message_id, "invocation": request["invocation"]}

    def admit(self, job: Job) -> bool:
        """Queue ``job`` unless an earlier delivery already did. True when it was queued now."""
        invocation = uuid.uuid4().hex
        result = self._enqueue_once(
            request={"job_id": job.job_id, "invocation": invocation, "job": json.loads(job.model_dump_json(by_alias=True))}
        )
        admitted = result.get("invocation") == invocation
        logger.info(
            "job queued" if admitted else "duplicate delivery dropped",
            extra={"job_id": job.job_id, "stack": job.stack, "trigger": job.trigger.value, "event_id": job.event_id, "commit": job.commit},
        )
        return admitted

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        if is_http_event(event):
            return self._handle_webhook(event)
        jobs = jobs_from_eventbridge(self.settings, event, self.clock())
        return self._admit_all(jobs)

    def _admit_all(self, jobs: list[Job]) -> dict[str, Any]:
        queued = sum(1 for job in jobs if self.admit(job))
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
        except EventRejected as exc:
            metrics.add_metric(name="WebhooksRejected", unit=MetricUnit.Count, value=1)
            logger.warning("webhook rejected", extra={"status": exc.status_code, "reason": str(exc)})
            return _response(exc.status_code, {"error": str(exc)})
        return _response(202, self._admit_all(jobs))


_intake: Intake | None = None


def build_intake() -> Intake:
    """The production wiring, from environment variables set by template.yaml."""
    import boto3

    settings = load_settings()
    aws = settings.aws
    if not (aws.job_queue_url and aws.idempotency_table):
        raise SettingsError("settings aws.jobQueueUrl and aws.idempotencyTable are required for the intake")
    return Intake(
        settings=settings,
        queue=JobQueue(boto3.client("sqs"), aws.job_queue_url),
        secrets=SecretReader(boto3.client("secretsmanager")),
        persistence=DynamoDBPersistenceLayer(table_name=aws.idempotency_table),
    )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _intake
    correlation = event.get("id") or ((event.get("requestContext") or {}).get("requestId"))
    if correlation:
        logger.set_correlation_id(str(correlation))
    if _intake is None:
        _intake = build_intake()
    # Lets an invocation that times out release its in-progress records instead of blocking redeliveries.
    _intake.idempotency_config.register_lambda_context(context)
    try:
        return _intake.handle(event)
    except EventRejected as exc:
        # A malformed EventBridge event will never succeed; fail loudly so it reaches the DLQ.
        logger.error("event rejected", extra={"reason": str(exc)})
        raise


if os.environ.get("POWERTOOLS_TRACE_DISABLED") is None and os.environ.get("AWS_LAMBDA_FUNCTION_NAME") is None:
    # Outside Lambda there is no X-Ray daemon to talk to.
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
