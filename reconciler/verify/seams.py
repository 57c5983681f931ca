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
    status: int | None  # None: no answer (refused, timed out, DNS, a certificate refused)
    location: str | None = None
    error: str | None = None
    # HTTPS: whether the certificate was checked to name the host asked (its chain always is). None: plain HTTP.
    hostname_checked: bool | None = None


class HttpProbe(Protocol):
    def get(self, url: str, timeout: float, *, public_host: str | None = None, check_hostname: bool = True) -> HttpAnswer: ...


class PublicHostHTTPSConnection(http.client.HTTPSConnection):
    """TCP to the address the URL names (the ALB's DNS name), TLS as ``tls_name`` (the public host).

    The SNI the ALB picks its certificate by, and the name the certificate is checked against
    (when the context checks names), are ``tls_name``, not the address connected to.
    """

    def __init__(self, host: str, port: int | None, *, tls_name: str, timeout: float, context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self.tls_name, self.tls_context = tls_name, context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # the TCP connection, to the address (self.sock: the deadline can cut it)
        self.sock = self.tls_context.wrap_socket(self.sock, server_hostname=self.tls_name)


class UrllibProbe:
    """One GET, redirects not followed; any failure to get an answer is reported, never raised.

    ``timeout`` bounds the whole request, not each socket operation: a server that trickles its
    answer a byte at a time (slow-loris) has its connection cut at the deadline. (Name resolution
    cannot be cut; the connection's own timeout bounds the connect.)

    ``public_host``: the request asks as that host (``Host`` header; over HTTPS also the TLS name
    and the name the certificate must hold) while connecting to the URL's host. An ALB is reached
    by its DNS name, which no ACM certificate names. ``check_hostname=False``: over HTTPS the
    certificate's chain is checked but not its name (the answer says ``hostname_checked=False``).
    ``ca_file``: the CA certificates to trust; None, the system's.
    """

    def __init__(self, ca_file: str | None = None):
        self.ca_file = ca_file

    def _tls_context(self, check_hostname: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        context.check_hostname = check_hostname
        context.verify_mode = ssl.CERT_REQUIRED  # a certificate no trusted CA signed is refused either way
        return context

    def get(self, url: str, timeout: float, *, public_host: str | None = None, check_hostname: bool = True) -> HttpAnswer:
        try:
            parts = urlsplit(url)
            https = parts.scheme == "https"
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return HttpAnswer(status=None, error=f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
            connection: http.client.HTTPConnection = (
                PublicHostHTTPSConnection(parts.hostname, parts.port, tls_name=public_host or parts.hostname, timeout=timeout,
                                          context=self._tls_context(check_hostname))
                if https else http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
            )
        except (ValueError, OSError) as exc:  # a port that is not a number, a CA file that cannot be read
            return HttpAnswer(status=None, error=f"{type(exc).__name__}: {exc}")
        hostname_checked = check_hostname if https else None
        cut = threading.Event()

        def cut_off() -> None:
            cut.set()
            sock = connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # the blocked read (or TLS handshake) returns at once

        deadline = threading.Timer(timeout, cut_off)
        deadline.daemon = True
        deadline.start()
        headers = {"User-Agent": "ecs-gitops-verify", **({"Host": public_host} if public_host else {})}
        try:
            connection.request("GET", urlunsplit(("", "", parts.path or "/", parts.query, "")), headers=headers)
            response = connection.getresponse()
            if cut.is_set():
                # The cut reads as the end of the headers: what came before it is no complete answer.
                return HttpAnswer(status=None, error=f"no complete answer within {timeout:g}s", hostname_checked=hostname_checked)
            return HttpAnswer(status=response.status, location=response.getheader("Location"), hostname_checked=hostname_checked)
        except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timed out, ssl.SSLError, a malformed answer
            if cut.is_set():
                return HttpAnswer(status=None, error=f"no complete answer within {timeout:g}s", hostname_checked=hostname_checked)
            return HttpAnswer(status=None, error=f"{type(exc).__name__}: {exc}", hostname_checked=hostname_checked)
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
