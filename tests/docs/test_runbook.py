"""The runbook's commands exist: every command line in a fenced shell block of ``docs/operations.md``.

- ``ecs-gitops ...``: parsed by the CLI's own parser (``reconciler.cli.build_parser()``), the
  placeholders (``<ENV>``, ``<SHA>``, ...) replaced by sample values first.
- ``aws <service> <operation>``: the operation is in botocore's model of that service, and every
  ``--option`` is a member of its input (or a global option of the AWS CLI).
- ``sam``: a SAM CLI command; ``--parameter-overrides`` keys are ``template.yaml`` parameters, and a
  first deploy passes every parameter that has no default.
- ``git``: a subcommand the installed git knows. ``docker`` and ``pulumi``: their documented commands.
- A line of any other tool fails: the runbook uses only the project's documented toolchain.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import botocore
import botocore.session
import pytest
import yaml

from reconciler.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "operations.md"
TEMPLATE = ROOT / "template.yaml"

SAMPLES = {
    "<ENV>": "prod",
    "<SERVICE>": "frontend",
    "<SHA>": "0123456789abcdef0123456789abcdef01234567",
    "<NAME>": "alice",
    "<REASON>": "incident INC-42",
    "<REPO-URL>": "codecommit::us-east-1://desired-state",
    "<REPO-DIR>": "desired_state/example",
    "<ACCOUNT>": "123456789012",
    "<REGION>": "us-east-1",
    "<TAG>": "1.0.0",
    "<IMAGE-URI>": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecs-gitops-worker@sha256:" + "a" * 64,
    "<SUBNET-IDS>": "subnet-0a1b2c3d,subnet-4e5f6a7b",
    "<VPC-ID>": "vpc-0a1b2c3d",
    "<BUCKET>": "example-ecs-gitops-state",
    "<STATE-BUCKET>": "example-ecs-gitops-state",
    "<KEY-ARN>": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "<POLICY-ARN>": "arn:aws:iam::123456789012:policy/ecs-gitops-deploy",
    "<TOPIC-ARN>": "arn:aws:sns:us-east-1:123456789012:ecs-gitops-notifications",
    "<EMAIL>": "release-engineering@example.com",
    "<INTAKE-FUNCTION>": "ecs-gitops-IntakeFunction-AbCdEf",
    "<DATE>": "2025-03-05",
    "<NEW-SECRET>": "whsec-new",
    "<WORKER-CLUSTER>": "ecs-gitops-workers",
    "<WORKER-SERVICE>": "ecs-gitops-WorkerService-AbCdEf",
    "<CONFIG-KEY>": "partnerApiKey",
    "<STACK>": "prod",
    "<SUFFIX>": "prod",
    "<DLQ-URL>": "https://sqs.us-east-1.amazonaws.com/123456789012/ecs-gitops-jobs-dlq.fifo",
    "<TICK-DLQ-URL>": "https://sqs.us-east-1.amazonaws.com/123456789012/ecs-gitops-rollout-ticks-dlq",
    "<TASK-ARN>": "arn:aws:ecs:us-east-1:123456789012:task/ecs-gitops-workers/0123456789abcdef",
    "<RESOURCE-NAME>": "sg-api-gateway-prod",
}
PLACEHOLDER = re.compile(r"<[A-Z][A-Z-]*>")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
SEPARATORS = {"|", "||", "&&", ";", ">", ">>", "<", "&"}

# The AWS CLI's global options, accepted by every operation (`aws help`, "Global Options"), and the
# pagination options it adds to paginated operations.
AWS_GLOBAL_OPTIONS = {
    "--debug", "--endpoint-url", "--no-verify-ssl", "--no-paginate", "--output", "--query", "--profile", "--region", "--version",
    "--color", "--no-sign-request", "--ca-bundle", "--cli-read-timeout", "--cli-connect-timeout", "--cli-binary-format",
    "--no-cli-pager", "--cli-auto-prompt", "--no-cli-auto-prompt", "--cli-input-json", "--cli-input-yaml", "--generate-cli-skeleton",
    "--max-items", "--page-size", "--starting-token",
}
# The AWS CLI's service names that differ from botocore's.
AWS_SERVICE_NAMES = {"s3api": "s3"}
# Commands the AWS CLI adds on top of botocore's operations (awscli/customizations), with their options.
AWS_CUSTOMIZATIONS = {
    ("ecr", "get-login-password"): set(),
    ("logs", "tail"): {"--follow", "--since", "--filter-pattern", "--format"},
}
# Options the AWS CLI renames (awscli/customizations/argrename.py): (service, operation, CLI option) -> member.
AWS_RENAMED_OPTIONS = {("sns", "subscribe", "--notification-endpoint"): "Endpoint"}
# SAM CLI commands (`sam --help`) and CloudFormation's capabilities.
SAM_COMMANDS = {"init", "build", "local", "validate", "package", "deploy", "delete", "logs", "publish", "sync", "list", "pipeline", "traces", "remote", "docs"}
CAPABILITIES = {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"}
# Docker CLI and Pulumi CLI commands the runbook may use (their `--help`); neither CLI is installed here.
DOCKER_COMMANDS = {"build", "push", "tag", "login", "pull", "images", "image", "run"}
PULUMI_COMMANDS = {
    "login": set(), "logout": set(), "preview": set(), "up": set(), "refresh": set(), "destroy": set(), "cancel": set(),
    "stack": {"select", "rm", "init", "ls", "output", "export", "import", "history"}, "config": {"set", "get", "rm"},
}


@dataclass(frozen=True)
class CommandLine:
    line: int
    text: str
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return f"docs/operations.md:{self.line}: {self.text}"


def shell_lines(markdown: str) -> list[tuple[int, str]]:
    """(line number, logical line) of every fenced shell block; continuations joined, comments kept for shlex."""
    found: list[tuple[int, str]] = []
    inside, pending, start = False, "", 0
    for number, raw in enumerate(markdown.splitlines(), start=1):
        fence = FENCE.match(raw)
        if fence:
            inside = not inside and fence["lang"] in SHELL_LANGUAGES if not inside else False
            continue
        if not inside or not raw.strip():
            continue
        text = raw.strip()
        if not pending:
            start = number
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        found.append((start, pending + text))
        pending = ""
    return found


def commands_of(number: int, text: str) -> list[CommandLine]:
    """The commands of one shell line (split at pipes, ``&&``, ``;``, redirections), placeholders replaced."""
    substituted = text
    for placeholder, sample in SAMPLES.items():
        substituted = substituted.replace(placeholder, sample)
    left = PLACEHOLDER.findall(substituted)
    assert not left, f"docs/operations.md:{number}: placeholder(s) {left} have no sample value in SAMPLES; add one"
    lexer = shlex.shlex(substituted, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    commands, current = [], []
    for token in tokens:
        if token in SEPARATORS:
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    if current:
        commands.append(current)
    # A redirection's target is not a command.
    return [CommandLine(number, text, tuple(argv)) for argv in commands if argv and not re.fullmatch(r"[\w./-]+\.(csv|json|txt)", argv[0])]


def runbook_commands(markdown: str) -> list[CommandLine]:
    return [command for number, text in shell_lines(markdown) for command in commands_of(number, text)]


# ---------------------------------------------------------------------- the checks


def check_ecs_gitops(command: CommandLine) -> str | None:
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(list(command.argv[1:]))
    except SystemExit as exc:
        return f"ecs-gitops does not accept it (exit {exc.code}): {stderr.getvalue().strip().splitlines()[-1] if stderr.getvalue().strip() else ''}"
    return None


@cache
def _botocore_session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def _operations(service: str) -> dict[str, str]:
    model = _botocore_session().get_service_model(service)
    return {botocore.xform_name(name, "-"): name for name in model.operation_names}


def check_aws(command: CommandLine) -> str | None:
    if len(command.argv) < 3:
        return "an aws line names a service and an operation"
    cli_service, operation = command.argv[1], command.argv[2]
    options = [token.split("=", 1)[0] for token in command.argv[3:] if token.startswith("--")]
    if (cli_service, operation) in AWS_CUSTOMIZATIONS:
        unknown = [o for o in options if o not in AWS_CUSTOMIZATIONS[cli_service, operation] | AWS_GLOBAL_OPTIONS]
        return f"aws {cli_service} {operation} has no option(s) {unknown}" if unknown else None
    service = AWS_SERVICE_NAMES.get(cli_service, cli_service)
    if service not in _botocore_session().get_available_services():
        return f"botocore has no service {service!r}"
    operations = _operations(service)
    if operation not in operations:
        return f"botocore's {service} has no operation {operation!r}"
    shape = _botocore_session().get_service_model(service).operation_model(operations[operation]).input_shape
    members = set(shape.members) if shape is not None else set()
    accepted = {f"--{botocore.xform_name(member, '-')}" for member in members}
    accepted |= {f"--no-{name[2:]}" for name in accepted}  # the CLI's negation of boolean members
    accepted |= {option for (s, o, option), member in AWS_RENAMED_OPTIONS.items() if (s, o) == (cli_service, operation) and member in members}
    unknown = [o for o in options if o not in accepted | AWS_GLOBAL_OPTIONS]
    return f"aws {cli_service} {operation} has no option(s) {unknown} (botocore {operations[operation]} input: {sorted(members)})" if unknown else None


class _CfnLoader(yaml.SafeLoader):
    """template.yaml with its CloudFormation short forms (!Ref, !Sub, ...) read as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


