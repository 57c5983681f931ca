"""The worker process: ``main`` takes the tests' own components, its loop outlives failing rounds,
and an uncaught exception is logged scrubbed by the process-level handlers, never printed raw."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from reconciler.adapters.audit import DynamoAuditLog
from reconciler.adapters.notify import SnsNotifier
from reconciler.adapters.queue import JobQueue
from reconciler.adapters.stack_state import DynamoStackStateStore
from reconciler.events import Reason
from reconciler.redact import Redactor
from reconciler.wiring import Components
from reconciler.worker import Backoff, Worker, WorkerTimings, install_process_handlers, main, serve

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "hunter2-passphrase-77"


@pytest.fixture
def components(make_harness, reconciler_aws):
    aws = reconciler_aws
    harness = make_harness(
        states=DynamoStackStateStore(aws.dynamodb, aws.state_table),
        audit=DynamoAuditLog(aws.dynamodb, aws.audit_table),
        notifier=SnsNotifier(aws.sns, aws.topic_arn),
    )
    queue = JobQueue(aws.sqs, aws.queue_url)
    built = Components(harness.settings, harness.states, harness.audit, harness.notifier, harness.source, harness.engine,
                       harness.redactor, queue, None, aws.session)
    return harness, built


def test_main_runs_with_the_callers_components(components, git_repo):
    harness, built = components
    commit = git_repo.bump("dev")
    built.queue.send(harness.job(commit))

    assert main(["--once"], components=built, configure_process=False) == 0

    assert harness.status().last_applied_commit == commit
    assert [r.reason for r in harness.history()] == [Reason.APPLIED]
    assert harness.engine.operations == ["preview", "up"]


def test_main_without_a_queue_says_what_to_set(components, caplog):
    _, built = components
    built.queue = None
    assert main(["--once"], components=built, configure_process=False) == 2
    assert "aws.jobQueueUrl" in caplog.text


class StopLoop(BaseException):
    """Ends the endless loop from inside a test (a BaseException, as an interrupt would)."""


def test_the_loop_outlives_a_round_that_fails_and_backs_off(components, git_repo):
    harness, built = components
    commit = git_repo.bump("dev")
    built.queue.send(harness.job(commit))
    rounds: list[str] = []

    class FlakyQueue(JobQueue):
        """The real queue; its first receive fails as SQS does when throttled, its third ends the test."""

        def receive(self, *args, **kwargs):
            rounds.append("receive")
            if len(rounds) == 1:
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": f"slow down {PASSPHRASE}"}}, "ReceiveMessage")
            if len(rounds) == 3:
                raise StopLoop()
            return super().receive(*args, **kwargs)

    slept: list[float] = []
    worker = Worker(FlakyQueue(built.queue._sqs, built.queue._url), built.converger())
    with pytest.raises(StopLoop):
        serve(worker, once=False, wait_seconds=0, sleep=slept.append, timings=WorkerTimings(loop_retry=Backoff(base_seconds=5, cap_seconds=300)))

    assert slept == [5]
    assert harness.status().last_applied_commit == commit  # the second round converged the job


def test_once_mode_stops_with_exit_code_1_when_a_round_fails(components):
    _, built = components

    class BrokenQueue(JobQueue):
        def receive(self, *args, **kwargs):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "ReceiveMessage")

    worker = Worker(BrokenQueue(built.queue._sqs, built.queue._url), built.converger())
    assert serve(worker, once=True, wait_seconds=0, sleep=lambda s: None, timings=WorkerTimings()) == 1


def test_the_process_handlers_log_a_thread_crash_scrubbed(caplog):
    redactor = Redactor([PASSPHRASE])
    previous = sys.excepthook, threading.excepthook
    try:
        install_process_handlers(redactor)

        def crash() -> None:
            raise RuntimeError(f"lost the lease for {PASSPHRASE}")

        thread = threading.Thread(target=crash)
        thread.start()
        thread.join()
    finally:
        sys.excepthook, threading.excepthook = previous
    [record] = [r for r in caplog.records if r.name == "ecs_gitops.worker"]
    assert record.levelname == "CRITICAL" and "worker thread" in record.getMessage()
    assert "RuntimeError: lost the lease for [redacted]" in record.getMessage()
    assert PASSPHRASE not in caplog.text


def _run_worker(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        "repository:\n"
        f"  url: {tmp_path / 'repo'}\n"
        "  webhookSecretId: ecs-gitops/webhook\n"
        "environments:\n"
        "  dev: {stack: dev, suffix: dev}\n"
        f"backendUrl: file://{tmp_path / 'backend'}\n"
        f"workDir: {tmp_path / 'work'}\n"
        "aws:\n"
        "  jobQueueUrl: https://sqs.us-east-1.amazonaws.com/123456789012/ecs-gitops-jobs.fifo\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_GITOPS_", "PULUMI_"))}
    return subprocess.run(
        [sys.executable, "-m", "reconciler.worker", "--once"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**base, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), "ECS_GITOPS_SETTINGS": str(settings),
             "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
             "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard", **env},
    )


def test_an_uncaught_exception_in_the_worker_process_is_logged_scrubbed(tmp_path):
    """``build`` reads the webhook secret; the endpoint is unreachable and its URL carries a registered secret."""
    result = _run_worker(tmp_path, PULUMI_CONFIG_PASSPHRASE=PASSPHRASE, AWS_ENDPOINT_URL=f"http://127.0.0.1:9/{PASSPHRASE}")

    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert PASSPHRASE not in output
    assert 'Could not connect to the endpoint URL: "http://127.0.0.1:9/[redacted]"' in output  # the cause is still there, scrubbed
    # Logged once through the worker's logger (so the redacting filter sees it), traceback scrubbed.
    assert output.count("CRITICAL ecs_gitops.worker worker stopped by an unexpected error") == 1
    assert output.count("Traceback (most recent call last)") >= 1


def test_bad_settings_stop_the_worker_with_one_line_and_no_traceback(tmp_path):
    result = _run_worker(tmp_path, ECS_GITOPS_SETTINGS=str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "cannot read reconciler settings" in result.stderr
