"""Tiered security groups: internet -> ALB -> frontend -> api-gateway -> processing-service.

Every rule is its own resource (``aws.vpc.SecurityGroup{Ingress,Egress}Rule``), so a rule can
be added or removed without replacing the group and each one shows up by name in a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from desired_state.naming import name

ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class SecurityArgs:
    suffix: str
    vpc_id: pulumi.Input[str]
    ports: dict[str, int]  # service -> container port
    https_enabled: bool
    test_listener_port: int
    # Where in-VPC callers appear from when they reach the internet-facing ALB: the NAT EIPs.
    test_listener_sources: Sequence[pulumi.Input[str]]


class SecurityTiers(pulumi.ComponentResource):
    alb: aws.ec2.SecurityGroup
    services: dict[str, aws.ec2.SecurityGroup]

    def __init__(self, resource_name: str, args: SecurityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ecs-gitops:platform:SecurityTiers", resource_name, None, opts)
        self._suffix = args.suffix
        child = pulumi.ResourceOptions(parent=self)

        def group(tier: str, description: str) -> aws.ec2.SecurityGroup:
            group_name = name("sg", args.suffix, tier)
            return aws.ec2.SecurityGroup(
                group_name,
                name=group_name,
                description=description,
                vpc_id=args.vpc_id,
                # Rules are separate resources; an empty inline list would fight them.
                tags={"Name": group_name, "tier": tier},
                opts=child,
            )

        self.alb = group("alb", "Application Load Balancer: HTTP/HTTPS from the internet")
        self.services = {
            "frontend": group("frontend", "frontend tasks: only from the ALB"),
            "api-gateway": group("api-gateway", "api-gateway tasks: only from the ALB and frontend"),
            "processing-service": group("processing-service", "processing-service tasks: only from api-gateway"),
        }
        frontend, api, processing = (self.services[s] for s in ("frontend", "api-gateway", "processing-service"))

        public_ports = [80, 443] if args.https_enabled else [80]
        for port in public_ports:
            self._ingress(f"alb-from-internet-{port}", self.alb, port, cidr=ANYWHERE, description=f"internet to ALB on {port}")
        for index, source in enumerate(args.test_listener_sources):
            self._ingress(
                f"alb-test-from-nat-{index}",
                self.alb,
                args.test_listener_port,
                cidr=pulumi.Output.from_input(source).apply(lambda ip: f"{ip}/32"),
                description="in-VPC callers (via NAT) to the idle-colour test listener",
            )

        self._pair("alb", self.alb, "frontend", frontend, args.ports["frontend"])
        self._pair("alb", self.alb, "api-gateway", api, args.ports["api-gateway"])
        self._pair("frontend", frontend, "api-gateway", api, args.ports["api-gateway"])
        self._pair("api-gateway", api, "processing-service", processing, args.ports["processing-service"])

        # Image pulls, logs and secrets go to AWS endpoints over HTTPS through the NAT; nothing else leaves.
        for tier, sg in self.services.items():
            self._egress(f"{tier}-to-aws-https", sg, 443, cidr=ANYWHERE, description="HTTPS to AWS endpoints (ECR, Logs, Secrets Manager)")

        self.register_outputs(
            {"albSecurityGroupId": self.alb.id, **{f"{t}SecurityGroupId": g.id for t, g in self.services.items()}}
        )

    def _pair(self, source_tier: str, source: aws.ec2.SecurityGroup, target_tier: str, target: aws.ec2.SecurityGroup, port: int) -> None:
        """Allow ``source`` to reach ``target`` on ``port``: egress on one side, ingress on the other."""
        self._egress(f"{source_tier}-to-{target_tier}", source, port, group=target, description=f"to {target_tier} on {port}")
        self._ingress(f"{target_tier}-from-{source_tier}", target, port, group=source, description=f"from {source_tier} on {port}")

    def _ingress(self, rule: str, sg: aws.ec2.SecurityGroup, port: int, **where: object) -> None:
        self._rule(aws.vpc.SecurityGroupIngressRule, rule, sg, port, **where)

    def _egress(self, rule: str, sg: aws.ec2.SecurityGroup, port: int, **where: object) -> None:
        self._rule(aws.vpc.SecurityGroupEgressRule, rule, sg, port, **where)

    def _rule(
        self,
        kind: type[aws.vpc.SecurityGroupIngressRule] | type[aws.vpc.SecurityGroupEgressRule],
        rule: str,
        sg: aws.ec2.SecurityGroup,
        port: int,
        *,
        description: str,
        cidr: pulumi.Input[str] | None = None,
        group: aws.ec2.SecurityGroup | None = None,
    ) -> None:
        """One TCP rule on ``port``, to/from either a CIDR or another tier's group."""
        kind(
            name("sgr", self._suffix, rule),
            security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            cidr_ipv4=cidr,
            referenced_security_group_id=group.id if group is not None else None,
            description=description,
            opts=pulumi.ResourceOptions(parent=self),
        )
