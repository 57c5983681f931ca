"""The Lambda entry point with Powertools (logger, tracer, metrics), and the intake's cold-start imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import reconciler.intake as intake_module
from reconciler.errors import SettingsError
from reconciler.models import Job

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="ecs-gitops-intake",
        function_version="$LATEST",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:ecs-gitops-intake",
        aws_request_id="52fdfc07-2182-154f-163f-5f0f9a621d72",
        get_remaining_time_in_millis=lambda: 30_000,
    )


def emf_blobs(stdout: str) -> list[dict]:
    blobs = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            blobs.append(document)
    return blobs


def metric(blob: dict, name: str) -> list[float]:
    """EMF writes a metric's values as a number or a list of numbers; normalise to a list."""
    value = blob[name]
    return value if isinstance(value, list) else [value]


def log_lines(stdout: str) -> list[dict]:
    lines = []
    for line in stdout.splitlines():
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict) and "message" in document and "level" in document:
            lines.append(document)
    return lines


def metric_names(blob: dict) -> set[str]:
    return {m["Name"] for directive in blob["_aws"]["CloudWatchMetrics"] for m in directive["Metrics"]}


def test_handler_returns_the_result_and_emits_jobs_queued(monkeypatch, capsys, intake, payloads, drain):
    monkeypatch.setattr(intake_module, "_intake", intake)
    # The Powertools log handler holds the stdout of import time; point it at this test's captured stdout.
    monkeypatch.setattr(intake_module.logger.registered_handler, "stream", sys.stdout)
    event = payloads.codecommit_change()

    result = intake_module.handler(event, lambda_context())

    assert result == {"queued": 2, "duplicates": 0, "jobs": [Job.make_id(event["id"], "dev"), Job.make_id(event["id"], "prod")]}
    assert len(drain()) == 2
    stdout = capsys.readouterr().out
    blobs = [b for b in emf_blobs(stdout) if "JobsQueued" in metric_names(b)]
    assert len(blobs) == 1
    blob = blobs[0]
    assert metric(blob, "JobsQueued") == [2.0]
    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "EcsGitops"
    assert blob["service"] == "ecs-gitops-intake"
    assert ["service"] in blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert "DuplicatesDropped" not in blob
    # Structured logs carry the Lambda context and the event id as correlation id.
    queued = [line for line in log_lines(stdout) if line["message"] == "job queued"]
    assert len(queued) == 2
    assert {line["correlation_id"] for line in queued} == {event["id"]}
    assert {line["function_request_id"] for line in queued} == {lambda_context().aws_request_id}
    assert {line["stack"] for line in queued} == {"dev", "prod"}


def test_handler_reports_duplicates_as_a_metric(monkeypatch, capsys, intake, payloads):
    monkeypatch.setattr(intake_module, "_intake", intake)
    event = payloads.ecr_image_action()

    intake_module.handler(event, lambda_context())
    capsys.readouterr()
    second = intake_module.handler(event, lambda_context())

    assert second["duplicates"] == 1
    [blob] = emf_blobs(capsys.readouterr().out)
    assert metric(blob, "JobsQueued") == [0.0]
    assert metric(blob, "DuplicatesDropped") == [1.0]


def test_handler_answers_a_webhook(monkeypatch, capsys, intake, reconciler_aws, payloads, drain):
    monkeypatch.setattr(intake_module, "_intake", intake)
    body = payloads.encode(payloads.github_push_payload())

    response = intake_module.handler(payloads.function_url_event(body, secret=reconciler_aws.webhook_secret), lambda_context())

    assert response["statusCode"] == 202
    assert json.loads(response["body"])["queued"] == 1
    assert len(drain()) == 1
    [blob] = emf_blobs(capsys.readouterr().out)
    assert metric(blob, "JobsQueued") == [1.0]


def test_handler_counts_rejected_webhooks(monkeypatch, capsys, intake, payloads):
    monkeypatch.setattr(intake_module, "_intake", intake)

    response = intake_module.handler(payloads.function_url_event(b"{}", secret=None), lambda_context())

    assert response["statusCode"] == 401
    [blob] = emf_blobs(capsys.readouterr().out)
    assert metric(blob, "WebhooksRejected") == [1.0]


