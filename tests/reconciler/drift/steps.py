"""Builders of a refreshed preview's step events, made from the Pulumi SDK's own event classes.

What a ``pulumi preview --refresh --diff`` reports for a resource someone changed outside git:
``old`` is the state the refresh just read from AWS, ``new`` the program's inputs at the applied
commit, ``detailed_diff`` the property paths that differ. Values are in the engine's wire format
(camelCase keys, numbers as floats) and shapes follow the AWS provider's state (an inline
``ingress`` is a list of rule dicts, a task definition's ``containerDefinitions`` a JSON string).

Used by the drift tests here and by drift-check's tests: ``from tests.reconciler.drift.steps import ...``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi.automation.events import (
    DiffKind,
    EngineEvent,
    OpType,
    PropertyDiff,
    ResourcePreEvent,
    ResOutputsEvent,
    StepEventMetadata,
    StepEventStateMetadata,
)

PROJECT = "ecs-gitops"
ACCOUNT = "123456789012"
REGION = "us-east-1"
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LISTENER = "aws:lb/listener:Listener"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ECS_SERVICE = "aws:ecs/service:Service"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"


# The program's component each type sits under (a child's URN carries its parents' types).
PARENT_TYPES = {
    SECURITY_GROUP: "ecs-gitops:platform:SecurityTiers",
    INGRESS_RULE: "ecs-gitops:platform:SecurityTiers",
    LOG_GROUP: "ecs-gitops:platform:Service",
    TASK_DEFINITION: "ecs-gitops:platform:Service",
    ECS_SERVICE: "ecs-gitops:platform:Service",
    SCALING_TARGET: "ecs-gitops:platform:Service",
    LISTENER: "ecs-gitops:platform:Edge",
    LISTENER_RULE: "ecs-gitops:platform:Edge",
    TARGET_GROUP: "ecs-gitops:platform:Edge",
    SECRET_VERSION: "ecs-gitops:platform:Secrets",
}


def urn(type_: str, name: str, stack: str = "prod") -> str:
    """The resource's URN as the engine writes it, parent component type included (``Parent$Type``)."""
    qualified = f"{PARENT_TYPES[type_]}${type_}" if type_ in PARENT_TYPES else type_
    return f"urn:pulumi:{stack}::{PROJECT}::{qualified}::{name}"


def secret(value: Any) -> dict[str, Any]:
    """A value as Pulumi serializes a secret in state."""
    return {SIG_KEY: SECRET_SIG, "value": value}


def target_group_arn(service: str, colour: str, suffix: str = "prod") -> str:
    return f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/tg-{service}-{colour}-{suffix}/8b4e96e2ebbed79b"


def task_definition_arn(family: str, revision: int) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{revision}"


def state(
    type_: str,
    name: str,
    *,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    id: str = "",
    stack: str = "prod",
) -> StepEventStateMetadata:
    return StepEventStateMetadata(
        type=type_,
        urn=urn(type_, name, stack),
        id=id,
        parent=urn("pulumi:pulumi:Stack", f"{PROJECT}-{stack}", stack),
        provider=urn("pulumi:providers:aws", "aws-prod", stack) + "::0b4f6a4e-prov",
        custom=True,
        inputs=dict(inputs) if inputs is not None else None,
        outputs=dict(outputs) if outputs is not None else None,
    )


def step(
    op: OpType,
    type_: str,
    name: str,
    *,
    real: Mapping[str, Any] | None = None,
    desired: Mapping[str, Any] | None = None,
    diff: Mapping[str, DiffKind] | None = None,
    keys: Sequence[str] | None = None,
    id: str = "",
    real_inputs: Mapping[str, Any] | None = None,
    stack: str = "prod",
) -> StepEventMetadata:
    """A step of a refreshed preview: ``real`` is what the refresh read (old outputs), ``desired`` the program's inputs (new)."""
    old = None if real is None else state(type_, name, inputs=real_inputs if real_inputs is not None else real, outputs=real, id=id, stack=stack)
    new = None if desired is None else state(type_, name, inputs=desired, outputs=desired, id=id, stack=stack)
    detailed = {path: PropertyDiff(diff_kind=kind, input_diff=False) for path, kind in (diff or {}).items()}
    return StepEventMetadata(
        op=op,
        urn=urn(type_, name, stack),
        type=type_,
        provider=urn("pulumi:providers:aws", "aws-prod", stack) + "::0b4f6a4e-prov",
        old=old,
        new=new,
        keys=list(keys) if keys is not None else None,
        diffs=sorted({path.split(".")[0].split("[")[0] for path in (diff or {})}) or None,
        detailed_diff=detailed or None,
    )


def changed(type_: str, name: str, *, real: Mapping[str, Any], desired: Mapping[str, Any], diff: Mapping[str, DiffKind], **kw: Any) -> StepEventMetadata:
    return step(OpType.UPDATE, type_, name, real=real, desired=desired, diff=diff, **kw)


