"""Edge: the internet-facing ALB, blue/green target groups, weighted listeners and the test listener."""

from __future__ import annotations

import pytest

from desired_state.traffic import ColourWeights, ServiceTraffic, TrafficState

ALB = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
RULE = "aws:lb/listenerRule:ListenerRule"
ALB_FACING = ("frontend", "api-gateway")
COLOURS = ("blue", "green")


def _unchanged(doc):
    return None


def _tg(stack, service, colour):
    return stack.outputs["targetGroupArns"][service][colour]


def _weights(forward, stack, service):
    """colour -> weight of a forward action, checking it names exactly this service's two groups."""
    arns = {_tg(stack, service, c): c for c in COLOURS}
    groups = forward["targetGroups"]
    assert sorted(g["arn"] for g in groups) == sorted(arns)
    assert forward["stickiness"]["enabled"] is False
    return {arns[g["arn"]]: g["weight"] for g in groups}


def _listener_weights(stack, suffix, name):
    (action,) = stack.named(f"listener-{name}-{suffix}").inputs["defaultActions"]
    assert action["type"] == "forward"
    return _weights(action["forward"], stack, "frontend")


def _api_rule(stack, suffix, which):
    rule = stack.named(f"rule-api-gateway-{which}-{suffix}")
    (condition,) = rule.inputs["conditions"]
    (action,) = rule.inputs["actions"]
    return rule, condition, action


# --- load balancer ---------------------------------------------------------------------------


def test_alb_is_internet_facing_in_the_public_subnets(stack, state, mock_state):
    s = state.environment_suffix
    (alb,) = stack.of_type(ALB)
    assert alb.inputs["name"] == f"alb-platform-{s}"
    assert alb.inputs["internal"] is False
    assert alb.inputs["loadBalancerType"] == "application"
    assert alb.inputs["subnets"] == stack.outputs["publicSubnetIds"]
    public = [mock_state(stack.named(f"subnet-public-{z[-1]}-{s}"))["id"] for z in state.network.availability_zones]
    assert alb.inputs["subnets"] == public
    assert alb.inputs["securityGroups"] == [mock_state(stack.named(f"sg-alb-{s}"))["id"]]


def test_alb_hardening_and_destroyability(stack):
    (alb,) = stack.of_type(ALB)
    assert alb.inputs["enableCrossZoneLoadBalancing"] is True
    assert alb.inputs["enableDeletionProtection"] is False
    assert alb.inputs["dropInvalidHeaderFields"] is True


def test_access_logs_only_in_prod(rendered_dev, rendered_prod):
    assert rendered_dev.named("alb-platform-dev").inputs.get("accessLogs") is None
    assert rendered_prod.named("alb-platform-prod").inputs["accessLogs"] == {
        "bucket": "trading-platform-alb-logs-prod",
        "prefix": "alb",
        "enabled": True,
    }


# --- target groups ---------------------------------------------------------------------------


def test_four_target_groups(stack, state):
    s = state.environment_suffix
    groups = stack.of_type(TARGET_GROUP)
    assert sorted(g.inputs["name"] for g in groups) == sorted(f"tg-{svc}-{c}-{s}" for svc in ALB_FACING for c in COLOURS)
    assert stack.outputs["targetGroupArns"].keys() == {"frontend", "api-gateway"}


@pytest.mark.parametrize("service", ALB_FACING)
@pytest.mark.parametrize("colour", COLOURS)
def test_target_group_port_type_and_health_check_per_service(stack, state, service, colour):
    s = state.environment_suffix
    spec = state.services.get(service)
    check = spec.health_check
    group = stack.named(f"tg-{service}-{colour}-{s}")
    assert group.inputs["targetType"] == "ip"
    assert group.inputs["protocol"] == "HTTP"
    assert group.inputs["port"] == float(spec.port)
    assert group.inputs["vpcId"] == stack.outputs["vpcId"]
    assert group.inputs["tags"] == {"service": service, "colour": colour}
    health = group.inputs["healthCheck"]
    assert health["enabled"] is True
    assert health["path"] == check.path
    assert health["interval"] == float(check.interval)
    assert health["timeout"] == float(check.timeout)
    assert health["healthyThreshold"] == float(check.healthy_threshold)
    assert health["unhealthyThreshold"] == float(check.unhealthy_threshold)
    assert health["matcher"] == check.matcher
    assert health["port"] == "traffic-port"
    assert f"targetgroup/tg-{service}-{colour}-{s}/" in _tg(stack, service, colour)


