"""End to end across real processes: moto_server on 127.0.0.1, the intake handler, the worker process.

A signed GitHub push webhook reaches the intake handler, becomes one job on the FIFO queue, and a
separate worker process (`python -m reconciler.worker --once`) fetches that exact commit from a
real git repository, validates it (schema + policy gate on the offline render) and tries to
apply. This machine has no Pulumi CLI, so the apply must fail at once with the install hint: the
audit record and the SNS notification must say exactly that, and the queue must be empty.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from reconciler.webhook import sign

pytestmark = pytest.mark.skipif(
    shutil.which("pulumi") is not None,
    reason="with a Pulumi CLI installed the worker would really apply; this run checks the no-CLI path",
)

ROOT = Path(__file__).resolve().parents[2]
MOTO_SERVER = Path(sys.executable).with_name("moto_server")
SECRET = "e2e-webhook-secret-8c1f"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def moto_server():
    port = free_port()
    process = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("moto_server did not start within 30 s")
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_signed_push_is_queued_once_and_the_worker_refuses_to_apply_without_the_cli(moto_server, tmp_path, monkeypatch):
    env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_server, "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "EcsGitopsE2E",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    session = boto3.session.Session(region_name="us-east-1")
    sqs, ddb, sns, sm = (session.client(n) for n in ("sqs", "dynamodb", "sns", "secretsmanager"))
    queue = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for table, keys in (("idem", ["id"]), ("state", ["pk"]), ("audit", ["pk", "sk"])):
        ddb.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"), strict=False)],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
        )
    topic = sns.create_topic(Name="notifications")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    sm.create_secret(Name="webhook", SecretString=SECRET)

    # The desired-state repo: the bundled examples, as a bare "git host" repository.
    seed = tmp_path / "seed"
    shutil.copytree(ROOT / "desired_state" / "example", seed)
    git("init", "-q", "-b", "main", cwd=seed)
    git("-c", "user.name=Dana", "-c", "user.email=dana@example.com", "add", ".", cwd=seed)
    git("-c", "user.name=Dana", "-c", "user.email=dana@example.com", "commit", "-qm", "desired state", cwd=seed)
    origin = tmp_path / "origin.git"
    git("clone", "-q", "--bare", str(seed), str(origin), cwd=tmp_path)
    head = git("rev-parse", "HEAD", cwd=seed)

    settings = tmp_path / "settings.yaml"
    settings.write_text(
        f"repository: {{url: {origin}, branch: main, webhookSecretId: webhook}}\n"
        f"environments: {{dev: {{stack: dev, suffix: dev}}}}\n"
        f"backendUrl: file://{tmp_path / 'backend'}\nworkDir: {tmp_path / 'work'}\n"
    )
    names = {
        "ECS_GITOPS_SETTINGS": str(settings), "ECS_GITOPS_JOB_QUEUE_URL": queue, "ECS_GITOPS_IDEMPOTENCY_TABLE": "idem",
        "ECS_GITOPS_STATE_TABLE": "state", "ECS_GITOPS_AUDIT_TABLE": "audit", "ECS_GITOPS_TOPIC_ARN": topic,
    }
    for key, value in names.items():
        monkeypatch.setenv(key, value)

    # 1. The webhook, delivered twice (GitHub redelivers), through the real Lambda handler.
    import reconciler.intake as intake

    monkeypatch.setattr(intake, "_intake", None)
    body = json.dumps({
        "ref": "refs/heads/main", "before": "0" * 39 + "1", "after": head,
        "head_commit": {"id": head, "author": {"name": "Dana", "username": "dana"}},
        "commits": [{"id": head, "added": [], "modified": ["environments/dev.yaml"], "removed": []}],
    })
    event = {
        "version": "2.0", "rawPath": "/", "isBase64Encoded": False, "body": body,
        "headers": {"content-type": "application/json", "x-github-event": "push", "x-github-delivery": "d-1", "x-hub-signature-256": sign(SECRET.encode(), body.encode())},
        "requestContext": {"http": {"method": "POST"}, "requestId": "req-1"},
    }

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "ecs-gitops-intake", 512, "req-1"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ecs-gitops-intake"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 30_000

    first = intake.handler(event, Context())
    again = intake.handler(event, Context())
    assert first["statusCode"] == 202 and json.loads(first["body"])["queued"] == 1
    assert json.loads(again["body"]) == {"queued": 0, "duplicates": 1, "jobs": json.loads(first["body"])["jobs"]}

    # 2. The worker, as its own process, drains the queue.
    worker = subprocess.run(
        [sys.executable, "-m", "reconciler.worker", "--once"], cwd=tmp_path, env={**os.environ, **env, **names},
        capture_output=True, text=True, timeout=240,
    )
    assert worker.returncode == 0, worker.stderr[-3000:]
    assert SECRET not in worker.stdout + worker.stderr

    # 3. One audit record saying exactly what happened, one notification, nothing left queued.
    items = ddb.query(TableName="audit", KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "dev"}})["Items"]
    assert len(items) == 1
    record = json.loads(items[0]["record"]["S"])
    assert (record["trigger"], record["eventId"], record["commit"]) == ("git-push", "github:d-1", head)
    assert record["author"] == "Dana <dana@example.com>"
    assert (record["outcome"], record["reason"], record["lastPhase"]) == ("failed", "EngineUnavailable", "plan")
    assert record["policy"]["passed"] is True and record["desiredStateDigest"].startswith("sha256:")
    assert "install the Pulumi CLI" in record["error"]

    messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    note = json.loads(envelope["Message"])
    assert (note["kind"], note["reason"], note["commit"]) == ("converge-failed", "EngineUnavailable", head)
    assert envelope["MessageAttributes"]["environment"]["Value"] == "dev"
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", []) == []
    status = json.loads(ddb.get_item(TableName="state", Key={"pk": {"S": "stack#dev"}})["Item"]["status"]["S"])
    assert status["lease"] is None and status["lastAppliedCommit"] is None and status["lastOutcome"] == "failed"