@cache
def template_parameters() -> dict[str, dict]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)["Parameters"]


def _values_of(argv: tuple[str, ...], option: str) -> list[str]:
    if option not in argv:
        return []
    values = []
    for token in argv[argv.index(option) + 1:]:
        if token.startswith("--"):
            break
        values.append(token)
    return values


def check_sam(command: CommandLine) -> str | None:
    if len(command.argv) < 2 or command.argv[1] not in SAM_COMMANDS:
        return f"sam has no command {command.argv[1:2]}"
    parameters = template_parameters()
    overrides = dict(value.split("=", 1) for value in _values_of(command.argv, "--parameter-overrides"))
    unknown = sorted(set(overrides) - set(parameters))
    if unknown:
        return f"template.yaml has no parameter(s) {unknown} (it has {sorted(parameters)})"
    if command.argv[1] == "deploy" and "--guided" not in command.argv:
        missing = sorted(name for name, spec in parameters.items() if "Default" not in (spec or {}) and name not in overrides)
        if missing:
            return f"a deploy without --guided must pass the template's parameters without a default: {missing}"
    capabilities = set(_values_of(command.argv, "--capabilities"))
    if capabilities - CAPABILITIES:
        return f"unknown capabilities {sorted(capabilities - CAPABILITIES)}"
    return None


