"""IAM-001..004: no wildcard actions, scoped resources, a pair of roles per service, no admin policies."""

from __future__ import annotations

import json

import pytest

from policies import aws_types as t
from policies.model import ResourceView

IAM_RULES = ("IAM-001", "IAM-002", "IAM-003", "IAM-004")
EXEC_POLICY = "policy-frontend-execution-dev"


@pytest.mark.parametrize("rule_id", IAM_RULES)
def test_clean_dev_and_prod_pass(kit, dev_views, prod_views, rule_id):
    assert kit.run(dev_views, rule_id) == []
    assert kit.run(prod_views, rule_id, kit.PROD) == []


def _with_statement(kit, views, name, statement):
    document = kit.view(views, name).json_prop("policy")
    document["Statement"].append(statement)
    return kit.replace(views, name, update={"policy": json.dumps(document)})


# --- IAM-001 --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["s3:*", "*"])
def test_wildcard_action(kit, dev_views, action):
    statement = {"Sid": "TooBroad", "Effect": "Allow", "Action": [action], "Resource": ["arn:aws:s3:::orders-dev/*"]}
    violations = kit.run(_with_statement(kit, dev_views, EXEC_POLICY, statement), "IAM-001")
    kit.expect(violations, "IAM-001", EXEC_POLICY, "statement 'TooBroad' allows", repr(action), "name the exact actions needed")
    assert kit.resources(violations) == {EXEC_POLICY}


def test_wildcard_action_as_a_plain_string(kit, dev_views):
    statement = {"Sid": "Str", "Effect": "Allow", "Action": "logs:*", "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:x"}
    kit.expect(kit.run(_with_statement(kit, dev_views, EXEC_POLICY, statement), "IAM-001"), "IAM-001", EXEC_POLICY, "'logs:*'")


def test_not_action(kit, dev_views):
    statement = {"Sid": "Inverted", "Effect": "Allow", "NotAction": ["iam:*"], "Resource": ["arn:aws:s3:::x"]}
    violations = kit.run(_with_statement(kit, dev_views, EXEC_POLICY, statement), "IAM-001")
    kit.expect(violations, "IAM-001", EXEC_POLICY, "statement 'Inverted' uses NotAction", "list the allowed actions instead")


def test_wildcard_deny_is_fine(kit, dev_views):
    statement = {"Sid": "Guard", "Effect": "Deny", "Action": ["*"], "Resource": ["*"]}
    broken = _with_statement(kit, dev_views, EXEC_POLICY, statement)
    assert kit.run(broken, "IAM-001") == []
    assert kit.run(broken, "IAM-004") == []


def test_wildcard_action_in_a_role_inline_policy(kit, dev_views):
    inline = [{"name": "inline", "policy": json.dumps({"Statement": [{"Sid": "Inline", "Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/t"}]})}]
    broken = kit.replace(dev_views, "role-api-gateway-task-dev", update={"inlinePolicies": inline})
    violations = kit.run(broken, "IAM-001")
    kit.expect(violations, "IAM-001", "role-api-gateway-task-dev", "'dynamodb:*'")
    assert kit.resources(violations) == {"role-api-gateway-task-dev"}


# --- IAM-002 --------------------------------------------------------------------------------


def test_scopable_action_on_every_resource(kit, dev_views):
    statement = {"Sid": "ReadAnyBucket", "Effect": "Allow", "Action": ["s3:GetObject", "ecr:GetAuthorizationToken"], "Resource": "*"}
    violations = kit.run(_with_statement(kit, dev_views, EXEC_POLICY, statement), "IAM-002")
    v = kit.expect(violations, "IAM-002", EXEC_POLICY, "statement 'ReadAnyBucket' grants s3:GetObject on '*'", "scope it to the ARNs it needs")
    assert "GetAuthorizationToken" not in v.message  # that one AWS cannot scope
    assert kit.resources(violations) == {EXEC_POLICY}