def test_health_check_paths_of_the_examples(rendered_prod):
    assert rendered_prod.named("tg-frontend-blue-prod").inputs["healthCheck"]["path"] == "/healthz"
    assert rendered_prod.named("tg-api-gateway-green-prod").inputs["healthCheck"]["path"] == "/api/health"
    assert rendered_prod.named("tg-api-gateway-green-prod").inputs["healthCheck"]["interval"] == 10.0
    assert rendered_prod.named("tg-api-gateway-green-prod").inputs["healthCheck"]["unhealthyThreshold"] == 2.0


# --- listeners without a certificate (dev) --------------------------------------------------------


def test_dev_http_listener_forwards_blue_100_green_0(rendered_dev):
    listener = rendered_dev.named("listener-http-dev")
    assert listener.inputs["port"] == 80.0
    assert listener.inputs["protocol"] == "HTTP"
    assert listener.inputs["loadBalancerArn"].split("/")[-2] == "alb-platform-dev"
    assert _listener_weights(rendered_dev, "dev", "http") == {"blue": 100.0, "green": 0.0}
    assert sorted(r.name for r in rendered_dev.of_type(LISTENER)) == ["listener-http-dev", "listener-test-dev"]
    assert set(rendered_dev.outputs["listenerArns"]) == {"http", "test"}


def test_dev_without_certificate_warns_about_certificate_arn(rendered_dev, rendered_prod):
    assert len(rendered_dev.warnings) == 1
    assert "certificateArn" in rendered_dev.warnings[0]
    assert "dev" in rendered_dev.warnings[0]
    assert not any("certificateArn" in w for w in rendered_prod.warnings)


# --- listeners with a certificate (prod) ----------------------------------------------------------