def check_git(command: CommandLine) -> str | None:
    if len(command.argv) < 2:
        return "git needs a subcommand"
    sub = command.argv[1]
    result = subprocess.run(["git", sub, "-h"], capture_output=True, text=True, timeout=30, cwd=ROOT)
    # Every git command answers -h with its usage (exit 129); an unknown one says it is not a git command.
    if result.returncode != 129 or f"usage: git {sub}" not in result.stdout + result.stderr:
        return f"git has no subcommand {sub!r}: {(result.stderr or result.stdout).strip()[:200]}"
    return None


def check_docker(command: CommandLine) -> str | None:
    return None if len(command.argv) > 1 and command.argv[1] in DOCKER_COMMANDS else f"not a docker command the runbook knows: {command.argv[1:2]}"


def check_pulumi(command: CommandLine) -> str | None:
    argv = command.argv
    if len(argv) < 2 or argv[1] not in PULUMI_COMMANDS:
        return f"pulumi has no command {argv[1:2]}"
    subcommands = PULUMI_COMMANDS[argv[1]]
    if subcommands and (len(argv) < 3 or argv[2] not in subcommands):
        return f"pulumi {argv[1]} has no subcommand {argv[2:3]} (it has {sorted(subcommands)})"
    return None


CHECKS = {"ecs-gitops": check_ecs_gitops, "aws": check_aws, "sam": check_sam, "git": check_git, "docker": check_docker, "pulumi": check_pulumi}


