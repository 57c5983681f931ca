"""Lay out a moto account from the program's own rendered plan, then run it the way ECS would.

Every custom resource of the plan that the checks read is created through boto3 from its rendered
inputs, so botocore validates each shape the program produces (a container definition key ECS does
not know fails here, as it would in a real ``pulumi up``). Placeholder ids and ARNs of the offline
mocks are replaced by the ones moto hands out, in later inputs and in the stack's outputs, as the
engine would resolve them.

What moto does not do is done by the layout or injected by a named double:
- moto starts no tasks for a service: :class:`EcsTasksDouble` answers ``describe_services`` /
  ``list_tasks`` / ``describe_tasks`` with the tasks the layout gave each service (each task a
  real moto network interface in a private subnet, its IP registered in its target group), a
  running count equal to them and a COMPLETED deployment.
- moto reports every registered target healthy: :class:`TargetHealthDoubleElbv2` reports chosen
  targets otherwise.
- The ALB's DNS name resolves nowhere: :class:`AlbHttpDouble` answers HTTP the way the rendered
  listeners say the ALB would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pulumi.runtime.mocks import MockResourceArgs

from program.mocks import OfflineMocks, RenderedResource
from program.render import RenderedStack
from reconciler.verify.seams import CLIENT_NAMES, AwsClients, HttpAnswer

ORDER = (
    "aws:ec2/vpc:Vpc",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/eip:Eip",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:secretsmanager/secret:Secret",
    "aws:secretsmanager/secretVersion:SecretVersion",
    "aws:ecr/repository:Repository",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:ec2/flowLog:FlowLog",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "aws:ecs/cluster:Cluster",
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders",
    "aws:lb/targetGroup:TargetGroup",
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:lb/listener:Listener",
    "aws:lb/listenerRule:ListenerRule",
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace",
    "aws:servicediscovery/service:Service",
    "aws:ecs/taskDefinition:TaskDefinition",
    "aws:ecs/service:Service",
    "aws:appautoscaling/target:Target",
    "aws:appautoscaling/policy:Policy",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
)
# Created by the program but read by no check; botocore would validate them too, at a cost per test.
NOT_LAID_OUT = {"aws:ecr/lifecyclePolicy:LifecyclePolicy", "random:index/randomPassword:RandomPassword", "pulumi:providers:aws"}


def _int(value: Any) -> int:
    return int(value)


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _action(action: dict[str, Any]) -> dict[str, Any]:
    """A Pulumi listener action (camelCase wire inputs) in the ELBv2 API's shape."""
    kind = action["type"]
    out: dict[str, Any] = {"Type": kind}
    if kind == "forward" and "forward" in action:
        forward = action["forward"]
        out["ForwardConfig"] = {
            "TargetGroups": [{"TargetGroupArn": g["arn"], "Weight": _int(g["weight"])} for g in forward["targetGroups"]],
            "TargetGroupStickinessConfig": {"Enabled": forward["stickiness"]["enabled"], "DurationSeconds": _int(forward["stickiness"]["duration"])},
        }
    elif kind == "forward":
        out["TargetGroupArn"] = action["targetGroupArn"]
    elif kind == "redirect":
        redirect = action["redirect"]
        out["RedirectConfig"] = {"Port": redirect["port"], "Protocol": redirect["protocol"], "StatusCode": redirect["statusCode"]}
    return out


@dataclass
class Task:
    """One running task the layout stands up for a service (what ECS would have started)."""

    arn: str
    unit: str
    eni: str
    ip: str
    image: str
    subnet: str


