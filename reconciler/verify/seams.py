"""What the checks act through: the AWS clients (injectable), an HTTP prober and the clock."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.clock import Clock, Monotonic, utc_now

CLIENT_NAMES = ("ec2", "ecs", "elbv2", "logs", "servicediscovery", "secretsmanager", "iam", "resourcegroupstaggingapi")


@dataclass(frozen=True)
class AwsClients:
    """boto3 clients of the environment's account and region; any of them may be a test's stand-in."""

    ec2: Any
    ecs: Any
    elbv2: Any
    logs: Any
    servicediscovery: Any
    secretsmanager: Any
    iam: Any
    resourcegroupstaggingapi: Any

    @classmethod
    def from_session(cls, session: Any, region: str | None = None, **overrides: Any) -> AwsClients:
        clients = {name: overrides.get(name) or session.client(name, region_name=region) for name in CLIENT_NAMES}
        return cls(**clients)

    def replace(self, **overrides: Any) -> AwsClients:
        return AwsClients(**{name: overrides.get(name, getattr(self, name)) for name in CLIENT_NAMES})


@dataclass(frozen=True)
class HttpAnswer:
    status: int | None  # None: no answer (refused, timed out, DNS)
    location: str | None = None
    error: str | None = None


class HttpProbe(Protocol):
    def get(self, url: str, timeout: float) -> HttpAnswer: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer to report, not to follow


class UrllibProbe:
    """One GET, redirects not followed; any failure to get an answer is reported, never raised."""

    def get(self, url: str, timeout: float) -> HttpAnswer:
        opener = urllib.request.build_opener(_NoRedirect)
        request = urllib.request.Request(url, method="GET", headers={"User-Agent": "ecs-gitops-verify"})
        try:
            with opener.open(request, timeout=timeout) as response:
                return HttpAnswer(status=response.status, location=response.headers.get("Location"))
        except urllib.error.HTTPError as exc:
            return HttpAnswer(status=exc.code, location=exc.headers.get("Location") if exc.headers else None)
        except (urllib.error.URLError, OSError, ValueError) as exc:  # OSError: refused, timed out, ssl.SSLError
            return HttpAnswer(status=None, error=str(getattr(exc, "reason", exc)))
        except http.client.HTTPException as exc:
            # A malformed answer (bad status line, too many headers, cut short): no status, and why.
            return HttpAnswer(status=None, error=f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Timing:
    """The bounds of the waiting checks (from settings ``verify:``) and the clocks they wait by."""

    target_health_timeout_seconds: float = 300.0
    poll_seconds: float = 10.0
    recent_log_minutes: int = 15
    http_timeout_seconds: float = 5.0
    # A group whose API answered "not now" (throttled, unavailable, a resource gone mid-check) runs again,
    # up to this many times in all, ``pollSeconds`` x attempt apart.
    api_attempts: int = 3
    # The whole run's bound (the promotion gate's own: verify.gateTimeoutSeconds); waits and retries
    # stop at it. None: each wait has its own bound only (the converge's verify phase, the command).
    run_timeout_seconds: float | None = None
    clock: Clock = utc_now
    monotonic: Monotonic = time.monotonic
    sleep: Callable[[float], None] = field(default=time.sleep)
