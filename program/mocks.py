"""Pulumi unit-test mocks that stand in for the AWS provider when rendering offline.

:class:`OfflineMocks` echoes inputs back as state and fills in computed attributes (ids, ARNs,
DNS names) with deterministic placeholders under the AWS documentation account
``123456789012``, so nothing it returns is mistaken for a real resource.
:class:`RecordingMonitor` keeps each registration's parent, options and wire-format inputs,
with secret values masked.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pydantic import BaseModel, ConfigDict, Field

PLACEHOLDER_ACCOUNT = "123456789012"
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"
MASK = "[secret]"


class RenderedResource(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    protect: bool = False
    retain_on_delete: bool = Field(default=False, alias="retainOnDelete")
    ignore_changes: list[str] = Field(default_factory=list, alias="ignoreChanges")
    # Logical names of the resources each input property was computed from.
    property_dependencies: dict[str, list[str]] = Field(default_factory=dict, alias="propertyDependencies")


def mask_secrets(value: Any) -> Any:
    """Replace every Pulumi secret in wire-format data with a mask, recursively."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE:
            return MASK
        return {k: mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


def _short_id(prefix: str, logical_name: str) -> str:
    return f"{prefix}-{hashlib.sha256(logical_name.encode()).hexdigest()[:17]}"


def _child_arn(parent_arn: Any, parent_marker: str, kind: str, region: str, acct: str, logical: str) -> str:
    """A listener's (or rule's) ARN extends its parent's path with its own id, as AWS's do."""
    own_id = _short_id("x", logical)[-16:]
    if isinstance(parent_arn, str) and parent_marker in parent_arn:
        return f"arn:aws:elasticloadbalancing:{region}:{acct}:{kind}/{parent_arn.split(parent_marker, 1)[1]}/{own_id}"
    return f"arn:aws:elasticloadbalancing:{region}:{acct}:{kind}/app/unknown/{own_id}"


class OfflineMocks(pulumi_mocks.Mocks):
    """Stands in for the AWS provider offline: inputs become state, computed attributes become placeholders."""

    def __init__(self, region: str):
        self.region = region

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": PLACEHOLDER_ACCOUNT,
                "arn": f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:user/offline-plan",
                "userId": "OFFLINEPLAN",
                "id": PLACEHOLDER_ACCOUNT,
            }
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        raise NotImplementedError(f"the offline renderer has no answer for invoke {args.token}")

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        computed = self._computed(args.typ, args.name, state)
        resource_id = computed.pop("id", None) or _short_id("id", args.name)
        return resource_id, {**state, **computed}

    def _computed(self, typ: str, logical: str, state: dict[str, Any]) -> dict[str, Any]:
        acct, region = PLACEHOLDER_ACCOUNT, self.region
        physical = state.get("name") or logical
        if typ == "aws:ec2/vpc:Vpc":
            return {"id": _short_id("vpc", logical), "arn": f"arn:aws:ec2:{region}:{acct}:vpc/{_short_id('vpc', logical)}"}
        if typ == "aws:ec2/subnet:Subnet":
            return {"id": _short_id("subnet", logical)}
        if typ == "aws:ec2/eip:Eip":
            octet = int(hashlib.sha256(logical.encode()).hexdigest()[:2], 16) % 254 + 1
            return {"id": _short_id("eipalloc", logical), "allocationId": _short_id("eipalloc", logical), "publicIp": f"203.0.113.{octet}"}
        if typ == "aws:ec2/natGateway:NatGateway":
            return {"id": _short_id("nat", logical)}
        if typ == "aws:ec2/securityGroup:SecurityGroup":
            return {"id": _short_id("sg", logical)}
        if typ == "aws:ecr/repository:Repository":
            return {
                "arn": f"arn:aws:ecr:{region}:{acct}:repository/{physical}",
                "repositoryUrl": f"{acct}.dkr.ecr.{region}.amazonaws.com/{physical}",
                "registryId": acct,
            }
        if typ == "aws:ecs/cluster:Cluster":
            return {"arn": f"arn:aws:ecs:{region}:{acct}:cluster/{physical}"}
        if typ == "aws:ecs/service:Service":
            cluster = str(state.get("cluster", "")).rsplit("/", 1)[-1]
            arn = f"arn:aws:ecs:{region}:{acct}:service/{cluster}/{physical}"
            return {"id": arn, "arn": arn}
        if typ == "aws:ecs/taskDefinition:TaskDefinition":
            family = state.get("family", logical)
            return {
                "arn": f"arn:aws:ecs:{region}:{acct}:task-definition/{family}:1",
                "arnWithoutRevision": f"arn:aws:ecs:{region}:{acct}:task-definition/{family}",
                "revision": 1,
            }
        if typ == "aws:iam/role:Role":
            path = state.get("path") or "/"  # the ARN carries the role's path, as IAM's does
            return {"id": physical, "arn": f"arn:aws:iam::{acct}:role{path}{physical}"}
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            return {"id": physical, "arn": f"arn:aws:logs:{region}:{acct}:log-group:{physical}"}
        if typ == "aws:secretsmanager/secret:Secret":
            arn = f"arn:aws:secretsmanager:{region}:{acct}:secret:{physical}-{_short_id('x', logical)[-6:]}"
            return {"id": arn, "arn": arn}
        if typ == "aws:lb/loadBalancer:LoadBalancer":
            # arnSuffix is what CloudWatch's LoadBalancer dimension takes: app/<name>/<id>.
            suffix = f"app/{physical}/{_short_id('x', logical)[-16:]}"
            arn = f"arn:aws:elasticloadbalancing:{region}:{acct}:loadbalancer/{suffix}"
            dns = f"{physical}-{int(hashlib.sha256(logical.encode()).hexdigest()[:8], 16)}.{region}.elb.amazonaws.com"
            return {"id": arn, "arn": arn, "arnSuffix": suffix, "dnsName": dns, "zoneId": "Z35SXDOTRQ7X7K"}
        if typ == "aws:lb/targetGroup:TargetGroup":
            # arnSuffix is what CloudWatch's TargetGroup dimension takes: targetgroup/<name>/<id>.
            suffix = f"targetgroup/{physical}/{_short_id('x', logical)[-16:]}"
            arn = f"arn:aws:elasticloadbalancing:{region}:{acct}:{suffix}"
            return {"id": arn, "arn": arn, "arnSuffix": suffix}
        if typ == "aws:lb/listener:Listener":
            # As AWS names them: listener/app/<alb name>/<alb id>/<listener id>, under the ALB they belong to.
            arn = _child_arn(state.get("loadBalancerArn"), ":loadbalancer/", "listener", region, acct, logical)
            return {"id": arn, "arn": arn}
        if typ == "aws:lb/listenerRule:ListenerRule":
            arn = _child_arn(state.get("listenerArn"), ":listener/", "listener-rule", region, acct, logical)
            return {"id": arn, "arn": arn}
        if typ == "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace":
            ns = _short_id("ns", logical)
            return {"id": ns, "arn": f"arn:aws:servicediscovery:{region}:{acct}:namespace/{ns}", "hostedZone": "Z0OFFLINEPLAN"}
        if typ == "aws:servicediscovery/service:Service":
            srv = _short_id("srv", logical)
            return {"id": srv, "arn": f"arn:aws:servicediscovery:{region}:{acct}:service/{srv}"}
        if typ == "random:index/randomPassword:RandomPassword":
            # Never a usable value: the real one is generated by the random provider at apply.
            return {"result": "generated-at-apply", "bcryptHash": "generated-at-apply"}
        if typ.startswith("aws:"):
            service = typ.split(":")[1].split("/")[0]
            return {"arn": f"arn:aws:{service}:{region}:{acct}:{typ.rsplit(':', 1)[-1].lower()}/{physical}"}
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping each registration's parent and resource options."""

    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[RenderedResource] = []
        self._name_of_urn: dict[str, str] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        self._name_of_urn[response.urn] = request.name
        inputs = mask_secrets(rpc.deserialize_properties(request.object))
        self.registrations.append(
            RenderedResource(
                type=request.type,
                name=request.name,
                parent=self._name_of_urn.get(request.parent) if request.parent else None,
                custom=bool(request.custom),
                inputs=inputs,
                protect=bool(request.protect),
                retainOnDelete=bool(getattr(request, "retainOnDelete", False)),
                ignoreChanges=list(request.ignoreChanges),
                propertyDependencies={
                    key: sorted({self._name_of_urn[urn] for urn in deps.urns if urn in self._name_of_urn})
                    for key, deps in request.propertyDependencies.items()
                    if any(urn in self._name_of_urn for urn in deps.urns)
                },
            )
        )
        return response


