"""What the checks act through: the AWS clients (injectable), an HTTP prober and the clock."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit, urlunsplit
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.clock import Clock, Monotonic, utc_now
from reconciler.settings import GATE_API_ATTEMPTS

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


class UrllibProbe:
    """One GET, redirects not followed; any failure to get an answer is reported, never raised.

    ``timeout`` bounds the whole request, not each socket operation: a server that trickles its
    answer a byte at a time (slow-loris) has its connection cut at the deadline. (Name resolution
    cannot be cut; the connection's own timeout bounds the connect.)
    """

    def get(self, url: str, timeout: float) -> HttpAnswer:
        try:
            parts = urlsplit(url)
            https = parts.scheme == "https"
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return HttpAnswer(status=None, error=f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
            connection: http.client.HTTPConnection = (
                http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context())
                if https else http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
            )
        except ValueError as exc:  # a port that is not a number
            return HttpAnswer(status=None, error=str(exc))
        cut = threading.Event()

        def cut_off() -> None:
            cut.set()
            sock = connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once

        deadline = threading.Timer(timeout, cut_off)
        deadline.daemon = True
        deadline.start()
        try:
            connection.request("GET", urlunsplit(("", "", parts.path or "/", parts.query, "")), headers={"User-Agent": "ecs-gitops-verify"})
            response = connection.getresponse()
            if cut.is_set():
                # The cut reads as the end of the headers: what came before it is no complete answer.
                return HttpAnswer(status=None, error=f"no complete answer within {timeout:g}s")
            return HttpAnswer(status=response.status, location=response.getheader("Location"))
        except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timed out, ssl.SSLError, a malformed answer
            if cut.is_set():
                return HttpAnswer(status=None, error=f"no complete answer within {timeout:g}s")
            return HttpAnswer(status=None, error=f"{type(exc).__name__}: {exc}")
        finally:
            deadline.cancel()
            connection.close()


@dataclass(frozen=True)
class Timing:
    """The bounds of the waiting checks (from settings ``verify:``) and the clocks they wait by."""

    target_health_timeout_seconds: float = 300.0
    poll_seconds: float = 10.0
    recent_log_minutes: int = 15
    http_timeout_seconds: float = 5.0
    # A group whose API answered "not now" (throttled, unavailable, a resource gone mid-check) runs again,
    # up to this many times in all, ``pollSeconds`` x attempt apart.
    api_attempts: int = GATE_API_ATTEMPTS
    # The whole run's bound (the promotion gate's own: verify.gateTimeoutSeconds); waits and retries
    # stop at it. None: each wait has its own bound only (the converge's verify phase, the command).
    run_timeout_seconds: float | None = None
    clock: Clock = utc_now
    monotonic: Monotonic = time.monotonic
    sleep: Callable[[float], None] = field(default=time.sleep)
