"""``ecs-gitops status``, ``suspend`` and ``resume`` (registered through ``reconciler.cli.COMMAND_MODULES``).

Exit codes: ``status`` 0, or 1 after printing when a store of some environment could not be read.
``suspend`` 0 when the environment is suspended afterwards (also when it already was: nothing is
rewritten, audited or notified). ``resume`` 0 when it is no longer suspended afterwards (also
when it was not suspended); 1 when the settings still suspend it (``suspended: true``: only the
settings file can lift that).
"""

from __future__ import annotations

import argparse
import io
import json
from typing import Any, TextIO

SUSPEND_HELP = (
    "stop converges and new rollouts of one environment at runtime (audited, notified); "
    "a running rollout keeps its ticks, gates and rollback"
)
RESUME_HELP = "restart converges and new rollouts of a suspended environment (audited, notified)"
EPILOG = (
    "While suspended, every converge job of the environment (push, resync, drift check, reconcile) and every new "
    "rollout is refused with reason Suspended, naming who suspended it and why; a converge already running stops before "
    "its next phase (so before apply), and one already applying finishes (suspend says which). "
    "A rollout already running is not "
    "stopped: its safety loop (ticks, alarm gates, rollback) keeps running, and promote/pause/abort still work. "
    "Suspending a suspended environment, or resuming one that is not suspended, changes nothing and exits 0."
)


def _environment_options(command: argparse.ArgumentParser, *, required: bool) -> None:
    from reconciler.cli import add_reconciler_options

    command.add_argument("--environment", required=required, metavar="NAME", help=None if required else "one environment (default: every environment in the settings)")
    command.add_argument("--desired-state", default=".", metavar="PATH_OR_URL", help=argparse.SUPPRESS)
    add_reconciler_options(command)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    status = commands.add_parser(
        "status", parents=[common],
        help="every environment on one screen: applied commit, converge in progress, last outcome, approval, rollouts, drift, locks, suspension, window",
    )
    _environment_options(status, required=False)
    status.add_argument("--output", choices=("table", "json"), default="table")
    status.set_defaults(handler=_cmd_status)
    for name, handler, text in (("suspend", _cmd_suspend, SUSPEND_HELP), ("resume", _cmd_resume, RESUME_HELP)):
        command = commands.add_parser(name, parents=[common], help=text, description=text + ".", epilog=EPILOG)
        _environment_options(command, required=True)
        command.add_argument("--by", required=True, metavar="NAME", help="who acts (recorded on the audit record and the notification)")
        command.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded, and shown by status)")
        command.set_defaults(handler=handler)


def _cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.cli import EXIT_OK, ArgumentError, CheckFailed, build_components, local_settings
    from reconciler.operations.status import environment_status, observe, status_document, write_table
    from reconciler.rollout.store import RolloutStore

    if args.components is None and not args.settings and not args.environment:
        raise ArgumentError("status without --settings needs --environment NAME (the local set-up manages one environment); or give --settings FILE")
    settings = local_settings(args)
    names = [args.environment] if args.environment else list(settings.environments)
    if args.environment:
        settings.environment(args.environment)  # an unknown name is refused with the known ones
    components = build_components(settings, args)
    session, table = components.session, settings.aws.rollout_table
    rollouts = RolloutStore(session.client("dynamodb"), table) if session is not None and table else None
    now = components.clock()
    statuses = [
        environment_status(
            observe(
                name, settings.environments[name], project=settings.project, states=components.states, audit=components.audit,
                locks=components.locks, rollouts=rollouts,
            ),
            now,
            settings_file=args.settings,
        )
        for name in names
    ]
    if args.output == "json":
        out.write(json.dumps(components.redactor.scrub_value(status_document(statuses, now)), indent=2) + "\n")
    else:
        table = io.StringIO()
        write_table(statuses, table)
        out.write(components.redactor.scrub(table.getvalue()))
    unreadable = [s for s in statuses if not s.readable]
    if unreadable:
        raise CheckFailed(
            f"{len(unreadable)} environment(s) could not be read fully: "
            + "; ".join(f"{s.environment} ({', '.join(s.unreadable)})" for s in unreadable)
            + " (check the AWS credentials and region, or the --state-dir, and that the stores exist)"
        )
    return EXIT_OK


