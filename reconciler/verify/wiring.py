"""Where verify gets its AWS session and its timings from (settings ``verify:`` and the components' clocks)."""

from __future__ import annotations

import dataclasses
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.settings import GATE_API_ATTEMPTS
from reconciler.verify.seams import AwsClients, HttpProbe, Timing, UrllibProbe

NO_CREDENTIALS = "no AWS credentials are configured (set AWS_PROFILE, or the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY pair, or run where a role is attached)"


def aws_session(session: Any | None, region: str) -> Any:
    """The components' boto3 session, else one for ``region``; refused without credentials, before any check runs."""
    if session is None:
        import boto3

        session = boto3.session.Session(region_name=region)
    if session.get_credentials() is None:
        raise ReconcilerError(f"cannot verify: {NO_CREDENTIALS}")
    return session


def timing_from(settings: Any, components: Any | None = None) -> Timing:
    verify = settings.verify
    clocks: dict[str, Any] = {}
    if components is not None:
        clocks = {"clock": components.clock, "monotonic": components.monotonic, "sleep": components.sleep}
    return Timing(
        target_health_timeout_seconds=float(verify.target_health_timeout_seconds),
        poll_seconds=float(verify.poll_seconds),
        recent_log_minutes=verify.recent_log_minutes,
        http_timeout_seconds=float(verify.http_timeout_seconds),
        **clocks,
    )


def gate_timing_from(settings: Any, components: Any | None = None) -> Timing:
    """The promotion gate's timing: its own bound (``verify.gateTimeoutSeconds``) on its waits and retries, so a
    tick stays inside its claim lease (settings validate that). A target still unhealthy at the bound is a
    failure; an API still throttling is could-not-check, and the rollout looks again on its backoff."""
    base = timing_from(settings, components)
    bound = float(settings.verify.gate_timeout_seconds)
    return dataclasses.replace(
        base, target_health_timeout_seconds=min(base.target_health_timeout_seconds, bound), run_timeout_seconds=bound, api_attempts=GATE_API_ATTEMPTS
    )


def clients_for(session: Any, region: str) -> AwsClients:
    """The checks' boto3 clients of ``session`` in ``region`` (tests replace this: moto runs no tasks)."""
    return AwsClients.from_session(session, region)


def http_probe() -> HttpProbe:
    """How the HTTP checks reach the ALB (tests replace this: moto's ALB serves nothing)."""
    return UrllibProbe()
