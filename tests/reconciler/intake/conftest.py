"""Fixtures for the intake tests: an Intake wired to moto, realistic event payloads, queue readers.

Event shapes follow the AWS EventBridge reference (ECR, CodeCommit), EventBridge Scheduler
(the target input is passed through unwrapped), GitHub's push webhook and the Lambda Function
URL payload format 2.0.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reconciler.settings import (
    EnvironmentSettings,
    ReconcilerSettings,
    RepositorySettings,
)

NOW = datetime(2025, 3, 4, 12, 30, 15, tzinfo=UTC)
ACCOUNT = "123456789012"
REGION = "us-east-1"
COMMIT_A = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
COMMIT_B = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
COMMIT_C = "9f4c2b1e8d7a6c5b4a3f2e1d0c9b8a7f6e5d4c3b"
DIGEST = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678"


def make_settings(aws: Any, **overrides: Any) -> ReconcilerSettings:
    repository = {
        "url": "https://github.com/example-org/desired-state.git",
        "branch": "main",
        "codecommit_repository": "desired-state",
        "webhook_secret_id": aws.webhook_secret_id,
    }
    repository.update(overrides.pop("repository", {}))
    return ReconcilerSettings(
        repository=RepositorySettings(**repository),
        environments={
            "dev": EnvironmentSettings(stack="dev", suffix="dev"),
            "prod": EnvironmentSettings(stack="prod", suffix="prod"),
        },
        **overrides,
    )


# --------------------------------------------------------------------------- EventBridge payloads


def _envelope(event_id: str, detail_type: str, source: str, resources: list[str], detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2025-03-04T12:30:14Z",
        "region": REGION,
        "resources": resources,
        "detail": detail,
    }


def ecr_image_action(
    repository: str = "ecr-frontend-dev",
    *,
    event_id: str = "13cde686-328b-6117-af20-0e5566167482",
    action: str = "PUSH",
    result: str = "SUCCESS",
    tag: str | None = "v1.4.2",
    digest: str = DIGEST,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "result": result,
        "repository-name": repository,
        "image-digest": digest,
        "action-type": action,
    }
    if tag is not None:
        detail["image-tag"] = tag
    return _envelope(event_id, "ECR Image Action", "aws.ecr", [], detail)


def ecr_image_scan(
    repository: str = "ecr-frontend-dev",
    *,
    event_id: str = "85fc3613-e913-7fc4-a80c-a3753e4aa9ae",
    status: str = "COMPLETE",
    counts: dict[str, int] | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    detail = {
        "scan-status": status,
        "repository-name": repository,
        "finding-severity-counts": counts if counts is not None else {"CRITICAL": 10, "MEDIUM": 9},
        "image-digest": DIGEST,
        "image-tags": tags if tags is not None else ["v1.4.2"],
    }
    return _envelope(event_id, "ECR Image Scan", "aws.ecr", [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repository}"], detail)


def codecommit_change(
    *,
    event_id: str = "01234567-0123-0123-0123-012345678901",
    repository: str = "desired-state",
    reference_type: str = "branch",
    reference: str = "main",
    event: str = "referenceUpdated",
    commit: str = COMMIT_A,
    old_commit: str = COMMIT_B,
) -> dict[str, Any]:
    prefix = "refs/heads/" if reference_type == "branch" else "refs/tags/"
    detail = {
        "callerUserArn": f"arn:aws:iam::{ACCOUNT}:user/Mary_Major",
        "commitId": commit,
        "event": event,
        "oldCommitId": old_commit,
        "referenceFullName": prefix + reference,
        "referenceName": reference,
        "referenceType": reference_type,
        "repositoryId": "12345678-1234-5678-abcd-12345678abcd",
        "repositoryName": repository,
    }
    return _envelope(event_id, "CodeCommit Repository State Change", "aws.codecommit", [f"arn:aws:codecommit:{REGION}:{ACCOUNT}:{repository}"], detail)


def scheduler_tick(kind: str = "drift-check", environment: str = "*", execution_id: str = "c0ffee00-1111-2222-3333-444455556666") -> dict[str, Any]:
    return {"source": "ecs-gitops.scheduler", "kind": kind, "environment": environment, "executionId": execution_id}


# --------------------------------------------------------------------------- GitHub push over a Function URL


def github_push_payload(
    *,
    ref: str = "refs/heads/main",
    after: str = COMMIT_A,
    before: str = COMMIT_B,
    commits: list[dict[str, list[str]]] | None = None,
    pushed_at: int = 1741091410,
) -> dict[str, Any]:
    """A GitHub ``push`` payload; ``commits`` items give the added/modified/removed lists.

    ``pushed_at`` is the repository's push time (epoch seconds), which GitHub sets anew on every push.
    """
    file_lists = commits if commits is not None else [{"modified": ["environments/dev.yaml"]}]
    author = {"name": "Jane Doe", "email": "jane@example.com", "username": "janedoe"}
    commit_objects = []
    for index, files in enumerate(file_lists):
        commit_id = after if index == len(file_lists) - 1 else f"{index:x}".rjust(40, "a")
        commit_objects.append(
            {
                "id": commit_id,
                "tree_id": "e8c1b3d6b2f36b1e5a1f1c9d3c44fd2a6f19c6d0",
                "distinct": True,
                "message": f"change {index}",
                "timestamp": "2025-03-04T13:30:10+01:00",
                "url": f"https://github.com/example-org/desired-state/commit/{commit_id}",
                "author": author,
                "committer": author,
                "added": files.get("added", []),
                "removed": files.get("removed", []),
                "modified": files.get("modified", []),
            }
        )
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "repository": {
            "id": 123456789,
            "name": "desired-state",
            "full_name": "example-org/desired-state",
            "private": True,
            "default_branch": "main",
            "clone_url": "https://github.com/example-org/desired-state.git",
            "pushed_at": pushed_at,
        },
        "pusher": {"name": "janedoe", "email": "jane@example.com"},
        "sender": {"login": "janedoe", "id": 4242, "type": "User"},
        "created": False,
        "deleted": after == "0" * 40,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/example-org/desired-state/compare/{before[:12]}...{after[:12]}",
        "commits": commit_objects,
        "head_commit": commit_objects[-1] if commit_objects else None,
    }


def function_url_event(
    body: bytes,
    *,
    secret: str | bytes | None,
    github_event: str = "push",
    delivery: str | None = "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    method: str = "POST",
    base64_encoded: bool = False,
    signature: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Lambda Function URL (payload format 2.0) request carrying a GitHub webhook.

    ``signature`` overrides the header; otherwise the body is signed with ``secret`` (None: unsigned).
    """
    from reconciler.webhook import sign

    headers = {
        "accept": "*/*",
        "content-type": "application/json",
        "host": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
        "user-agent": "GitHub-Hookshot/7a8f3c1",
        "x-amzn-trace-id": "Root=1-67c6f2a1-0123456789abcdef01234567",
        "x-forwarded-for": "140.82.115.1",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        "x-github-event": github_event,
        "x-github-hook-id": "292430182",
        "x-github-hook-installation-target-id": "79929171",
        "x-github-hook-installation-target-type": "repository",
    }
    if delivery is not None:
        headers["x-github-delivery"] = delivery
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    elif secret is not None:
        key = secret.encode() if isinstance(secret, str) else secret
        headers["x-hub-signature-256"] = sign(key, body)
    headers.update(extra_headers or {})
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnop",
            "domainName": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijklmnop",
            "http": {
                "method": method,
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "140.82.115.1",
                "userAgent": "GitHub-Hookshot/7a8f3c1",
            },
            "requestId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
            "routeKey": "$default",
            "stage": "$default",
            "time": "04/Mar/2025:12:30:15 +0000",
            "timeEpoch": 1741091415000,
        },
        "body": base64.b64encode(body).decode() if base64_encoded else body.decode("utf-8"),
        "isBase64Encoded": base64_encoded,
    }


