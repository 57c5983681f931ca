"""EDGE-001..004: invalid headers dropped, current TLS, HTTPS in front of customers (mandatory in production)."""

from __future__ import annotations

import pytest

from policies.model import ResourceView
from policies.offline import views_of
from policies.pack import evaluate


def test_clean_prod_passes_every_edge_rule(kit, prod_views):
    for rule_id in ("EDGE-001", "EDGE-002", "EDGE-003", "EDGE-004"):
        assert kit.run(prod_views, rule_id, kit.PROD) == []


def test_clean_dev_passes_the_mandatory_edge_rules(kit, dev_views):
    assert kit.run(dev_views, "EDGE-001") == []
    assert kit.run(dev_views, "EDGE-002") == []


# --- EDGE-001 -------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [{"update": {"dropInvalidHeaderFields": False}}, {"drop": ("dropInvalidHeaderFields",)}], ids=["false", "missing"])
def test_alb_keeps_invalid_headers(kit, dev_views, change):
    broken = kit.replace(dev_views, "alb-platform-dev", **change)
    violations = kit.run(broken, "EDGE-001")
    kit.expect(violations, "EDGE-001", "alb-platform-dev", "dropInvalidHeaderFields is not true", "set it")
    assert kit.resources(violations) == {"alb-platform-dev"}


def test_network_load_balancers_have_no_header_setting(kit, dev_views):
    nlb = ResourceView(type="aws:lb/loadBalancer:LoadBalancer", name="nlb-internal-dev", props={"internal": True, "loadBalancerType": "network"})
    assert kit.run(kit.add(dev_views, nlb), "EDGE-001") == []


# --- EDGE-002 -------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["ELBSecurityPolicy-2016-08", "ELBSecurityPolicy-TLS-1-0-2015-04", None])
def test_https_listener_with_outdated_tls(kit, prod_views, policy):
    change = {"drop": ("sslPolicy",)} if policy is None else {"update": {"sslPolicy": policy}}
    broken = kit.replace(prod_views, "listener-https-prod", **change)
    violations = kit.run(broken, "EDGE-002", kit.PROD)
    kit.expect(violations, "EDGE-002", "listener-https-prod", f"sslPolicy is {policy!r}", "use ELBSecurityPolicy-TLS13-1-2-2021-06 or newer")
    assert kit.resources(violations) == {"listener-https-prod"}  # the test listener keeps its policy


def test_http_listener_needs_no_tls_policy(kit, dev_views):
    assert kit.view(dev_views, "listener-http-dev").props["protocol"] == "HTTP"
    assert kit.run(dev_views, "EDGE-002") == []


# --- EDGE-003 -------------------------------------------------------------------------------


def test_prod_without_certificate_in_the_desired_state_is_a_mandatory_violation(kit, render_mutated):
    """Changed with the trust work: this was EDGE-003, advisory; production HTTP-only now blocks (EDGE-004)."""

    def mutate(doc):
        del doc["edge"]["certificateArn"]
        doc["edge"].pop("publicHostname", None)  # a public host needs a certificate

    views = views_of(render_mutated(mutate, environment="prod"))
    violations = kit.run(views, "EDGE-004", kit.PROD)
    v = kit.expect(violations, "EDGE-004", "listeners", "production has no HTTPS listener", "set edge.certificateArn")
    assert v.severity == "mandatory"
    assert len(violations) == 1
    assert kit.run(views, "EDGE-003", kit.PROD) == []  # one finding for one problem
    report = evaluate(views, kit.PROD)
    assert not report.passed
    assert [(x.policy, x.severity) for x in report.mandatory] == [("EDGE-004", "mandatory")]


def test_the_same_http_only_stack_is_only_advisory_outside_production(kit, render_mutated):
    def mutate(doc):
        del doc["edge"]["certificateArn"]
        doc["edge"].pop("publicHostname", None)  # a public host needs a certificate

    views = views_of(render_mutated(mutate, environment="prod"))
    assert kit.run(views, "EDGE-004", kit.DEV) == []
    v = kit.expect(kit.run(views, "EDGE-003", kit.DEV), "EDGE-003", "listeners", "no HTTPS listener")
    assert v.severity == "advisory"


def test_prod_http_listener_that_forwards_instead_of_redirecting(kit, prod_views, dev_views):
    forward = kit.view(dev_views, "listener-http-dev").props["defaultActions"]
    broken = kit.replace(prod_views, "listener-http-prod", update={"defaultActions": forward})
    violations = kit.run(broken, "EDGE-004", kit.PROD)
    kit.expect(violations, "EDGE-004", "listener-http-prod", "plain HTTP on port 80 does not redirect to HTTPS")
    assert kit.resources(violations) == {"listener-http-prod"}


def test_prod_http_redirect_to_plain_http_is_no_redirect_to_https(kit, prod_views):
    broken = kit.replace(
        prod_views, "listener-http-prod", update={"defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTP", "port": "8080", "statusCode": "HTTP_301"}}]}
    )
    kit.expect(kit.run(broken, "EDGE-004", kit.PROD), "EDGE-004", "listener-http-prod", "does not redirect to HTTPS")


def test_prod_listener_on_an_internal_load_balancer_is_not_customer_facing(kit, prod_views):
    forward_http = {"defaultActions": [{"type": "forward", "targetGroupArn": "arn:aws:elasticloadbalancing:tg"}]}
    broken = kit.replace(kit.replace(prod_views, "listener-http-prod", update=forward_http), "alb-platform-prod", update={"internal": True})
    assert kit.view(broken, "listener-http-prod").depends_on("loadBalancerArn") == ("alb-platform-prod",)
    assert kit.run(broken, "EDGE-004", kit.PROD) == []


def test_clean_dev_passes_edge_004(kit, dev_views):
    assert kit.run(dev_views, "EDGE-004") == []


def test_dev_without_certificate(kit, dev_views):
    violations = kit.run(dev_views, "EDGE-003")
    kit.expect(violations, "EDGE-003", "listeners", "no HTTPS listener", "edge.certificateArn")


def test_stack_without_listeners_is_not_flagged(kit, dev_views):
    broken = [v for v in dev_views if "listener" not in v.type.lower()]
    assert kit.run(broken, "EDGE-003") == []
