"""Severity by what drifted: every type the program creates (``ecs-gitops plan --output json``), and tags-only."""

from __future__ import annotations

import pytest

from reconciler.drift.model import DriftSeverity
from reconciler.drift.severity import severity_of

HIGH, MEDIUM, LOW = DriftSeverity.HIGH, DriftSeverity.MEDIUM, DriftSeverity.LOW

# Every cloud resource type in the prod plan, and what a change to it (other than tags) is.
PROGRAM_TYPES = {
    "aws:ec2/securityGroup:SecurityGroup": HIGH,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": HIGH,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": HIGH,
    "aws:iam/role:Role": HIGH,
    "aws:iam/rolePolicy:RolePolicy": HIGH,
    "aws:lb/loadBalancer:LoadBalancer": HIGH,
    "aws:lb/listener:Listener": HIGH,
    "aws:lb/listenerRule:ListenerRule": HIGH,
    "aws:secretsmanager/secret:Secret": HIGH,
    "aws:secretsmanager/secretVersion:SecretVersion": HIGH,
    "aws:appautoscaling/policy:Policy": MEDIUM,
    "aws:appautoscaling/target:Target": MEDIUM,
    "aws:cloudwatch/logGroup:LogGroup": MEDIUM,
    "aws:ec2/flowLog:FlowLog": MEDIUM,
    "aws:cloudwatch/metricAlarm:MetricAlarm": MEDIUM,
    "aws:ec2/eip:Eip": MEDIUM,
    "aws:ec2/internetGateway:InternetGateway": MEDIUM,
    "aws:ec2/natGateway:NatGateway": MEDIUM,
    "aws:ec2/routeTable:RouteTable": MEDIUM,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": MEDIUM,
    "aws:ec2/subnet:Subnet": MEDIUM,
    "aws:ec2/vpc:Vpc": MEDIUM,
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": MEDIUM,
    "aws:ecr/repository:Repository": MEDIUM,
    "aws:ecs/cluster:Cluster": MEDIUM,
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders": MEDIUM,
    "aws:ecs/service:Service": MEDIUM,
    "aws:ecs/taskDefinition:TaskDefinition": MEDIUM,
    "aws:lb/targetGroup:TargetGroup": MEDIUM,
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": MEDIUM,
    "aws:servicediscovery/service:Service": MEDIUM,
}

# Named by the issue though the program does not create them (yet): high all the same.
OTHER_HIGH = [
    "aws:kms/key:Key",
    "aws:kms/alias:Alias",
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:secretsmanager/secretPolicy:SecretPolicy",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:alb/listener:Listener",
]


@pytest.mark.parametrize(("resource_type", "expected"), sorted(PROGRAM_TYPES.items()))
def test_every_type_the_program_creates(resource_type, expected):
    assert severity_of(resource_type, ["someProperty"]) is expected
    # Deleted out of band (no paths): judged by the type alone.
    assert severity_of(resource_type, []) is expected


@pytest.mark.parametrize("resource_type", OTHER_HIGH)
def test_kms_iam_secrets_and_firewall_types_are_high(resource_type):
    assert severity_of(resource_type, ["policy"]) is HIGH


def test_scaling_paths_of_an_ecs_service_are_medium():
    assert severity_of("aws:ecs/service:Service", ["desiredCount", "capacityProviderStrategies[0].weight"]) is MEDIUM


@pytest.mark.parametrize("resource_type", ["aws:ec2/securityGroup:SecurityGroup", "aws:ecs/service:Service", "aws:cloudwatch/logGroup:LogGroup"])
def test_a_difference_in_tags_only_is_low_whatever_the_type(resource_type):
    assert severity_of(resource_type, ["tags.team", 'tagsAll["cost-centre"]', "tags"]) is LOW


def test_tags_and_anything_else_is_judged_by_the_type():
    assert severity_of("aws:ec2/securityGroup:SecurityGroup", ["tags.team", "ingress[1]"]) is HIGH
    assert severity_of("aws:cloudwatch/logGroup:LogGroup", ["tags.team", "retentionInDays"]) is MEDIUM


def test_a_type_the_table_does_not_know_is_medium():
    assert severity_of("random:index/randomPassword:RandomPassword", ["length"]) is MEDIUM
    assert severity_of("not-a-type-token", ["x"]) is MEDIUM
