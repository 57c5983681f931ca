"""The converge's verify phase: run every check after ``up``, or say why they could not run.

The converger keeps only the phase sequence; this module decides what the phase found. Without
AWS clients (a local engine, the tests' engine double, which creates nothing) the checks are
skipped with the reason, and the audit record says "skipped", never "passed".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError

from desired_state.schema import DesiredState
from desired_state.traffic import TrafficState
from reconciler.clock import Clock
from reconciler.converge_run import ConvergeOutcome, ConvergeRun, describe_plan
from reconciler.engine import EngineResult
from reconciler.errors import ReconcilerError
from reconciler.events import EventKind, Reason, Severity
from reconciler.verify.model import CheckResult, VerifyReport
from reconciler.verify.run import error_result, skipped_report, verify_environment
from reconciler.verify.seams import AwsClients, HttpProbe, Timing

log = logging.getLogger("ecs_gitops.verify")

EXPECTED_OUTPUTS = ("albDnsName", "clusterArn", "serviceArns", "liveColours")

NO_CLIENTS = (
    "no AWS clients in this process (a local engine or a test double): the checks did not run; "
    "run them where the account is reachable: ecs-gitops verify --environment {environment}"
)


# How Pulumi writes a secret in a stack's state (and ``pulumi stack output`` without --show-secrets).
PULUMI_SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
PULUMI_SECRET_PLACEHOLDER = "[secret]"


def _is_secret(value: Any) -> bool:
    if getattr(value, "secret", False) is True:
        return True  # pulumi.automation.OutputValue(value, secret=True)
    if isinstance(value, Mapping) and value.get(PULUMI_SECRET_SIG[0]) == PULUMI_SECRET_SIG[1]:
        return True
    if isinstance(value, Mapping):
        return any(_is_secret(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_is_secret(v) for v in value)
    return value == PULUMI_SECRET_PLACEHOLDER


def recordable_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The stack outputs a stack status may keep: plain values, every secret-marked one dropped (whole, never
    partly: an output holding a secret anywhere is left out). The program marks secret outputs; the engine
    normally drops them already; this is the last step before they are persisted."""
    kept: dict[str, Any] = {}
    for key, value in outputs.items():
        if _is_secret(value):
            continue
        kept[key] = value.value if hasattr(value, "value") and hasattr(value, "secret") else value
    return kept


class EnvironmentVerifier:
    """Runs every check of one environment with clients for its region."""

    def __init__(self, clients_for: Callable[[str], AwsClients], timing: Timing, http: HttpProbe | None = None):
        self.clients_for, self.timing, self.http = clients_for, timing, http

    def __call__(self, *, outputs: Mapping[str, Any], desired: DesiredState, traffic: TrafficState) -> VerifyReport:
        return verify_environment(
            environment=desired.environment_suffix, outputs=dict(outputs), desired=desired, traffic=traffic,
            clients=self.clients_for(desired.region), http=self.http, timing=self.timing,
        )


def verify_after_up(
    verifier: EnvironmentVerifier | None, *, outputs: Mapping[str, Any], desired: DesiredState, traffic: TrafficState, now: datetime
) -> VerifyReport:
    environment = desired.environment_suffix
    if verifier is None:
        return skipped_report(environment, now, NO_CLIENTS.format(environment=environment))
    try:
        return verifier(outputs=outputs, desired=desired, traffic=traffic)
    except (ReconcilerError, BotoCoreError) as exc:
        # No credentials, no endpoint: nothing was checked, and that is a failure of the phase, not a pass.
        log.warning("verify %s could not run: %s", environment, exc)
        failed = CheckResult(name="verify.setup", group="verify", status="fail", evidence={"error": type(exc).__name__}, detail=str(exc))
        return VerifyReport(environment=environment, checked_at=now, results=[failed])
    except Exception as exc:  # noqa: BLE001 - the phase reports what it could not do; the converge goes on to record it
        return VerifyReport(environment=environment, checked_at=now, results=[error_result("verify", exc)])


def verify(run: ConvergeRun, verifier: EnvironmentVerifier | None, *, record_applied: Callable[[ConvergeRun], None], clock: Clock) -> ConvergeOutcome:
    """The phase's outcome after ``up``: the stack's outputs, then (what was applied recorded first) every check."""
    assert run.applied is not None and run.traffic is not None
    problem = verify_outputs(run.applied, run.traffic)
    if problem:
        run.error = problem
        return ConvergeOutcome("failed", EventKind.CONVERGE_FAILED, Reason.ENGINE_FAILED, Severity.ERROR, problem)
    record_applied(run)
    assert run.plan is not None and run.loaded is not None
    report = verify_after_up(verifier, outputs=run.applied.outputs, desired=run.loaded.state, traffic=run.traffic, now=clock())
    run.verify = report.summary()
    if report.failures:
        run.error = report.headline()
        run.details["verifyFailures"] = [{"name": r.name, "detail": r.detail, "evidence": r.evidence} for r in report.failures]
        return ConvergeOutcome(
            "failed", EventKind.VERIFY_FAILED, Reason.VERIFY_FAILED, Severity.ERROR,
            f"applied ({describe_plan(run.plan)}), but verify failed: {report.headline()}; see: ecs-gitops verify --environment {run.job.environment}",
        )
    reason = Reason.APPLIED if run.plan.has_changes else Reason.NO_CHANGES
    return ConvergeOutcome("succeeded", EventKind.CONVERGE_SUCCEEDED, reason, Severity.INFO, describe_plan(run.plan))


def verify_outputs(applied: EngineResult, traffic: TrafficState) -> str | None:
    """What is wrong with the stack's outputs after ``up`` (one missing, a service live on the wrong colour), or None."""
    outputs = applied.outputs
    missing = [key for key in EXPECTED_OUTPUTS if key not in outputs]
    if missing:
        return f"apply finished but the stack lacks outputs {', '.join(missing)}"
    live = outputs.get("liveColours") or {}
    for service, colour in live.items():
        expected = traffic.of(service).live_colour
        if colour != expected:
            return f"apply finished but {service} is live on {colour}, not {expected} as the traffic state says"
    return None
