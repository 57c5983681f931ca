"""The ECS cluster with Container Insights and the FARGATE / FARGATE_SPOT capacity providers."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from desired_state.naming import name
from desired_state.schema import ClusterSpec, CapacityProviderWeights


def capacity_strategy(weights: CapacityProviderWeights) -> list[dict[str, object]]:
    """ECS capacity provider strategy items; providers with no weight and no base are left out."""
    items: list[dict[str, object]] = []
    if weights.fargate > 0 or weights.base > 0:
        items.append({"capacity_provider": "FARGATE", "weight": weights.fargate, "base": weights.base})
    if weights.fargate_spot > 0:
        items.append({"capacity_provider": "FARGATE_SPOT", "weight": weights.fargate_spot, "base": 0})
    return items


@dataclass(frozen=True)
class ClusterArgs:
    suffix: str
    spec: ClusterSpec


class Cluster(pulumi.ComponentResource):
    cluster: aws.ecs.Cluster
    capacity_providers: aws.ecs.ClusterCapacityProviders

    def __init__(self, resource_name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ecs-gitops:platform:Cluster", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster_name = name("ecs", args.suffix, "cluster")
        self.cluster = aws.ecs.Cluster(
            cluster_name,
            name=cluster_name,
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value=args.spec.container_insights)],
            opts=child,
        )
        self.capacity_providers = aws.ecs.ClusterCapacityProviders(
            name("ecs-capacity", args.suffix, "cluster"),
            cluster_name=self.cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategies=[
                aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(**item)  # type: ignore[arg-type]
                for item in capacity_strategy(args.spec.default_capacity_providers)
            ],
            opts=child,
        )
        self.register_outputs({"clusterName": self.cluster.name, "clusterArn": self.cluster.arn})
