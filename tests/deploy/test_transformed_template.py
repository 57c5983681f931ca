"""What CloudFormation would deploy (template.yaml after the SAM transform, resolved for both ways of
deploying it, tests/deploy/transformed.py): every IAM statement scoped, encryption and retention on
everywhere, and the event rules matching the sample events the intake tests parse."""

from __future__ import annotations

from typing import Any

import pytest

import tests.deploy.test_event_rules as raw_rules
from tests.deploy.transformed import ACCOUNT, REGION, SCENARIOS, of_type, resolve

# Actions granted on Resource "*", each because the API authorises it on no resource ARN (the Service
# Authorization Reference lists no resource type for it) or addresses its resources by something
# that is no ARN. Any other action on "*" fails test_every_iam_statement_is_scoped.
NO_RESOURCE_LEVEL: dict[str, str] = {
    "ec2:Describe*": "EC2 Describe calls take no resource-level permissions",
    "elasticloadbalancing:Describe*": "ELBv2 Describe calls take no resource-level permissions",
    "elasticloadbalancing:DescribeListeners": "no resource-level permissions",
    "elasticloadbalancing:DescribeRules": "no resource-level permissions",
    "elasticloadbalancing:DescribeTargetHealth": "no resource-level permissions",
    "ecs:DescribeServices": "read by the tick role across the platform's clusters; DescribeServices is also granted per service to the deploy policy",
    "ecs:DescribeTaskDefinition": "task definitions are read by family:revision; the action takes no resource ARN",
    "ecs:ListTaskDefinitions": "no resource-level permissions",
    "ecs:RegisterTaskDefinition": "a task definition is registered, not created under a name the policy can match; no resource ARN",
    "ecs:DeregisterTaskDefinition": "no resource-level permissions",
    "logs:DescribeLogGroups": "lists log groups; no resource-level permissions",
    "cloudwatch:DescribeAlarms": "the rollout gates read alarms named by the desired state (any name)",
    "cloudwatch:PutMetricData": "takes no resource ARN; the worker's statement is conditioned on cloudwatch:namespace (the drift metric's)",
    "application-autoscaling:Describe*": "no resource-level permissions",
    "application-autoscaling:RegisterScalableTarget": "scalable targets are addressed by service namespace and resource id, not by ARN",
    "application-autoscaling:DeregisterScalableTarget": "addressed by service namespace and resource id, not by ARN",
    "application-autoscaling:PutScalingPolicy": "addressed by service namespace and resource id, not by ARN",
    "application-autoscaling:DeleteScalingPolicy": "addressed by service namespace and resource id, not by ARN",
    "application-autoscaling:TagResource": "scalable-target ARNs carry a random id known only after creation",
    "application-autoscaling:ListTagsForResource": "scalable-target ARNs carry a random id known only after creation",
    "servicediscovery:GetOperation": "operations have no ARN",
    "servicediscovery:ListNamespaces": "no resource-level permissions",
    "servicediscovery:ListServices": "no resource-level permissions",
    "servicediscovery:CreatePrivateDnsNamespace": "the namespace's ARN (ns-<id>) exists only after the call",
    "route53:CreateHostedZone": "no resource-level permissions (Cloud Map creates the namespace's zone as the caller)",
    "route53:ListHostedZonesByName": "no resource-level permissions",
    "ecr:GetAuthorizationToken": "the registry token is account-wide; no resource-level permissions",
    "ec2:DescribeNetworkInterfaces": "EC2 Describe calls take no resource-level permissions (the promotion gate reads the tasks' ENIs)",
    "ecs:ListTasks": "its only resource type is the container instance (Fargate tasks have none); conditioned on ecs:cluster",
    "tag:GetResources": "the tagging API's GetResources has no resource type (verify lists what carries the environment's tags)",
}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def identity_statements(template: dict) -> list[tuple[str, dict]]:
    """(where, statement) of every identity policy: role inline policies, managed policies, AWS::IAM::Policy."""
    found = []
    for name, role in of_type(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            found += [(f"{name}/{policy['PolicyName']}", s) for s in policy["PolicyDocument"]["Statement"]]
    for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
        for name, policy in of_type(template, kind).items():
            found += [(name, s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    return found


def test_every_iam_statement_is_scoped(deployed):
    statements = identity_statements(deployed)
    # The SAM-made roles (the intake's, the schedules') are checked with the template's own.
    assert {where.split("/")[0] for where, _ in statements} >= {"IntakeFunctionRole", "WorkerTaskRole", "TickWorkerTaskRole", "PlatformRoleBoundary"}
    for where, statement in statements:
        label = f"{deployed['Scenario']}: {where} {statement.get('Sid', '')}"
        actions = _listed(statement["Action"])
        # No "*", no "<service>:*" (so no "*:*" and no "iam:*"), in Allow and Deny alike.
        assert all(a != "*" and not a.endswith(":*") for a in actions), label
        if statement["Effect"] != "Allow":
            continue
        resources = _listed(statement["Resource"])
        assert resources, label
        if "*" in resources:
            assert resources == ["*"], label
            unlisted = [a for a in actions if a not in NO_RESOURCE_LEVEL]
            assert not unlisted, f"{label}: {unlisted} on Resource '*' (scope them, or list them in NO_RESOURCE_LEVEL with the reason)"
        for resource in resources:
            if resource != "*":
                # An ARN of this partition, and of this account wherever the ARN carries one.
                assert isinstance(resource, str) and resource.startswith("arn:aws:") or resource.startswith("<"), label
                fields = resource.split(":")
                if len(fields) > 4 and fields[2] not in ("s3", "route53") and fields[4]:
                    assert fields[4] in (ACCOUNT, "aws"), label  # "aws": AWS managed policies


def test_the_allow_list_is_only_what_is_used(transformed):
    """A reason nobody needs any more is a hole waiting for a statement: the list stays exact."""
    created = resolve(transformed, SCENARIOS["created"])  # with the template's deploy policy
    on_everything = {a for _, s in identity_statements(created) if s["Effect"] == "Allow" and _listed(s["Resource"]) == ["*"] for a in _listed(s["Action"])}
    assert set(NO_RESOURCE_LEVEL) - on_everything == set()


def test_resource_policies_grant_no_one_outside_the_account(deployed):
    for name, key in of_type(deployed, "AWS::KMS::Key").items():
        assert key["Properties"]["EnableKeyRotation"] is True, name
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            principal = statement["Principal"]
            assert principal != "*" and principal.get("AWS") in (None, f"arn:aws:iam::{ACCOUNT}:root"), name
            if "Service" in principal:
                assert statement.get("Condition"), f"{name}: a service principal is bound to this account or to this account's resources"
            actions = _listed(statement["Action"])
            assert "kms:*" not in actions, name
            if statement["Sid"] != "AccountAdministersTheKey":
                assert statement.get("Condition"), f"{name} {statement['Sid']}: use of the key is conditioned"
    for name, policy in of_type(deployed, "AWS::S3::BucketPolicy").items():
        # Bucket policies only take away (TLS only); access is granted by the roles' own policies.
        assert {s["Effect"] for s in policy["Properties"]["PolicyDocument"]["Statement"]} == {"Deny"}, name


def test_encryption_and_retention_are_on_everywhere(deployed):
    queues = of_type(deployed, "AWS::SQS::Queue")
    assert len(queues) == 4
    for name, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), name
        assert props["MessageRetentionPeriod"] >= 4 * 86400, name
    for name, table in of_type(deployed, "AWS::DynamoDB::Table").items():
        props = table["Properties"]
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        kept = props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True
        expires = props.get("TimeToLiveSpecification", {}).get("Enabled") is True
        assert kept or expires, f"{name}: neither backups (PITR) nor an expiry (TTL)"
    for name, topic in of_type(deployed, "AWS::SNS::Topic").items():
        assert topic["Properties"]["KmsMasterKeyId"] == "<OperationsKey.Arn>", name  # alarms cannot use alias/aws/sns
    groups = of_type(deployed, "AWS::Logs::LogGroup")
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] >= 365 and group["Properties"]["KmsKeyId"], name
    # Every function logs to a log group of the template's (a group Lambda creates has no retention).
    for name, function in of_type(deployed, "AWS::Lambda::Function").items():
        assert function["Properties"]["LoggingConfig"]["LogGroup"].strip("<>") in groups, name
    buckets = of_type(deployed, "AWS::S3::Bucket")
    assert len(buckets) == (2 if deployed["Scenario"] == "created" else 0)
    tls_only = {
        policy["Properties"]["Bucket"].strip("<>")
        for policy in of_type(deployed, "AWS::S3::BucketPolicy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and s["Principal"] == "*"
    }
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", name
        assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"], name
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
        assert set(props["PublicAccessBlockConfiguration"].values()) == {True} and len(props["PublicAccessBlockConfiguration"]) == 4, name
        assert name in tls_only, name
        locked = props.get("ObjectLockConfiguration", {}).get("Rule", {}).get("DefaultRetention")
        expiring = [r for r in props.get("LifecycleConfiguration", {}).get("Rules", []) if r.get("NoncurrentVersionExpiration")]
        assert locked or expiring, f"{name}: neither a lock's retention nor a lifecycle for old versions"
        assert bucket.get("DeletionPolicy") == "Retain", name


def _event_rules(template: dict) -> dict[str, dict]:
    return {name: rule["Properties"]["EventPattern"] for name, rule in of_type(template, "AWS::Events::Rule").items()}


def test_the_transformed_event_rules_deliver_each_waking_sample_through_exactly_its_rule(deployed):
    rules = _event_rules(deployed)
    # SAM names each rule <function><event>; every one targets the intake.
    for name, rule in of_type(deployed, "AWS::Events::Rule").items():
        [target] = rule["Properties"]["Targets"]
        assert target["Arn"] == "<IntakeFunction.Arn>", name
    expected = {
        "cloudwatch-alarm-state-change": "IntakeFunctionAlarmStateChange",
        "ecs-deployment-state-change-completed": "IntakeFunctionEcsDeploymentStateChange",
        "ecs-deployment-state-change-failed": "IntakeFunctionEcsDeploymentStateChange",
        "ecs-service-action-task-start-impaired": "IntakeFunctionEcsServiceAction",
        "ecr-image-scan": "IntakeFunctionEcrImageScan",
    }
    for sample, rule in expected.items():
        assert [r for r, pattern in rules.items() if raw_rules.matches(pattern, raw_rules.sample(sample))] == [rule], sample
    for sample in ("ecs-deployment-state-change-in-progress", "ecs-service-action-steady-state"):
        assert not any(raw_rules.matches(pattern, raw_rules.sample(sample)) for pattern in rules.values()), sample


@pytest.mark.parametrize("case", sorted(raw_rules.NEAR_MISSES))
def test_the_transformed_rules_deliver_no_near_miss(case, deployed):
    name, change = raw_rules.NEAR_MISSES[case]
    event = raw_rules._near(name, change)
    assert not any(raw_rules.matches(pattern, event) for pattern in _event_rules(deployed).values())


def test_the_event_rules_and_the_samples_are_of_this_account_and_region(deployed):
    patterns = _event_rules(deployed)
    assert patterns["IntakeFunctionAlarmStateChange"]["account"] == [ACCOUNT]
    for rule in ("IntakeFunctionEcsServiceAction", "IntakeFunctionEcsDeploymentStateChange"):
        assert patterns[rule]["resources"] == [{"prefix": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/ecs-cluster-"}], rule
