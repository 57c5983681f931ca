"""The ALB: invalid headers dropped, current TLS, HTTPS in front of customers."""

from __future__ import annotations

from collections.abc import Iterator

from desired_state.schema import CURRENT_TLS_POLICIES
from policies import aws_types as t
from policies.model import Finding, Stack
from policies.rules import rule


@rule("EDGE-001", "mandatory", "Load balancers drop invalid HTTP headers")
def drop_invalid_headers(stack: Stack) -> Iterator[Finding]:
    for lb in stack.of_type(*t.LOAD_BALANCERS):
        if lb.props.get("loadBalancerType", "application") == "application" and lb.props.get("dropInvalidHeaderFields") is not True:
            yield Finding(lb.name, "dropInvalidHeaderFields is not true; set it to stop header smuggling")


@rule("EDGE-002", "mandatory", "HTTPS listeners use a current TLS 1.2+/1.3 policy")
def current_tls(stack: Stack) -> Iterator[Finding]:
    for listener in stack.of_type(*t.LISTENERS):
        if listener.props.get("protocol") == "HTTPS" and listener.props.get("sslPolicy") not in CURRENT_TLS_POLICIES:
            yield Finding(
                listener.name,
                f"sslPolicy is {listener.props.get('sslPolicy')!r}; use ELBSecurityPolicy-TLS13-1-2-2021-06 or newer",
            )


@rule("EDGE-003", "advisory", "Customers reach the platform over HTTPS")
def https_in_front(stack: Stack) -> Iterator[Finding]:
    listeners = list(stack.of_type(*t.LISTENERS))
    if listeners and not any(listener.props.get("protocol") == "HTTPS" for listener in listeners):
        yield Finding("listeners", "no HTTPS listener; set edge.certificateArn so port 80 redirects to HTTPS on 443")
