"""The ``ecs-gitops`` command line.

``plan`` renders the Pulumi program offline (no CLI, no engine, no AWS) and prints every
resource it would build. Pulumi is imported only inside the commands that render, so other
entry points stay light.

No command prints a Python traceback: :func:`main` turns every error into one ``error:`` line
on stderr saying what is wrong and what to do (exit 1; argparse's usage errors exit 2), and
``--debug`` adds the traceback. Everything printed, on stdout and stderr, passes the
:class:`~reconciler.redact.Redactor` first.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import traceback
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import ValidationError

from desired_state.errors import DesiredStateError, EcsGitopsError, FieldProblem
from desired_state.loader import EXAMPLE_DIR, check_unique_suffixes, list_environments, load_environment
from desired_state.naming import ALB_FACING_SERVICES
from desired_state.traffic import TrafficState, read_traffic_state
from reconciler.cli_errors import AWS_REGION_HINT, error_lines
from reconciler.errors import EngineUnavailableError, ReconcilerError, SettingsError
from reconciler.redact import Redactor, RedactingFilter
from reconciler.settings import EnvironmentSettings, ReconcilerSettings, RepositorySettings, load_settings
from reconciler.source import MIN_SHA_PREFIX, SHA_HEX, SHA_LENGTH, DesiredStateSource

if TYPE_CHECKING:
    from policies.model import PolicyReport
    from program.render import RenderedStack
    from reconciler.wiring import Components

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


class ArgumentError(ReconcilerError):
    """A command-line value the command cannot use; the message names the option and what it takes."""


class CheckFailed(EcsGitopsError):
    """A check ran and found problems; its report is already on stdout."""


def check_commit_ref(ref: str, option: str = "--commit") -> str:
    """``ref`` if it can name one commit by its SHA (full, or a prefix of 7+ hex characters), lower-cased.

    Only the syntax is checked here; which commit it names, and whether that commit is on the
    branch, is the source's to answer (:meth:`DesiredStateSource.resolve_on_branch`).
    """
    takes = f"give the full SHA, or a unique prefix of at least {MIN_SHA_PREFIX} hex characters, of a commit on the branch"
    if not ref:
        raise ArgumentError(f"{option} is empty ({takes})")
    if not SHA_HEX.fullmatch(ref):
        raise ArgumentError(f"{option} {ref!r} is not a commit SHA ({takes}; branch names, tags and HEAD~N are not accepted)")
    if len(ref) < MIN_SHA_PREFIX:
        raise ArgumentError(f"{option} {ref} is too short to name one commit ({takes})")
    if len(ref) > SHA_LENGTH:
        raise ArgumentError(f"{option} {ref[:12]}... is longer than a commit SHA ({takes})")
    return ref.lower()


def resolve_commit(source: DesiredStateSource, ref: str, option: str = "--commit") -> str:
    """The full SHA of the branch commit ``ref`` names; the source refuses unknown, ambiguous and off-branch refs."""
    return source.resolve_on_branch(check_commit_ref(ref, option))


def _load_traffic(path: str | None) -> TrafficState:
    return TrafficState() if path is None else read_traffic_state(path)


def _render(loaded_state: Any, traffic: TrafficState) -> tuple[RenderedStack, PolicyReport]:
    import pulumi

    from policies.offline import check_rendered
    from program.platform import StackInputs
    from program.render import render

    # Config-sourced secret values live only in the stack's encrypted config; offline they are
    # represented by a marker that is a Pulumi secret, so it is masked like any real value.
    secret_config = {
        spec.config_key: pulumi.Output.secret(f"<stack config {spec.config_key}>")
        for spec in loaded_state.secrets.values()
        if spec.kind == "config" and spec.config_key
    }
    rendered = render(StackInputs(desired=loaded_state, traffic=traffic, secret_config=secret_config))
    return rendered, check_rendered(rendered, loaded_state)


def render_environment(desired_state_dir: str, environment: str, traffic_file: str | None = None) -> tuple[RenderedStack, PolicyReport]:
    """Load, validate and render one environment offline, then run the policy pack on it."""
    loaded = load_environment(desired_state_dir, environment)
    return _render(loaded.state, _load_traffic(traffic_file))


@dataclass(frozen=True)
class LocalPlan:
    """One environment rendered offline, with what a person needs to trust the render: which file, suffix, commit, traffic."""

    environment: str
    environment_class: str
    commit: str | None
    uncommitted_changes: bool
    traffic: TrafficState
    traffic_file: str | None
    rendered: RenderedStack
    report: PolicyReport

    @property
    def suffix(self) -> str:
        return self.rendered.environment


def checkout_commit(directory: str | Path) -> tuple[str | None, bool]:
    """(HEAD commit, has uncommitted changes under ``directory``) when it is inside a git work tree, else (None, False)."""
    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None

    head = git("rev-parse", "--verify", "--quiet", "HEAD")
    if head is None or head.returncode != 0 or not head.stdout.strip():
        return None, False
    status = git("status", "--porcelain", "--", ".")
    return head.stdout.strip(), bool(status and status.stdout.strip())


def render_local_plan(desired_state_dir: str, environment: str, traffic_file: str | None = None) -> LocalPlan:
    """Refuse a repo where two files claim one suffix, then render ``environment`` as :func:`render_environment` does."""
    check_unique_suffixes(desired_state_dir)
    loaded = load_environment(desired_state_dir, environment)
    traffic = _load_traffic(traffic_file)
    rendered, report = _render(loaded.state, traffic)
    commit, dirty = checkout_commit(desired_state_dir)
    return LocalPlan(environment, loaded.state.environment_class, commit, dirty, traffic, traffic_file, rendered, report)


def is_default_traffic(traffic: TrafficState) -> bool:
    """True when every ALB-facing service is blue-live at 100 % on its desired image (no traffic state at all)."""
    return all(
        traffic.of(service).live_colour == "blue"
        and traffic.of(service).live_image is None
        and traffic.of(service).resolved_weights().blue == 100
        for service in ALB_FACING_SERVICES
    )


def traffic_summary(traffic: TrafficState, traffic_file: str | None) -> str:
    if is_default_traffic(traffic):
        return "Traffic: default (every ALB-facing service blue-live at 100 %, on its desired image)"
    parts = []
    for service in ALB_FACING_SERVICES:
        current = traffic.of(service)
        weights = current.resolved_weights()
        image = f", live image {current.live_image.reference}" if current.live_image else ""
        parts.append(f"{service}: {current.live_colour} live, blue {weights.blue} % / green {weights.green} %{image}")
    return f"Traffic state in force, not the default (from {traffic_file}): " + "; ".join(parts)


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), item)
    elif isinstance(value, list):
        yield prefix, ", ".join(str(item) for item in value) or "(none)"
    else:
        yield prefix, str(value)


def resource_counts(rendered: RenderedStack) -> dict[str, int]:
    """Cloud resources (what AWS will hold) and the component resources grouping them; together, the JSON's list."""
    cloud = sum(rendered.type_counts().values())
    return {"total": len(rendered.resources), "cloud": cloud, "components": len(rendered.resources) - cloud}


