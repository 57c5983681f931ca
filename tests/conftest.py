"""Shared fixtures.

Pulumi's mocks are installed here, before any test module imports the program, so nothing the
program does at import time can reach a real engine. Each render then installs a fresh
recording monitor (see ``program.render.render``).

Property tests run derandomized by default (``suite`` profile): the same examples on every machine,
so what passed here passes in CI and a failure there reproduces here; no example is timed (wall-clock
bounds fail on a busy machine; speed lives in ``bench/``). ``HYPOTHESIS_PROFILE=explore`` draws fresh
examples, to look for new failures.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from hypothesis import settings

from program.mocks import OfflineMocks

settings.register_profile("suite", deadline=None, derandomize=True, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

pulumi.runtime.set_mocks(OfflineMocks("us-east-1"), project="ecs-gitops", stack="test", preview=False)

from desired_state.loader import EXAMPLE_DIR, load_environment, validate_document  # noqa: E402
from desired_state.schema import DesiredState  # noqa: E402
from desired_state.traffic import TrafficState  # noqa: E402
from program.platform import StackInputs  # noqa: E402
from program.render import RenderedStack, render  # noqa: E402


def example_document(environment: str = "dev") -> dict[str, Any]:
    """The bundled example environment as plain data, to mutate in a test."""
    return yaml.safe_load((EXAMPLE_DIR / "environments" / f"{environment}.yaml").read_text())


def render_state(state: DesiredState, traffic: TrafficState | None = None, permissions_boundary_arn: str | None = None) -> RenderedStack:
    secret_config = {
        spec.config_key: pulumi.Output.secret(f"test-value-of-{spec.config_key}")
        for spec in state.secrets.values()
        if spec.kind == "config" and spec.config_key
    }
    return render(
        StackInputs(desired=state, traffic=traffic or TrafficState(), secret_config=secret_config, permissions_boundary_arn=permissions_boundary_arn)
    )


@pytest.fixture(scope="session")
def example_dir() -> Path:
    return EXAMPLE_DIR


@pytest.fixture(scope="session")
def dev_state() -> DesiredState:
    return load_environment(EXAMPLE_DIR, "dev").state


@pytest.fixture(scope="session")
def prod_state() -> DesiredState:
    return load_environment(EXAMPLE_DIR, "prod").state


@pytest.fixture(scope="session")
def rendered_dev(dev_state: DesiredState) -> RenderedStack:
    return render_state(dev_state)


@pytest.fixture(scope="session")
def rendered_prod(prod_state: DesiredState) -> RenderedStack:
    return render_state(prod_state)


@pytest.fixture
def render_mutated() -> Callable[..., RenderedStack]:
    """Render an example environment after ``mutate(document)`` edits its plain data."""

    def _render(mutate: Callable[[dict[str, Any]], None], environment: str = "dev", traffic: TrafficState | None = None) -> RenderedStack:
        document = copy.deepcopy(example_document(environment))
        mutate(document)
        return render_state(validate_document(document, f"<mutated {environment}>"), traffic)

    return _render


@pytest.fixture
def write_environment(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``environments/<name>.yaml`` into a temp desired-state directory and return the directory."""

    def _write(name: str, text: str) -> Path:
        environments = tmp_path / "environments"
        environments.mkdir(exist_ok=True)
        (environments / f"{name}.yaml").write_text(text)
        return tmp_path

    return _write


# --------------------------------------------------------------------------- AWS (moto)

REGION = "us-east-1"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials so nothing can reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "EcsGitopsTest",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def aws(aws_credentials: None):
    """An in-process moto account; yields a boto3 session bound to it."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture
def reconciler_aws(aws):
    """The reconciler's own AWS resources, as template.yaml creates them: FIFO queue + DLQ, tables, topic, webhook secret."""
    from types import SimpleNamespace
    import json as _json

    sqs, ddb, sns, sm = (aws.client(n) for n in ("sqs", "dynamodb", "sns", "secretsmanager"))
    dlq = sqs.create_queue(QueueName="ecs-gitops-jobs-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName="ecs-gitops-jobs.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "false",
            "RedrivePolicy": _json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    ddb.create_table(TableName="ecs-gitops-idempotency", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.create_table(TableName="ecs-gitops-state", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.create_table(TableName="ecs-gitops-audit",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    topic = sns.create_topic(Name="ecs-gitops-notifications")["TopicArn"]
    # A subscriber queue, so tests can read exactly what SNS delivered (body and attributes).
    inbox = sqs.create_queue(QueueName="notifications-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    webhook_secret_value = "whsec-test-3f9a1c7e5b2d"
    sm.create_secret(Name="ecs-gitops/webhook", SecretString=webhook_secret_value)
    return SimpleNamespace(
        session=aws, sqs=sqs, dynamodb=ddb, sns=sns, secretsmanager=sm,
        queue_url=queue, dlq_url=dlq, topic_arn=topic, inbox_url=inbox,
        idempotency_table="ecs-gitops-idempotency", state_table="ecs-gitops-state", audit_table="ecs-gitops-audit",
        webhook_secret_id="ecs-gitops/webhook", webhook_secret=webhook_secret_value,
    )


def _read_notifications(sqs, inbox_url: str) -> list[dict]:
    """Every SNS message delivered to the inbox queue: {"subject", "message" (parsed JSON), "attributes"}."""
    import json as _json

    found = []
    while True:
        batch = sqs.receive_message(QueueUrl=inbox_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            envelope = _json.loads(message["Body"])
            found.append(
                {
                    "subject": envelope.get("Subject"),
                    "message": _json.loads(envelope["Message"]),
                    "attributes": {k: v["Value"] for k, v in (envelope.get("MessageAttributes") or {}).items()},
                }
            )
            sqs.delete_message(QueueUrl=inbox_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def read_notifications():
    """``read(sqs, inbox_url)``: every SNS message delivered to the inbox queue, consumed.

    A fixture rather than an import: test directories have no ``__init__.py``, so importing this
    conftest from a test module would run it a second time (and re-install the Pulumi mocks).
    """
    return _read_notifications