def deleted_out_of_band(type_: str, name: str, desired: Mapping[str, Any], stack: str = "prod") -> StepEventMetadata:
    """The refresh found the resource gone, so the preview would create it again: no ``old``."""
    return step(OpType.CREATE, type_, name, desired=desired, stack=stack)


# --------------------------------------------------------------------------- event wrappers


def pre_event(sequence: int, metadata: StepEventMetadata) -> EngineEvent:
    return EngineEvent(sequence=sequence, timestamp=1_764_590_400 + sequence, resource_pre_event=ResourcePreEvent(metadata=metadata, planning=True))


def outputs_event(sequence: int, metadata: StepEventMetadata) -> EngineEvent:
    return EngineEvent(sequence=sequence, timestamp=1_764_590_400 + sequence, res_outputs_event=ResOutputsEvent(metadata=metadata, planning=True))


# --------------------------------------------------------------------------- realistic resources


def ingress_rule(port: int, cidr: str, *, protocol: str = "tcp", to_port: int | None = None, description: str = "") -> dict[str, Any]:
    """One inline rule as the AWS provider's security group state holds it."""
    return {
        "cidrBlocks": [cidr],
        "description": description,
        "fromPort": float(port),
        "ipv6CidrBlocks": [],
        "prefixListIds": [],
        "protocol": protocol,
        "securityGroups": [],
        "self": False,
        "toPort": float(to_port if to_port is not None else port),
    }


def security_group_state(name: str, *, ingress: list[dict[str, Any]], egress: list[dict[str, Any]] | None = None, tags: Mapping[str, str] | None = None) -> dict[str, Any]:
    tier = name.removeprefix("sg-").rsplit("-", 1)[0]
    group_tags = dict(tags if tags is not None else {"Name": name, "tier": tier})
    return {
        "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0f1e2d3c4b5a69788",
        "description": f"{tier} tasks: only from the ALB and frontend",
        "egress": egress if egress is not None else [ingress_rule(443, "0.0.0.0/0")],
        "id": "sg-0f1e2d3c4b5a69788",
        "ingress": ingress,
        "name": name,
        "ownerId": ACCOUNT,
        "revokeRulesOnDelete": False,
        "tags": group_tags,
        "tagsAll": dict(group_tags),
        "vpcId": "vpc-0a1b2c3d4e5f60718",
    }


def security_group_rule_added(name: str = "sg-api-gateway-prod", port: int = 22, cidr: str = "0.0.0.0/0") -> StepEventMetadata:
    """Someone added an inline rule in the console: AWS has it, the applied program's list does not."""
    applied = [ingress_rule(8080, "10.0.0.0/16", description="from alb on 8080")]
    real = security_group_state(name, ingress=[*applied, ingress_rule(port, cidr)])
    desired = {key: real[key] for key in ("description", "name", "tags", "vpcId")} | {"ingress": applied, "egress": real["egress"]}
    return changed(SECURITY_GROUP, name, real=real, desired=desired, diff={"ingress[1]": DiffKind.DELETE}, id=real["id"])


def standalone_rule_state(name: str, port: int, cidr: str, description: str) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group-rule/sgr-0a9b8c7d6e5f4a3b2",
        "cidrIpv4": cidr,
        "description": description,
        "fromPort": float(port),
        "ipProtocol": "tcp",
        "securityGroupId": "sg-76504f660b9ff33d6",
        "securityGroupRuleId": "sgr-0a9b8c7d6e5f4a3b2",
        "toPort": float(port),
    }


def tag_changed(type_: str, name: str, key: str, expected: str, actual: str, **other_tags: str) -> StepEventMetadata:
    desired_tags = {**other_tags, key: expected}
    real_tags = {**other_tags, key: actual}
    desired = {"name": name, "tags": desired_tags}
    real = {"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/ecs-cluster-prod/{name}", "name": name, "tags": real_tags, "tagsAll": dict(real_tags)}
    return changed(type_, name, real=real, desired=desired, diff={f"tags.{key}": DiffKind.UPDATE, f"tagsAll.{key}": DiffKind.UPDATE})


def log_group_state(service: str, retention: int, suffix: str = "prod") -> dict[str, Any]:
    return {
        "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs-gitops/{suffix}/{service}",
        "kmsKeyId": "",
        "logGroupClass": "STANDARD",
        "name": f"/ecs-gitops/{suffix}/{service}",
        "retentionInDays": float(retention),
        "skipDestroy": False,
        "tags": {"service": service},
        "tagsAll": {"service": service},
    }


def log_retention_lowered(service: str = "frontend", expected: int = 30, actual: int = 7, suffix: str = "prod") -> StepEventMetadata:
    real = log_group_state(service, actual, suffix)
    desired = {"name": real["name"], "retentionInDays": float(expected), "skipDestroy": False, "tags": {"service": service}}
    return changed(LOG_GROUP, f"logs-{service}-{suffix}", real=real, desired=desired, diff={"retentionInDays": DiffKind.UPDATE}, id=real["name"])


