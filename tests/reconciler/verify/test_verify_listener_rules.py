"""Where the live listener sends traffic is every rule it holds, not its default action and one rule.

A rule of a higher priority than the stack's own (or a catch-all) decides where its paths go,
whatever the default action's weights say; and the rules come a page at a time.
"""

from __future__ import annotations

from test_verify_broken import failed, only_failures


def _rule(layout, undo, priority, pattern, actions, listener_kind="http"):
    elbv2 = layout.client("elbv2")
    rule = elbv2.create_rule(
        ListenerArn=layout.outputs["listenerArns"][listener_kind], Priority=priority,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": [pattern]}}], Actions=actions,
    )["Rules"][0]
    undo(lambda: elbv2.delete_rule(RuleArn=rule["RuleArn"]))
    return rule["RuleArn"]


def test_a_catch_all_rule_sending_everything_to_the_idle_colour(layout, run_verify, undo):
    green = layout.outputs["targetGroupArns"]["frontend"]["green"]
    rule = _rule(layout, undo, 1, "/*", [{"Type": "forward", "TargetGroupArn": green}])

    report = run_verify(groups=["traffic"])

    weights = failed(report, "traffic.frontend.weights")
    assert weights.evidence["actual"] == {"blue": 100, "green": 0}  # the default action still says so
    assert weights.evidence["otherForwards"] == [{"on": rule, "priority": "1", "paths": ["/*"], "weights": {"blue": 0, "green": 100}}]
    rules = failed(report, "traffic.live-listener-rules")
    assert [r["rule"] for r in rules.evidence["notTheStacks"]] == [rule]
    assert only_failures(report) == ["traffic.frontend.weights", "traffic.live-listener-rules"]


def test_a_rule_sending_part_of_the_api_to_the_idle_colour(layout, run_verify, undo):
    groups = layout.outputs["targetGroupArns"]["api-gateway"]
    forward = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": groups["blue"], "Weight": 50}, {"TargetGroupArn": groups["green"], "Weight": 50}]}}
    rule = _rule(layout, undo, 5, "/api/v2/*", [forward])

    report = run_verify(groups=["traffic"])

    weights = failed(report, "traffic.api-gateway.weights")
    assert weights.evidence["actual"] == {"blue": 100, "green": 0}
    assert weights.evidence["otherForwards"] == [{"on": rule, "priority": "5", "paths": ["/api/v2/*"], "weights": {"blue": 50, "green": 50}}]
    assert only_failures(report) == ["traffic.api-gateway.weights", "traffic.live-listener-rules"]