def encode(payload: dict[str, Any]) -> bytes:
    # GitHub sends compact-ish JSON; the exact bytes matter only in that they are what is signed.
    return json.dumps(payload, separators=(",", ":")).encode()


@pytest.fixture
def payloads() -> SimpleNamespace:
    return SimpleNamespace(
        ecr_image_action=ecr_image_action,
        ecr_image_scan=ecr_image_scan,
        codecommit_change=codecommit_change,
        scheduler_tick=scheduler_tick,
        github_push_payload=github_push_payload,
        function_url_event=function_url_event,
        encode=encode,
        now=NOW,
        commit_a=COMMIT_A,
        commit_b=COMMIT_B,
        commit_c=COMMIT_C,
        digest=DIGEST,
        sample=sample_event,
        rollout_record=rollout_record,
        account=ACCOUNT,
        region=REGION,
    )


# --------------------------------------------------------------------------- Intake on moto


@pytest.fixture(autouse=True)
def _fresh_metrics():
    """The intake's Metrics object is module-global: start and end every test with an empty set."""
    from reconciler.intake import metrics

    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def make_settings_for(reconciler_aws) -> Callable[..., ReconcilerSettings]:
    return lambda **overrides: make_settings(reconciler_aws, **overrides)


@pytest.fixture
def make_intake(reconciler_aws) -> Callable[..., Any]:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from reconciler.adapters.queue import JobQueue
    from reconciler.adapters.secrets import SecretReader
    from reconciler.intake import Intake

    def _make(settings: ReconcilerSettings | None = None, queue: Any = None, secrets: Any = None):
        return Intake(
            settings or make_settings(reconciler_aws),
            queue or JobQueue(reconciler_aws.sqs, reconciler_aws.queue_url),
            secrets or SecretReader(reconciler_aws.secretsmanager),
            DynamoDBPersistenceLayer(table_name=reconciler_aws.idempotency_table, boto3_session=reconciler_aws.session),
            clock=lambda: NOW,
        )

    return _make


