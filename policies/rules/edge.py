"""The ALB: invalid headers dropped, current TLS, HTTPS in front of customers (mandatory in production)."""

from __future__ import annotations

from collections.abc import Iterator

from desired_state.schema import CURRENT_TLS_POLICIES
from policies import aws_types as t
from policies.model import Finding, ResourceView, Stack
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


@rule("EDGE-003", "advisory", "Non-production: customers reach the platform over HTTPS (production: EDGE-004, mandatory)")
def https_in_front(stack: Stack) -> Iterator[Finding]:
    if stack.context.production:
        return  # EDGE-004 blocks this in production; one finding per problem
    listeners = list(stack.of_type(*t.LISTENERS))
    if listeners and not any(listener.props.get("protocol") == "HTTPS" for listener in listeners):
        yield Finding("listeners", "no HTTPS listener; set edge.certificateArn so port 80 redirects to HTTPS on 443")


def _redirects_to_https(listener: ResourceView) -> bool:
    actions = listener.props.get("defaultActions") or []
    return bool(actions) and all(
        isinstance(a, dict) and a.get("type") == "redirect" and (a.get("redirect") or {}).get("protocol") == "HTTPS" for a in actions
    )


def _internal(stack: Stack, listener: ResourceView) -> bool:
    balancers = stack.referenced(listener, "loadBalancerArn", t.LOAD_BALANCERS[0]) + stack.referenced(listener, "loadBalancerArn", t.LOAD_BALANCERS[1])
    return bool(balancers) and all(lb.props.get("internal") is True for lb in balancers)


@rule("EDGE-004", "mandatory", "Production serves customers over HTTPS only: a certificate, and plain HTTP only redirects to HTTPS")
def production_https_only(stack: Stack) -> Iterator[Finding]:
    if not stack.context.production:
        return
    listeners = [listener for listener in stack.of_type(*t.LISTENERS) if not _internal(stack, listener)]
    if not listeners:
        return
    if not any(listener.props.get("protocol") == "HTTPS" for listener in listeners):
        yield Finding(
            "listeners",
            "production has no HTTPS listener and would serve customers plain HTTP; set edge.certificateArn "
            "(an ACM certificate) so port 80 redirects to HTTPS on 443",
        )
        return
    for listener in listeners:
        if listener.props.get("protocol") != "HTTPS" and not _redirects_to_https(listener):
            yield Finding(
                listener.name,
                f"plain {listener.props.get('protocol')} on port {_port(listener)} does not redirect to HTTPS; "
                "in production every HTTP listener redirects to HTTPS",
            )


def _port(listener: ResourceView) -> object:
    port = listener.props.get("port")
    return int(port) if isinstance(port, (int, float)) else port
