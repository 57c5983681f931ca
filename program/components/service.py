"""One platform service: its log group, IAM, and one ECS service per colour (or one, unrouted).

Each *unit* is one ECS service with its own task definition, auto-scaling target and CPU
target-tracking policy. frontend and api-gateway have a blue and a green unit, each behind its
own target group; processing-service has one unit reached only through Cloud Map.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from desired_state.naming import name
from desired_state.schema import ImageRef, ServiceSpec
from program.components.cluster import capacity_strategy
from program.components.identity import IdentityArgs, ServiceIdentity

CONTAINER_HEALTH_START_PERIOD_MAX = 300  # ECS caps a container health check's startPeriod at 300 s


@dataclass(frozen=True)
class UnitArgs:
    """One ECS service of a platform service."""

    unit: str  # "frontend-blue", "processing-service"
    colour: str | None
    image: ImageRef
    desired_count: int
    min_capacity: int
    max_capacity: int
    target_group_arn: pulumi.Input[str] | None
    discovery_arn: pulumi.Input[str]
    # A rollout is active for the service: it owns this unit's scaling bounds (and count).
    rollout_owned: bool = False


@dataclass(frozen=True)
class ServiceArgs:
    suffix: str
    region: str
    service: str
    spec: ServiceSpec
    account_id: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    repository_url: pulumi.Input[str]
    secret_arns: Mapping[str, pulumi.Input[str]]
    log_retention_in_days: int
    registry_kms_key_arn: str | None
    units: Sequence[UnitArgs]
    # Resources the ECS services must wait for (listeners: a target group must be attached first).
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    extra_environment: Mapping[str, str] = field(default_factory=dict)
    # Names of the secrets that list this service under `allowedServices` (the only ones its role may read).
    receivable_secrets: frozenset[str] = frozenset()
    permissions_boundary_arn: str | None = None


def container_definitions(
    *,
    service: str,
    spec: ServiceSpec,
    image_uri: str,
    log_group: str,
    region: str,
    stream_prefix: str,
    secret_arns: Mapping[str, str],
    extra_environment: Mapping[str, str],
) -> list[dict[str, object]]:
    """The ``containerDefinitions`` of one unit, in ECS API shape (camelCase)."""
    environment = {**extra_environment, **spec.environment}
    check = spec.health_check
    health_command = list(spec.health_check_command) if spec.health_check_command else [
        "CMD-SHELL",
        f"curl -fsS http://localhost:{spec.port}{check.path} > /dev/null || exit 1",
    ]
    container: dict[str, object] = {
        "name": service,
        "image": image_uri,
        "essential": True,
        "portMappings": [{"containerPort": spec.port, "hostPort": spec.port, "protocol": "tcp", "name": f"{service}-http"}],
        "environment": [{"name": key, "value": environment[key]} for key in sorted(environment)],
        # By ARN only; ECS fetches the value at task start with the execution role.
        "secrets": [
            {
                "name": injection.env,
                "valueFrom": f"{secret_arns[injection.secret]}:{injection.key}::" if injection.key else secret_arns[injection.secret],
            }
            for injection in spec.secrets
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": stream_prefix,
                "mode": "non-blocking",
                "max-buffer-size": "25m",
            },
        },
        "healthCheck": {
            "command": health_command,
            "interval": check.interval,
            "timeout": check.timeout,
            "retries": check.unhealthy_threshold,
            "startPeriod": min(check.grace_period, CONTAINER_HEALTH_START_PERIOD_MAX),
        },
        "readonlyRootFilesystem": spec.readonly_root_filesystem,
        "linuxParameters": {"initProcessEnabled": True},
        "stopTimeout": 30,
        "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
    }
    if spec.readonly_root_filesystem:
        # A read-only root still needs somewhere to write temp files.
        container["mountPoints"] = [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}]
    return [container]


def scaling_target_options(parent: pulumi.Resource, rollout_owned: bool) -> pulumi.ResourceOptions:
    """Options of a unit's auto-scaling target.

    While a rollout is active for the service it sets the colours' bounds (staging, scaling down,
    rolling back); a converge's ``pulumi up`` applies bounds rendered minutes earlier and would
    bring a colour the rollout just took out of service back up. (The ECS desired count is never
    the program's: ``ignore_changes`` on the service.)
    """
    return pulumi.ResourceOptions(parent=parent, ignore_changes=["min_capacity", "max_capacity"] if rollout_owned else None)


class PlatformService(pulumi.ComponentResource):
    log_group: aws.cloudwatch.LogGroup
    identity: ServiceIdentity
    task_definitions: dict[str, aws.ecs.TaskDefinition]
    ecs_services: dict[str, aws.ecs.Service]

    def __init__(self, resource_name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ecs-gitops:platform:Service", resource_name, None, opts)
        s, svc, spec = args.suffix, args.service, args.spec
        child = pulumi.ResourceOptions(parent=self)

        self.log_group = aws.cloudwatch.LogGroup(
            name("logs", s, svc),
            name=f"/ecs-gitops/{s}/{svc}",
            retention_in_days=args.log_retention_in_days,
            skip_destroy=False,
            tags={"service": svc},
            opts=child,
        )
        # Read access only for what the service injects AND the secret lists it as a receiver: a
        # service that injects a secret it may not receive gets no grant (policy SECRET-003 refuses it).
        declared = {injection.secret for injection in spec.secrets}
        own_secret_arns = [
            arn for secret, arn in sorted(args.secret_arns.items()) if secret in declared and secret in args.receivable_secrets
        ]
        self.identity = ServiceIdentity(
            name("identity", s, svc),
            IdentityArgs(
                suffix=s,
                service=svc,
                region=args.region,
                account_id=args.account_id,
                repository_arn=args.repository_arn,
                log_group_arn=self.log_group.arn,
                secret_arns=own_secret_arns,
                registry_kms_key_arn=args.registry_kms_key_arn,
                permissions_boundary_arn=args.permissions_boundary_arn,
            ),
            opts=child,
        )

        self.task_definitions, self.ecs_services = {}, {}
        for unit in args.units:
            self._unit(args, unit)

        self.register_outputs(
            {
                "logGroupName": self.log_group.name,
                "serviceArns": {unit: service.arn for unit, service in self.ecs_services.items()},
                "taskDefinitionArns": {unit: td.arn for unit, td in self.task_definitions.items()},
            }
        )

    def _unit(self, args: ServiceArgs, unit: UnitArgs) -> None:
        s, svc, spec = args.suffix, args.service, args.spec
        child = pulumi.ResourceOptions(parent=self)
        secret_names = sorted({injection.secret for injection in spec.secrets})
        secret_arn_inputs = [args.secret_arns[n] for n in secret_names]

        def render(values: list[str]) -> str:
            repository_url, log_group = values[0], values[1]
            arns = dict(zip(secret_names, values[2:], strict=True))
            return json.dumps(
                container_definitions(
                    service=svc,
                    spec=spec,
                    image_uri=f"{repository_url}{unit.image.reference}",
                    log_group=log_group,
                    region=args.region,
                    stream_prefix=unit.unit,
                    secret_arns=arns,
                    extra_environment=args.extra_environment,
                )
            )

        family = name("td", s, unit.unit)
        task_definition = aws.ecs.TaskDefinition(
            family,
            family=family,
            cpu=str(spec.cpu),
            memory=str(spec.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(operating_system_family="LINUX", cpu_architecture="X86_64"),
            execution_role_arn=self.identity.execution_role.arn,
            task_role_arn=self.identity.task_role.arn,
            container_definitions=pulumi.Output.all(args.repository_url, self.log_group.name, *secret_arn_inputs).apply(render),
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name="tmp")] if spec.readonly_root_filesystem else None,
            tags={"service": svc, **({"colour": unit.colour} if unit.colour else {})},
            opts=child,
        )
        self.task_definitions[unit.unit] = task_definition

        service_name = name("svc", s, unit.unit)
        routed = unit.target_group_arn is not None
        ecs_service = aws.ecs.Service(
            service_name,
            name=service_name,
            cluster=args.cluster_arn,
            task_definition=task_definition.arn,
            desired_count=unit.desired_count,
            capacity_provider_strategies=[
                aws.ecs.ServiceCapacityProviderStrategyArgs(**item)  # type: ignore[arg-type]
                for item in capacity_strategy(spec.capacity_providers)
            ],
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=list(args.private_subnet_ids),
                security_groups=[args.security_group_id],
                assign_public_ip=False,
            ),
            load_balancers=(
                [aws.ecs.ServiceLoadBalancerArgs(target_group_arn=unit.target_group_arn, container_name=svc, container_port=spec.port)]
                if routed
                else None
            ),
            # ECS accepts a grace period only for services behind a load balancer; unrouted ones rely
            # on the container health check's startPeriod instead.
            health_check_grace_period_seconds=spec.health_check.grace_period if routed else None,
            service_registries=aws.ecs.ServiceServiceRegistriesArgs(registry_arn=unit.discovery_arn),
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            enable_ecs_managed_tags=True,
            propagate_tags="SERVICE",
            enable_execute_command=False,
            force_delete=True,
            wait_for_steady_state=False,
            tags={"service": svc, **({"colour": unit.colour} if unit.colour else {})},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.depends_on),
                # Auto-scaling and the rollout controller own the running count; a converge must not
                # put it back to the value it was created with.
                ignore_changes=["desiredCount"],
            ),
        )
        self.ecs_services[unit.unit] = ecs_service

        target = aws.appautoscaling.Target(
            name("scaling-target", s, unit.unit),
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", args.cluster_name, "/", ecs_service.name),
            min_capacity=unit.min_capacity,
            max_capacity=unit.max_capacity,
            opts=scaling_target_options(self, unit.rollout_owned),
        )
        policy_name = name("scaling", s, unit.unit, "cpu")
        aws.appautoscaling.Policy(
            policy_name,
            name=policy_name,
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ECSServiceAverageCPUUtilization"
                ),
                target_value=spec.scaling.cpu_target,
                scale_in_cooldown=spec.scaling.scale_in_cooldown,
                scale_out_cooldown=spec.scaling.scale_out_cooldown,
            ),
            opts=child,
        )