def test_prod_http_redirects_to_https(rendered_prod):
    listener = rendered_prod.named("listener-http-prod")
    assert listener.inputs["port"] == 80.0
    assert listener.inputs["protocol"] == "HTTP"
    assert listener.inputs["defaultActions"] == [
        {"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}}
    ]


def test_prod_https_listener_uses_the_certificate_a_tls13_policy_and_weights(rendered_prod, prod_state):
    listener = rendered_prod.named("listener-https-prod")
    assert listener.inputs["port"] == 443.0
    assert listener.inputs["protocol"] == "HTTPS"
    assert listener.inputs["certificateArn"] == prod_state.edge.certificate_arn
    assert listener.inputs["sslPolicy"] == prod_state.edge.ssl_policy
    assert listener.inputs["sslPolicy"].startswith("ELBSecurityPolicy-TLS13-")
    assert _listener_weights(rendered_prod, "prod", "https") == {"blue": 100.0, "green": 0.0}
    assert set(rendered_prod.outputs["listenerArns"]) == {"http", "https", "test"}


# --- api-gateway path rule and the test listener -------------------------------------------------


def test_api_rule_sits_on_the_live_listener_with_weights(stack, state):
    s = state.environment_suffix
    live = "https" if state.edge.certificate_arn else "http"
    rule, condition, action = _api_rule(stack, s, "live")
    assert rule.inputs["listenerArn"] == stack.outputs["listenerArns"][live]
    assert condition == {"pathPattern": {"values": list(state.edge.api_path_patterns)}}
    assert action["type"] == "forward"
    assert _weights(action["forward"], stack, "api-gateway") == {"blue": 100.0, "green": 0.0}
    assert stack.outputs["listenerRuleArns"]["api-gateway-live"].startswith("arn:aws:elasticloadbalancing:")


def test_test_listener_forwards_to_the_idle_colour(stack, state):
    s = state.environment_suffix
    https = state.edge.certificate_arn is not None
    listener = stack.named(f"listener-test-{s}")
    assert listener.inputs["port"] == float(state.edge.test_listener_port)
    assert listener.inputs["protocol"] == ("HTTPS" if https else "HTTP")
    if https:
        assert listener.inputs["certificateArn"] == state.edge.certificate_arn
        assert listener.inputs["sslPolicy"] == state.edge.ssl_policy
    assert listener.inputs["defaultActions"] == [{"type": "forward", "targetGroupArn": _tg(stack, "frontend", "green")}]
    rule, condition, action = _api_rule(stack, s, "test")
    assert rule.inputs["listenerArn"] == stack.outputs["listenerArns"]["test"]
    assert condition == {"pathPattern": {"values": list(state.edge.api_path_patterns)}}
    assert action == {"type": "forward", "targetGroupArn": _tg(stack, "api-gateway", "green")}


def test_when_green_is_live_the_test_listener_targets_blue(render_mutated):
    traffic = TrafficState(
        services={"frontend": ServiceTraffic(live_colour="green"), "api-gateway": ServiceTraffic(live_colour="green")}
    )
    stack = render_mutated(_unchanged, traffic=traffic)
    assert stack.outputs["liveColours"] == {"frontend": "green", "api-gateway": "green"}
    assert stack.named("listener-test-dev").inputs["defaultActions"] == [
        {"type": "forward", "targetGroupArn": _tg(stack, "frontend", "blue")}
    ]
    _, _, test_action = _api_rule(stack, "dev", "test")
    assert test_action == {"type": "forward", "targetGroupArn": _tg(stack, "api-gateway", "blue")}
    assert _listener_weights(stack, "dev", "http") == {"blue": 0.0, "green": 100.0}
    _, _, live_action = _api_rule(stack, "dev", "live")
    assert _weights(live_action["forward"], stack, "api-gateway") == {"blue": 0.0, "green": 100.0}


def test_traffic_state_weights_90_10_reach_the_live_listener_and_the_api_rule(render_mutated):
    split = ColourWeights(blue=90, green=10)
    traffic = TrafficState(services={"frontend": ServiceTraffic(weights=split), "api-gateway": ServiceTraffic(weights=split)})
    stack = render_mutated(_unchanged, environment="prod", traffic=traffic)
    assert _listener_weights(stack, "prod", "https") == {"blue": 90.0, "green": 10.0}
    _, _, live_action = _api_rule(stack, "prod", "live")
    assert _weights(live_action["forward"], stack, "api-gateway") == {"blue": 90.0, "green": 10.0}
    # Port 80 still only redirects, and the test listener still reaches the idle (green) colour.
    assert stack.named("listener-http-prod").inputs["defaultActions"][0]["type"] == "redirect"
    assert stack.named("listener-test-prod").inputs["defaultActions"] == [
        {"type": "forward", "targetGroupArn": _tg(stack, "frontend", "green")}
    ]


def test_weights_are_per_service(render_mutated):
    traffic = TrafficState(services={"api-gateway": ServiceTraffic(weights=ColourWeights(blue=75, green=25))})
    stack = render_mutated(_unchanged, traffic=traffic)
    assert _listener_weights(stack, "dev", "http") == {"blue": 100.0, "green": 0.0}
    _, _, live_action = _api_rule(stack, "dev", "live")
    assert _weights(live_action["forward"], stack, "api-gateway") == {"blue": 75.0, "green": 25.0}


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_while_a_rollout_owns_a_services_traffic_the_program_leaves_its_weighted_forward_to_it(render_mutated, environment):
    """A converge's up applies weights read minutes earlier; the rollout may have shifted or rolled
    back since. Only the rollout's service's forward is ignored, and only while the flag is on."""
    live = "https" if environment == "prod" else "http"
    owned = ServiceTraffic(weights=ColourWeights(blue=50, green=50), rollout_owns_traffic=True)
    stack = render_mutated(_unchanged, environment=environment, traffic=TrafficState(services={"frontend": owned}))
    suffix = environment
    assert stack.named(f"listener-{live}-{suffix}").ignore_changes == ["defaultActions"]
    assert _listener_weights(stack, suffix, live) == {"blue": 50.0, "green": 50.0}  # still rendered (a new stack gets them)
    assert stack.named(f"rule-api-gateway-live-{suffix}").ignore_changes == []
    assert stack.named(f"listener-test-{suffix}").ignore_changes == []
    if environment == "prod":
        assert stack.named("listener-http-prod").ignore_changes == []  # the redirect

    stack = render_mutated(_unchanged, environment=environment, traffic=TrafficState(services={"api-gateway": owned}))
    assert stack.named(f"rule-api-gateway-live-{suffix}").ignore_changes == ["actions"]
    assert stack.named(f"rule-api-gateway-test-{suffix}").ignore_changes == []
    assert stack.named(f"listener-{live}-{suffix}").ignore_changes == []

    unowned = ServiceTraffic(weights=ColourWeights(blue=50, green=50))
    stack = render_mutated(_unchanged, environment=environment, traffic=TrafficState(services={"frontend": unowned, "api-gateway": unowned}))
    assert stack.named(f"listener-{live}-{suffix}").ignore_changes == []
    assert stack.named(f"rule-api-gateway-live-{suffix}").ignore_changes == []