@pytest.fixture
def intake(make_intake):
    return make_intake()


@pytest.fixture
def drain(reconciler_aws) -> Callable[..., list[dict[str, Any]]]:
    """Receive (and delete) every message on the job queue, in the order SQS hands them out.

    Each item: {"job": parsed body, "group": MessageGroupId, "dedup": MessageDeduplicationId, "attributes": message attributes}.
    """
    sqs = reconciler_aws.sqs

    def _drain(queue_url: str | None = None) -> list[dict[str, Any]]:
        url = queue_url or reconciler_aws.queue_url
        found: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                MessageSystemAttributeNames=["MessageGroupId", "MessageDeduplicationId"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(
                    {
                        "job": json.loads(message["Body"]),
                        "group": message["Attributes"].get("MessageGroupId"),
                        "dedup": message["Attributes"].get("MessageDeduplicationId"),
                        "attributes": {k: v["StringValue"] for k, v in (message.get("MessageAttributes") or {}).items()},
                    }
                )
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    return _drain


@pytest.fixture
def secret_calls(reconciler_aws) -> list[str]:
    """SecretIds of every GetSecretValue call the moto Secrets Manager client makes."""
    calls: list[str] = []

    def _record(params, **_):
        calls.append(params["SecretId"])

    reconciler_aws.secretsmanager.meta.events.register("provide-client-params.secrets-manager.GetSecretValue", _record)
    return calls


@pytest.fixture
def intake_log(monkeypatch) -> Callable[[], list[dict[str, Any]]]:
    """The intake's structured log lines (Powertools JSON), parsed, from this test only."""
    from reconciler.intake import logger

    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)

    def _lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]

    return _lines


@pytest.fixture
def assert_dropped(intake_log, drain) -> Callable[..., None]:
    """Check an EventBridge result is a logged drop: nothing queued, the reason in the result and in one log line."""

    def _check(result: dict[str, Any], reason: str, match: str) -> None:
        assert result["queued"] == 0 and result["jobs"] == [], result
        assert result["dropped"]["reason"] == reason, result
        assert re.search(match, result["dropped"]["error"]), result["dropped"]["error"]
        dropped = [line for line in intake_log() if line["message"] == "event dropped"]
        assert dropped, "no 'event dropped' log line"
        assert dropped[-1]["reason"] == reason and dropped[-1]["error"] == result["dropped"]["error"]
        assert drain() == []

    return _check


