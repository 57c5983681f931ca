"""The alarms a rollout watches: 5xx, p99 latency and unhealthy hosts on each colour's own target group."""

import pytest

SERVICES = ("frontend", "api-gateway")
COLOURS = ("blue", "green")


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("colour", COLOURS)
def test_each_colour_has_its_three_alarms_on_its_own_target_group(rendered_dev, service, colour):
    names = rendered_dev.outputs["alarmNames"][service][colour]
    assert names == [f"alarm-{service}-{colour}-{kind}-dev" for kind in ("5xx", "latency", "unhealthy")]
    for name in names:
        alarm = rendered_dev.named(name)
        assert alarm.type == "aws:cloudwatch/metricAlarm:MetricAlarm"
        assert alarm.parent == "edge-platform-dev"
        assert alarm.inputs["namespace"] == "AWS/ApplicationELB"
        assert alarm.inputs["treatMissingData"] == "notBreaching"
        assert alarm.inputs["comparisonOperator"] == "GreaterThanThreshold"
        # The dimensions are computed from this colour's own target group and the ALB, nothing else.
        assert alarm.property_dependencies["dimensions"] == sorted(["alb-platform-dev", f"tg-{service}-{colour}-dev"])


def test_thresholds_come_from_the_desired_state(render_mutated):
    def tighten(document):
        document["services"]["frontend"]["rollout"] = {"max5xxPerMinute": 1, "maxP99LatencySeconds": 0.5}

    rendered = render_mutated(tighten)
    assert rendered.named("alarm-frontend-green-5xx-dev").inputs["threshold"] == 1.0
    assert rendered.named("alarm-frontend-green-latency-dev").inputs["extendedStatistic"] == "p99"
    assert rendered.named("alarm-frontend-green-latency-dev").inputs["threshold"] == 0.5
    assert rendered.named("alarm-api-gateway-green-5xx-dev").inputs["threshold"] == 5.0  # untouched default
    assert rendered.named("alarm-frontend-blue-unhealthy-dev").inputs["metricName"] == "UnHealthyHostCount"