def plan_document(rendered: RenderedStack, report: PolicyReport, plan: LocalPlan | None = None, redactor: Redactor | None = None) -> dict[str, object]:
    """The JSON shape of ``plan --output json``, every string passed through ``redactor``."""
    document: dict[str, object] = {
        "environment": plan.environment if plan else rendered.environment,
        "environmentSuffix": rendered.environment,
        "programVersion": rendered.program_version,
        "offline": True,
        "placeholderAccount": rendered.placeholder_account,
    }
    if plan is not None:
        document |= {
            "environmentClass": plan.environment_class,
            "commit": plan.commit,
            "uncommittedChanges": plan.uncommitted_changes,
            "trafficState": {"default": is_default_traffic(plan.traffic), "file": plan.traffic_file, **plan.traffic.model_dump(mode="json", by_alias=True)},
        }
    document |= {
        "resourceCount": resource_counts(rendered),
        "resources": [
            {"type": r.type, "name": r.name, "parent": r.parent, "inputs": r.inputs}
            for r in rendered.resources
        ],
        "outputs": rendered.outputs,
        "warnings": rendered.warnings,
        "violations": [v.model_dump() for v in report.violations],
    }
    return (redactor or environment_redactor()).scrub_value(document)


def write_violations(report: PolicyReport, out: TextIO) -> None:
    mandatory = len(report.mandatory)
    advisory = len(report.violations) - mandatory
    out.write(
        f"Policies: {report.rules_evaluated} rules, {mandatory} mandatory and {advisory} advisory violation(s)"
        f"{'' if mandatory else ' - passed'}\n"
    )
    for v in sorted(report.violations, key=lambda v: (v.severity != "mandatory", v.policy, v.resource)):
        out.write(f"  {'x' if v.severity == 'mandatory' else '!'} {v.policy} [{v.severity}] {v.resource}: {v.message}\n")


