"""The internet-facing ALB with a blue and a green target group per ALB-facing service.

Live traffic goes through a weighted forward action whose weights come from the rollout
controller's traffic state, so a converge renders exactly the split a rollout has reached; while
a rollout is active for a service, the program leaves that forward to it (``ignore_changes``).
A test listener forwards to the idle colour and is reachable only from inside the VPC (the
NAT addresses in-VPC callers leave through), so smoke checks can reach a colour before any
customer does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from desired_state.naming import ALB_FACING_SERVICES, COLOURS, name
from desired_state.schema import EdgeSpec, HealthCheckSpec, RolloutSpec
from desired_state.traffic import ColourPlan

API_RULE_PRIORITY = 10


@dataclass(frozen=True)
class EdgeServiceArgs:
    port: int
    health_check: HealthCheckSpec
    colours: tuple[ColourPlan, ColourPlan]  # (blue, green)
    rollout: RolloutSpec

    @property
    def idle(self) -> ColourPlan:
        return next(plan for plan in self.colours if not plan.live)

    @property
    def rollout_owns_traffic(self) -> bool:
        return any(plan.rollout_owned for plan in self.colours)


@dataclass(frozen=True)
class EdgeArgs:
    suffix: str
    spec: EdgeSpec
    vpc_id: pulumi.Input[str]
    public_subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    services: Mapping[str, EdgeServiceArgs]  # frontend, api-gateway


def weighted_forward(target_groups: Mapping[str, aws.lb.TargetGroup], weights: Mapping[str, int]) -> aws.lb.ListenerDefaultActionArgs:
    """A forward action splitting traffic between the colours by weight."""
    return aws.lb.ListenerDefaultActionArgs(
        type="forward",
        forward=aws.lb.ListenerDefaultActionForwardArgs(
            target_groups=[
                aws.lb.ListenerDefaultActionForwardTargetGroupArgs(arn=target_groups[colour].arn, weight=weights[colour])
                for colour in COLOURS
            ],
            stickiness=aws.lb.ListenerDefaultActionForwardStickinessArgs(enabled=False, duration=1),
        ),
    )


def weights_options(parent: pulumi.Resource, rollout_owns_traffic: bool, weights_property: str) -> pulumi.ResourceOptions:
    """Options of a resource carrying a service's weighted forward (``weights_property`` holds it).

    While a rollout is active for the service it owns the weights: a converge's ``pulumi up``
    applies what was rendered minutes earlier, and would undo a shift or a rollback made since.
    """
    return pulumi.ResourceOptions(parent=parent, ignore_changes=[weights_property] if rollout_owns_traffic else None)


class Edge(pulumi.ComponentResource):
    load_balancer: aws.lb.LoadBalancer
    target_groups: dict[str, dict[str, aws.lb.TargetGroup]]
    listeners: dict[str, aws.lb.Listener]
    rules: list[aws.lb.ListenerRule]

    def __init__(self, resource_name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ecs-gitops:platform:Edge", resource_name, None, opts)
        s, spec = args.suffix, args.spec
        child = pulumi.ResourceOptions(parent=self)
        https = spec.certificate_arn is not None
        if not https:
            pulumi.log.warn(
                f"edge: no certificateArn for '{s}': port 80 forwards plain HTTP and there is no HTTPS listener; "
                "set edge.certificateArn to serve HTTPS and redirect HTTP"
                # No resource= here: with one, Pulumi logs asynchronously and may drop the message.
            )

        alb_name = name("alb", s, "platform")
        self.load_balancer = aws.lb.LoadBalancer(
            alb_name,
            name=alb_name,
            internal=False,
            load_balancer_type="application",
            subnets=list(args.public_subnet_ids),
            security_groups=[args.security_group_id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=False,
            drop_invalid_header_fields=True,
            desync_mitigation_mode="defensive",
            enable_http2=True,
            idle_timeout=spec.idle_timeout,
            access_logs=(
                aws.lb.LoadBalancerAccessLogsArgs(bucket=spec.access_logs.bucket, prefix=spec.access_logs.prefix, enabled=True)
                if spec.access_logs
                else None
            ),
            opts=child,
        )

        self.target_groups = {}
        for service in ALB_FACING_SERVICES:
            service_args = args.services[service]
            check = service_args.health_check
            self.target_groups[service] = {}
            for colour in COLOURS:
                tg_name = name("tg", s, service, colour)
                self.target_groups[service][colour] = aws.lb.TargetGroup(
                    tg_name,
                    name=tg_name,
                    port=service_args.port,
                    protocol="HTTP",
                    target_type="ip",
                    vpc_id=args.vpc_id,
                    deregistration_delay=spec.deregistration_delay,
                    health_check=aws.lb.TargetGroupHealthCheckArgs(
                        enabled=True,
                        path=check.path,
                        protocol="HTTP",
                        port="traffic-port",
                        interval=check.interval,
                        timeout=check.timeout,
                        healthy_threshold=check.healthy_threshold,
                        unhealthy_threshold=check.unhealthy_threshold,
                        matcher=check.matcher,
                    ),
                    tags={"service": service, "colour": colour},
                    opts=child,
                )

        def live_weights(service: str) -> dict[str, int]:
            return {plan.colour: plan.weight for plan in args.services[service].colours}

        live_action = weighted_forward(self.target_groups["frontend"], live_weights("frontend"))
        # The live listener's default action is frontend's weighted forward.
        live_opts = weights_options(self, args.services["frontend"].rollout_owns_traffic, "default_actions")
        self.listeners = {}
        if https:
            self.listeners["http"] = self._listener(
                name("listener", s, "http"),
                port=80,
                protocol="HTTP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(
                        type="redirect",
                        redirect=aws.lb.ListenerDefaultActionRedirectArgs(port="443", protocol="HTTPS", status_code="HTTP_301"),
                    )
                ],
            )
            self.listeners["https"] = self._listener(
                name("listener", s, "https"),
                port=443,
                protocol="HTTPS",
                ssl_policy=spec.ssl_policy,
                certificate_arn=spec.certificate_arn,
                default_actions=[live_action],
                opts=live_opts,
            )
            live_listener = self.listeners["https"]
        else:
            self.listeners["http"] = self._listener(
                name("listener", s, "http"), port=80, protocol="HTTP", default_actions=[live_action], opts=live_opts
            )
            live_listener = self.listeners["http"]

        idle = {svc: args.services[svc].idle.colour for svc in ALB_FACING_SERVICES}
        self.listeners["test"] = self._listener(
            name("listener", s, "test"),
            port=spec.test_listener_port,
            protocol="HTTPS" if https else "HTTP",
            ssl_policy=spec.ssl_policy if https else None,
            certificate_arn=spec.certificate_arn,
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_groups["frontend"][idle["frontend"]].arn)
            ],
        )

        api_groups = self.target_groups["api-gateway"]
        api_condition = aws.lb.ListenerRuleConditionArgs(
            path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=list(spec.api_path_patterns))
        )
        self.rules = [
            aws.lb.ListenerRule(
                name("rule", s, "api-gateway", "live"),
                listener_arn=live_listener.arn,
                priority=API_RULE_PRIORITY,
                conditions=[api_condition],
                actions=[
                    aws.lb.ListenerRuleActionArgs(
                        type="forward",
                        forward=aws.lb.ListenerRuleActionForwardArgs(
                            target_groups=[
                                aws.lb.ListenerRuleActionForwardTargetGroupArgs(arn=api_groups[c].arn, weight=live_weights("api-gateway")[c])
                                for c in COLOURS
                            ],
                            stickiness=aws.lb.ListenerRuleActionForwardStickinessArgs(enabled=False, duration=1),
                        ),
                    )
                ],
                opts=weights_options(self, args.services["api-gateway"].rollout_owns_traffic, "actions"),
            ),
            aws.lb.ListenerRule(
                name("rule", s, "api-gateway", "test"),
                listener_arn=self.listeners["test"].arn,
                priority=API_RULE_PRIORITY,
                conditions=[api_condition],
                actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=api_groups[idle["api-gateway"]].arn)],
                opts=child,
            ),
        ]

        self.alarms = self._rollout_alarms(args)

        self.register_outputs(
            {
                "alarmNames": {svc: {c: [a.name for a in alarms] for c, alarms in by_colour.items()} for svc, by_colour in self.alarms.items()},
                "albDnsName": self.load_balancer.dns_name,
                "albArn": self.load_balancer.arn,
                "targetGroupArns": {svc: {c: tg.arn for c, tg in groups.items()} for svc, groups in self.target_groups.items()},
                "listenerArns": {kind: listener.arn for kind, listener in self.listeners.items()},
            }
        )

    def _rollout_alarms(self, args: EdgeArgs) -> dict[str, dict[str, list[aws.cloudwatch.MetricAlarm]]]:
        """Per colour: 5xx count, p99 latency and unhealthy hosts on its own target group.

        A rollout watches the new colour's alarms during every bake; with no traffic or no
        targets there is no data, which counts as healthy.
        """
        alarms: dict[str, dict[str, list[aws.cloudwatch.MetricAlarm]]] = {}
        for service in ALB_FACING_SERVICES:
            spec = args.services[service].rollout
            alarms[service] = {}
            for colour in COLOURS:
                dimensions = {"LoadBalancer": self.load_balancer.arn_suffix, "TargetGroup": self.target_groups[service][colour].arn_suffix}
                definitions = (
                    ("5xx", "HTTPCode_Target_5XX_Count", "Sum", None, spec.max_5xx_per_minute, f"more than {spec.max_5xx_per_minute} 5xx answers a minute"),
                    ("latency", "TargetResponseTime", None, "p99", spec.max_p99_latency_seconds, f"p99 latency above {spec.max_p99_latency_seconds}s"),
                    ("unhealthy", "UnHealthyHostCount", "Maximum", None, 0, "an unhealthy target"),
                )
                alarms[service][colour] = []
                for kind, metric, statistic, extended, threshold, text in definitions:
                    alarm_name = name("alarm", args.suffix, service, f"{colour}-{kind}")
                    alarms[service][colour].append(
                        aws.cloudwatch.MetricAlarm(
                            alarm_name,
                            name=alarm_name,
                            alarm_description=f"{service} {colour}: {text}; watched by rollouts",
                            namespace="AWS/ApplicationELB",
                            metric_name=metric,
                            statistic=statistic,
                            extended_statistic=extended,
                            dimensions=dimensions,
                            period=60,
                            evaluation_periods=2,
                            datapoints_to_alarm=2,
                            threshold=threshold,
                            comparison_operator="GreaterThanThreshold",
                            treat_missing_data="notBreaching",
                            opts=pulumi.ResourceOptions(parent=self),
                        )
                    )
        return alarms

    def _listener(self, resource_name: str, opts: pulumi.ResourceOptions | None = None, **kwargs: object) -> aws.lb.Listener:
        return aws.lb.Listener(
            resource_name,
            load_balancer_arn=self.load_balancer.arn,
            opts=opts or pulumi.ResourceOptions(parent=self),
            **kwargs,  # type: ignore[arg-type]
        )
