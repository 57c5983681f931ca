"""``ecs-gitops verify --environment E [--outputs FILE] [--output table|json]``.

Reads the stack's outputs (from the engine, or a JSON file of them), the desired state the stack
was last applied from (the stack status's commit, with the images a rollout staged over it) and
the traffic state, then runs every check against the live account. Exit 0 when all pass, 1 when
any fails; the table or JSON is printed either way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

EXIT_FAILED = 1


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    from reconciler.cli import add_reconciler_options

    command = commands.add_parser(
        "verify", parents=[common],
        help="check the deployed environment against git: network, services, traffic, isolation, logs, secrets, names; exit 1 on any failure",
    )
    command.add_argument("--environment", required=True, metavar="NAME")
    command.add_argument("--outputs", metavar="FILE", help="JSON file of the stack's outputs (default: read them through the engine)")
    command.add_argument("--output", choices=("table", "json"), default="table")
    command.add_argument("--desired-state", default=".", metavar="PATH_OR_URL", help=argparse.SUPPRESS)
    add_reconciler_options(command)
    command.set_defaults(handler=_cmd_verify)


def read_outputs_file(path: str) -> dict[str, Any]:
    """A stack's outputs as ``pulumi stack output --json`` writes them (or the engine's ``{key: {value: ...}}``)."""
    from reconciler.cli import ArgumentError

    try:
        data = json.loads(Path(path).expanduser().read_text())
    except OSError as exc:
        raise ArgumentError(f"--outputs {path}: cannot read it: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ArgumentError(f"--outputs {path}: not JSON ({exc.msg} at line {exc.lineno}); write it with: pulumi stack output --json") from None
    if not isinstance(data, dict):
        raise ArgumentError(f"--outputs {path}: expected a JSON object of outputs; write it with: pulumi stack output --json")
    return unwrap_outputs(data)


def unwrap_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    """The Automation API answers ``{key: OutputValue(value, secret)}``; the checks read plain values."""
    plain: dict[str, Any] = {}
    for key, value in outputs.items():
        if hasattr(value, "value") and not isinstance(value, dict):
            value = value.value
        plain[key] = value
    return plain


def _cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    from desired_state.loader import load_environment
    from desired_state.traffic import TrafficState
    from reconciler.cli import EXIT_OK, build_components, local_settings
    from reconciler.errors import ReconcilerError
    from reconciler.verify.run import verify_environment
    from reconciler.verify import wiring

    settings = local_settings(args)
    env = settings.environment(args.environment)
    components = build_components(settings, args)
    status = components.states.get(env.stack)
    if not status.last_applied_commit:
        raise ReconcilerError(
            f"{args.environment}: the stack {env.stack} records no applied commit, so there is no desired state to verify against; "
            f"converge it first: ecs-gitops reconcile --environment {args.environment}"
        )
    checkout = components.source.fetch(status.last_applied_commit)
    try:
        loaded = load_environment(checkout.path, args.environment, commit=checkout.commit, max_file_bytes=settings.max_desired_state_file_bytes)
    finally:
        if hasattr(components.source, "cleanup"):
            components.source.cleanup(checkout)
    desired = loaded.state.with_images(dict(status.image_overrides)) if status.image_overrides else loaded.state
    outputs = read_outputs_file(args.outputs) if args.outputs else unwrap_outputs(dict(components.engine.outputs(env.stack)))
    session = wiring.aws_session(components.session, desired.region)
    report = verify_environment(
        environment=desired.environment_suffix,
        outputs=outputs,
        desired=desired,
        traffic=status.traffic or TrafficState(),
        clients=wiring.clients_for(session, desired.region),
        http=wiring.http_probe(),
        timing=wiring.timing_from(settings, components),
    )
    write_report(report, out, args.output, commit=status.last_applied_commit)
    return EXIT_OK if report.passed else EXIT_FAILED


def write_report(report: Any, out: TextIO, output: str, commit: str | None = None) -> None:
    if output == "json":
        document = {**report.model_dump(by_alias=True, mode="json"), "passed": report.passed, "counts": report.counts(), "appliedCommit": commit}
        out.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        return
    out.write(f"verify {report.environment}" + (f" at {commit[:12]}" if commit else "") + f": {report.headline()}\n")
    width = max((len(r.name) for r in report.results), default=10)
    for group in dict.fromkeys(r.group for r in report.results):
        out.write(f"\n{group}\n")
        for result in (r for r in report.results if r.group == group):
            out.write(f"  {result.status.upper():<7} {result.name:<{width}}  {result.detail}\n")
            if result.status == "fail":
                out.write(f"          evidence: {json.dumps(result.evidence, sort_keys=True, default=str)}\n")
