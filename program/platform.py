"""Wire the components into the whole platform from one environment's stack inputs.

``__main__.py`` (what ``pulumi up`` runs) and the offline renderer behind ``ecs-gitops plan``
both call :func:`build_platform`, so the plan shows exactly what an apply would build.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from desired_state.naming import ALB_FACING_SERVICES, COLOURS, SERVICE_NAMES, name
from desired_state.schema import DesiredState
from desired_state.traffic import TrafficState, colour_plans
from program.components.cluster import Cluster, ClusterArgs
from program.components.discovery import Discovery, DiscoveryArgs, discovery_hostname
from program.components.edge import Edge, EdgeArgs, EdgeServiceArgs
from program.components.network import Network, NetworkArgs
from program.components.registry import Registry, RegistryArgs
from program.components.secrets import PlatformSecrets, SecretsArgs
from program.components.security import SecurityArgs, SecurityTiers
from program.components.service import PlatformService, ServiceArgs, UnitArgs

PROGRAM_VERSION = "0.1.0"


@dataclass(frozen=True)
class StackInputs:
    """Everything the program renders from: git's desired state and the rollout's traffic state."""

    desired: DesiredState
    traffic: TrafficState = field(default_factory=TrafficState)
    # Values for `kind: config` secrets, by config key; Pulumi secrets.
    secret_config: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    # The permissions boundary every IAM role gets (the reconciler's settings aws.permissionsBoundaryArn,
    # template.yaml's PlatformRoleBoundary); None: roles without one (a person's own account).
    permissions_boundary_arn: str | None = None


@dataclass(frozen=True)
class Platform:
    network: Network
    registry: Registry
    cluster: Cluster
    edge: Edge
    discovery: Discovery
    services: dict[str, PlatformService]
    outputs: dict[str, pulumi.Input[object]]


def units_of(service: str) -> list[str]:
    """ECS service units of a platform service: one per colour when ALB-facing, else one."""
    return [f"{service}-{colour}" for colour in COLOURS] if service in ALB_FACING_SERVICES else [service]


def build_platform(inputs: StackInputs) -> Platform:
    d, s = inputs.desired, inputs.desired.environment_suffix
    provider = aws.Provider(
        name("aws-provider", s, d.region),
        region=d.region,
        default_tags=aws.ProviderDefaultTagsArgs(
            tags={
                **d.tags,
                "environment": s,
                "environment-class": d.environment_class,
                "managed-by": "ecs-gitops",
                "program-version": PROGRAM_VERSION,
            }
        ),
    )
    opts = pulumi.ResourceOptions(providers=[provider])
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id

    network = Network(
        name("network", s, "platform"),
        NetworkArgs(
            suffix=s,
            region=d.region,
            cidr=d.network.cidr,
            availability_zones=d.network.availability_zones,
            nat_per_az=d.network.nat_gateways == "per-az",
            flow_logs=d.network.flow_logs,
            account_id=account_id,
            permissions_boundary_arn=inputs.permissions_boundary_arn,
        ),
        opts,
    )
    registry = Registry(name("registry", s, "platform"), RegistryArgs(suffix=s, services=SERVICE_NAMES, spec=d.registry), opts)
    secrets = PlatformSecrets(
        name("secrets", s, "platform"), SecretsArgs(suffix=s, secrets=d.secrets, config_values=inputs.secret_config), opts
    )
    security = SecurityTiers(
        name("security", s, "platform"),
        SecurityArgs(
            suffix=s,
            vpc_id=network.vpc.id,
            ports={svc: spec.port for svc, spec in d.services.items()},
            https_enabled=d.edge.certificate_arn is not None,
            test_listener_port=d.edge.test_listener_port,
            test_listener_sources=network.nat_public_ips,
        ),
        opts,
    )
    cluster = Cluster(name("cluster", s, "platform"), ClusterArgs(suffix=s, spec=d.cluster), opts)
    all_units = [unit for svc in SERVICE_NAMES for unit in units_of(svc)]
    discovery = Discovery(
        name("discovery", s, "platform"),
        DiscoveryArgs(suffix=s, namespace=d.discovery_namespace, vpc_id=network.vpc.id, dns_ttl=d.discovery.dns_ttl, units=all_units),
        opts,
    )
    plans = {svc: colour_plans(d, inputs.traffic, svc) for svc in ALB_FACING_SERVICES}
    edge = Edge(
        name("edge", s, "platform"),
        EdgeArgs(
            suffix=s,
            spec=d.edge,
            vpc_id=network.vpc.id,
            public_subnet_ids=[subnet.id for subnet in network.public_subnets],
            security_group_id=security.alb.id,
            services={
                svc: EdgeServiceArgs(
                    port=d.services.get(svc).port,
                    health_check=d.services.get(svc).health_check,
                    colours=plans[svc],
                    rollout=d.services.get(svc).rollout,
                )
                for svc in ALB_FACING_SERVICES
            },
        ),
        opts,
    )

    processing_host = discovery_hostname("processing-service", s, d.discovery_namespace)
    services: dict[str, PlatformService] = {}
    for svc, spec in d.services.items():
        if svc in ALB_FACING_SERVICES:
            units = [
                UnitArgs(
                    unit=f"{svc}-{plan.colour}",
                    colour=plan.colour,
                    image=plan.image,
                    desired_count=plan.desired_count,
                    min_capacity=plan.min_capacity,
                    max_capacity=plan.max_capacity,
                    target_group_arn=edge.target_groups[svc][plan.colour].arn,
                    discovery_arn=discovery.services[f"{svc}-{plan.colour}"].arn,
                    rollout_owned=plan.rollout_owned,
                )
                for plan in plans[svc]
            ]
        else:
            units = [
                UnitArgs(
                    unit=svc,
                    colour=None,
                    image=spec.image,
                    desired_count=spec.desired_count,
                    min_capacity=spec.scaling.min,
                    max_capacity=spec.scaling.max,
                    target_group_arn=None,
                    discovery_arn=discovery.services[svc].arn,
                )
            ]
        services[svc] = PlatformService(
            name("service", s, svc),
            ServiceArgs(
                suffix=s,
                region=d.region,
                service=svc,
                spec=spec,
                account_id=account_id,
                cluster_name=cluster.cluster.name,
                cluster_arn=cluster.cluster.arn,
                private_subnet_ids=[subnet.id for subnet in network.private_subnets],
                security_group_id=security.services[svc].id,
                repository_arn=registry.repositories[svc].arn,
                repository_url=registry.repositories[svc].repository_url,
                secret_arns={n: secret.arn for n, secret in secrets.secrets.items()},
                receivable_secrets=frozenset(n for n, secret_spec in d.secrets.items() if secret_spec.may_receive(svc)),
                log_retention_in_days=d.log_retention_in_days,
                registry_kms_key_arn=d.registry.kms_key_arn,
                permissions_boundary_arn=inputs.permissions_boundary_arn,
                units=units,
                depends_on=[*edge.listeners.values(), *edge.rules, cluster.capacity_providers],
                # api-gateway finds processing-service through Cloud Map, never through the ALB.
                extra_environment={"PROCESSING_SERVICE_HOST": processing_host} if svc == "api-gateway" else {},
            ),
            opts,
        )

    outputs: dict[str, pulumi.Input[object]] = {
        "environment": s,
        "region": d.region,
        "albDnsName": edge.load_balancer.dns_name,
        "clusterName": cluster.cluster.name,
        "clusterArn": cluster.cluster.arn,
        "vpcId": network.vpc.id,
        "publicSubnetIds": [subnet.id for subnet in network.public_subnets],
        "privateSubnetIds": [subnet.id for subnet in network.private_subnets],
        "ecrRepositoryUrls": {svc: repo.repository_url for svc, repo in registry.repositories.items()},
        "serviceArns": {unit: ecs.arn for platform_service in services.values() for unit, ecs in platform_service.ecs_services.items()},
        "targetGroupArns": {svc: {c: tg.arn for c, tg in groups.items()} for svc, groups in edge.target_groups.items()},
        "listenerArns": {kind: listener.arn for kind, listener in edge.listeners.items()},
        "alarmNames": {svc: {c: [a.name for a in alarms] for c, alarms in by_colour.items()} for svc, by_colour in edge.alarms.items()},
        "listenerRuleArns": {"api-gateway-live": edge.rules[0].arn, "api-gateway-test": edge.rules[1].arn},
        "liveColours": {svc: next(p.colour for p in plans[svc] if p.live) for svc in ALB_FACING_SERVICES},
        "discoveryNamespace": d.discovery_namespace,
        "processingServiceHost": processing_host,
        "secretArns": {n: secret.arn for n, secret in secrets.secrets.items()},
    }
    # What `ecs-gitops verify` reads to find the live resources it checks.
    outputs.update(
        {
            "albArn": edge.load_balancer.arn,
            "securityGroupIds": {"alb": security.alb.id, **{tier: sg.id for tier, sg in security.services.items()}},
            "logGroupNames": {svc: platform_service.log_group.name for svc, platform_service in services.items()},
            "executionRoleArns": {svc: ps.identity.execution_role.arn for svc, ps in services.items()},
            "taskRoleArns": {svc: ps.identity.task_role.arn for svc, ps in services.items()},
            "natGatewayIds": [nat.id for nat in network.nat_gateways],
            "internetGatewayId": network.internet_gateway.id,
        }
    )
    return Platform(network, registry, cluster, edge, discovery, services, outputs)
