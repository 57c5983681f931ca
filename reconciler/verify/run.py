"""Run the checks of some groups over one environment and gather them into a :class:`VerifyReport`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from desired_state.schema import DesiredState
from desired_state.traffic import TrafficState
from reconciler.verify.checks import GROUP_CHECKS, MissingOutput, VerifyContext
from reconciler.verify.model import GROUPS, CheckResult, VerifyReport
from reconciler.verify.seams import AwsClients, HttpProbe, Timing, UrllibProbe

log = logging.getLogger("ecs_gitops.verify")

# What a rollout's promotion checks last, before the old colour is scaled down.
PROMOTION_GROUPS = ("traffic", "services")


def run_checks(ctx: VerifyContext, groups: Sequence[str] = GROUPS) -> VerifyReport:
    results: list[CheckResult] = []
    for group in groups:
        try:
            results.extend(GROUP_CHECKS[group](ctx))
        except MissingOutput as exc:
            results.append(CheckResult(name=f"{group}.outputs", group=group, status="fail", evidence={"missingOutput": exc.key},
                                       detail=f"{exc}; re-run the converge so the program exports it, or pass --outputs with it"))
        except (KeyError, TypeError) as exc:
            # An output of the wrong shape (an older program's stack): a failed group naming it, never a crash.
            results.append(CheckResult(name=f"{group}.outputs", group=group, status="fail", evidence={"unreadableOutput": str(exc)},
                                       detail=f"the stack's outputs do not have the shape the {group} checks read ({exc}); re-run the converge"))
        except (ClientError, BotoCoreError) as exc:
            # An answer the checks could not get is no pass: the group fails with the API's error.
            code = exc.response["Error"].get("Code") if isinstance(exc, ClientError) else type(exc).__name__
            log.warning("verify %s: %s failed: %s", ctx.environment, group, code)
            results.append(CheckResult(name=f"{group}.api", group=group, status="fail", evidence={"error": code, "message": str(exc)},
                                       detail=f"the {group} checks could not read the account: {code}"))
        except Exception as exc:  # noqa: BLE001 - whatever a check raises fails its group, never the converge or the tick
            results.append(error_result(group, exc))
    return VerifyReport(environment=ctx.environment, checked_at=ctx.timing.clock(), results=results)


def error_result(group: str, exc: BaseException) -> CheckResult:
    """A failed ``<group>.error`` naming what was raised (its type and message only: no traceback, no locals)."""
    name = type(exc).__name__
    log.warning("verify: the %s checks raised %s: %s", group, name, exc)
    return CheckResult(name=f"{group}.error", group=group, status="fail", evidence={"error": name, "message": str(exc)},
                       detail=f"the {group} checks raised {name}: {exc}; nothing of this group was checked")


def verify_environment(
    *,
    environment: str,
    outputs: dict[str, Any],
    desired: DesiredState,
    traffic: TrafficState | None,
    clients: AwsClients,
    http: HttpProbe | None = None,
    timing: Timing | None = None,
    groups: Sequence[str] = GROUPS,
) -> VerifyReport:
    ctx = VerifyContext(
        environment=environment, outputs=dict(outputs), desired=desired, traffic=traffic or TrafficState(),
        clients=clients, http=http or UrllibProbe(), timing=timing or Timing(),
    )
    return run_checks(ctx, groups)


def skipped_report(environment: str, checked_at: Any, reason: str) -> VerifyReport:
    """No check could run (no AWS clients here): said so, never passed."""
    return VerifyReport(environment=environment, checked_at=checked_at, results=[], skipped_reason=reason)
