"""Cluster: Container Insights from YAML, FARGATE + FARGATE_SPOT, default capacity strategy."""

from __future__ import annotations

from desired_state.schema import CapacityProviderWeights
from program.components.cluster import capacity_strategy

CLUSTER = "aws:ecs/cluster:Cluster"
CAPACITY = "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders"


# --- capacity_strategy -----------------------------------------------------------------------


def test_capacity_strategy_both_providers():
    assert capacity_strategy(CapacityProviderWeights(fargate=1, fargate_spot=3)) == [
        {"capacity_provider": "FARGATE", "weight": 1, "base": 0},
        {"capacity_provider": "FARGATE_SPOT", "weight": 3, "base": 0},
    ]


def test_capacity_strategy_on_demand_only_with_base_leaves_spot_out():
    assert capacity_strategy(CapacityProviderWeights(fargate=1, fargate_spot=0, base=2)) == [
        {"capacity_provider": "FARGATE", "weight": 1, "base": 2},
    ]


def test_capacity_strategy_spot_only_leaves_fargate_out():
    assert capacity_strategy(CapacityProviderWeights(fargate=0, fargate_spot=4)) == [
        {"capacity_provider": "FARGATE_SPOT", "weight": 4, "base": 0},
    ]


def test_capacity_strategy_base_always_goes_to_fargate_even_without_weight():
    assert capacity_strategy(CapacityProviderWeights(fargate=0, fargate_spot=1, base=2)) == [
        {"capacity_provider": "FARGATE", "weight": 0, "base": 2},
        {"capacity_provider": "FARGATE_SPOT", "weight": 1, "base": 0},
    ]


# --- rendered cluster ------------------------------------------------------------------------


def test_cluster_name_and_container_insights_from_yaml(stack, state):
    (cluster,) = stack.of_type(CLUSTER)
    assert cluster.inputs["name"] == f"ecs-cluster-{state.environment_suffix}"
    assert cluster.inputs["settings"] == [{"name": "containerInsights", "value": state.cluster.container_insights}]


def test_container_insights_values_of_the_examples(rendered_dev, rendered_prod):
    assert rendered_dev.named("ecs-cluster-dev").inputs["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert rendered_prod.named("ecs-cluster-prod").inputs["settings"] == [{"name": "containerInsights", "value": "enhanced"}]


def test_cluster_offers_fargate_and_fargate_spot(stack, state):
    (capacity,) = stack.of_type(CAPACITY)
    assert capacity.inputs["clusterName"] == f"ecs-cluster-{state.environment_suffix}"
    assert capacity.inputs["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]


def test_dev_default_strategy_weights(rendered_dev):
    capacity = rendered_dev.named("ecs-capacity-cluster-dev")
    assert capacity.inputs["defaultCapacityProviderStrategies"] == [
        {"capacityProvider": "FARGATE", "weight": 1.0, "base": 0.0},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3.0, "base": 0.0},
    ]


def test_prod_default_strategy_is_on_demand_with_base(rendered_prod):
    capacity = rendered_prod.named("ecs-capacity-cluster-prod")
    assert capacity.inputs["defaultCapacityProviderStrategies"] == [
        {"capacityProvider": "FARGATE", "weight": 1.0, "base": 2.0},
    ]
