"""``ecs-gitops reconcile`` and ``ecs-gitops approve`` on this machine (file state, no AWS, no Pulumi CLI)."""

from __future__ import annotations

import io
import json
import shutil

import pytest

from reconciler.cli import EXIT_INVALID, EXIT_OK, main
from reconciler.engine import INSTALL_HINT, AutomationEngine


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def no_pulumi_cli(monkeypatch):
    """The Pulumi CLI is absent (it is here anyway; this keeps the tests the same where it is installed)."""
    monkeypatch.setattr(AutomationEngine, "available", lambda self: False)


def audit_files(state_dir):
    return sorted((state_dir / "audit").rglob("*.json")) if (state_dir / "audit").exists() else []


def test_dry_run_on_a_git_repo_validates_and_writes_one_audit_record(git_repo, tmp_path, no_pulumi_cli, capsys):
    state = tmp_path / "state"
    code, out, err = run("reconcile", "--desired-state", str(git_repo.path), "--environment", "dev", "--dry-run", "--state-dir", str(state))

    assert code == EXIT_OK, err
    assert out == "dry-run: DryRun: schema and policy passed; engine preview skipped (no Pulumi CLI)\n"
    files = audit_files(state)
    assert len(files) == 1
    record = json.loads(files[0].read_text())
    assert record["outcome"] == "dry-run" and record["reason"] == "DryRun" and record["kind"] == "dry-run-complete"
    assert record["commit"] == git_repo.head
    assert record["trigger"] == "manual"
    assert record["policy"]["passed"] is True
    assert record["desiredStateDigest"]
    notification = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert notification["kind"] == "dry-run-complete" and notification["details"]["preview"].startswith("skipped")
    status = json.loads((state / "status" / "dev.status.json").read_text())
    assert status["lease"] is None and status["lastAppliedCommit"] is None and status["lastOutcome"] == "dry-run"


def test_without_pulumi_and_without_dry_run_it_stops_at_once(git_repo, tmp_path, no_pulumi_cli):
    state = tmp_path / "state"
    code, out, err = run("reconcile", "--desired-state", str(git_repo.path), "--environment", "dev", "--state-dir", str(state))

    assert code == EXIT_INVALID
    assert out == ""
    assert "cannot apply: the Pulumi CLI is not installed" in err
    assert INSTALL_HINT in err and "--dry-run" in err
    assert audit_files(state) == []


def test_dry_run_on_a_plain_directory(example_dir, tmp_path, no_pulumi_cli):
    plain = tmp_path / "plain"
    shutil.copytree(example_dir, plain)
    state = tmp_path / "state"
    code, out, err = run("reconcile", "--desired-state", str(plain), "--environment", "prod", "--dry-run", "--state-dir", str(state))

    assert code == EXIT_OK, err
    assert out.startswith("dry-run: DryRun:")
    files = audit_files(state)
    assert len(files) == 1
    record = json.loads(files[0].read_text())
    assert record["commit"] is None and record["environment"] == "prod" and record["policy"]["passed"] is True


def test_dry_run_of_an_invalid_directory_is_refused(write_environment, tmp_path, no_pulumi_cli):
    directory = write_environment("dev", "environmentSuffix: dev\nnetwork:\n  cidr: 10.0.0.0/16\n  bogus: 1\n")
    state = tmp_path / "state"
    code, out, _ = run("reconcile", "--desired-state", str(directory), "--environment", "dev", "--dry-run", "--state-dir", str(state))
    assert code == EXIT_INVALID
    assert out.startswith("refused: InvalidDesiredState:")
    assert "environments/dev.yaml:4: network.bogus" in out
    assert len(audit_files(state)) == 1


def test_unknown_environment_is_a_clear_error(git_repo, tmp_path):
    code, out, _ = run("reconcile", "--desired-state", str(git_repo.path), "--environment", "qa", "--dry-run", "--state-dir", str(tmp_path / "s"))
    assert code == EXIT_INVALID
    assert out.startswith("refused: InvalidDesiredState:")
    assert "environment 'qa' not found (known environments: dev, prod)" in out


def test_approve_with_nothing_pending_exits_1_with_a_clear_message(tmp_path):
    code, out, err = run(
        "approve", "--environment", "dev", "--commit", "a" * 40, "--by", "alice", "--state-dir", str(tmp_path / "state"),
        "--settings", str(_settings_file(tmp_path)),
    )
    assert code == EXIT_INVALID
    assert out == ""
    assert "nothing waits for approval on dev" in err


def _settings_file(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text(
        "repository: {url: " + str(tmp_path / "repo") + "}\n"
        "environments:\n  dev: {stack: dev, suffix: dev, requireApproval: true}\n"
        f"backendUrl: file://{tmp_path / 'state' / 'backend'}\n"
        f"workDir: {tmp_path / 'state' / 'work'}\n"
    )
    return path


def test_override_window_needs_a_name(git_repo, tmp_path, no_pulumi_cli):
    code, _, err = run(
        "reconcile", "--desired-state", str(git_repo.path), "--environment", "dev", "--dry-run",
        "--override-window", "hotfix", "--state-dir", str(tmp_path / "s"),
    )
    assert code == EXIT_INVALID
    assert "--override-window needs --by NAME" in err
