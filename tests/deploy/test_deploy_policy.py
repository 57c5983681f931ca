"""template.yaml's DeployPolicy (what `pulumi up` runs with) against what program/ renders: every type
the program renders is covered by an allowed service, no other service is allowed, the platform's
names are allowed and other names are not, and IAM roles come only with PlatformRoleBoundary."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from program.render import RenderedStack
from tests.deploy.cfn import allows as _allows
from tests.deploy.transformed import ACCOUNT, REGION, SCENARIOS, resolve

# The IAM services a Pulumi AWS module's resources are created and changed through. A type the
# program renders from a module missing here fails test_every_rendered_type_is_covered: add the module
# (and the services' actions to DeployPolicy).
PULUMI_MODULE_SERVICES: dict[str, set[str]] = {
    "appautoscaling": {"application-autoscaling"},
    "cloudwatch/logGroup": {"logs"},
    "cloudwatch/metricAlarm": {"cloudwatch"},
    "ec2": {"ec2"},
    "vpc": {"ec2"},
    "ecr": {"ecr"},
    "ecs": {"ecs"},
    "iam": {"iam"},
    "lb": {"elasticloadbalancing"},
    "secretsmanager": {"secretsmanager"},
    # A private DNS namespace is a Route 53 private hosted zone Cloud Map creates as the caller.
    "servicediscovery": {"servicediscovery", "route53"},
}
# Resource types that call no AWS API of their own.
NOT_AWS = ("pulumi:providers:", "random:")


def _module(type_token: str) -> str:
    """``aws:cloudwatch/logGroup:LogGroup`` -> ``cloudwatch/logGroup`` when that is listed, else ``cloudwatch``."""
    _, path, _ = type_token.split(":")
    return path if path in PULUMI_MODULE_SERVICES else path.split("/")[0]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def created(transformed) -> dict:
    return resolve(transformed, SCENARIOS["created"])


DEPLOY_POLICIES = ("DeployPolicy", "DeployPolicyPlatform")  # one managed policy is too small for it


@pytest.fixture(scope="module")
def deploy_policy(created) -> list[dict]:
    return [s for name in DEPLOY_POLICIES for s in created["Resources"][name]["Properties"]["PolicyDocument"]["Statement"]]


@pytest.fixture(scope="module")
def boundary(created) -> list[dict]:
    return created["Resources"]["PlatformRoleBoundary"]["Properties"]["PolicyDocument"]["Statement"]


@pytest.fixture(params=["dev", "prod"])
def rendered(request) -> RenderedStack:
    return request.getfixturevalue(f"rendered_{request.param}")


def _allowed_services(statements: list[dict]) -> set[str]:
    return {a.split(":")[0] for s in statements if s["Effect"] == "Allow" for a in _listed(s["Action"])}


def test_every_rendered_type_is_covered_by_an_allowed_service(rendered, deploy_policy):
    allowed = _allowed_services(deploy_policy)
    aws_types = sorted({r.type for r in rendered.resources if r.custom and not r.type.startswith(NOT_AWS)})
    assert aws_types
    unmapped = [t for t in aws_types if _module(t) not in PULUMI_MODULE_SERVICES]
    assert not unmapped, f"the program renders {unmapped}: add their modules to PULUMI_MODULE_SERVICES and their actions to DeployPolicy"
    for type_token in aws_types:
        missing = PULUMI_MODULE_SERVICES[_module(type_token)] - allowed
        assert not missing, f"{type_token} needs {missing}, which DeployPolicy does not allow"


def test_only_the_platforms_services_are_allowed(rendered_dev, rendered_prod, deploy_policy):
    needed = set().union(*(
        PULUMI_MODULE_SERVICES[_module(r.type)]
        for stack in (rendered_dev, rendered_prod) for r in stack.resources
        if r.custom and not r.type.startswith(NOT_AWS)
    ))
    assert _allowed_services(deploy_policy) == needed


def test_no_wildcard_service_and_no_iam_wildcard(deploy_policy):
    for statement in deploy_policy:
        for action in _listed(statement["Action"]):
            service, _, name = action.partition(":")
            assert name not in ("*", "") and service != "*", statement["Sid"]
            if service == "iam":
                assert "*" not in name, statement["Sid"]


ARN = f"arn:aws:{{service}}:{REGION}:{ACCOUNT}:{{resource}}"
# How a rendered resource's name appears in the ARN its create call is authorised on.
NAMED_CREATES: dict[str, tuple[str, str]] = {
    "aws:ecr/repository:Repository": ("ecr:CreateRepository", ARN.format(service="ecr", resource="repository/{name}")),
    "aws:ecs/cluster:Cluster": ("ecs:CreateCluster", ARN.format(service="ecs", resource="cluster/{name}")),
    "aws:lb/loadBalancer:LoadBalancer": ("elasticloadbalancing:CreateLoadBalancer", ARN.format(service="elasticloadbalancing", resource="loadbalancer/app/{name}/0123456789abcdef")),
    "aws:lb/targetGroup:TargetGroup": ("elasticloadbalancing:CreateTargetGroup", ARN.format(service="elasticloadbalancing", resource="targetgroup/{name}/0123456789abcdef")),
    "aws:cloudwatch/logGroup:LogGroup": ("logs:CreateLogGroup", ARN.format(service="logs", resource="log-group:{name}")),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("cloudwatch:PutMetricAlarm", ARN.format(service="cloudwatch", resource="alarm:{name}")),
    "aws:secretsmanager/secret:Secret": ("secretsmanager:CreateSecret", ARN.format(service="secretsmanager", resource="secret:{name}-AbCdEf")),
    "aws:iam/role:Role": ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role{{path}}{{name}}"),
}


def _physical_name(resource) -> str:
    return resource.inputs.get("name") or resource.inputs.get("alarmName")


def test_the_platforms_named_resources_may_be_created_and_others_not(rendered, deploy_policy):
    boundary_arn = "<PlatformRoleBoundary>"
    checked = 0
    for resource in rendered.resources:
        if resource.type not in NAMED_CREATES:
            continue
        action, pattern = NAMED_CREATES[resource.type]
        context = {"iam:PermissionsBoundary": boundary_arn}
        arn = pattern.format(name=_physical_name(resource), path=resource.inputs.get("path", "/"))
        assert _allows(deploy_policy, action, arn, context), resource.name
        checked += 1
    assert checked >= 30
    # Not the reconciler's own resources, nor another application's.
    for type_token, stranger in {
        "aws:ecr/repository:Repository": "nginx",
        "aws:ecs/cluster:Cluster": "ecs-gitops-reconciler",
        "aws:lb/loadBalancer:LoadBalancer": "alb-payments-prod",
        "aws:lb/targetGroup:TargetGroup": "payments-blue",
        "aws:cloudwatch/logGroup:LogGroup": "/aws/lambda/ecs-gitops-intake",
        "aws:cloudwatch/metricAlarm:MetricAlarm": "JobDeadLetterAlarm",
        "aws:secretsmanager/secret:Secret": "ecs-gitops/webhook",
        "aws:iam/role:Role": "ecs-gitops-WorkerTaskRole-ABC",
    }.items():
        action, pattern = NAMED_CREATES[type_token]
        assert not _allows(deploy_policy, action, pattern.format(name=stranger, path="/"), {"iam:PermissionsBoundary": "<PlatformRoleBoundary>"}), stranger


def test_the_reconcilers_own_log_group_is_out_of_reach(deploy_policy):
    assert not _allows(deploy_policy, "logs:DeleteLogGroup", "<WorkerLogGroup.Arn>")
    assert not _allows(deploy_policy, "logs:PutRetentionPolicy", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:<WorkerLogGroup>")
    assert _allows(deploy_policy, "logs:DeleteLogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs-gitops/dev/frontend")


def test_a_role_is_created_only_with_the_boundary_which_stays(deploy_policy):
    role = f"arn:aws:iam::{ACCOUNT}:role/ecs-gitops/role-frontend-task-dev"
    assert _allows(deploy_policy, "iam:CreateRole", role, {"iam:PermissionsBoundary": "<PlatformRoleBoundary>"})
    assert not _allows(deploy_policy, "iam:CreateRole", role, {})
    assert not _allows(deploy_policy, "iam:CreateRole", role, {"iam:PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess"})
    assert not _allows(deploy_policy, "iam:DeleteRolePermissionsBoundary", role)
    assert not _allows(deploy_policy, "iam:CreatePolicyVersion", "<PlatformRoleBoundary>")
    assert not _allows(deploy_policy, "iam:AttachRolePolicy", role)  # inline policies only, under the boundary
    # A platform role is passed only to the services that assume it.
    assert _allows(deploy_policy, "iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
    assert not _allows(deploy_policy, "iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"})


def test_the_boundary_allows_what_the_programs_roles_are_given(rendered, boundary):
    """A boundary narrower than the roles' own policies would break the platform's tasks at run time."""
    granted = 0
    for resource in rendered.of_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in json.loads(resource.inputs["policy"])["Statement"]:
            for action in _listed(statement["Action"]):
                for arn in _listed(statement["Resource"]):
                    assert _allows(boundary, action, arn.replace("123456789012", ACCOUNT)), (resource.name, action, arn)
                    granted += 1
    assert granted > 10
    assert not _allows(boundary, "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/anything")
    assert not _allows(boundary, "secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecs-gitops/webhook-AbCdEf")


def test_the_worker_runs_pulumi_with_the_templates_policy_or_the_one_named(transformed):
    for scenario, expected in (("created", ["<DeployPolicy>", "<DeployPolicyPlatform>"]), ("given", [SCENARIOS["given"]["DeployPolicyArn"]])):
        resolved = resolve(transformed, SCENARIOS[scenario])
        assert resolved["Resources"]["WorkerTaskRole"]["Properties"]["ManagedPolicyArns"] == expected, scenario
        assert all((name in resolved["Resources"]) is (scenario == "created") for name in DEPLOY_POLICIES)
        # The tick role never runs `pulumi up`.
        assert "ManagedPolicyArns" not in resolved["Resources"]["TickWorkerTaskRole"]["Properties"]
    assert resolve(transformed, SCENARIOS["created"])["Outputs"]["PlatformRoleBoundaryArn"]["Value"] == "<PlatformRoleBoundary>"


@pytest.mark.parametrize("name", DEPLOY_POLICIES)
def test_the_deploy_policy_fits_a_managed_policys_size(created, name):
    """IAM caps a managed policy at 6,144 characters, whitespace excluded."""
    document = created["Resources"][name]["Properties"]["PolicyDocument"]
    text = json.dumps(document, separators=(",", ":")).replace("<PlatformRoleBoundary>", f"arn:aws:iam::{ACCOUNT}:policy/ecs-gitops-PlatformRoleBoundary-ABCDEFGHIJKL")
    text = text.replace("<WorkerLogGroup.Arn>", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs-gitops/worker:*")
    assert len(text) <= 6144, len(text)


BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/ecs-gitops-PlatformRoleBoundary-ABCDEFGHIJKL"


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_the_program_gives_every_role_the_boundary_the_settings_name(environment, request):
    """DeployPolicy refuses iam:CreateRole without PlatformRoleBoundary: with the boundary in the stack
    config (settings aws.permissionsBoundaryArn, set by template.yaml), every role the program creates carries it."""
    from tests.conftest import render_state

    state = request.getfixturevalue(f"{environment}_state")
    roles = render_state(state, permissions_boundary_arn=BOUNDARY).of_type("aws:iam/role:Role")

    assert len(roles) >= 7  # execution + task role per service, and the flow-log role
    assert {role.name: role.inputs.get("permissionsBoundary") for role in roles} == {role.name: BOUNDARY for role in roles}


def test_without_a_boundary_in_the_stack_config_roles_have_none(rendered):
    # A person's own account (`ecs-gitops plan`, `pulumi up` by hand): nothing to carry.
    assert not any(role.inputs.get("permissionsBoundary") for role in rendered.of_type("aws:iam/role:Role"))


def test_the_workers_are_given_the_boundary_the_deploy_policy_requires(created):
    worker = created["Resources"]["WorkerTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Environment"]
    given = {variable["Name"]: variable["Value"] for variable in worker}
    assert given["ECS_GITOPS_PERMISSIONS_BOUNDARY_ARN"] == "<PlatformRoleBoundary>"
    condition = [s for p in DEPLOY_POLICIES for s in created["Resources"][p]["Properties"]["PolicyDocument"]["Statement"]
                 if "iam:CreateRole" in _listed(s["Action"])]
    assert condition and all(s["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == "<PlatformRoleBoundary>" for s in condition)


TAGGED = {"aws:ResourceTag/managed-by": "ecs-gitops"}
EC2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}:{{resource}}"


def test_a_roles_permissions_change_only_with_the_boundary_and_the_rest_only_with_the_platforms_tag(deploy_policy):
    """Review 13 M7: a role merely named role-* (an account's own, without the boundary) is out of reach."""
    role = f"arn:aws:iam::{ACCOUNT}:role/ecs-gitops/role-frontend-task-dev"
    bounded = {"iam:PermissionsBoundary": "<PlatformRoleBoundary>"}
    for action in ("iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary"):
        assert _allows(deploy_policy, action, role, bounded), action
        assert not _allows(deploy_policy, action, role, TAGGED), action
        assert not _allows(deploy_policy, action, role, {"iam:PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess"}), action
    for action in ("iam:UpdateAssumeRolePolicy", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UntagRole"):
        assert _allows(deploy_policy, action, role, TAGGED), action
        assert not _allows(deploy_policy, action, role, {}), action
        assert not _allows(deploy_policy, action, role, {"aws:ResourceTag/managed-by": "someone-else"}), action
    # A role is tagged as it is created; reading needs no condition.
    assert _allows(deploy_policy, "iam:TagRole", role, {"aws:RequestTag/managed-by": "ecs-gitops"})
    assert not _allows(deploy_policy, "iam:TagRole", role, {"aws:RequestTag/owner": "mallory"})
    assert _allows(deploy_policy, "iam:GetRole", role)
    assert not _allows(deploy_policy, "iam:AttachRolePolicy", role, {**bounded, **TAGGED})


def test_a_role_of_the_accounts_own_outside_the_platforms_path_is_out_of_reach_whatever_its_name_or_tags(deploy_policy):
    """A role named like the platform's and tagged like it, but not under /ecs-gitops/ (where only CreateRole
    with the boundary puts a role, its path being fixed at creation), gets nothing: not its trust policy changed,
    not tagged, not passed, not read."""
    everything = {"iam:PermissionsBoundary": "<PlatformRoleBoundary>", **TAGGED, "aws:RequestTag/managed-by": "ecs-gitops",
                  "iam:PassedToService": "ecs-tasks.amazonaws.com"}
    for role in (f"arn:aws:iam::{ACCOUNT}:role/role-frontend-task-dev", f"arn:aws:iam::{ACCOUNT}:role/payments/role-frontend-task-dev"):
        for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole", "iam:TagRole",
                       "iam:UntagRole", "iam:PassRole", "iam:GetRole"):
            assert not _allows(deploy_policy, action, role, everything), (action, role)


def test_every_role_the_program_renders_lives_under_the_platforms_path(rendered):
    roles = rendered.of_type("aws:iam/role:Role")
    assert len(roles) >= 7
    assert {role.inputs.get("path") for role in roles} == {"/ecs-gitops/"}


def test_network_changes_only_on_what_carries_the_platforms_tag(deploy_policy):
    group, vpc = EC2.format(resource="security-group/sg-0123456789abcdef0"), EC2.format(resource="vpc/vpc-0123456789abcdef0")
    for action, resource in (
        ("ec2:AuthorizeSecurityGroupIngress", group), ("ec2:RevokeSecurityGroupEgress", group), ("ec2:DeleteSecurityGroup", group),
        ("ec2:CreateRoute", EC2.format(resource="route-table/rtb-0123456789abcdef0")), ("ec2:DeleteFlowLogs", EC2.format(resource="vpc-flow-log/fl-0123")),
        ("ec2:ModifyVpcAttribute", vpc), ("ec2:DeleteVpc", vpc), ("ec2:CreateTags", vpc), ("ec2:DeleteTags", vpc),
    ):
        assert _allows(deploy_policy, action, resource, TAGGED), action
        assert not _allows(deploy_policy, action, resource, {}), action  # another VPC's, the account's own
    # A new resource is created with the tag in the request, and tagged only by that create call.
    assert _allows(deploy_policy, "ec2:CreateVpc", vpc, {"aws:RequestTag/managed-by": "ecs-gitops"})
    assert not _allows(deploy_policy, "ec2:CreateVpc", vpc, {})
    assert _allows(deploy_policy, "ec2:CreateTags", vpc, {"ec2:CreateAction": "CreateVpc"})
    assert not _allows(deploy_policy, "ec2:CreateTags", vpc, {"aws:RequestTag/managed-by": "ecs-gitops"})
    # A rule of a group: the rule resource itself is new, the group's tag decides.
    assert _allows(deploy_policy, "ec2:AuthorizeSecurityGroupIngress", EC2.format(resource="security-group-rule/sgr-0123"))


def test_route53_changes_only_through_cloud_map(deploy_policy):
    zone = "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"
    for action in ("route53:ChangeResourceRecordSets", "route53:DeleteHostedZone", "route53:AssociateVPCWithHostedZone", "route53:CreateHostedZone"):
        resource = "*" if action == "route53:CreateHostedZone" else zone
        assert _allows(deploy_policy, action, resource, {"aws:ViaAWSService": "true"}), action
        assert not _allows(deploy_policy, action, resource, {"aws:ViaAWSService": "false"}), action  # a direct call: any zone, public ones too


def test_the_audit_archive_key_policy_cannot_be_rewritten_to_allow_deletion(created):
    """Review 13 Low 10: with kms:PutKeyPolicy an admin could grant ScheduleKeyDeletion and shred the locked archive."""
    key = created["Resources"]["AuditArchiveKey"]["Properties"]
    actions = [a for s in key["KeyPolicy"]["Statement"] if s["Effect"] == "Allow" for a in _listed(s["Action"])]
    for forbidden in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey"):
        assert not any(fnmatch.fnmatchcase(forbidden, a) for a in actions), forbidden
    assert key["BypassPolicyLockoutSafetyCheck"] is True  # KMS refuses a policy nobody may change without it