def test_handler_drops_a_malformed_eventbridge_event_with_a_log_line(monkeypatch, capsys, intake, payloads, drain):
    # Changed with issue 9: the handler used to re-raise (Lambda retried an event that can never succeed).
    monkeypatch.setattr(intake_module, "_intake", intake)
    monkeypatch.setattr(intake_module.logger.registered_handler, "stream", sys.stdout)
    event = payloads.ecr_image_action()
    del event["detail"]["repository-name"]

    result = intake_module.handler(event, lambda_context())

    assert result["queued"] == 0 and result["dropped"]["reason"] == "InvalidEvent"
    assert "repository-name" in result["dropped"]["error"]
    assert drain() == []
    stdout = capsys.readouterr().out
    [line] = [line for line in log_lines(stdout) if line["message"] == "event dropped"]
    assert line["reason"] == "InvalidEvent" and "repository-name" in line["error"]
    assert line["correlation_id"] == event["id"]
    [blob] = [b for b in emf_blobs(stdout) if "EventsDropped" in metric_names(b)]
    assert metric(blob, "EventsDropped") == [1.0]


def test_handler_drops_a_bad_scheduler_tick(monkeypatch, intake, payloads, drain):
    monkeypatch.setattr(intake_module, "_intake", intake)

    result = intake_module.handler(payloads.scheduler_tick(kind="nonsense"), lambda_context())

    assert result["dropped"]["reason"] == "InvalidEvent"
    assert drain() == []


def test_handler_drops_an_event_that_is_not_an_object(monkeypatch, intake, drain, subtests):
    monkeypatch.setattr(intake_module, "_intake", intake)
    for event in ([1, 2], "text", None, 42):
        with subtests.test(event=event):
            result = intake_module.handler(event, lambda_context())
            assert result["dropped"]["reason"] == "InvalidEvent"
            assert drain() == []


def test_handler_gives_idempotency_records_an_in_progress_expiry(monkeypatch, intake, reconciler_aws, payloads):
    """Powertools needs the Lambda context (IdempotencyConfig.register_lambda_context) to bound INPROGRESS records.

    Without it the record carries no in_progress_expiration: an invocation that times out between
    "in progress" and "completed" blocks every redelivery of that event (IdempotencyAlreadyInProgressError)
    until the 7-day record expiry, instead of only until the timed-out invocation's deadline.
    """
    monkeypatch.setattr(intake_module, "_intake", intake)

    intake_module.handler(payloads.ecr_image_action(), lambda_context())

    [item] = reconciler_aws.dynamodb.scan(TableName=reconciler_aws.idempotency_table)["Items"]
    assert item["status"]["S"] == "COMPLETED"
    assert "in_progress_expiration" in item


def test_build_intake_wires_from_the_settings_file(monkeypatch, tmp_path, reconciler_aws, payloads, drain):
    settings = {
        "repository": {"url": "https://github.com/example-org/desired-state.git", "branch": "main", "webhookSecretId": reconciler_aws.webhook_secret_id},
        "environments": {"dev": {"stack": "dev", "suffix": "dev"}},
        "aws": {"jobQueueUrl": reconciler_aws.queue_url, "idempotencyTable": reconciler_aws.idempotency_table},
    }
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("ECS_GITOPS_SETTINGS", str(path))
    monkeypatch.setattr(intake_module, "_intake", None)

    result = intake_module.handler(payloads.ecr_image_action("ecr-frontend-dev"), lambda_context())

    assert result["queued"] == 1
    assert [m["job"]["environment"] for m in drain()] == ["dev"]
    assert isinstance(intake_module._intake, intake_module.Intake)  # cached for the next invocation


def test_build_intake_requires_the_queue_and_table(monkeypatch, tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"repository": {"url": "https://example.com/r.git"}, "environments": {}}))
    monkeypatch.setenv("ECS_GITOPS_SETTINGS", str(path))

    with pytest.raises(SettingsError, match="jobQueueUrl and aws.idempotencyTable are required"):
        intake_module.build_intake()


def test_intake_cold_start_imports_no_pulumi_program_or_policies():
    script = (
        "import sys, json, reconciler.intake\n"
        "def loaded(name): return any(m == name or m.startswith(name + '.') for m in sys.modules)\n"
        "print(json.dumps({n: loaded(n) for n in ('pulumi', 'pulumi_aws', 'program', 'policies', 'yaml', 'aws_xray_sdk')}))\n"
    )
    exact = "import sys, reconciler.intake; print(any(m == 'pulumi' or m.startswith('pulumi.') for m in sys.modules))"

    detail = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=True)
    brief = subprocess.run([sys.executable, "-c", exact], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=True)

    assert brief.stdout.strip() == "False"
    # yaml is read only with the settings file (load_settings); X-Ray only where tracing is on.
    assert json.loads(detail.stdout) == {
        "pulumi": False, "pulumi_aws": False, "program": False, "policies": False, "yaml": False, "aws_xray_sdk": False,
    }


