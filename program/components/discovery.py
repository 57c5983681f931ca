"""Cloud Map: a private DNS namespace in the VPC and one discovery service per ECS service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from desired_state.naming import name


def discovery_hostname(unit: str, suffix: str, namespace: str) -> str:
    """The DNS name tasks of ``unit`` answer on inside the VPC."""
    return f"{name(unit, suffix)}.{namespace}"


@dataclass(frozen=True)
class DiscoveryArgs:
    suffix: str
    namespace: str
    vpc_id: pulumi.Input[str]
    dns_ttl: int
    # One entry per ECS service: "processing-service", "frontend-blue", ...
    units: Sequence[str]


class Discovery(pulumi.ComponentResource):
    namespace: aws.servicediscovery.PrivateDnsNamespace
    services: dict[str, aws.servicediscovery.Service]

    def __init__(self, resource_name: str, args: DiscoveryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ecs-gitops:platform:Discovery", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = aws.servicediscovery.PrivateDnsNamespace(
            name("namespace", args.suffix, "platform"),
            name=args.namespace,
            vpc=args.vpc_id,
            description=f"Private service discovery for the {args.suffix} trading platform",
            opts=child,
        )
        self.services = {}
        for unit in args.units:
            self.services[unit] = aws.servicediscovery.Service(
                name("discovery", args.suffix, unit),
                name=name(unit, args.suffix),
                namespace_id=self.namespace.id,
                dns_config=aws.servicediscovery.ServiceDnsConfigArgs(
                    namespace_id=self.namespace.id,
                    routing_policy="MULTIVALUE",
                    dns_records=[aws.servicediscovery.ServiceDnsConfigDnsRecordArgs(type="A", ttl=args.dns_ttl)],
                ),
                # ECS reports task health to Cloud Map; unhealthy tasks leave DNS.
                health_check_custom_config=aws.servicediscovery.ServiceHealthCheckCustomConfigArgs(),
                force_destroy=True,
                opts=child,
            )
        self.register_outputs(
            {
                "namespaceId": self.namespace.id,
                "namespaceName": self.namespace.name,
                "serviceArns": {unit: svc.arn for unit, svc in self.services.items()},
            }
        )
