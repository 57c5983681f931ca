"""EDGE-001..003: invalid headers dropped, current TLS, HTTPS in front of customers."""

from __future__ import annotations

import pytest

from policies.model import ResourceView
from policies.offline import views_of


def test_clean_prod_passes_every_edge_rule(kit, prod_views):
    for rule_id in ("EDGE-001", "EDGE-002", "EDGE-003"):
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


def test_prod_without_certificate_in_the_desired_state(kit, render_mutated):
    def mutate(doc):
        del doc["edge"]["certificateArn"]

    violations = kit.run(views_of(render_mutated(mutate, environment="prod")), "EDGE-003", kit.PROD)
    v = kit.expect(violations, "EDGE-003", "listeners", "no HTTPS listener", "set edge.certificateArn so port 80 redirects to HTTPS on 443")
    assert v.severity == "advisory"
    assert len(violations) == 1


def test_dev_without_certificate(kit, dev_views):
    violations = kit.run(dev_views, "EDGE-003")
    kit.expect(violations, "EDGE-003", "listeners", "no HTTPS listener", "edge.certificateArn")


def test_stack_without_listeners_is_not_flagged(kit, dev_views):
    broken = [v for v in dev_views if "listener" not in v.type.lower()]
    assert kit.run(broken, "EDGE-003") == []
