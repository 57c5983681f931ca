"""The ``ecs-gitops`` command line.

``plan`` renders the Pulumi program offline (no CLI, no engine, no AWS) and prints every
resource it would build. Pulumi is imported only inside the commands that render, so other
entry points stay light.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import UTC, datetime
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pydantic import ValidationError

from desired_state.errors import DesiredStateError, EcsGitopsError, FieldProblem
from reconciler.errors import EngineUnavailableError, ReconcilerError, SettingsError
from reconciler.settings import EnvironmentSettings, ReconcilerSettings, RepositorySettings, load_settings
from desired_state.loader import EXAMPLE_DIR, list_environments, load_environment
from desired_state.traffic import TrafficState

if TYPE_CHECKING:
    from policies.model import PolicyReport
    from program.render import RenderedStack

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def _load_traffic(path: str | None) -> TrafficState:
    if path is None:
        return TrafficState()
    file = Path(path)
    try:
        return TrafficState.model_validate_json(file.read_bytes())
    except OSError as exc:
        raise DesiredStateError([FieldProblem(path, "", None, f"cannot read traffic state: {exc.strerror}")]) from None
    except ValidationError as exc:
        raise DesiredStateError(
            [FieldProblem(path, ".".join(map(str, e["loc"])), None, e["msg"]) for e in exc.errors(include_url=False)]
        ) from None


def render_environment(desired_state_dir: str, environment: str, traffic_file: str | None = None) -> tuple[RenderedStack, PolicyReport]:
    """Load, validate and render one environment offline, then run the policy pack on it."""
    loaded = load_environment(desired_state_dir, environment)
    traffic = _load_traffic(traffic_file)

    import pulumi

    from program.platform import StackInputs
    from program.render import render

    # Config-sourced secret values live only in the stack's encrypted config; offline they are
    # represented by a marker that is a Pulumi secret, so it is masked like any real value.
    secret_config = {
        spec.config_key: pulumi.Output.secret(f"<stack config {spec.config_key}>")
        for spec in loaded.state.secrets.values()
        if spec.kind == "config" and spec.config_key
    }
    from policies.offline import check_rendered

    rendered = render(StackInputs(desired=loaded.state, traffic=traffic, secret_config=secret_config))
    return rendered, check_rendered(rendered, loaded.state)


def plan_document(rendered: RenderedStack, report: PolicyReport) -> dict[str, object]:
    """The JSON shape of ``plan --output json``."""
    return {
        "environment": rendered.environment,
        "programVersion": rendered.program_version,
        "offline": True,
        "placeholderAccount": rendered.placeholder_account,
        "resources": [
            {"type": r.type, "name": r.name, "parent": r.parent, "inputs": r.inputs}
            for r in rendered.resources
        ],
        "outputs": rendered.outputs,
        "warnings": rendered.warnings,
        "violations": [v.model_dump() for v in report.violations],
    }


def write_violations(report: PolicyReport, out: TextIO) -> None:
    mandatory = len(report.mandatory)
    advisory = len(report.violations) - mandatory
    out.write(
        f"Policies: {report.rules_evaluated} rules, {mandatory} mandatory and {advisory} advisory violation(s)"
        f"{'' if mandatory else ' - passed'}\n"
    )
    for v in sorted(report.violations, key=lambda v: (v.severity != "mandatory", v.policy, v.resource)):
        out.write(f"  {'x' if v.severity == 'mandatory' else '!'} {v.policy} [{v.severity}] {v.resource}: {v.message}\n")


def write_plan_table(rendered: RenderedStack, out: TextIO) -> None:
    """Resources grouped under their component, then a count per resource type."""
    children: dict[str | None, list[int]] = defaultdict(list)
    for index, resource in enumerate(rendered.resources):
        children[resource.parent].append(index)

    out.write(
        f"Plan for environment '{rendered.environment}' (program {rendered.program_version}; offline render, "
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
    out.write("Resources by type:\n")
    for type_token, count in sorted(counts.items()):
        out.write(f"  {count:>4}  {type_token}\n")
    out.write(f"  {sum(counts.values()):>4}  total\n")
    if rendered.warnings:
        out.write("\nWarnings:\n")
        for warning in rendered.warnings:
            out.write(f"  ! {warning}\n")


def _cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    rendered, report = render_environment(args.desired_state, args.environment, args.traffic_state)
    if args.output == "json":
        json.dump(plan_document(rendered, report), out, indent=2, sort_keys=False)
        out.write("\n")
    else:
        write_plan_table(rendered, out)
        out.write("\n")
        write_violations(report, out)
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    environments = args.environment or list_environments(args.desired_state)
    if not environments:
        raise DesiredStateError([FieldProblem(str(Path(args.desired_state) / "environments"), "", None, "no environment files found")])
    results: list[dict[str, object]] = []
    failed = False
    for environment in environments:
        try:
            _, report = render_environment(args.desired_state, environment, args.traffic_state)
        except DesiredStateError as exc:
            failed = True
            results.append({"environment": environment, "valid": False, "schema": [str(p) for p in exc.problems], "violations": []})
            continue
        failed = failed or not report.passed
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
    return EXIT_INVALID if failed else EXIT_OK


EXIT_WAITING = 3


def _local_settings(args: argparse.Namespace) -> ReconcilerSettings:
    """Settings from --settings, else a one-environment set-up for this machine."""
    if args.settings:
        return load_settings(args.settings)
    return ReconcilerSettings(
        repository=RepositorySettings(url=args.desired_state, branch=args.branch),
        # No settings, no declared class: the file's environmentClass stands (the suffix is the environment's name).
        environments={args.environment: EnvironmentSettings(stack=args.environment, suffix=args.environment, environment_class=None)},
        backend_url=f"file://{Path(args.state_dir).expanduser() / 'backend'}",
        work_dir=str(Path(args.state_dir).expanduser() / "work"),
    )


def _cmd_reconcile(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.models import Job, Trigger, WindowOverride
    from reconciler.wiring import build

    settings = _local_settings(args)
    settings.environment(args.environment)
    components = build(settings, state_dir=args.state_dir)
    available = getattr(components.engine, "available", lambda: True)
    if not args.dry_run and not available():
        from reconciler.engine import INSTALL_HINT

        raise EngineUnavailableError(f"cannot apply: the Pulumi CLI is not installed; {INSTALL_HINT}")
    override = None
    if args.override_window:
        if not args.by:
            raise SettingsError("--override-window needs --by NAME so the audit record says who decided")
        override = WindowOverride(by=args.by, reason=args.override_window)
    event_id = f"manual:{uuid.uuid4()}"
    job = Job(
        job_id=Job.make_id(event_id, args.environment),
        environment=args.environment,
        stack=settings.environment(args.environment).stack,
        trigger=Trigger.MANUAL,
        event_id=event_id,
        commit=args.commit,
        author=args.by,
        received_at=datetime.now(UTC),
        dry_run=args.dry_run,
        window_override=override,
    )
    outcome = components.converger().converge(job)
    out.write(components.redactor.scrub(f"{outcome.outcome}: {outcome.reason.value}: {outcome.message}") + "\n")
    if outcome.outcome in ("succeeded", "dry-run", "skipped"):
        return EXIT_OK
    return EXIT_WAITING if outcome.outcome == "waiting" else EXIT_INVALID


def _cmd_approve(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.approvals import approve
    from reconciler.wiring import build

    settings = _local_settings(args)
    components = build(settings, state_dir=args.state_dir)
    approval = approve(components.states, settings, args.environment, args.commit, args.by, datetime.now(UTC), components.queue)
    out.write(
        f"approved plan {approval.plan_digest[:19]} for {args.environment} at {approval.commit[:12]} by {approval.approved_by}"
        f"{'; a converge job is queued' if components.queue else '; run ecs-gitops reconcile again to apply it'}\n"
    )
    return EXIT_OK


def _cmd_locks(args: argparse.Namespace, out: TextIO) -> int:
    from datetime import timedelta

    from reconciler.locks import stuck_locks
    from reconciler.wiring import build

    settings = _local_settings(args)
    env = settings.environment(args.environment)
    components = build(settings, state_dir=args.state_dir)
    assert components.locks is not None
    now = datetime.now(UTC)
    locks = components.locks.list(settings.project, env.stack)
    stuck = {lock.key for lock in stuck_locks(components.locks, settings.project, env.stack, now, timedelta(minutes=env.stuck_lock_after_minutes))}
    lease = components.states.get(env.stack).lease
    out.write(f"stack {env.stack}: {len(locks)} lock(s)\n")
    for lock in locks:
        minutes = int(lock.age(now).total_seconds() // 60)
        out.write(f"  {'STUCK ' if lock.key in stuck else ''}{lock.holder}, {minutes} min old ({lock.key})\n")
    if lease:
        out.write(f"  worker lease: {lease.holder} for job {lease.job_id}, heartbeat {lease.heartbeat_at.isoformat()}\n")
    return EXIT_INVALID if stuck else EXIT_OK


def _cmd_unlock(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.converge import LEASE_STALE_AFTER
    from reconciler.locks import unlock
    from reconciler.wiring import build

    settings = _local_settings(args)
    env = settings.environment(args.environment)
    components = build(settings, state_dir=args.state_dir)
    assert components.locks is not None
    removed = unlock(components.locks, components.states, settings.project, env.stack, datetime.now(UTC), LEASE_STALE_AFTER)
    out.write(f"removed {len(removed)} lock(s) from {env.stack}" + "".join(f"\n  {lock.holder} ({lock.key})" for lock in removed) + "\n")
    return EXIT_OK


def _cmd_rollout(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.rollout import commands
    from reconciler.wiring import build, build_rollouts

    settings = _local_settings(args)
    stack = settings.environment(args.environment).stack
    rollouts = build_rollouts(build(settings, state_dir=args.state_dir))
    now = datetime.now(UTC)
    record = rollouts.store.active(stack, args.service) if args.action != "status" else (
        rollouts.store.active(stack, args.service) or rollouts.store.latest(stack, args.service)
    )
    if record is None:
        raise ReconcilerError(f"no {'running ' if args.action != 'status' else ''}rollout of {args.service} on {args.environment}")
    if args.action != "status" and not args.by:
        raise SettingsError(f"rollout {args.action} needs --by NAME so the rollout's history says who acted")
    if args.action == "promote":
        record = commands.promote(rollouts.store, record.rollout_id, by=args.by, now=now)
    elif args.action == "abort":
        record = commands.abort(rollouts.store, record.rollout_id, by=args.by, reason=args.reason or "aborted from the command line", now=now)
    elif args.action == "pause":
        record = commands.pause(rollouts.store, record.rollout_id, by=args.by, reason=args.reason or "paused from the command line", now=now)
    elif args.action == "resume":
        record = commands.resume(rollouts.store, record.rollout_id, by=args.by, now=now)
    if args.action != "status":
        # Act now rather than at the next scheduled tick.
        rollouts.controller.scheduler.schedule(record.rollout_id, now, now)
    out.write(commands.describe(record) + "\n")
    return EXIT_OK


def _add_reconciler_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--settings", metavar="FILE", help="reconciler settings (YAML); default: a local one-environment set-up")
    command.add_argument("--state-dir", default="~/.ecs-gitops", metavar="DIR", help="local status, audit and backend directory")
    command.add_argument("--branch", default="main", help="desired-state branch (default: main)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecs-gitops", description="GitOps reconciler for the ECS Fargate trading platform")
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", help="render the platform offline and show every resource it would build")
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
        "validate", help="check desired state against the schema and the policy pack; exit 1 on any mandatory violation"
    )
    validate.add_argument("--desired-state", default=str(EXAMPLE_DIR), metavar="DIR", help="desired-state directory (default: the bundled example)")
    validate.add_argument(
        "--environment", action="append", metavar="NAME", help="environment to check (repeatable; default: every environment in the directory)"
    )
    validate.add_argument("--output", choices=("table", "json"), default="table")
    validate.add_argument("--traffic-state", metavar="FILE", help="JSON traffic state to render with")
    validate.set_defaults(handler=_cmd_validate)

    reconcile = commands.add_parser("reconcile", help="converge one environment from a desired-state path or git URL")
    reconcile.add_argument("--desired-state", required=True, metavar="PATH_OR_URL", help="desired-state directory, git repository or git URL")
    reconcile.add_argument("--environment", required=True, metavar="NAME")
    reconcile.add_argument("--commit", metavar="SHA", help="converge this commit (default: the branch head)")
    reconcile.add_argument("--dry-run", action="store_true", help="stop after plan and policy; apply nothing")
    reconcile.add_argument("--override-window", metavar="REASON", help="converge outside the change window (audited)")
    reconcile.add_argument("--by", metavar="NAME", help="who is running this (recorded on the audit record)")
    _add_reconciler_options(reconcile)
    reconcile.set_defaults(handler=_cmd_reconcile)

    approve_cmd = commands.add_parser("approve", help="approve the plan waiting for an environment's commit")
    approve_cmd.add_argument("--environment", required=True, metavar="NAME")
    approve_cmd.add_argument("--commit", required=True, metavar="SHA")
    approve_cmd.add_argument("--by", required=True, metavar="NAME", help="who approves (recorded)")
    approve_cmd.add_argument("--desired-state", default=".", metavar="PATH_OR_URL", help=argparse.SUPPRESS)
    _add_reconciler_options(approve_cmd)
    approve_cmd.set_defaults(handler=_cmd_approve)

    rollout = commands.add_parser("rollout", help="show or steer a blue/green rollout: status, promote, abort, pause, resume")
    rollout.add_argument("action", choices=("status", "promote", "abort", "pause", "resume"))
    rollout.add_argument("--environment", required=True, metavar="NAME")
    rollout.add_argument("--service", required=True, choices=("frontend", "api-gateway", "processing-service"))
    rollout.add_argument("--by", metavar="NAME", help="who acts (recorded in the rollout's history)")
    rollout.add_argument("--reason", metavar="TEXT", help="why (abort, pause)")
    rollout.add_argument("--desired-state", default=".", metavar="PATH_OR_URL", help=argparse.SUPPRESS)
    _add_reconciler_options(rollout)
    rollout.set_defaults(handler=_cmd_rollout)

    for name, handler, text in (
        ("locks", _cmd_locks, "show the stack's locks with holder and age; exit 1 if one is stuck"),
        ("unlock", _cmd_unlock, "remove the stack's locks after checking no worker still holds them"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--environment", required=True, metavar="NAME")
        command.add_argument("--desired-state", default=".", metavar="PATH_OR_URL", help=argparse.SUPPRESS)
        _add_reconciler_options(command)
        command.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, out))
    except DesiredStateError as exc:
        err.write(f"error: {exc}\n")
        return EXIT_INVALID
    except EcsGitopsError as exc:
        err.write(f"error: {exc}\n")
        return EXIT_INVALID
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours.
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