def problem_of(command: CommandLine) -> str | None:
    check = CHECKS.get(command.argv[0])
    if check is None:
        return f"{command.argv[0]!r} is not a tool of the project's documented toolchain ({', '.join(CHECKS)})"
    return check(command)


# ---------------------------------------------------------------------- the tests


COMMANDS = runbook_commands(RUNBOOK.read_text())


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"L{c.line}:{' '.join(c.argv[:3])}")
def test_every_runbook_command_exists(command: CommandLine):
    problem = problem_of(command)
    assert problem is None, f"{command}\n  {problem}"


def test_the_runbook_covers_every_procedure():
    used = {" ".join(c.argv[:2]) for c in COMMANDS} | {" ".join(c.argv[:3]) for c in COMMANDS}
    lines = [" ".join(c.argv) for c in COMMANDS]
    for needed in (
        "sam build", "sam deploy", "sam delete", "ecs-gitops status", "ecs-gitops reconcile", "ecs-gitops approve", "ecs-gitops rollout status",
        "ecs-gitops rollout pause", "ecs-gitops rollout promote", "ecs-gitops rollout abort", "git revert", "git push", "ecs-gitops drift",
        "ecs-gitops verify", "ecs-gitops suspend", "ecs-gitops resume", "ecs-gitops history", "ecs-gitops locks", "ecs-gitops unlock",
        "aws secretsmanager put-secret-value", "aws sqs receive-message", "aws sqs purge-queue", "pulumi destroy",
    ):
        assert needed in used, f"the runbook has no `{needed}` command"
    assert any("--override-window" in line for line in lines), "no change-window override"
    assert any(line.startswith("ecs-gitops history") and "--output csv" in line for line in lines), "no audit export to CSV"
    assert any(line.startswith("ecs-gitops history") and "--verify" in line for line in lines), "no chain verification"
    headings = re.findall(r"^## \d+\. (.+)$", RUNBOOK.read_text(), flags=re.M)
    assert len(headings) == 14, headings


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("ecs-gitops rollout frobnicate --environment <ENV> --service <SERVICE>", "does not accept it"),
        ("ecs-gitops suspend --environment <ENV> --by <NAME>", "does not accept it"),  # --reason is required
        ("aws sqs receive-messages --queue-url <DLQ-URL>", "no operation"),
        ("aws sqs receive-message --queue-url <DLQ-URL> --max-messages 10", "no option"),
        ("aws nosuchservice list-things", "no service"),
        ("sam deploy --parameter-overrides WorkerImage=<IMAGE-URI>", "no parameter"),
        ("sam deploy --parameter-overrides WorkerImageUri=<IMAGE-URI>", "without a default"),
        ("sam launch", "no command"),
        ("git frobnicate", "no subcommand"),
        ("pulumi stack delete <STACK>", "no subcommand"),
        ("kubectl get pods", "not a tool"),
    ],
)
def test_the_checks_refuse_what_does_not_exist(text: str, complaint: str):
    (command,) = commands_of(1, text)
    problem = problem_of(command)
    assert problem is not None and complaint in problem, problem


def test_a_placeholder_without_a_sample_is_reported():
    with pytest.raises(AssertionError, match="<CLUSTER-NAME>"):
        commands_of(7, "aws ecs list-tasks --cluster <CLUSTER-NAME>")


def test_lines_are_split_into_commands_and_fences_outside_shell_are_ignored():
    markdown = "```sh\naws ecr get-login-password | docker login --username AWS --password-stdin x \\\n  --debug\n```\n```yaml\nkubectl: no\n```\n"
    commands = runbook_commands(markdown)
    assert [c.argv[0] for c in commands] == ["aws", "docker"]
    assert commands[1].argv[-1] == "--debug" and commands[1].line == 2