# --------------------------------------------------------------------------- tracing only where it is on (issue 10)

TRACED_CHILD = r"""
import json, os, socket, sys
daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
daemon.bind(("127.0.0.1", 0))
daemon.settimeout(5)
os.environ["AWS_XRAY_DAEMON_ADDRESS"] = "127.0.0.1:%d" % daemon.getsockname()[1]
import reconciler.intake as intake
import botocore.client
from types import SimpleNamespace
context = SimpleNamespace(function_name="ecs-gitops-intake", function_version="$LATEST", memory_limit_in_mb=256,
                          invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:ecs-gitops-intake",
                          aws_request_id="req-1", get_remaining_time_in_millis=lambda: 30000)
try:
    intake.handler({"source": "aws.ecr"}, context)  # no settings file: build_intake raises, the subsegment records it
except Exception as exc:
    raised = type(exc).__name__
segments = []
try:
    while True:
        segments.append(daemon.recv(65536).decode().split("\n", 1)[1])
except socket.timeout:
    pass
print(json.dumps({"tracer": intake.tracer is not None, "xray": "aws_xray_sdk" in sys.modules, "raised": raised,
                  "botocore_patched": hasattr(botocore.client.BaseClient._make_api_call, "__wrapped__"),
                  "subsegments": [json.loads(s).get("name") for s in segments]}))
"""

UNTRACED_CHILD = "import json, sys, reconciler.intake as i; print(json.dumps({'tracer': i.tracer is not None, 'xray': 'aws_xray_sdk' in sys.modules}))"


def _child(script: str, env: dict[str, str]) -> dict:
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_TRACE", "LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL", "_X_AMZN", "ECS_GITOPS"))}
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_with_tracing_on_the_handler_is_traced_and_boto3_patched():
    """In Lambda with tracing on: the Tracer exists, botocore calls are patched, and an invocation sends a handler subsegment."""
    lambda_env = {"LAMBDA_TASK_ROOT": str(PROJECT_ROOT), "AWS_LAMBDA_FUNCTION_NAME": "ecs-gitops-intake",
                  "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}

    found = _child(TRACED_CHILD, lambda_env)

    assert found["tracer"] and found["xray"] and found["botocore_patched"]
    assert found["raised"] == "SettingsError"
    assert "## handler" in found["subsegments"]


@pytest.mark.parametrize(
    "env",
    [
        {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"},  # switched off in Lambda
        {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"},
        {"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"},  # sam local: no X-Ray daemon
        {},  # outside Lambda: tests, the CLI, the bench
    ],
    ids=["disabled", "disabled-1", "sam-local", "outside-lambda"],
)
def test_with_tracing_off_the_xray_sdk_is_never_imported(env):
    assert _child(UNTRACED_CHILD, env) == {"tracer": False, "xray": False}


def test_tracing_enabled_follows_powertools_rule():
    assert intake_module.tracing_enabled({"LAMBDA_TASK_ROOT": "/var/task"}) is True
    assert intake_module.tracing_enabled({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}) is True
    assert intake_module.tracing_enabled({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "TRUE"}) is False
    assert intake_module.tracing_enabled({"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"}) is False
    assert intake_module.tracing_enabled({}) is False


def test_intake_import_builds_no_model_and_loads_no_per_event_or_error_module():
    """What the cold start saves must stay saved: importing the intake builds no pydantic validator (a model
    instance as a field default, e.g. ``floors: Floors = Floors()``, builds its class and pydantic's plugin
    machinery at import), and leaves the wake-up event models and the credential patterns for first use."""
    script = (
        "import sys, json, inspect, pydantic, reconciler.intake\n"
        "built = sorted(f'{m}.{n}' for m in ('reconciler.settings', 'reconciler.models', 'reconciler.event_models', 'reconciler.record')\n"
        "    for n, c in inspect.getmembers(sys.modules[m], inspect.isclass)\n"
        "    if issubclass(c, pydantic.BaseModel) and c.__module__ == m and c.__dict__.get('__pydantic_complete__'))\n"
        "print(json.dumps({'built': built, 'loaded': [n for n in ('reconciler.wakeup_models', 'desired_state.credentials') if n in sys.modules]}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=True)

    assert json.loads(result.stdout) == {"built": [], "loaded": []}
