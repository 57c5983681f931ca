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
    from reconciler.verify.gate import unwrap_outputs

    return unwrap_outputs(data)


def _cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.cli import EXIT_OK, build_components, local_settings
    from reconciler.verify import wiring
    from reconciler.verify.gate import applied_inputs
    from reconciler.verify.run import verify_environment

    settings = local_settings(args)
    env = settings.environment(args.environment)
    components = build_components(settings, args)
    inputs = applied_inputs(
        states=components.states, source=components.source, engine=components.engine, stack=env.stack, environment=args.environment,
        max_file_bytes=settings.max_desired_state_file_bytes, outputs=read_outputs_file(args.outputs) if args.outputs else None,
    )
    session = wiring.aws_session(components.session, inputs.desired.region)
    report = verify_environment(
        environment=inputs.desired.environment_suffix,
        outputs=inputs.outputs,
        desired=inputs.desired,
        traffic=inputs.traffic,
        clients=wiring.clients_for(session, inputs.desired.region),
        http=wiring.http_probe(),
        timing=wiring.timing_from(settings, components),
    )
    write_report(report, out, args.output, commit=inputs.commit)
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