# --------------------------------------------------------------------------- rollout wake-ups

SAMPLES = Path(__file__).parent / "samples"
ROLLOUT_TABLE = "ecs-gitops-rollouts"


def sample_event(name: str) -> dict[str, Any]:
    """One of ``samples/*.json`` (AWS's documented example of that event, see samples/README.md), as a fresh copy."""
    return json.loads((SAMPLES / f"{name}.json").read_text())


def rollout_record(rollout_id: str, *, service: str = "frontend", suffix: str = "dev", to_colour: str = "green", phase: str = "baking",
                   spec_alarms: tuple[str, ...] = ("frontend-5xx",), digest: str = DIGEST) -> Any:
    """A running blue-green rollout of ``service`` in the environment with ``suffix``, named as the program names things."""
    from desired_state.schema import ImageRef, RolloutSpec
    from desired_state.traffic import ColourWeights
    from reconciler.rollout.model import RolloutPhase, RolloutRecord, RolloutResources

    colours = ("blue", "green")
    resources = RolloutResources(
        cluster=f"ecs-cluster-{suffix}",
        ecs_services={c: f"svc-{service}-{c}-{suffix}" for c in colours},
        target_groups={c: f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/tg-{service}-{c}-{suffix}/0123456789abcdef" for c in colours},
        repository=f"ecr-{service}-{suffix}",
        colour_alarms={c: [f"alarm-{service}-{c}-{kind}-{suffix}" for kind in ("5xx", "latency", "unhealthy")] for c in colours},
    )
    return RolloutRecord(
        rollout_id=rollout_id, stack=suffix, environment=suffix, service=service, phase=RolloutPhase(phase),
        from_colour="blue" if to_colour == "green" else "green", to_colour=to_colour,
        old_image=ImageRef(repository=service, tag="1.4.2"), new_image=ImageRef(repository=service, tag="1.5.0", digest=digest),
        spec=RolloutSpec(alarms=spec_alarms), resources=resources, live_desired_count=2,
        weights=ColourWeights(blue=100, green=0), phase_started_at=NOW, created_at=NOW, updated_at=NOW,
    )


@pytest.fixture
def rollout_aws(reconciler_aws) -> SimpleNamespace:
    """The rollout table and the standard tick queue, as template.yaml creates them, next to the intake's resources."""
    ddb, sqs = reconciler_aws.dynamodb, reconciler_aws.sqs
    ddb.create_table(TableName=ROLLOUT_TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    tick_queue = sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]

    def ticks() -> list[dict[str, Any]]:
        """Every tick message on the tick queue (bodies parsed, with their DelaySeconds), consumed."""
        found = []
        while True:
            batch = sqs.receive_message(QueueUrl=tick_queue, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=tick_queue, ReceiptHandle=message["ReceiptHandle"])

    return SimpleNamespace(table=ROLLOUT_TABLE, tick_queue_url=tick_queue, ticks=ticks, dynamodb=ddb, sqs=sqs)


@pytest.fixture
def rollout_store(rollout_aws) -> Any:
    from reconciler.rollout.store import RolloutStore

    return RolloutStore(rollout_aws.dynamodb, rollout_aws.table)


@pytest.fixture
def wake_intake(make_intake, rollout_aws, reconciler_aws) -> Callable[..., Any]:
    """``wake_intake(settings=None)``: an Intake that wakes rollouts through the real watch index and SQS tick scheduler (moto)."""
    from reconciler.rollout.controller import SqsTickScheduler
    from reconciler.rollout.watch import RolloutWatchIndex

    def _make(settings: ReconcilerSettings | None = None) -> Any:
        intake = make_intake(settings)
        intake.watches = RolloutWatchIndex(rollout_aws.dynamodb, rollout_aws.table)
        intake.ticks = SqsTickScheduler(rollout_aws.sqs, rollout_aws.tick_queue_url)
        return intake

    return _make
