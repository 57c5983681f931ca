"""Run the checks of some groups over one environment and gather them into a :class:`VerifyReport`."""

from __future__ import annotations

import dataclasses
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


# AWS answers that say "not now", not "no": the group is run again (within the run's bound) before it counts.
TRANSIENT_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException",
    "RequestThrottled", "RequestThrottledException", "SlowDown", "ServiceUnavailable", "ServiceUnavailableException",
    "InternalError", "InternalFailure", "InternalServerError", "RequestTimeout", "RequestTimeoutException",
})


def error_code(exc: ClientError | BotoCoreError) -> str:
    return str(exc.response["Error"].get("Code")) if isinstance(exc, ClientError) else type(exc).__name__


def is_transient(exc: ClientError | BotoCoreError) -> bool:
    """Throttled, unavailable, or a resource that vanished mid-check (``InvalidNetworkInterfaceID.NotFound``: its task
    stopped between the listing and the look): a second look answers it. Any connection-level botocore error too."""
    if isinstance(exc, BotoCoreError):
        return True
    code = error_code(exc)
    return code in TRANSIENT_CODES or code.endswith(".NotFound")


def run_checks(ctx: VerifyContext, groups: Sequence[str] = GROUPS) -> VerifyReport:
    timing = ctx.timing
    deadline = timing.monotonic() + timing.run_timeout_seconds if timing.run_timeout_seconds is not None else None
    results: list[CheckResult] = []
    for group in groups:
        results.extend(_run_group(ctx, group, deadline))
    return VerifyReport(environment=ctx.environment, checked_at=ctx.timing.clock(), results=results)


def _within(ctx: VerifyContext, deadline: float | None) -> VerifyContext:
    """``ctx`` with its waits cut to what is left of the run's bound (the cache is shared: one account read per run)."""
    if deadline is None:
        return ctx
    left = max(0.0, deadline - ctx.timing.monotonic())
    return dataclasses.replace(ctx, timing=dataclasses.replace(ctx.timing, target_health_timeout_seconds=min(ctx.timing.target_health_timeout_seconds, left)))


def _run_group(ctx: VerifyContext, group: str, deadline: float | None) -> list[CheckResult]:
    timing = ctx.timing
    attempt = 1
    while True:
        try:
            return list(GROUP_CHECKS[group](_within(ctx, deadline)))
        except MissingOutput as exc:
            return [CheckResult(name=f"{group}.outputs", group=group, status="fail", evidence={"missingOutput": exc.key},
                                detail=f"{exc}; re-run the converge so the program exports it, or pass --outputs with it")]
        except (KeyError, TypeError) as exc:
            # An output of the wrong shape (an older program's stack): a failed group naming it, never a crash.
            return [CheckResult(name=f"{group}.outputs", group=group, status="fail", evidence={"unreadableOutput": str(exc)},
                                detail=f"the stack's outputs do not have the shape the {group} checks read ({exc}); re-run the converge")]
        except (ClientError, BotoCoreError) as exc:
            code = error_code(exc)
            pause = timing.poll_seconds * attempt
            if is_transient(exc) and attempt < timing.api_attempts and (deadline is None or timing.monotonic() + pause < deadline):
                log.info("verify %s: %s answered %s; looking again in %ss (attempt %d of %d)", ctx.environment, group, code, pause, attempt + 1, timing.api_attempts)
                ctx._cache.clear()  # what was read before the error may be what vanished (a stopped task)
                timing.sleep(pause)
                attempt += 1
                continue
            # An answer the checks could not get is no pass: the group fails with the API's error.
            log.warning("verify %s: %s failed: %s", ctx.environment, group, code)
            return [CheckResult(name=f"{group}.api", group=group, status="fail", evidence={"error": code, "message": str(exc), "attempts": attempt},
                                detail=f"the {group} checks could not read the account: {code} (after {attempt} attempt(s))")]
        except Exception as exc:  # noqa: BLE001 - whatever a check raises fails its group, never the converge or the tick
            return [error_result(group, exc)]


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
