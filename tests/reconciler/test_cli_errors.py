"""The command line's error handling: one ``error:`` line with what to do, exit 1, ``--debug`` for the traceback.

The cases the robustness review reproduced (each printed a traceback before), then the mapping of
every kind of error the commands can meet, and the redaction of everything printed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ValidationError

import reconciler
from reconciler import cli
from reconciler.cli import EXIT_INVALID, EXIT_USAGE, main
from reconciler.cli_errors import describe_error, error_lines
from reconciler.errors import SourceError
from tests.reconciler.cli_run import run

REPO_ROOT = Path(reconciler.__file__).resolve().parents[1]
EXAMPLE_SETTINGS = REPO_ROOT / "reconciler-settings.example.yaml"



@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No AWS credentials, config or region anywhere; no instance metadata to ask."""
    for variable in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(variable, "")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for variable in ("ECS_GITOPS_SETTINGS", "ECS_GITOPS_STATE_TABLE", "ECS_GITOPS_AUDIT_TABLE", "ECS_GITOPS_ROLLOUT_TABLE",
                     "ECS_GITOPS_TICK_QUEUE_URL", "ECS_GITOPS_JOB_QUEUE_URL", "ECS_GITOPS_TOPIC_ARN"):
        monkeypatch.delenv(variable, raising=False)


def assert_one_error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------------------- the reproduced cases


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("main", "error: --commit 'main' is not a commit SHA"),
        ("deadbe", "error: --commit deadbe is too short to name one commit"),
        ("", "error: --commit is empty"),
    ],
)
def test_reconcile_commit_that_cannot_name_a_commit_is_one_error_line(git_repo, tmp_path, ref, expected):
    code, out, err = run("reconcile", "--desired-state", str(git_repo.path), "--environment", "dev", "--dry-run",
                         "--commit", ref, "--state-dir", str(tmp_path / "state"))
    assert (code, out) == (EXIT_INVALID, "")
    assert assert_one_error_line(err).startswith(expected)
    assert "full SHA, or a unique prefix of at least 7 hex characters" in err
    assert not (tmp_path / "state" / "audit").exists()


def test_reconcile_branch_with_a_space_names_the_option(git_repo, tmp_path):
    code, _, err = run("reconcile", "--desired-state", str(git_repo.path), "--environment", "dev", "--dry-run",
                       "--branch", "a b", "--state-dir", str(tmp_path / "state"))
    assert code == EXIT_INVALID
    assert assert_one_error_line(err) == (
        "error: --branch: 'a b' is not a branch name (give a branch name such as main: letters, digits and . _ / -)"
    )


def test_locks_with_the_example_settings_and_no_aws_credentials(no_aws, tmp_path):
    code, out, err = run("locks", "--settings", str(EXAMPLE_SETTINGS), "--environment", "prod", "--state-dir", str(tmp_path / "s"))
    assert (code, out) == (EXIT_INVALID, "")
    assert assert_one_error_line(err).startswith("error: no AWS credentials found (set AWS_PROFILE")


def _aws_settings(tmp_path: Path) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({
        "repository": {"url": str(tmp_path / "repo")},
        "environments": {"dev": {"stack": "dev", "suffix": "dev"}},
        "backendUrl": f"file://{tmp_path / 'backend'}",
        "workDir": str(tmp_path / "work"),
        "aws": {"rolloutTable": "ecs-gitops-rollouts", "tickQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/ticks"},
    }))
    return path


def test_rollout_status_with_aws_settings_and_no_region(no_aws, tmp_path):
    code, _, err = run("rollout", "status", "--environment", "dev", "--service", "frontend",
                       "--settings", str(_aws_settings(tmp_path)), "--state-dir", str(tmp_path / "s"))
    assert code == EXIT_INVALID
    line = assert_one_error_line(err)
    assert line.startswith("error: the settings name AWS resources (aws.rolloutTable, aws.tickQueueUrl) but no AWS region is configured")
    assert "AWS_DEFAULT_REGION" in line