def plan_header(plan: LocalPlan) -> str:
    commit = "none (not a git checkout)" if plan.commit is None else plan.commit[:12] + (" + uncommitted changes" if plan.uncommitted_changes else "")
    return f"Plan for environment {plan.environment}  suffix {plan.suffix}  class {plan.environment_class}  commit {commit}"


def write_plan_table(rendered: RenderedStack, out: TextIO, plan: LocalPlan | None = None) -> None:
    """Header, resources grouped under their component, a count per resource type, the stack outputs."""
    children: dict[str | None, list[int]] = defaultdict(list)
    for index, resource in enumerate(rendered.resources):
        children[resource.parent].append(index)

    if plan is not None:
        out.write(plan_header(plan) + "\n")
        out.write(traffic_summary(plan.traffic, plan.traffic_file) + "\n")
    else:
        out.write(f"Plan for suffix {rendered.environment}\n")
    out.write(
        f"(program {rendered.program_version}; offline render, "
        f"computed values are placeholders in account {rendered.placeholder_account})\n\n"
    )

    def walk(parent: str | None, depth: int) -> None:
        for index in children.get(parent, []):
            resource = rendered.resources[index]
            indent = "  " * depth
            if resource.custom:
                out.write(f"{indent}+ {resource.name:<44} {resource.type}\n")
            else:
                out.write(f"{indent}{resource.type.rsplit(':', 1)[-1]} {resource.name}\n")
                walk(resource.name, depth + 1)
                if depth == 0:
                    out.write("\n")

    walk(None, 0)
    counts = rendered.type_counts()
    totals = resource_counts(rendered)
    out.write("Resources by type:\n")
    for type_token, count in sorted(counts.items()):
        out.write(f"  {count:>4}  {type_token}\n")
    out.write(f"  {totals['cloud']:>4}  total cloud resources\n")
    out.write(
        f"        (not counted: the {totals['components']} component resources that group them; "
        f"--output json lists all {totals['total']})\n"
    )
    out.write("\nStack outputs (offline placeholders where AWS computes them):\n")
    rows = [row for key, value in rendered.outputs.items() for row in _flatten(key, value)]
    width = max((len(key) for key, _ in rows), default=0)
    for key, value in rows:
        out.write(f"  {key:<{width}}  {value}\n")
    if rendered.warnings:
        out.write("\nWarnings:\n")
        for warning in rendered.warnings:
            out.write(f"  ! {warning}\n")