def forward_action(service: str, weights: Mapping[str, float], suffix: str = "prod") -> dict[str, Any]:
    return {
        "type": "forward",
        "forward": {
            "stickiness": {"enabled": False, "duration": 1.0},
            "targetGroups": [{"arn": target_group_arn(service, colour, suffix), "weight": float(weight)} for colour, weight in weights.items()],
        },
    }


def listener_inputs(port: int = 443, *, weights: Mapping[str, float] | None = None, suffix: str = "prod") -> dict[str, Any]:
    return {
        "certificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/3f1c2a7e-5b9d-4c1e-9a2f-6d7e8b9c0a1b",
        "defaultActions": [forward_action("frontend", weights or {"blue": 100, "green": 0}, suffix)],
        "loadBalancerArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/alb-platform-{suffix}/325ab243919360a1",
        "port": float(port),
        "protocol": "HTTPS",
        "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    }


def listener_deleted(name: str = "listener-https-prod") -> StepEventMetadata:
    return deleted_out_of_band(LISTENER, name, listener_inputs())


def listener_weights_moved(expected: Mapping[str, float], actual: Mapping[str, float], name: str = "listener-https-prod") -> StepEventMetadata:
    desired = listener_inputs(weights=expected)
    real = listener_inputs(weights=actual) | {"arn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/alb-platform-prod/325ab243919360a1/1a2b3c4d5e6f7a8b"}
    diff = {f"defaultActions[0].forward.targetGroups[{i}].weight": DiffKind.UPDATE for i, c in enumerate(expected) if expected[c] != actual[c]}
    return changed(LISTENER, name, real=real, desired=desired, diff=diff, id=real["arn"])


def container_definitions(service: str, image: str, **extra: Any) -> str:
    """``containerDefinitions`` as the provider keeps it: a JSON string."""
    return json.dumps([{"name": service, "image": image, "essential": True, "portMappings": [{"containerPort": 8080, "protocol": "tcp"}], **extra}])


def task_definition_state(family: str, definitions: str, revision: int) -> dict[str, Any]:
    return {
        "arn": task_definition_arn(family, revision),
        "containerDefinitions": definitions,
        "cpu": "256",
        "family": family,
        "memory": "512",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "revision": float(revision),
        "tags": {"service": "api-gateway", "colour": "blue"},
    }


def task_definition_replaced(
    family: str = "td-api-gateway-blue-prod",
    expected_image: str = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/api-gateway@sha256:1111",
    actual_image: str = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/api-gateway:hotfix",
) -> list[StepEventMetadata]:
    """A replacement's three steps (create-replacement, replace, delete-replaced), as the engine sends them."""
    real = task_definition_state(family, container_definitions("api-gateway", actual_image), 7)
    desired = {key: value for key, value in real.items() if key not in ("arn", "revision")} | {
        "containerDefinitions": container_definitions("api-gateway", expected_image)
    }
    diff = {"containerDefinitions": DiffKind.UPDATE_REPLACE}
    return [
        step(op, TASK_DEFINITION, family, real=real, desired=desired, diff=diff, keys=["containerDefinitions"], id=family)
        for op in (OpType.CREATE_REPLACEMENT, OpType.REPLACE, OpType.DELETE_REPLACED)
    ]


def ecs_service_state(name: str, *, task_definition: str, desired_count: int, **extra: Any) -> dict[str, Any]:
    service = name.removeprefix("svc-").rsplit("-", 2)[0]
    return {
        "cluster": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/ecs-cluster-prod",
        "deploymentMaximumPercent": 200.0,
        "deploymentMinimumHealthyPercent": 100.0,
        "desiredCount": float(desired_count),
        "id": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/ecs-cluster-prod/{name}",
        "name": name,
        "tags": {"service": service},
        "taskDefinition": task_definition,
        **extra,
    }


def service_changed(name: str, diff: Mapping[str, DiffKind], real: Mapping[str, Any], desired: Mapping[str, Any]) -> StepEventMetadata:
    return changed(ECS_SERVICE, name, real=real, desired=desired, diff=diff, id=str(real.get("id", "")))


def scaling_target_changed(unit: str, *, expected: tuple[int, int], actual: tuple[int, int], suffix: str = "prod") -> StepEventMetadata:
    resource_id = f"service/ecs-cluster-{suffix}/svc-{unit}-{suffix}"

    def bounds(minimum: int, maximum: int) -> dict[str, Any]:
        return {
            "maxCapacity": float(maximum),
            "minCapacity": float(minimum),
            "resourceId": resource_id,
            "scalableDimension": "ecs:service:DesiredCount",
            "serviceNamespace": "ecs",
        }

    diff = {}
    if expected[0] != actual[0]:
        diff["minCapacity"] = DiffKind.UPDATE
    if expected[1] != actual[1]:
        diff["maxCapacity"] = DiffKind.UPDATE
    return changed(SCALING_TARGET, f"scaling-target-{unit}-{suffix}", real=bounds(*actual), desired=bounds(*expected), diff=diff, id=resource_id)