def _one_line_options(args: argparse.Namespace) -> None:
    """``--by`` and ``--reason`` are one line each: a line break would forge rows of ``status`` and lines of a notification."""
    from reconciler.cli import ArgumentError
    from reconciler.operations.text import control_character

    for option, value in (("--by", args.by), ("--reason", args.reason)):
        found = control_character(value)
        if found is not None:
            raise ArgumentError(
                f"{option} must be one line of text without control characters (found {found}); "
                f"give it again on one line, e.g. {option} {'alice' if option == '--by' else chr(34) + 'INC-42 payments latency' + chr(34)}"
            )
        if not value.strip():
            raise ArgumentError(f"{option} must not be empty; say {'who acts' if option == '--by' else 'why'}")


def _audit_first(components: Any, stack: str, environment: str, kind: Any, args: argparse.Namespace, now: Any, records: list[Any]) -> Any:
    """The ``before_write`` of suspend/resume: the audit record is appended before the status moves, so an
    audit store that fails leaves the environment as it was (and the command can be run again)."""
    from reconciler.converge_run import program_version
    from reconciler.operations.suspend import change_record

    def write(suspension: Any, status: Any) -> None:
        record = change_record(
            stack=stack, environment=environment, kind=kind, by=args.by, reason=args.reason, suspension=suspension,
            commit=status.last_applied_commit, now=now, program_version=program_version(),
        )
        if components.audit is not None:
            components.audit.append(record)
        records.append(record)

    return write


def _suspension_change(args: argparse.Namespace, kind: Any) -> tuple[Any, Any, Any, list[Any], Any]:
    """What suspend and resume share: checked options, the environment, components, the time, and the
    audit-first hook (the records it wrote are collected in the returned list)."""
    from reconciler.cli import build_components, local_settings

    _one_line_options(args)
    settings = local_settings(args)
    env = settings.environment(args.environment)
    components = build_components(settings, args)
    now = components.clock()
    records: list[Any] = []
    return env, components, now, records, _audit_first(components, env.stack, args.environment, kind, args, now, records)


def _cmd_suspend(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.cli import EXIT_OK
    from reconciler.events import EventKind
    from reconciler.operations.suspend import converge_in_progress, notify_change, resume_command, suspend
    from reconciler.operations.text import one_line

    env, components, now, records, before_write = _suspension_change(args, EventKind.ENVIRONMENT_SUSPENDED)
    change = suspend(components.states, env.stack, args.environment, by=args.by, reason=args.reason, now=now, before_write=before_write)
    found = change.suspension
    assert found is not None
    running = converge_in_progress(change.status)
    if not change.changed:
        out.write(
            components.redactor.scrub(
                f"{args.environment} is already suspended by {one_line(found.by)} since {found.at.isoformat()}: {one_line(found.reason)}; "
                f"nothing changed (to replace the reason, resume first: {resume_command(args.environment)})\n"
            )
        )
        if records:
            # Audited, then someone else's suspension won the status write: the record says so much, this says the rest.
            out.write(f"note: {args.environment} was suspended by someone else while this suspend was recorded; theirs stays\n")
        return EXIT_OK
    out.write(notify_change(records[0], components.notifier, components.redactor) + "\n")
    if running is not None:
        out.write(components.redactor.scrub(running) + "\n")
    if env.suspended:
        out.write(f"note: the settings suspend {args.environment} too (suspended: true); resume will not lift that\n")
    return EXIT_OK


def _cmd_resume(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.cli import EXIT_OK, CheckFailed
    from reconciler.events import EventKind
    from reconciler.operations.suspend import notify_change, resume

    env, components, now, records, before_write = _suspension_change(args, EventKind.ENVIRONMENT_RESUMED)
    change = resume(components.states, env.stack, before_write=before_write)
    if change.changed:
        out.write(notify_change(records[0], components.notifier, components.redactor) + "\n")
    elif not env.suspended:
        out.write(f"{args.environment} is not suspended; nothing changed\n")
    if env.suspended:
        raise CheckFailed(
            f"{args.environment} stays suspended: the reconciler settings say suspended: true; set it to false in the settings file "
            "and redeploy the settings to restart it"
        )
    return EXIT_OK