@dataclass
class Layout:
    rendered: RenderedStack
    session: Any
    region: str
    placeholders: dict[str, str] = field(default_factory=dict)  # offline placeholder -> moto's value
    outputs: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, list[Task]] = field(default_factory=dict)  # ECS service name -> tasks
    unit_of_service: dict[str, str] = field(default_factory=dict)  # ECS service name -> unit
    listeners: dict[str, dict[str, Any]] = field(default_factory=dict)  # listener ARN -> its boto3 answer
    # ECS service name -> the capacityProviderStrategy create_service was given (moto drops it).
    capacity_strategies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ substitution

    def sub(self, value: Any) -> Any:
        if isinstance(value, str):
            if value in self.placeholders:
                return self.placeholders[value]
            for old in sorted(self.placeholders, key=len, reverse=True):
                if len(old) >= 8 and old in value:
                    value = value.replace(old, self.placeholders[old])
            return value
        if isinstance(value, list):
            return [self.sub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.sub(v) for k, v in value.items()}
        return value

    def client(self, name: str) -> Any:
        # One client per service: creating a boto3 client costs more than most moto calls.
        if name not in self._clients:
            self._clients[name] = self.session.client(name, region_name=self.region)
        return self._clients[name]

    # ------------------------------------------------------------------ the plan

    def apply(self) -> Layout:
        mocks = OfflineMocks(self.region)
        provider = next(r for r in self.rendered.resources if r.type == "pulumi:providers:aws")
        self.default_tags: dict[str, str] = json.loads(provider.inputs["defaultTags"])["tags"]
        by_type: dict[str, list[RenderedResource]] = {}
        for resource in self.rendered.resources:
            if resource.custom:
                by_type.setdefault(resource.type, []).append(resource)
        unknown = set(by_type) - set(ORDER) - NOT_LAID_OUT
        assert not unknown, f"the layout does not know how to create {sorted(unknown)}: add them"
        for type_token in ORDER:
            for resource in by_type.get(type_token, []):
                resource_id, state = mocks.new_resource(MockResourceArgs(resource.type, resource.name, dict(resource.inputs), custom=True))
                placeholder = {**state, "id": resource_id}
                real = getattr(self, "_" + type_token.rsplit(":", 1)[-1][0].lower() + type_token.rsplit(":", 1)[-1][1:])(resource, self.sub(dict(resource.inputs)))
                for key, value in (real or {}).items():
                    old = placeholder.get(key)
                    if isinstance(old, str) and isinstance(value, str) and old != value:
                        self.placeholders[old] = value
        self.outputs = self.sub(dict(self.rendered.outputs))
        return self

    def tagged(self, tags: dict[str, str] | None) -> dict[str, str]:
        return {**self.default_tags, **(tags or {})}

    def _vpc(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock=i["cidrBlock"], TagSpecifications=[{"ResourceType": "vpc", "Tags": _tags(self.tagged(i.get("tags")))}])["Vpc"]
        ec2.modify_vpc_attribute(VpcId=vpc["VpcId"], EnableDnsSupport={"Value": i["enableDnsSupport"]})
        ec2.modify_vpc_attribute(VpcId=vpc["VpcId"], EnableDnsHostnames={"Value": i["enableDnsHostnames"]})
        return {"id": vpc["VpcId"]}

    def _internetGateway(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        ec2 = self.client("ec2")
        igw = ec2.create_internet_gateway(TagSpecifications=[{"ResourceType": "internet-gateway", "Tags": _tags(self.tagged(i.get("tags")))}])["InternetGateway"]
        ec2.attach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=i["vpcId"])
        return {"id": igw["InternetGatewayId"]}

    def _subnet(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        subnet = self.client("ec2").create_subnet(
            VpcId=i["vpcId"], CidrBlock=i["cidrBlock"], AvailabilityZone=i["availabilityZone"],
            TagSpecifications=[{"ResourceType": "subnet", "Tags": _tags(self.tagged(i.get("tags")))}],
        )["Subnet"]
        return {"id": subnet["SubnetId"]}

    def _eip(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        eip = self.client("ec2").allocate_address(Domain=i["domain"], TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": _tags(self.tagged(i.get("tags")))}])
        return {"id": eip["AllocationId"], "allocationId": eip["AllocationId"], "publicIp": eip["PublicIp"]}

    def _natGateway(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        nat = self.client("ec2").create_nat_gateway(
            SubnetId=i["subnetId"], AllocationId=i["allocationId"], ConnectivityType=i["connectivityType"],
            TagSpecifications=[{"ResourceType": "natgateway", "Tags": _tags(self.tagged(i.get("tags")))}],
        )["NatGateway"]
        return {"id": nat["NatGatewayId"]}

    def _routeTable(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        ec2 = self.client("ec2")
        table = ec2.create_route_table(VpcId=i["vpcId"], TagSpecifications=[{"ResourceType": "route-table", "Tags": _tags(self.tagged(i.get("tags")))}])["RouteTable"]
        for route in i.get("routes", []):
            target = {"GatewayId": route["gatewayId"]} if route.get("gatewayId") else {"NatGatewayId": route["natGatewayId"]}
            ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock=route["cidrBlock"], **target)
        return {"id": table["RouteTableId"]}

    def _routeTableAssociation(self, r: RenderedResource, i: dict[str, Any]) -> None:
        self.client("ec2").associate_route_table(RouteTableId=i["routeTableId"], SubnetId=i["subnetId"])

    def _logGroup(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        logs = self.client("logs")
        logs.create_log_group(logGroupName=i["name"], tags=self.tagged(i.get("tags")))
        logs.put_retention_policy(logGroupName=i["name"], retentionInDays=_int(i["retentionInDays"]))
        arn = logs.describe_log_groups(logGroupNamePrefix=i["name"])["logGroups"][0]["arn"]
        return {"id": i["name"], "arn": arn.removesuffix(":*")}

    def _role(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        role = self.client("iam").create_role(
            RoleName=i["name"], Path=i.get("path", "/"), AssumeRolePolicyDocument=i["assumeRolePolicy"], Description=i.get("description", ""), Tags=_tags(self.tagged(i.get("tags")))
        )["Role"]
        return {"id": role["RoleName"], "arn": role["Arn"]}

    def _rolePolicy(self, r: RenderedResource, i: dict[str, Any]) -> None:
        self.client("iam").put_role_policy(RoleName=i["role"], PolicyName=i["name"], PolicyDocument=i["policy"])

    def _flowLog(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        answer = self.client("ec2").create_flow_logs(
            ResourceIds=[i["vpcId"]], ResourceType="VPC", TrafficType=i["trafficType"], LogDestinationType=i["logDestinationType"],
            LogDestination=i["logDestination"], DeliverLogsPermissionArn=i["iamRoleArn"], MaxAggregationInterval=_int(i["maxAggregationInterval"]),
            TagSpecifications=[{"ResourceType": "vpc-flow-log", "Tags": _tags(self.tagged(i.get("tags")))}],
        )
        assert not answer.get("Unsuccessful"), answer["Unsuccessful"]
        return {"id": answer["FlowLogIds"][0]}

    def _securityGroup(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        group = self.client("ec2").create_security_group(
            GroupName=i["name"], Description=i["description"], VpcId=i["vpcId"],
            TagSpecifications=[{"ResourceType": "security-group", "Tags": _tags(self.tagged(i.get("tags")))}],
        )
        return {"id": group["GroupId"]}

    @staticmethod
    def _permission(i: dict[str, Any]) -> dict[str, Any]:
        permission: dict[str, Any] = {"IpProtocol": i["ipProtocol"], "FromPort": _int(i["fromPort"]), "ToPort": _int(i["toPort"])}
        if i.get("cidrIpv4"):
            permission["IpRanges"] = [{"CidrIp": i["cidrIpv4"], "Description": i["description"]}]
        else:
            permission["UserIdGroupPairs"] = [{"GroupId": i["referencedSecurityGroupId"], "Description": i["description"]}]
        return permission

    def _securityGroupIngressRule(self, r: RenderedResource, i: dict[str, Any]) -> None:
        self.client("ec2").authorize_security_group_ingress(GroupId=i["securityGroupId"], IpPermissions=[self._permission(i)])

    def _securityGroupEgressRule(self, r: RenderedResource, i: dict[str, Any]) -> None:
        self.client("ec2").authorize_security_group_egress(GroupId=i["securityGroupId"], IpPermissions=[self._permission(i)])

    def _secret(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        secret = self.client("secretsmanager").create_secret(Name=i["name"], Description=i["description"], Tags=_tags(self.tagged(i.get("tags"))))
        return {"id": secret["ARN"], "arn": secret["ARN"]}

    def _secretVersion(self, r: RenderedResource, i: dict[str, Any]) -> None:
        # The value is a Pulumi secret, masked in the plan; any value stands in for it.
        self.client("secretsmanager").put_secret_value(SecretId=i["secretId"], SecretString=json.dumps({"username": "u", "password": "layout"}))

    def _repository(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        repo = self.client("ecr").create_repository(
            repositoryName=i["name"], imageTagMutability=i["imageTagMutability"],
            imageScanningConfiguration={"scanOnPush": i["imageScanningConfiguration"]["scanOnPush"]},
            encryptionConfiguration={"encryptionType": i["encryptionConfigurations"][0]["encryptionType"]},
            tags=_tags(self.tagged(i.get("tags"))),
        )["repository"]
        return {"arn": repo["repositoryArn"], "repositoryUrl": repo["repositoryUri"]}

    def _cluster(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        cluster = self.client("ecs").create_cluster(
            clusterName=i["name"], settings=[{"name": s["name"], "value": s["value"]} for s in i["settings"]],
            tags=[{"key": k, "value": v} for k, v in self.tagged(i.get("tags")).items()],
        )["cluster"]
        return {"arn": cluster["clusterArn"]}

    def _clusterCapacityProviders(self, r: RenderedResource, i: dict[str, Any]) -> None:
        self.client("ecs").put_cluster_capacity_providers(
            cluster=i["clusterName"], capacityProviders=i["capacityProviders"],
            defaultCapacityProviderStrategy=[
                {"capacityProvider": s["capacityProvider"], "weight": _int(s["weight"]), "base": _int(s["base"])} for s in i["defaultCapacityProviderStrategies"]
            ],
        )

    def _targetGroup(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        check = i["healthCheck"]
        group = self.client("elbv2").create_target_group(
            Name=i["name"], Port=_int(i["port"]), Protocol=i["protocol"], TargetType=i["targetType"], VpcId=i["vpcId"],
            HealthCheckEnabled=check["enabled"], HealthCheckPath=check["path"], HealthCheckProtocol=check["protocol"], HealthCheckPort=check["port"],
            HealthCheckIntervalSeconds=_int(check["interval"]), HealthCheckTimeoutSeconds=_int(check["timeout"]),
            HealthyThresholdCount=_int(check["healthyThreshold"]), UnhealthyThresholdCount=_int(check["unhealthyThreshold"]),
            Matcher={"HttpCode": check["matcher"]}, Tags=_tags(self.tagged(i.get("tags"))),
        )["TargetGroups"][0]
        self.client("elbv2").modify_target_group_attributes(
            TargetGroupArn=group["TargetGroupArn"], Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(_int(i["deregistrationDelay"]))}]
        )
        arn = group["TargetGroupArn"]
        return {"id": arn, "arn": arn, "arnSuffix": arn.split(":", 5)[-1]}

    def _loadBalancer(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        elbv2 = self.client("elbv2")
        lb = elbv2.create_load_balancer(
            Name=i["name"], Subnets=i["subnets"], SecurityGroups=i["securityGroups"], Scheme="internal" if i["internal"] else "internet-facing",
            Type=i["loadBalancerType"], Tags=_tags(self.tagged(i.get("tags"))),
        )["LoadBalancers"][0]
        attributes = {
            "deletion_protection.enabled": i["enableDeletionProtection"], "idle_timeout.timeout_seconds": _int(i["idleTimeout"]),
            "routing.http.drop_invalid_header_fields.enabled": i["dropInvalidHeaderFields"], "routing.http2.enabled": i["enableHttp2"],
            "routing.http.desync_mitigation_mode": i["desyncMitigationMode"],
        }
        elbv2.modify_load_balancer_attributes(
            LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[{"Key": k, "Value": str(v).lower()} for k, v in attributes.items()]
        )
        arn = lb["LoadBalancerArn"]
        return {"id": arn, "arn": arn, "arnSuffix": arn.split(":loadbalancer/", 1)[1], "dnsName": lb["DNSName"]}

    def _listener(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        extra: dict[str, Any] = {}
        if i.get("certificateArn"):
            extra = {"Certificates": [{"CertificateArn": i["certificateArn"]}], "SslPolicy": i["sslPolicy"]}
        listener = self.client("elbv2").create_listener(
            LoadBalancerArn=i["loadBalancerArn"], Port=_int(i["port"]), Protocol=i["protocol"], DefaultActions=[_action(a) for a in i["defaultActions"]], **extra
        )["Listeners"][0]
        self.listeners[listener["ListenerArn"]] = listener
        return {"id": listener["ListenerArn"], "arn": listener["ListenerArn"]}

    def _listenerRule(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        rule = self.client("elbv2").create_rule(
            ListenerArn=i["listenerArn"], Priority=_int(i["priority"]),
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": c["pathPattern"]["values"]}} for c in i["conditions"]],
            Actions=[_action(a) for a in i["actions"]],
        )["Rules"][0]
        return {"id": rule["RuleArn"], "arn": rule["RuleArn"]}

    def _privateDnsNamespace(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        sd = self.client("servicediscovery")
        sd.create_private_dns_namespace(Name=i["name"], Vpc=i["vpc"], Description=i["description"])
        namespace = next(n for n in sd.list_namespaces()["Namespaces"] if n["Name"] == i["name"])
        return {"id": namespace["Id"], "arn": namespace["Arn"]}

    def _service(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        if r.type == "aws:ecs/service:Service":
            return self._ecs_service(r, i)
        service = self.client("servicediscovery").create_service(
            Name=i["name"], NamespaceId=i["namespaceId"],
            DnsConfig={"RoutingPolicy": i["dnsConfig"]["routingPolicy"], "DnsRecords": [{"Type": d["type"], "TTL": _int(d["ttl"])} for d in i["dnsConfig"]["dnsRecords"]]},
            HealthCheckCustomConfig={},
        )["Service"]
        return {"id": service["Id"], "arn": service["Arn"]}

    def _taskDefinition(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        definition = self.client("ecs").register_task_definition(
            family=i["family"], cpu=i["cpu"], memory=i["memory"], networkMode=i["networkMode"], requiresCompatibilities=i["requiresCompatibilities"],
            runtimePlatform=i["runtimePlatform"], executionRoleArn=i["executionRoleArn"], taskRoleArn=i["taskRoleArn"],
            containerDefinitions=json.loads(i["containerDefinitions"]), volumes=[{"name": v["name"]} for v in i.get("volumes") or []],
            tags=[{"key": k, "value": v} for k, v in self.tagged(i.get("tags")).items()],
        )["taskDefinition"]
        arn = definition["taskDefinitionArn"]
        return {"arn": arn, "arnWithoutRevision": arn.rsplit(":", 1)[0]}

    def _ecs_service(self, r: RenderedResource, i: dict[str, Any]) -> dict[str, str]:
        network = i["networkConfiguration"]
        optional: dict[str, Any] = {}
        if i.get("loadBalancers"):
            optional["loadBalancers"] = [
                {"targetGroupArn": lb["targetGroupArn"], "containerName": lb["containerName"], "containerPort": _int(lb["containerPort"])} for lb in i["loadBalancers"]
            ]
            optional["healthCheckGracePeriodSeconds"] = _int(i["healthCheckGracePeriodSeconds"])
        strategy = [{"capacityProvider": s["capacityProvider"], "weight": _int(s["weight"]), "base": _int(s["base"])} for s in i["capacityProviderStrategies"]]
        self.capacity_strategies[i["name"]] = strategy
        service = self.client("ecs").create_service(
            cluster=i["cluster"], serviceName=i["name"], taskDefinition=i["taskDefinition"], desiredCount=_int(i["desiredCount"]),
            capacityProviderStrategy=strategy,
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": network["subnets"], "securityGroups": network["securityGroups"],
                "assignPublicIp": "ENABLED" if network["assignPublicIp"] else "DISABLED",
            }},
            serviceRegistries=[{"registryArn": i["serviceRegistries"]["registryArn"]}],
            deploymentConfiguration={
                "deploymentCircuitBreaker": {"enable": i["deploymentCircuitBreaker"]["enable"], "rollback": i["deploymentCircuitBreaker"]["rollback"]},
                "minimumHealthyPercent": _int(i["deploymentMinimumHealthyPercent"]), "maximumPercent": _int(i["deploymentMaximumPercent"]),
            },
            enableECSManagedTags=i["enableEcsManagedTags"], propagateTags=i["propagateTags"], enableExecuteCommand=i["enableExecuteCommand"],
            tags=[{"key": k, "value": v} for k, v in self.tagged(i.get("tags")).items()],
            **optional,
        )["service"]
        return {"id": service["serviceArn"], "arn": service["serviceArn"]}

    def _target(self, r: RenderedResource, i: dict[str, Any]) -> None:
        self.client("application-autoscaling").register_scalable_target(
            ServiceNamespace=i["serviceNamespace"], ResourceId=i["resourceId"], ScalableDimension=i["scalableDimension"],
            MinCapacity=_int(i["minCapacity"]), MaxCapacity=_int(i["maxCapacity"]),
        )

    def _policy(self, r: RenderedResource, i: dict[str, Any]) -> None:
        config = i["targetTrackingScalingPolicyConfiguration"]
        self.client("application-autoscaling").put_scaling_policy(
            PolicyName=i["name"], ServiceNamespace=i["serviceNamespace"], ResourceId=i["resourceId"], ScalableDimension=i["scalableDimension"],
            PolicyType=i["policyType"],
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": float(config["targetValue"]), "ScaleInCooldown": _int(config["scaleInCooldown"]), "ScaleOutCooldown": _int(config["scaleOutCooldown"]),
                "PredefinedMetricSpecification": {"PredefinedMetricType": config["predefinedMetricSpecification"]["predefinedMetricType"]},
            },
        )

    def _metricAlarm(self, r: RenderedResource, i: dict[str, Any]) -> None:
        statistic = {"Statistic": i["statistic"]} if i.get("statistic") else {"ExtendedStatistic": i["extendedStatistic"]}
        self.client("cloudwatch").put_metric_alarm(
            AlarmName=i["name"], AlarmDescription=i["alarmDescription"], Namespace=i["namespace"], MetricName=i["metricName"],
            Dimensions=[{"Name": k, "Value": v} for k, v in sorted(i["dimensions"].items())], Period=_int(i["period"]),
            EvaluationPeriods=_int(i["evaluationPeriods"]), DatapointsToAlarm=_int(i["datapointsToAlarm"]), Threshold=float(i["threshold"]),
            ComparisonOperator=i["comparisonOperator"], TreatMissingData=i["treatMissingData"], **statistic,
        )

    # ------------------------------------------------------------------ what ECS would do

    def run_tasks(self, now: datetime | None = None) -> Layout:
        """Stand up each service's tasks: an ENI in a private subnet, registered in the target group, logging."""
        ecs, ec2, elbv2, logs = (self.client(n) for n in ("ecs", "ec2", "elbv2", "logs"))
        cluster = self.outputs["clusterArn"]
        stamp = int((now or datetime.now(UTC)).timestamp() * 1000)
        for unit, arn in self.outputs["serviceArns"].items():
            service = ecs.describe_services(cluster=cluster, services=[arn])["services"][0]
            self.unit_of_service[service["serviceName"]] = unit
            definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
            container = definition["containerDefinitions"][0]
            config = service["networkConfiguration"]["awsvpcConfiguration"]
            tasks = []
            for index in range(service["desiredCount"]):
                subnet = config["subnets"][index % len(config["subnets"])]
                eni = ec2.create_network_interface(SubnetId=subnet, Groups=config["securityGroups"])["NetworkInterface"]
                task_arn = f"{cluster.replace(':cluster/', ':task/')}/{unit}-{index}"
                tasks.append(Task(task_arn, unit, eni["NetworkInterfaceId"], eni["PrivateIpAddress"], container["image"], subnet))
            for lb in service.get("loadBalancers", []):
                if tasks:
                    elbv2.register_targets(TargetGroupArn=lb["targetGroupArn"], Targets=[{"Id": t.ip, "Port": lb["containerPort"]} for t in tasks])
            if tasks:
                group = container["logConfiguration"]["options"]["awslogs-group"]
                stream = f"{unit}/{container['name']}/{tasks[0].arn.rsplit('/', 1)[-1]}"
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
                logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": stamp, "message": f"{unit} started"}])
            self.tasks[service["serviceName"]] = tasks
        return self

    def clients(self, **overrides: Any) -> AwsClients:
        base = AwsClients(**{name: self.client(name) for name in CLIENT_NAMES})
        # An ``ecs`` override stands in for the tasks double too (it may wrap ``clients().ecs``).
        return base.replace(**{"ecs": EcsTasksDouble(base.ecs, self), **overrides})


class EcsTasksDouble:
    """The ECS client, answering for the tasks the layout stood up.

    Why a double: moto starts no tasks for a service, keeps ``runningCount`` at 0, never
    completes a deployment and drops the ``capacityProviderStrategy`` create_service was given
    (the double returns the one the layout sent). Only those answers are stood in for; everything
    else (the services' configuration, task definitions, network interfaces) is moto's.
    """

    def __init__(self, ecs: Any, layout: Layout, rollout_state: str = "COMPLETED"):
        self._ecs, self._layout, self.rollout_state = ecs, layout, rollout_state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ecs, name)

    def describe_services(self, **kwargs: Any) -> dict[str, Any]:
        answer = self._ecs.describe_services(**kwargs)
        for service in answer["services"]:
            running = len(self._layout.tasks.get(service["serviceName"], []))
            service["runningCount"] = running
            if not service.get("capacityProviderStrategy"):
                service["capacityProviderStrategy"] = self._layout.capacity_strategies.get(service["serviceName"], [])
            for deployment in service.get("deployments", []):
                if deployment.get("status") == "PRIMARY":
                    deployment.update(runningCount=running, rolloutState=self.rollout_state)
        return answer

    def list_tasks(self, *, cluster: str, serviceName: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's name
        return {"taskArns": [t.arn for t in self._layout.tasks.get(serviceName, [])]}

    def describe_tasks(self, *, cluster: str, tasks: Iterable[str], **_: Any) -> dict[str, Any]:
        wanted = set(tasks)
        found = [t for ts in self._layout.tasks.values() for t in ts if t.arn in wanted]
        return {
            "tasks": [
                {
                    "taskArn": t.arn, "lastStatus": "RUNNING", "desiredStatus": "RUNNING",
                    "containers": [{"name": t.unit.rsplit("-", 1)[0] if t.unit.endswith(("-blue", "-green")) else t.unit, "image": t.image}],
                    "attachments": [{"type": "ElasticNetworkInterface", "status": "ATTACHED", "details": [
                        {"name": "subnetId", "value": t.subnet}, {"name": "networkInterfaceId", "value": t.eni},
                        {"name": "privateIPv4Address", "value": t.ip},
                    ]}],
                }
                for t in found
            ],
            "failures": [],
        }


class TargetHealthDoubleElbv2:
    """The ELBv2 client, reporting the chosen targets in a state other than healthy.

    Why a double: moto reports every registered IP target ``healthy`` and has no way to make one
    fail its health check. Only ``describe_target_health`` is stood in for.
    """

    def __init__(self, elbv2: Any, states: dict[str, str]):
        self._elbv2, self.states = elbv2, states  # target IP -> state
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._elbv2, name)

    def describe_target_health(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        answer = self._elbv2.describe_target_health(**kwargs)
        for description in answer["TargetHealthDescriptions"]:
            state = self.states.get(description["Target"]["Id"])
            if state:
                description["TargetHealth"] = {"State": state, "Reason": "Target.FailedHealthChecks", "Description": "Health checks failed"}
        return answer


class AlbHttpDouble:
    """Answers HTTP the way the ALB would, from its listeners as moto holds them.

    Why a double: the ALB moto creates has a DNS name that resolves nowhere and serves nothing.
    Port 80 answers what its default action says (a redirect's status and Location, or the target's
    answer when it forwards); a forwarded request gets ``target_status``. A request asked as
    ``public_host`` has that as its host; no certificate is checked here (``hostname_checked`` says
    what the probe was asked to check).
    """

    def __init__(self, elbv2: Any, outputs: dict[str, Any], target_status: int = 200):
        self._elbv2, self._outputs, self.target_status = elbv2, outputs, target_status
        self.requests: list[str] = []
        self.asked_as: list[str | None] = []

    def get(self, url: str, timeout: float, *, public_host: str | None = None, check_hostname: bool = True) -> HttpAnswer:
        self.requests.append(url)
        self.asked_as.append(public_host)
        scheme, rest = url.split("://", 1)
        host, _, path = rest.partition("/")
        checked = check_hostname if scheme == "https" else None
        if host != self._outputs["albDnsName"]:
            return HttpAnswer(status=None, error=f"{host}: name does not resolve", hostname_checked=checked)
        kind = "https" if scheme == "https" else "http"
        arn = self._outputs["listenerArns"].get(kind)
        if arn is None:
            return HttpAnswer(status=None, error="connection refused", hostname_checked=checked)
        action = self._elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]["DefaultActions"][0]
        if action["Type"] == "redirect":
            config = action["RedirectConfig"]
            status = int(config["StatusCode"].removeprefix("HTTP_"))
            # The ALB fills #{host} (the default) with the request's host; any other Host is sent as written.
            target = config.get("Host", "#{host}").replace("#{host}", public_host or host)
            return HttpAnswer(status=status, location=f"{config['Protocol'].lower()}://{target}:{config['Port']}/{path}", hostname_checked=checked)
        return HttpAnswer(status=self.target_status, hostname_checked=checked)


def lay_out(rendered: RenderedStack, session: Any, region: str) -> Layout:
    return Layout(rendered=rendered, session=session, region=region).apply().run_tasks()


Mutation = Callable[[Layout], None]


class BlackholeRoutesDoubleEc2:
    """The EC2 client, reporting the default routes of chosen route tables as ``blackhole``.

    Why a double: moto reports every route ``active``, even one whose NAT gateway was deleted
    (AWS reports it ``blackhole``). Only ``describe_route_tables`` is stood in for.
    """

    def __init__(self, ec2: Any, route_tables: set[str]):
        self._ec2, self.route_tables = ec2, route_tables

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ec2, name)

    def describe_route_tables(self, **kwargs: Any) -> dict[str, Any]:
        answer = self._ec2.describe_route_tables(**kwargs)
        for table in answer["RouteTables"]:
            if table["RouteTableId"] in self.route_tables:
                for route in table.get("Routes", []):
                    if route.get("DestinationCidrBlock") == "0.0.0.0/0":
                        route["State"] = "blackhole"
        return answer


class OnePerPageDouble:
    """A client answering every paginated list/describe one item a page, with a token to the next.

    Why a double: moto answers an account this size in one page; a real account bigger than a page
    answers in several, and a check that reads only the first misses the rest. Calls that do not
    paginate pass through untouched. ``unfollowed`` counts answers with more pages nobody asked for.
    """

    def __init__(self, client: Any):
        import botocore.session

        self._client = client
        self._model = botocore.session.get_session().get_paginator_model(client.meta.service_model.service_name)
        self.pages_served = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        api = self._client.meta.method_to_api_mapping.get(name)
        try:
            config = self._model.get_paginator(api) if api else None
        except ValueError:
            config = None
        if config is None:
            return real
        request_token, answer_token = config["input_token"], config["output_token"]
        key = config["result_key"] if isinstance(config["result_key"], str) else config["result_key"][0]
        limit_key = config.get("limit_key")

        def one_per_page(**kwargs: Any) -> dict[str, Any]:
            start = int(kwargs.pop(request_token, 0) or 0)
            if limit_key:
                kwargs.pop(limit_key, None)
            answer = real(**kwargs)
            items = answer.get(key, [])
            answer.pop(answer_token, None)
            answer[key] = items[start:start + 1]
            if start + 1 < len(items):
                answer[answer_token] = str(start + 1)
            self.pages_served += 1
            return answer

        return one_per_page
