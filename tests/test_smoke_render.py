def test_dev_renders_every_component(rendered_dev):
    components = {r.type for r in rendered_dev.resources if not r.custom}
    assert {
        "ecs-gitops:platform:Network",
        "ecs-gitops:platform:Registry",
        "ecs-gitops:platform:Cluster",
        "ecs-gitops:platform:Edge",
        "ecs-gitops:platform:Discovery",
        "ecs-gitops:platform:Secrets",
        "ecs-gitops:platform:SecurityTiers",
        "ecs-gitops:platform:Service",
        "ecs-gitops:platform:ServiceIdentity",
    } <= components


def test_alarms_carry_the_real_alb_and_target_group_dimensions(rendered_dev):
    """CloudWatch's ApplicationELB dimensions are ARN suffixes: app/<alb>/<id> and targetgroup/<tg>/<id>."""
    import re

    from pulumi.runtime.mocks import MockResourceArgs

    from program.mocks import OfflineMocks

    alb = rendered_dev.named("alb-platform-dev")
    _, alb_state = OfflineMocks("us-east-1").new_resource(MockResourceArgs(alb.type, alb.name, dict(alb.inputs), custom=True))
    alb_suffix = alb_state["arn"].split(":loadbalancer/", 1)[1]
    assert re.fullmatch(r"app/alb-platform-dev/[0-9a-f]{16}", alb_suffix)
    alarms = rendered_dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert len(alarms) == 12
    for service, colours in rendered_dev.outputs["alarmNames"].items():
        for colour, names in colours.items():
            group_arn = rendered_dev.outputs["targetGroupArns"][service][colour]
            group_suffix = group_arn.split(":", 5)[5]
            assert re.fullmatch(rf"targetgroup/tg-{service}-{colour}-dev/[0-9a-f]{{16}}", group_suffix)
            for name in names:
                assert rendered_dev.named(name).inputs["dimensions"] == {"LoadBalancer": alb_suffix, "TargetGroup": group_suffix}


def test_listener_arns_sit_under_their_load_balancer(rendered_dev):
    alb_path = "app/alb-platform-dev/"
    for arn in rendered_dev.outputs["listenerArns"].values():
        assert f":listener/{alb_path}" in arn and len(arn.split("/")) == 5
    for arn in rendered_dev.outputs["listenerRuleArns"].values():
        assert f":listener-rule/{alb_path}" in arn and len(arn.split("/")) == 6
