"""Every subcommand, run as a person would (a fresh ``python -m reconciler.cli``), with bad arguments.

The subcommands and their options are read from the argparse parser itself, so a new subcommand
or option is covered without editing this file. Each case must end with exit code 2 (usage) or 1
(anything else), exactly one ``error:`` line on stderr, and never a Python traceback. AWS is
unreachable on purpose: credentials empty, config files ``/dev/null``, no instance metadata.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import reconciler
from desired_state.loader import EXAMPLE_DIR
from reconciler.cli import build_parser

REPO_ROOT = Path(reconciler.__file__).resolve().parents[1]
# argparse prints "ecs-gitops plan: error: ..."; the CLI itself prints "error: ...".
ERROR_LINE = re.compile(r"^(ecs-gitops[\w -]*: )?error: ", re.MULTILINE)


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def options_of(command: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in command._actions for option in action.option_strings}


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    expected_exit: int
    env: dict[str, str | None] = field(default_factory=dict)


class Files:
    """What the cases point at, under ``root``; :meth:`create` writes them (the case ids need only the names)."""

    AWS_SECTION = (
        "aws:\n  stateTable: ecs-gitops-state\n  auditTable: ecs-gitops-audit\n  rolloutTable: ecs-gitops-rollouts\n"
        "  tickQueueUrl: https://sqs.us-east-1.amazonaws.com/123456789012/ecs-gitops-ticks\n"
    )

    def __init__(self, root: Path):
        self.root = root
        self.repo = root / "desired-state"
        self.settings = root / "settings.yaml"
        self.aws_settings = root / "aws-settings.yaml"
        self.s3_backend_settings = root / "s3-settings.yaml"
        self.bad_yaml = root / "bad-yaml.yaml"
        self.wrong_schema = root / "wrong-schema.yaml"
        self.bad_json = root / "traffic-bad.json"
        self.bad_weights = root / "traffic-weights.json"
        self.missing = root / "no-such-file.yaml"
        self.broken_env_dir = root / "broken-ds"

    def create(self) -> Files:
        shutil.copytree(EXAMPLE_DIR, self.repo, ignore=shutil.ignore_patterns("__pycache__"))
        git = ["git", "-C", str(self.repo), "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
        subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "initial"], check=True)
        self.settings.write_text(self._settings_text())
        self.aws_settings.write_text(self._settings_text() + self.AWS_SECTION)
        self.s3_backend_settings.write_text(self._settings_text(backend="s3://example-ecs-gitops-state?region=us-east-1"))
        self.bad_yaml.write_text("environments: [dev\n  stack: {\n")
        self.wrong_schema.write_text("repository: {url: 3, branch: [x]}\nenvironments: 7\nnonsense: true\n")
        self.bad_json.write_text("{not json")
        self.bad_weights.write_text('{"services": {"frontend": {"weights": {"blue": 70, "green": 20}}}}')
        (self.broken_env_dir / "environments").mkdir(parents=True)
        (self.broken_env_dir / "environments" / "dev.yaml").write_text("environmentSuffix: dev\nnetwork: {cidr: 10.0.0.0/16, bogus: 1}\n")
        return self

    def _settings_text(self, backend: str | None = None) -> str:
        return (
            f"repository: {{url: {self.repo}}}\n"
            "environments:\n  dev: {stack: dev, suffix: dev}\n"
            f"backendUrl: {backend or 'file://' + str(self.root / 'backend')}\n"
            f"workDir: {self.root / 'work'}\n"
        )


NO_REGION = {"AWS_REGION": None, "AWS_DEFAULT_REGION": None}
REGION = {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


def base_argv(name: str, command: argparse.ArgumentParser, files: Files, state_dir: Path) -> list[str]:
    """The subcommand with every required argument filled in with something plausible."""
    plausible = {"--environment": "dev", "--by": "tester", "--commit": "a" * 40, "--desired-state": str(files.repo)}
    argv = [name]
    for action in command._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if not action.option_strings:
            argv.append(str(next(iter(action.choices))) if action.choices else "x")
        elif action.required:
            option = action.option_strings[-1]
            argv += [option, plausible.get(option) or (str(next(iter(action.choices))) if action.choices else "x")]
    if "--state-dir" in options_of(command):
        argv += ["--state-dir", str(state_dir)]
    if "--dry-run" in options_of(command):
        argv.append("--dry-run")  # without the Pulumi CLI only a dry run gets past the engine check
    return argv


def cases_for(name: str, command: argparse.ArgumentParser, files: Files) -> list[Case]:
    options = options_of(command)
    visible = {option for option, action in options.items() if action.help != argparse.SUPPRESS}
    base = base_argv(name, command, files, files.root / f"state-{name}")
    cases = [Case("unknown-option", (*base, "--no-such-option"), 2)]
    if any(action.required for action in command._actions):
        cases.append(Case("missing-required", (name,), 2))
    for option, action in options.items():
        if action.choices:
            cases.append(Case(f"bad-choice{option}", (*base, option, "no-such-choice"), 2))
    positionals = [a for a in command._actions if not a.option_strings and a.choices]
    if positionals:
        cases.append(Case("bad-positional", (name, "no-such-action", *base[2:]), 2))
    if "--environment" in options:
        with_settings = ("--settings", str(files.settings)) if "--settings" in options else ()
        cases.append(Case("unknown-environment", (*base, *with_settings, "--environment", "no-such-env"), 1))
    if "--desired-state" in visible:
        cases.append(Case("missing-desired-state", (*base, "--desired-state", str(files.root / "nowhere")), 1))
        if name != "reconcile":  # reconcile audits an invalid desired state as a refused converge
            cases.append(Case("invalid-desired-state", (*base, "--desired-state", str(files.broken_env_dir)), 1))
    if "--traffic-state" in options:
        cases += [
            Case("traffic-missing", (*base, "--traffic-state", str(files.missing)), 1),
            Case("traffic-not-json", (*base, "--traffic-state", str(files.bad_json)), 1),
            Case("traffic-bad-weights", (*base, "--traffic-state", str(files.bad_weights)), 1),
        ]
    if "--settings" in options:
        cases += [
            Case("settings-missing", (*base, "--settings", str(files.missing)), 1),
            Case("settings-directory", (*base, "--settings", str(files.root)), 1),
            Case("settings-bad-yaml", (*base, "--settings", str(files.bad_yaml)), 1),
            Case("settings-wrong-schema", (*base, "--settings", str(files.wrong_schema)), 1),
            Case("aws-no-region", (*base, "--settings", str(files.aws_settings)), 1, NO_REGION),
            Case("aws-no-credentials", (*base, "--settings", str(files.aws_settings)), 1, REGION),
        ]
        if name in ("locks", "unlock"):  # the commands that read the Pulumi backend's lock files
            cases.append(Case("s3-backend-no-credentials", (*base, "--settings", str(files.s3_backend_settings)), 1, NO_REGION))
    if name == "reconcile":  # the command that writes status and audit records under --state-dir
        cases.append(Case("state-dir-under-a-file", (*base, "--state-dir", "/dev/null/state"), 1))
    if "--branch" in options:
        cases.append(Case("branch-with-space", (*base, "--branch", "a b"), 1))
    if "--commit" in options:
        for label, ref in (("empty", ""), ("branch-name", "main"), ("too-short", "deadbe"), ("not-hex", "g" * 40),
                           ("too-long", "a" * 41), ("relative", "HEAD~1")):
            cases.append(Case(f"commit-{label}", (*base, "--commit", ref), 1))
    return cases


def aws_free_environment(home: Path) -> dict[str, str]:
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "ECS_GITOPS_", "PULUMI_")) and key not in ("HOME", "PYTHONPATH")
    }
    return {
        **environ,
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SESSION_TOKEN": "",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOME": str(home),
        "PYTHONPATH": str(REPO_ROOT),
        "GIT_TERMINAL_PROMPT": "0",
    }


def run(case: Case, home: Path) -> subprocess.CompletedProcess[str]:
    environ = aws_free_environment(home)
    for key, value in case.env.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *case.argv],
        capture_output=True, text=True, env=environ, cwd=home, timeout=180,
    )


def _case_ids() -> list[tuple[str, str]]:
    files = Files(Path("/nonexistent/cli-bad-arguments"))  # ids depend on the parser only, not on the files
    return [(name, case.id) for name, command in subcommands().items() for case in cases_for(name, command, files)]


ALL_CASES = _case_ids()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[tuple[str, str], tuple[Case, subprocess.CompletedProcess[str]]]:
    """Run every case once, a few at a time (each is a fresh interpreter)."""
    root = tmp_path_factory.mktemp("cli-bad-arguments")
    files = Files(root).create()
    home = root / "home"
    home.mkdir()
    cases = [(name, case) for name, command in subcommands().items() for case in cases_for(name, command, files)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda item: run(item[1], home), cases))
    return {(name, case.id): (case, result) for (name, case), result in zip(cases, results, strict=True)}


def test_every_subcommand_gets_its_bad_arguments():
    per_command: dict[str, int] = {}
    for name, _ in ALL_CASES:
        per_command[name] = per_command.get(name, 0) + 1
    assert set(per_command) == set(subcommands())
    assert min(per_command.values()) >= 4, per_command


@pytest.mark.parametrize(("command", "case_id"), ALL_CASES, ids=[f"{c}-{i}" for c, i in ALL_CASES])
def test_bad_arguments_give_one_error_line_and_no_traceback(outcomes, command, case_id):
    case, result = outcomes[(command, case_id)]
    shown = f"argv: {case.argv}\nexit: {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert result.returncode == case.expected_exit, shown
    assert len(ERROR_LINE.findall(result.stderr)) == 1, shown
    if case.expected_exit == 1:
        error_line = next(line for line in result.stderr.splitlines() if line.startswith("error: "))
        assert "unexpected" not in error_line, shown