def _cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    plan = render_local_plan(args.desired_state, args.environment, args.traffic_state)
    if args.output == "json":
        out.write(json.dumps(plan_document(plan.rendered, plan.report, plan), indent=2, sort_keys=False) + "\n")
    else:
        write_plan_table(plan.rendered, out, plan)
        out.write("\n")
        write_violations(plan.report, out)
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    environments = args.environment or list_environments(args.desired_state)
    if not environments:
        raise DesiredStateError([FieldProblem(str(Path(args.desired_state) / "environments"), "", None, "no environment files found")])
    # One traffic state for every environment: a bad file is the command's error, not each environment's.
    traffic = _load_traffic(args.traffic_state)
    check_unique_suffixes(args.desired_state)
    results: list[dict[str, object]] = []
    failed: list[str] = []
    for environment in environments:
        try:
            loaded = load_environment(args.desired_state, environment)
            _, report = _render(loaded.state, traffic)
        except DesiredStateError as exc:
            failed.append(environment)
            results.append({"environment": environment, "valid": False, "schema": [str(p) for p in exc.problems], "violations": []})
            continue
        if not report.passed:
            failed.append(environment)
        results.append(
            {"environment": environment, "valid": report.passed, "schema": [], "violations": [v.model_dump() for v in report.violations]}
        )
        if args.output == "table":
            out.write(f"{environment}: schema ok; ")
            write_violations(report, out)
    if args.output == "json":
        json.dump({"valid": not failed, "environments": results}, out, indent=2)
        out.write("\n")
    else:
        for result in results:
            if result["schema"]:
                out.write(f"{result['environment']}: desired state refused:\n")
                out.writelines(f"  x {problem}\n" for problem in result["schema"])  # type: ignore[union-attr]
    if failed:
        raise CheckFailed(
            f"{len(failed)} of {len(environments)} environment(s) refused: {', '.join(failed)} "
            "(fix the problems listed on stdout and validate again)"
        )
    return EXIT_OK


EXIT_WAITING = 3
# What each field of the local one-environment set-up came from, to name the option in an error.
LOCAL_SETTINGS_OPTIONS = {
    "url": ("--desired-state", "give a desired-state directory, a git repository or a git URL"),
    "branch": ("--branch", "give a branch name such as main: letters, digits and . _ / -"),
}
# The settings fields for which wiring.build opens an AWS session.
AWS_SESSION_FIELDS = ("state_table", "audit_table", "topic_arn", "job_queue_url", "rollout_table", "tick_queue_url", "audit_archive_bucket")


def _looks_like_git_url(location: str) -> bool:
    return "://" in location or location.startswith("codecommit::") or bool(re.match(r"^[\w.-]+@[\w.-]+:", location))


def local_settings(args: argparse.Namespace) -> ReconcilerSettings:
    """The caller's components' settings (tests), else settings from --settings, else a one-environment set-up for this machine."""
    if args.components is not None:
        return args.components.settings
    if args.settings:
        return load_settings(args.settings)
    try:
        repository = RepositorySettings(url=args.desired_state, branch=args.branch)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            option, takes = LOCAL_SETTINGS_OPTIONS.get(str(error["loc"][0]), ("an option", "see --help"))
            problems.append(f"{option}: {str(error['msg']).removeprefix('Value error, ')} ({takes})")
        raise ArgumentError("; ".join(problems)) from None
    state_dir = Path(args.state_dir).expanduser()
    return ReconcilerSettings(
        repository=repository,
        # No settings, no declared class: the file's environmentClass stands (the suffix is the environment's name).
        environments={args.environment: EnvironmentSettings(stack=args.environment, suffix=args.environment, environment_class=None)},
        backend_url=f"file://{state_dir / 'backend'}",
        work_dir=str(state_dir / "work"),
    )


def build_components(settings: ReconcilerSettings, args: argparse.Namespace) -> Components:
    """The reconciler's components, after checking that AWS can be addressed when the settings name AWS resources.

    Those :func:`main` was given, when it was given some (tests: an engine double, a fake clock, moto).
    """
    from reconciler.wiring import build

    if args.components is not None:
        return args.components
    named = [field for field in AWS_SESSION_FIELDS if getattr(settings.aws, field)]
    if named:
        import boto3

        # botocore would otherwise fail late, with NoRegionError or an endpoint like https://dynamodb..amazonaws.com.
        if not boto3.session.Session().region_name:
            aliases = ", ".join(f"aws.{type(settings.aws).model_fields[field].alias or field}" for field in named)
            raise SettingsError(f"the settings name AWS resources ({aliases}) but no AWS region is configured ({AWS_REGION_HINT})")
    return build(settings, state_dir=args.state_dir)