def test_rollout_status_with_a_region_and_no_credentials(no_aws, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    code, _, err = run("rollout", "status", "--environment", "dev", "--service", "frontend",
                       "--settings", str(_aws_settings(tmp_path)), "--state-dir", str(tmp_path / "s"))
    assert code == EXIT_INVALID
    assert assert_one_error_line(err).startswith("error: no AWS credentials found")


def test_an_empty_region_variable_is_no_region(no_aws, tmp_path, monkeypatch):
    """An empty AWS_DEFAULT_REGION made botocore build https://elasticloadbalancing..amazonaws.com and raise ValueError."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "")
    code, _, err = run("rollout", "status", "--environment", "dev", "--service", "frontend",
                       "--settings", str(_aws_settings(tmp_path)), "--state-dir", str(tmp_path / "s"))
    assert code == EXIT_INVALID
    assert "no AWS region is configured" in assert_one_error_line(err)


# --------------------------------------------------------------------------- --debug, the unexpected, interrupts


def _raising(exc: BaseException):
    def handler(args, out):
        out.write("partial output\n")
        raise exc

    return handler


def test_an_unexpected_exception_is_one_line_naming_its_type(monkeypatch):
    monkeypatch.setattr(cli, "_cmd_plan", _raising(RuntimeError("the cache\nbroke")))
    code, out, err = run("plan")
    assert code == EXIT_INVALID
    assert out == "partial output\n"
    assert err == "error: unexpected RuntimeError: the cache broke; rerun with --debug for the traceback\n"


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_then_the_error_line(monkeypatch, where):
    monkeypatch.setattr(cli, "_cmd_plan", _raising(RuntimeError("boom")))
    argv = ["--debug", "plan"] if where == "before" else ["plan", "--debug"]
    code, _, err = run(*argv)
    assert code == EXIT_INVALID
    assert err.startswith("Traceback (most recent call last):")
    assert 'raise exc' in err and "RuntimeError: boom" in err
    assert err.splitlines()[-1] == "error: unexpected RuntimeError: boom; rerun with --debug for the traceback"


def test_an_interrupt_is_one_line_and_exit_1(monkeypatch):
    monkeypatch.setattr(cli, "_cmd_plan", _raising(KeyboardInterrupt()))
    code, _, err = run("plan")
    assert code == EXIT_INVALID
    assert err.startswith("error: interrupted (")
    assert_one_error_line(err)


def test_a_secret_in_an_error_or_in_the_output_is_masked(monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct-horse-battery")

    def handler(args, out):
        out.write("passphrase correct-horse-battery, key AKIAIOSFODNN7EXAMPLE\n")
        raise SourceError("git fetch https://bot:correct-horse-battery@git.example.com/repo failed with AKIAIOSFODNN7EXAMPLE")

    monkeypatch.setattr(cli, "_cmd_plan", handler)
    code, out, err = run("plan")
    assert code == EXIT_INVALID
    for text in (out, err):
        assert "correct-horse-battery" not in text and "AKIAIOSFODNN7EXAMPLE" not in text
    assert out == "passphrase [redacted], key [redacted]\n"
    assert err.startswith("error: git fetch https://[redacted]@git.example.com/repo failed with [redacted]")


def test_what_a_library_prints_on_stderr_is_masked_too(monkeypatch, capsys):
    """Local notifications (StreamNotifier) and library warnings go to sys.stderr, not through ``err``."""
    monkeypatch.setenv("PULUMI_ACCESS_TOKEN", "pul-0123456789abcdef")

    def handler(args, out):
        print("token pul-0123456789abcdef in a notification", file=sys.stderr)
        return 0

    monkeypatch.setattr(cli, "_cmd_plan", handler)
    assert run("plan")[0] == 0
    assert capsys.readouterr().err == "token [redacted] in a notification\n"


def test_a_logged_failure_shows_no_traceback_unless_debug(monkeypatch):
    import logging

    def handler(args, out):
        try:
            raise ValueError("inner AKIAIOSFODNN7EXAMPLE")
        except ValueError:
            logging.getLogger("reconciler.converge").exception("could not record the failed job")
        raise SourceError("fetch failed")

    monkeypatch.setattr(cli, "_cmd_plan", handler)
    code, _, err = run("plan")
    assert code == EXIT_INVALID
    assert err == "log ERROR: could not record the failed job\nerror: fetch failed\n"
    code, _, err = run("plan", "--debug")
    assert "ValueError: inner [redacted]" in err and "AKIAIOSFODNN7EXAMPLE" not in err


def test_a_usage_error_stays_exit_2_and_is_masked(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["plan", "--unknown", "AKIAIOSFODNN7EXAMPLE"])
    assert exit_.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "unrecognized arguments: --unknown [redacted]" in err and "AKIAIOSFODNN7EXAMPLE" not in err


def test_a_closed_stdout_pipe_ends_quietly():
    """``ecs-gitops plan | head -1``: the reader goes away; no traceback, no complaint at exit."""
    pipeline = subprocess.run(
        f"'{sys.executable}' -m reconciler.cli plan --output json | head -c 10",
        shell=True, capture_output=True, text=True, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}, timeout=180,
    )
    assert pipeline.stdout == '{\n  "envir'
    assert pipeline.stderr == ""


# --------------------------------------------------------------------------- the mapping itself


def _client_error(code: str, operation: str = "GetItem"):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, operation)


class _Limits(BaseModel):
    count: int


def _validation_error() -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _Limits(count="many")
    return caught.value


def _botocore(name: str, **kwargs):
    from botocore import exceptions

    return getattr(exceptions, name)(**kwargs)


def _wrapped_by_the_converger(cause: BaseException):
    from reconciler.errors import UnexpectedJobError

    try:
        raise UnexpectedJobError("job j on stack dev failed unexpectedly in guards", None) from cause
    except UnexpectedJobError as exc:
        return exc


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: _botocore("NoCredentialsError"), "no AWS credentials found (set AWS_PROFILE"),
        (lambda: _botocore("NoRegionError"), "no AWS region configured (set AWS_DEFAULT_REGION"),
        (lambda: _botocore("ProfileNotFound", profile="ops"), "AWS profile 'ops' not found (fix AWS_PROFILE"),
        (lambda: _botocore("EndpointConnectionError", endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
         "cannot reach AWS at https://dynamodb.us-east-1.amazonaws.com (check the network"),
        (lambda: _client_error("ExpiredTokenException"), "AWS refused the credentials in GetItem (ExpiredTokenException: "),
        (lambda: _client_error("AccessDeniedException"), "AWS denied GetItem (AccessDeniedException: AccessDeniedException happened) (grant"),
        (lambda: _client_error("ResourceNotFoundException"), "AWS has no such resource in GetItem (ResourceNotFoundException: "),
        (lambda: _client_error("ThrottlingException"), "AWS call GetItem failed (ThrottlingException: ThrottlingException happened) (rerun with --debug"),
        (lambda: FileNotFoundError(2, "No such file or directory", "/etc/ecs-gitops/settings.yaml"),
         "/etc/ecs-gitops/settings.yaml: No such file or directory (check the path"),
        (lambda: yaml.YAMLError("mapping values are not allowed here"), "not valid YAML: mapping values are not allowed here (fix"),
        (_validation_error, "invalid _Limits: count: Input should be a valid integer"),
        (lambda: SourceError("commit 3f2a9c1 is not on branch main; converge the branch head"), "commit 3f2a9c1 is not on branch main; converge"),
        (lambda: KeyError("x"), "unexpected KeyError: 'x'; rerun with --debug for the traceback"),
        # A converge records what it did not expect and re-raises it wrapped: the cause is what a person reads.
        (lambda: _wrapped_by_the_converger(_botocore("NoCredentialsError")), "no AWS credentials found (set AWS_PROFILE"),
        (lambda: _wrapped_by_the_converger(NotADirectoryError(20, "Not a directory", "/dev/null/state")), "/dev/null/state: Not a directory"),
    ],
)
def test_each_kind_of_error_reads_as_what_and_what_to_do(make, expected):
    exc = make()
    assert describe_error(exc).startswith(expected)
    lines = error_lines(exc)
    assert lines[0].startswith("error: ") and all(not line.startswith("error: ") for line in lines[1:])