def test_unscopable_actions_on_every_resource_pass(kit, dev_views):
    """The clean execution policies grant ecr:GetAuthorizationToken on '*' and pass."""
    doc = kit.view(dev_views, EXEC_POLICY).json_prop("policy")
    assert any(s.get("Resource") == "*" for s in doc["Statement"])
    statement = {"Sid": "Metrics", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData", "xray:PutTraceSegments"], "Resource": ["*"]}
    assert kit.run(_with_statement(kit, dev_views, EXEC_POLICY, statement), "IAM-002") == []


def test_scopable_action_on_every_resource_in_a_standalone_policy(kit, dev_views):
    policy = ResourceView(
        type=t.POLICY,
        name="policy-reader-dev",
        props={"name": "policy-reader-dev", "policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})},
    )
    violations = kit.run(kit.add(dev_views, policy), "IAM-002")
    kit.expect(violations, "IAM-002", "policy-reader-dev", "grants secretsmanager:GetSecretValue on '*'")


# --- IAM-003 --------------------------------------------------------------------------------


def _point_roles(kit, views, task, **roles):
    deps = {**kit.view(views, task).property_dependencies, **{k: (v,) if v else () for k, v in roles.items()}}
    return kit.replace(views, task, property_dependencies=deps)


def test_task_role_is_the_execution_role(kit, dev_views):
    broken = _point_roles(kit, dev_views, "td-processing-service-dev", taskRoleArn="role-processing-service-execution-dev")
    violations = kit.run(broken, "IAM-003")
    kit.expect(violations, "IAM-003", "td-processing-service-dev", "the task role and the execution role are the same role", "use two roles")
    assert kit.resources(violations) == {"td-processing-service-dev"}


def test_role_shared_between_services(kit, dev_views):
    broken = _point_roles(kit, dev_views, "td-frontend-blue-dev", executionRoleArn="role-api-gateway-execution-dev")
    violations = kit.run(broken, "IAM-003")
    kit.expect(violations, "IAM-003", "role-api-gateway-execution-dev", "shared by services api-gateway, frontend", "each service needs its own roles")
    assert kit.resources(violations) == {"role-api-gateway-execution-dev"}


def test_blue_and_green_share_their_service_roles(kit, dev_views):
    """Both colours of one service use the service's roles: that is not sharing between services."""
    blue, green = kit.view(dev_views, "td-frontend-blue-dev"), kit.view(dev_views, "td-frontend-green-dev")
    assert blue.depends_on("taskRoleArn") == green.depends_on("taskRoleArn") == ("role-frontend-task-dev",)
    assert kit.run(dev_views, "IAM-003") == []


@pytest.mark.parametrize("prop", ["taskRoleArn", "executionRoleArn"])
def test_role_outside_the_stack(kit, dev_views, prop):
    broken = _point_roles(kit, dev_views, "td-api-gateway-green-dev", **{prop: None})
    violations = kit.run(broken, "IAM-003")
    kit.expect(violations, "IAM-003", "td-api-gateway-green-dev", f"{prop} is not a role of this stack", "its own")
    assert kit.resources(violations) == {"td-api-gateway-green-dev"}


# --- IAM-004 --------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["AdministratorAccess", "PowerUserAccess", "IAMFullAccess"])
def test_admin_policy_attachment(kit, dev_views, policy):
    attachment = ResourceView(
        type=t.ROLE_POLICY_ATTACHMENT,
        name="attach-admin-dev",
        props={"role": "role-frontend-task-dev", "policyArn": f"arn:aws:iam::aws:policy/{policy}"},
        property_dependencies={"role": ("role-frontend-task-dev",)},
    )
    violations = kit.run(kit.add(dev_views, attachment), "IAM-004")
    kit.expect(violations, "IAM-004", "attach-admin-dev", f"attaches {policy}", "attach a least-privilege policy instead")
    assert kit.resources(violations) == {"attach-admin-dev"}


def test_least_privilege_attachment_passes(kit, dev_views):
    attachment = ResourceView(
        type=t.ROLE_POLICY_ATTACHMENT,
        name="attach-readonly-dev",
        props={"role": "role-frontend-task-dev", "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"},
    )
    assert kit.run(kit.add(dev_views, attachment), "IAM-004") == []


def test_admin_managed_policy_on_a_role(kit, dev_views):
    broken = kit.replace(dev_views, "role-frontend-task-dev", update={"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]})
    violations = kit.run(broken, "IAM-004")
    kit.expect(violations, "IAM-004", "role-frontend-task-dev", "managedPolicyArns includes AdministratorAccess", "remove it")
    assert kit.resources(violations) == {"role-frontend-task-dev"}


def test_inline_administrator_statement(kit, dev_views):
    statement = {"Sid": "God", "Effect": "Allow", "Action": "*", "Resource": "*"}
    violations = kit.run(_with_statement(kit, dev_views, EXEC_POLICY, statement), "IAM-004")
    kit.expect(violations, "IAM-004", EXEC_POLICY, "inline administrator statement (Action * on Resource *)", "remove it")
    assert kit.resources(violations) == {EXEC_POLICY}