def _cmd_reconcile(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.models import Job, Trigger, WindowOverride

    if args.commit is not None:
        check_commit_ref(args.commit)
    if not args.settings and not _looks_like_git_url(args.desired_state) and not Path(args.desired_state).expanduser().exists():
        raise ArgumentError(f"--desired-state {args.desired_state} does not exist ({LOCAL_SETTINGS_OPTIONS['url'][1]})")
    override = None
    if args.override_window:
        if not args.by:
            raise ArgumentError("--override-window needs --by NAME so the audit record says who decided")
        override = WindowOverride(by=args.by, reason=args.override_window)
    settings = local_settings(args)
    env = settings.environment(args.environment)
    components = build_components(settings, args)
    available = getattr(components.engine, "available", lambda: True)
    if not args.dry_run and not available():
        from reconciler.engine import INSTALL_HINT

        raise EngineUnavailableError(f"cannot apply: the Pulumi CLI is not installed; {INSTALL_HINT}")
    # Only a commit the branch still holds may be converged: resolved (full SHA) before any job exists.
    commit = resolve_commit(components.source, args.commit) if args.commit is not None else None
    event_id = f"manual:{uuid.uuid4()}"
    job = Job(
        job_id=Job.make_id(event_id, args.environment),
        environment=args.environment,
        stack=env.stack,
        trigger=Trigger.MANUAL,
        event_id=event_id,
        commit=commit,
        author=args.by,
        received_at=components.clock(),
        dry_run=args.dry_run,
        window_override=override,
    )
    outcome = components.converger().converge(job)
    out.write(components.redactor.scrub(f"{outcome.outcome}: {outcome.reason.value}: {outcome.message}") + "\n")
    if outcome.outcome in ("succeeded", "dry-run", "skipped"):
        return EXIT_OK
    return EXIT_WAITING if outcome.outcome == "waiting" else EXIT_INVALID


def _cmd_approve(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.approvals import approve, waiting_plan

    check_commit_ref(args.commit)
    settings = local_settings(args)
    settings.environment(args.environment)
    components = build_components(settings, args)
    # Say "nothing waits" before asking git anything; then approve exactly the commit the branch resolves to.
    waiting_plan(components.states, settings, args.environment)
    commit = resolve_commit(components.source, args.commit)
    approval = approve(components.states, settings, args.environment, commit, args.by, components.clock(), components.queue)
    out.write(
        f"approved plan {approval.plan_digest[:19]} for {args.environment} at {approval.commit[:12]} by {approval.approved_by}"
        f"{'; a converge job is queued' if components.queue else '; run ecs-gitops reconcile again to apply it'}\n"
    )
    return EXIT_OK


def _lock_components(args: argparse.Namespace) -> tuple[ReconcilerSettings, EnvironmentSettings, Components]:
    settings = local_settings(args)
    env = settings.environment(args.environment)
    components = build_components(settings, args)
    if components.locks is None:
        raise SettingsError(f"backend {settings.backend_url} has no lock files this tool can read; use that backend's own `pulumi cancel`")
    return settings, env, components


def _cmd_locks(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.locks import stuck_locks

    settings, env, components = _lock_components(args)
    assert components.locks is not None  # checked by _lock_components
    now = components.clock()
    locks = components.locks.list(settings.project, env.stack)
    stuck = {lock.key for lock in stuck_locks(components.locks, settings.project, env.stack, now, timedelta(minutes=env.stuck_lock_after_minutes))}
    lease = components.states.get(env.stack).lease
    out.write(f"stack {env.stack}: {len(locks)} lock(s)\n")
    for lock in locks:
        minutes = int(lock.age(now).total_seconds() // 60)
        out.write(f"  {'STUCK ' if lock.key in stuck else ''}{lock.holder}, {minutes} min old ({lock.key})\n")
    if lease:
        out.write(f"  worker lease: {lease.holder} for job {lease.job_id}, heartbeat {lease.heartbeat_at.isoformat()}\n")
    if stuck:
        raise CheckFailed(f"{len(stuck)} stuck lock(s) on {env.stack} (check no update still runs, then ecs-gitops unlock --environment {args.environment})")
    return EXIT_OK


def _cmd_unlock(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.locks import unlock

    settings, env, components = _lock_components(args)
    assert components.locks is not None  # checked by _lock_components
    # Two heartbeats and a margin: a live holder beats at least once while this watches.
    observe = args.observe_seconds if args.observe_seconds is not None else 2 * settings.lease_heartbeat_seconds + 5
    removed = unlock(
        components.locks, components.states, settings.project, env.stack, components.clock(),
        timedelta(seconds=settings.lease_stale_after_seconds), observe_seconds=observe,
        monotonic=components.monotonic, sleep=components.sleep,
    )
    out.write(f"removed {len(removed)} lock(s) from {env.stack}" + "".join(f"\n  {lock.holder} ({lock.key})" for lock in removed) + "\n")
    return EXIT_OK


def _cmd_rollout(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.rollout import commands
    from reconciler.rollout.notify import rollout_notifier
    from reconciler.wiring import build_rollouts

    if args.action != "status" and not args.by:
        raise ArgumentError(f"rollout {args.action} needs --by NAME so the rollout's history says who acted")
    settings = local_settings(args)
    stack = settings.environment(args.environment).stack
    components = build_components(settings, args)
    rollouts = build_rollouts(components)
    # A person's move is published like the controller's: who, why, through the same helper.
    notify = rollout_notifier(components.notifier, components.redactor)
    now = rollouts.controller.clock()  # the components' clock
    record = rollouts.store.active(stack, args.service) if args.action != "status" else (
        rollouts.store.active(stack, args.service) or rollouts.store.latest(stack, args.service)
    )
    if record is None:
        raise ReconcilerError(f"no {'running ' if args.action != 'status' else ''}rollout of {args.service} on {args.environment}")
    if args.action == "promote":
        record = commands.promote(rollouts.store, record.rollout_id, by=args.by, now=now, on_transition=notify)
    elif args.action == "abort":
        reason = args.reason or "aborted from the command line"
        record = commands.abort(rollouts.store, record.rollout_id, by=args.by, reason=reason, now=now, on_transition=notify)
    elif args.action == "pause":
        reason = args.reason or "paused from the command line"
        record = commands.pause(rollouts.store, record.rollout_id, by=args.by, reason=reason, now=now, on_transition=notify)
    elif args.action == "resume":
        record = commands.resume(rollouts.store, record.rollout_id, by=args.by, now=now, on_transition=notify)
    if args.action != "status":
        # Act now rather than at the next scheduled tick.
        rollouts.controller.scheduler.schedule(record.rollout_id, now, now)
    out.write(commands.describe(record) + "\n")
    return EXIT_OK


# Commands that live with their capability (``reconciler/<capability>/command.py``). Each module has
# ``register(commands, common)``, which adds its subparser (``parents=[common]``) with
# ``set_defaults(handler=...)``; a handler takes ``(args, out)`` and returns the exit code. The modules
# are imported to build the parser, so they import their capability's code inside the handler.
COMMAND_MODULES: tuple[str, ...] = (
    "reconciler.operations.command", "reconciler.audit.command", "reconciler.drift.command", "reconciler.verify.command",
)


def add_reconciler_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--settings", metavar="FILE", help="reconciler settings (YAML); default: a local one-environment set-up")
    command.add_argument("--state-dir", default="~/.ecs-gitops", metavar="DIR", help="local status, audit and backend directory")
    command.add_argument("--branch", default="main", help="desired-state branch (default: main)")


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage messages scrubbed like every other output (they echo the arguments)."""

    def _print_message(self, message: str, file: Any = None) -> None:
        super()._print_message(environment_redactor().scrub(message) if message else message, file)


def _debug_option(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--debug", action="store_true", default=default, help="on an error, also print the Python traceback")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ecs-gitops", description="GitOps reconciler for the ECS Fargate trading platform")
    _debug_option(parser, False)
    # The reconciler's components, when the caller of main() hands them over (tests); else each command builds its own.
    parser.set_defaults(components=None)
    # --debug is accepted after the subcommand too; there it must not reset the global one.
    common = argparse.ArgumentParser(add_help=False)
    _debug_option(common, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", parents=[common], help="render the platform offline and show every resource it would build")
    plan.add_argument(
        "--desired-state",
        default=str(EXAMPLE_DIR),
        metavar="DIR",
        help="directory holding environments/<name>.yaml (default: the bundled example)",
    )
    plan.add_argument("--environment", default="dev", metavar="NAME", help="environment to render (default: dev)")
    plan.add_argument("--output", choices=("table", "json"), default="table")
    plan.add_argument(
        "--traffic-state",
        metavar="FILE",
        help="JSON traffic state (live colour, live image, weights) to render with; default: blue live at 100%%",
    )
    plan.set_defaults(handler=_cmd_plan)

    validate = commands.add_parser(
        "validate", parents=[common],
        help="check desired state against the schema and the policy pack; exit 1 on any mandatory violation",
    )
    validate.add_argument("--desired-state", default=str(EXAMPLE_DIR), metavar="DIR", help="desired-state directory (default: the bundled example)")
    validate.add_argument(
        "--environment", action="append", metavar="NAME", help="environment to check (repeatable; default: every environment in the directory)"
    )
    validate.add_argument("--output", choices=("table", "json"), default="table")
    validate.add_argument("--traffic-state", metavar="FILE", help="JSON traffic state to render with")
    validate.set_defaults(handler=_cmd_validate)

    reconcile = commands.add_parser("reconcile", parents=[common], help="converge one environment from a desired-state path or git URL")
    reconcile.add_argument("--desired-state", required=True, metavar="PATH_OR_URL", help="desired-state directory, git repository or git URL")
    reconcile.add_argument("--environment", required=True, metavar="NAME")
    reconcile.add_argument("--commit", metavar="SHA", help="converge this commit (default: the branch head)")
    reconcile.add_argument("--dry-run", action="store_true", help="stop after plan and policy; apply nothing")
    reconcile.add_argument("--override-window", metavar="REASON", help="converge outside the change window (audited)")
    reconcile.add_argument("--by", metavar="NAME", help="who is running this (recorded on the audit record)")
    add_reconciler_options(reconcile)
    reconcile.set_defaults(handler=_cmd_reconcile)

    approve_cmd = commands.add_parser("approve", parents=[common], help="approve the plan waiting for an environment's commit")
    approve_cmd.add_argument("--environment", required=True, metavar="NAME")
    approve_cmd.add_argument("--commit", required=True, metavar="SHA")
    approve_cmd.add_argument("--by", required=True, metavar="NAME", help="who approves (recorded)")
    approve_cmd.add_argument("--desired-state", default=".", metavar="PATH_OR_URL", help=argparse.SUPPRESS)
    add_reconciler_options(approve_cmd)
    approve_cmd.set_defaults(handler=_cmd_approve)

    rollout = commands.add_parser("rollout", parents=[common], help="show or steer a blue/green rollout: status, promote, abort, pause, resume")
    rollout.add_argument("action", choices=("status", "promote", "abort", "pause", "resume"))
    rollout.add_argument("--environment", required=True, metavar="NAME")
    rollout.add_argument("--service", required=True, choices=("frontend", "api-gateway", "processing-service"))
    rollout.add_argument("--by", metavar="NAME", help="who acts (recorded in the rollout's history)")
    rollout.add_argument("--reason", metavar="TEXT", help="why (abort, pause)")
    rollout.add_argument("--desired-state", default=".", metavar="PATH_OR_URL", help=argparse.SUPPRESS)
    add_reconciler_options(rollout)
    rollout.set_defaults(handler=_cmd_rollout)

    for name, handler, text in (
        ("locks", _cmd_locks, "show the stack's locks with holder and age; exit 1 if one is stuck"),
        ("unlock", _cmd_unlock, "remove the stack's locks after checking no worker still holds them"),
    ):
        command = commands.add_parser(name, parents=[common], help=text)
        command.add_argument("--environment", required=True, metavar="NAME")
        command.add_argument("--desired-state", default=".", metavar="PATH_OR_URL", help=argparse.SUPPRESS)
        add_reconciler_options(command)
        command.set_defaults(handler=handler)
        if name == "unlock":
            command.add_argument(
                "--observe-seconds", type=float, metavar="SECONDS",
                help="how long to watch a worker lease for a moving heartbeat before clearing it (default: two heartbeats and 5 s)",
            )
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(commands, common)
    return parser


def environment_redactor() -> Redactor:
    """A redactor knowing the secrets this process holds in its environment (passphrases, tokens, AWS keys)."""
    redactor = Redactor()
    redactor.add_environment(dict(os.environ))
    return redactor


class ScrubbedStream(io.TextIOBase):
    """A text stream that passes everything through the redactor before ``target`` sees it.

    Buffered whole (stdout: a secret split across writes, e.g. by ``json.dump``, is still one
    string when scrubbed) or by line (stderr: notifications appear as they happen).
    """

    def __init__(self, target: TextIO, redactor: Redactor, *, by_line: bool):
        super().__init__()
        self._target = target
        self._redactor = redactor
        self._by_line = by_line
        self._pending: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending.append(text)
        if self._by_line and "\n" in text:
            complete, _, rest = "".join(self._pending).rpartition("\n")
            self._pending = [rest] if rest else []
            self._target.write(self._redactor.scrub(complete + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            text, self._pending = "".join(self._pending), []
            self._target.write(self._redactor.scrub(text))
        self._target.flush()


class _LogFormatter(logging.Formatter):
    """``log LEVEL: message``; the traceback only with --debug (the RedactingFilter has scrubbed both)."""

    def __init__(self, debug: bool):
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        text = f"log {record.levelname}: {record.getMessage()}"
        if self.debug:
            if record.exc_info and not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
            if record.exc_text:
                text += "\n" + record.exc_text
        return text


def _report(exc: BaseException, err: TextIO, debug: bool) -> int:
    if debug:
        err.write("".join(traceback.format_exception(exc)))
    err.writelines(line + "\n" for line in error_lines(exc))
    return EXIT_INVALID


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None, *, components: Components | None = None
) -> int:
    """Run one command. ``components``: the commands that reach the reconciler's stores use these (and
    their settings, engine and clock) instead of building their own from --settings (tests)."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)  # a usage error exits 2 here, with argparse's own message
    args.components = components
    redactor = environment_redactor()
    stdout = ScrubbedStream(out, redactor, by_line=False)
    stderr = ScrubbedStream(err, redactor, by_line=True)
    # Whatever a library writes to sys.stderr (local notifications, warnings) is scrubbed too.
    ambient_stderr = ScrubbedStream(sys.stderr, redactor, by_line=True)
    log_handler = logging.StreamHandler(stderr)
    log_handler.setLevel(logging.WARNING)
    log_handler.addFilter(RedactingFilter(redactor))
    log_handler.setFormatter(_LogFormatter(args.debug))
    root = logging.getLogger()
    root.addHandler(log_handler)
    try:
        with contextlib.redirect_stderr(ambient_stderr):
            code = int(args.handler(args, stdout))
    except (Exception, KeyboardInterrupt) as exc:
        ambient_stderr.flush()
        with contextlib.suppress(BrokenPipeError):
            stdout.flush()  # what the command printed before it failed comes first
        code = _report(exc, stderr, args.debug)
    finally:
        root.removeHandler(log_handler)
        ambient_stderr.flush()
    try:
        stdout.flush()
        stderr.flush()
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours.
        return EXIT_OK
    return code


def run() -> None:
    """The process entry point: exit with :func:`main`'s code, quietly when the reader of stdout has gone."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would flush again at exit and complain; point stdout at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)


if __name__ == "__main__":
    run()