def test_a_rule_that_answers_itself_shadowing_the_site(layout, run_verify, undo):
    """A fixed response on /* forwards nowhere, yet no request reaches either colour: not the stack's rule."""
    rule = _rule(layout, undo, 2, "/*", [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain"}}])

    report = run_verify(groups=["traffic"])

    rules = failed(report, "traffic.live-listener-rules")
    assert rules.evidence["notTheStacks"] == [{"rule": rule, "priority": "2", "paths": ["/*"], "actions": ["fixed-response"]}]
    assert only_failures(report) == ["traffic.live-listener-rules"]


def test_a_forward_to_the_idle_colour_on_the_second_page_of_rules(layout, run_verify, undo):
    elbv2 = layout.client("elbv2")
    blue = layout.outputs["targetGroupArns"]["frontend"]["blue"]
    groups = layout.outputs["targetGroupArns"]["frontend"]
    for index in range(50):
        _rule(layout, undo, 1000 + index, f"/filler{index}/*", [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": blue, "Weight": 100}, {"TargetGroupArn": groups["green"], "Weight": 0}]}}])
    late = _rule(layout, undo, 40000, "/late/*", [{"Type": "forward", "TargetGroupArn": groups["green"]}])
    first_page = elbv2.describe_rules(ListenerArn=layout.outputs["listenerArns"]["http"])
    assert first_page.get("NextMarker") and late not in [r["RuleArn"] for r in first_page["Rules"]]

    report = run_verify(groups=["traffic"])

    weights = failed(report, "traffic.frontend.weights")
    assert [f["on"] for f in weights.evidence["otherForwards"] if f["weights"] != {"blue": 100, "green": 0}] == [late]
    assert len(weights.evidence["otherForwards"]) == 51


def test_the_stacks_own_rules_pass(run_verify):
    report = run_verify(groups=["traffic"])
    rules = next(r for r in report.results if r.name == "traffic.live-listener-rules")
    assert rules.status == "pass" and rules.evidence["notTheStacks"] == []
    assert report.passed


CERTIFICATE_DOMAIN = "shop.example.com"


def _serving_https(layout, undo, dev_state):
    """The layout as the program lays out an environment with a certificate: port 443 serves, port 80 redirects.

    Returns the outputs such a stack exports and its desired state (the layout's own outputs are left alone).
    """
    elbv2, acm = layout.client("elbv2"), layout.client("acm")
    certificate = acm.request_certificate(DomainName=CERTIFICATE_DOMAIN)["CertificateArn"]
    http = layout.outputs["listenerArns"]["http"]
    before = elbv2.describe_listeners(ListenerArns=[http])["Listeners"][0]["DefaultActions"]
    api_rule = elbv2.describe_rules(RuleArns=[layout.outputs["listenerRuleArns"]["api-gateway-live"]])["Rules"][0]
    https = elbv2.create_listener(LoadBalancerArn=layout.outputs["albArn"], Port=443, Protocol="HTTPS", Certificates=[{"CertificateArn": certificate}],
                                  DefaultActions=before)["Listeners"][0]["ListenerArn"]
    rule = elbv2.create_rule(ListenerArn=https, Priority=int(api_rule["Priority"]), Conditions=api_rule["Conditions"], Actions=api_rule["Actions"])["Rules"][0]["RuleArn"]
    elbv2.modify_listener(ListenerArn=http, DefaultActions=[{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])
    elbv2.delete_rule(RuleArn=api_rule["RuleArn"])  # with a certificate the api rule is on 443 only

    def repair():
        elbv2.modify_listener(ListenerArn=http, DefaultActions=before)
        again = elbv2.create_rule(ListenerArn=http, Priority=int(api_rule["Priority"]), Conditions=api_rule["Conditions"], Actions=api_rule["Actions"])
        layout.outputs["listenerRuleArns"]["api-gateway-live"] = again["Rules"][0]["RuleArn"]  # the module's account whole again, its new ARN
        elbv2.delete_rule(RuleArn=rule)
        elbv2.delete_listener(ListenerArn=https)
        acm.delete_certificate(CertificateArn=certificate)

    undo(repair)
    outputs = {**layout.outputs, "listenerArns": {**layout.outputs["listenerArns"], "https": https},  # copies: the layout's stay as they are
               "listenerRuleArns": {**layout.outputs["listenerRuleArns"], "api-gateway-live": rule}}
    state = dev_state.model_copy(update={"edge": dev_state.edge.model_copy(update={"certificate_arn": certificate})})
    return outputs, state


def _traffic(layout, outputs, state, fake_time):
    from verify_layout import AlbHttpDouble

    from reconciler.verify.run import verify_environment
    from reconciler.verify.seams import Timing

    return verify_environment(environment="dev", outputs=outputs, desired=state, traffic=None, clients=layout.clients(),
                              http=AlbHttpDouble(layout.client("elbv2"), outputs),
                              timing=Timing(monotonic=fake_time.monotonic, sleep=fake_time.sleep), groups=["traffic"])


def test_with_a_certificate_the_stacks_listeners_pass(layout, undo, dev_state, fake_time):
    outputs, state = _serving_https(layout, undo, dev_state)
    report = _traffic(layout, outputs, state, fake_time)
    assert {r.name: r.detail for r in report.failures} == {}
    assert report.passed


def test_with_a_certificate_a_rule_on_port_80_forwarding_past_the_redirect(layout, undo, dev_state, fake_time):
    """Port 80 redirects to HTTPS, but a rule on it forwards /api/* in plain HTTP to the idle colour."""
    outputs, state = _serving_https(layout, undo, dev_state)
    green = layout.outputs["targetGroupArns"]["api-gateway"]["green"]
    rule = _rule(layout, undo, 3, "/api/*", [{"Type": "forward", "TargetGroupArn": green}])

    report = _traffic(layout, outputs, state, fake_time)

    weights = failed(report, "traffic.api-gateway.weights")
    assert weights.evidence["otherForwards"] == [{"on": rule, "priority": "3", "paths": ["/api/*"], "weights": {"blue": 0, "green": 100}}]
    rules = failed(report, "traffic.live-listener-rules")
    assert [r["rule"] for r in rules.evidence["notTheStacks"]] == [rule]


def test_zz_the_account_is_whole_again(run_verify):
    report = run_verify(groups=["traffic"])
    assert report.failures == [] and report.passed
