"""``ecs-gitops drift``: run one drift check of one environment now, here or through the job queue."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any, TextIO

EXIT_DEFERRED = 3  # nothing compared yet: deferred during a rollout's traffic shift, or the stack busy

HELP = "check one environment for changes made outside git, against its last applied commit"
EPILOG = (
    "exit status: 0 no drift; 1 drift found, the check failed or had nothing to compare (no commit applied yet); "
    "3 deferred (a rollout is shifting traffic) or the stack is busy, try again later. "
    "With --queue: 0 once the check is queued (its result arrives as a notification and in the stack status). "
    "With --remediate: a converge back to the applied commit (a drift-remediation job: change window, policy gate, "
    "approval and lease like any converge), queued for the workers, or run here with --local; "
    "0 queued or converged, 3 waiting (window or approval), 1 failed."
)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    from reconciler.cli import add_reconciler_options

    command = commands.add_parser("drift", parents=[common], help=HELP, description=HELP, epilog=EPILOG)
    command.add_argument("--environment", required=True, metavar="NAME")
    command.add_argument("--output", choices=("table", "json"), default="table")
    command.add_argument("--queue", action="store_true", help="queue the check for the workers (needs aws.jobQueueUrl) instead of running it here")
    command.add_argument(
        "--remediate", action="store_true",
        help="instead of checking, converge back to the last applied commit (not the branch head): queued for the workers (aws.jobQueueUrl)",
    )
    command.add_argument("--local", action="store_true", help="with --remediate: run the remediation converge here instead of queueing it")
    command.add_argument("--by", metavar="NAME", help="who asked for the check (recorded on the audit record)")
    command.add_argument("--desired-state", default=".", metavar="PATH_OR_URL", help=argparse.SUPPRESS)
    add_reconciler_options(command)
    command.set_defaults(handler=_cmd_drift)


def _cmd_drift(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.cli import EXIT_INVALID, EXIT_OK, ArgumentError, ScrubbedStream, build_components, local_settings
    from reconciler.drift.check import report_document
    from reconciler.models import Job, Trigger

    if args.local and not args.remediate:
        raise ArgumentError("--local goes with --remediate (a drift check runs here unless --queue is given)")
    if args.local and args.queue:
        raise ArgumentError("--local runs the remediation here and --queue sends it to the workers: give one of them")
    settings = local_settings(args)
    env = settings.environment(args.environment)
    components = build_components(settings, args)
    # Everything the command prints passes the reconciler's redactor (the stack's secrets), as the converge's own output does.
    scrubbed = ScrubbedStream(out, components.redactor, by_line=False)
    try:
        if args.remediate:
            return _remediate(args, env.stack, components, scrubbed)
        event_id = f"cli-drift:{uuid.uuid4()}"
        job = Job(
            job_id=Job.make_id(event_id, args.environment), environment=args.environment, stack=env.stack,
            trigger=Trigger.SCHEDULED_DRIFT_CHECK, event_id=event_id, author=args.by, received_at=components.clock(),
        )
        if args.queue:
            if components.queue is None:
                raise ArgumentError("--queue needs the job queue: the settings name none (aws.jobQueueUrl or ECS_GITOPS_JOB_QUEUE_URL); leave --queue out to check here")
            components.queue.send(job)
            if args.output == "json":
                scrubbed.write(json.dumps({"environment": args.environment, "queued": True, "jobId": job.job_id}, indent=2) + "\n")
            else:
                scrubbed.write(f"queued drift check {job.job_id} for {args.environment}; the result arrives as a notification and in the stack status\n")
            return EXIT_OK
        outcome = components.converger().converge(job)
        summary = outcome.drift
        if args.output == "json":
            document = {
                "environment": args.environment,
                "outcome": outcome.outcome,
                "kind": outcome.kind.value,
                "reason": outcome.reason.value,
                "message": outcome.message,
                "result": summary.result if summary else None,
                "summary": summary.model_dump(mode="json", by_alias=True) if summary else None,
                "report": report_document(outcome.drift_report) if outcome.drift_report else None,
            }
            scrubbed.write(json.dumps(components.redactor.scrub_value(document), indent=2, sort_keys=True) + "\n")
        else:
            write_table(args.environment, outcome, scrubbed)
        if summary is not None and summary.result == "no-drift":
            return EXIT_OK
        if (summary is not None and summary.result == "deferred") or outcome.outcome == "waiting":
            return EXIT_DEFERRED
        return EXIT_INVALID
    finally:
        scrubbed.flush()


def _remediate(args: argparse.Namespace, stack: str, components: Any, out: TextIO) -> int:
    """A drift-remediation job naming the applied commit: it converges that commit, not the branch head
    (a manual ``reconcile`` converges the head), through the window, policy gate, approval and lease."""
    from reconciler.cli import EXIT_INVALID, EXIT_OK, ArgumentError
    from reconciler.drift.check import applied_commit, remediation_request

    commit = applied_commit(components.states.get(stack))
    if commit is None:
        raise ArgumentError(
            f"nothing to remediate: no commit has been applied to stack {stack} yet, so there is no applied desired state to converge back to"
        )
    job = remediation_request(args.environment, stack, commit, by=args.by, at=components.clock(), request_id=str(uuid.uuid4()))
    if not args.local:
        if components.queue is None:
            raise ArgumentError(
                "--remediate queues the remediation for the workers, and the settings name no job queue (aws.jobQueueUrl or "
                "ECS_GITOPS_JOB_QUEUE_URL); add --local to run it here"
            )
        components.queue.send(job)
        if args.output == "json":
            out.write(json.dumps(
                {"environment": args.environment, "queued": True, "jobId": job.job_id, "trigger": job.trigger.value, "commit": commit}, indent=2,
            ) + "\n")
        else:
            out.write(
                f"queued drift remediation {job.job_id} for {args.environment}: a converge back to the applied commit {commit[:12]} "
                "(change window, policy gate, approval and lease like any converge); the result arrives as a notification\n"
            )
        return EXIT_OK
    outcome = components.converger().converge(job)
    if args.output == "json":
        document = {
            "environment": args.environment, "jobId": job.job_id, "commit": commit, "outcome": outcome.outcome,
            "kind": outcome.kind.value, "reason": outcome.reason.value, "message": outcome.message,
        }
        out.write(json.dumps(components.redactor.scrub_value(document), indent=2, sort_keys=True) + "\n")
    else:
        out.write(f"{outcome.outcome}: {outcome.reason.value}: {outcome.message}\n")
    if outcome.outcome in ("succeeded", "skipped"):
        return EXIT_OK
    return EXIT_DEFERRED if outcome.outcome == "waiting" else EXIT_INVALID


def write_table(environment: str, outcome: Any, out: TextIO) -> None:
    summary, report = outcome.drift, outcome.drift_report
    if summary is None:
        out.write(f"{environment}: no drift check result: {outcome.message}\n")
        return
    commit = (summary.applied_commit or "none")[:12]
    counts = ", ".join(f"{severity} {count}" for severity, count in sorted(summary.counts.items(), key=lambda item: -_rank(item[0])))
    head = f"{environment}: {summary.result}"
    if summary.result in ("drifted", "no-drift"):
        head += f" ({summary.drifted} resource(s){'; ' + counts if counts else ''})"
    out.write(f"{head} against applied commit {commit}, checked {summary.checked_at.isoformat()}\n")
    out.write(f"{outcome.message}\n")
    if report is None:
        return
    if report.resources:
        rows = [("SEVERITY", "KIND", "TYPE", "NAME", "WHAT")] + [
            (r.severity.value, r.kind.value, r.type, r.name, r.summary) for r in sorted(report.resources, key=lambda r: (-r.severity.rank, r.name))
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            out.write("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths)) + f"  {row[4]}\n")
        for resource in report.resources:
            for prop in resource.properties:
                out.write(f"  {resource.name} {prop.path}: expected {_show(prop.expected)}, actual {_show(prop.actual)}\n")
    for ignored in report.ignored:
        out.write(f"  not drift ({ignored.rule}): {ignored.name} {ignored.path}: {ignored.reason}\n")


def _rank(severity: str) -> int:
    return ("low", "medium", "high").index(severity) if severity in ("low", "medium", "high") else -1


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, sort_keys=True, default=str)
