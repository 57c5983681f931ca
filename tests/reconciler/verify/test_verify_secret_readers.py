"""Who may read a secret: the roles the live task definitions name, the secret's own resource policy,
and policy statements written with NotAction / NotResource; never passed when the roles are unknown.

moto cannot simulate IAM policies, so these run the policy-document reading the check falls back to.
"""

from __future__ import annotations

import json

from test_verify_broken import _register_revision, failed, only_failures

from reconciler.verify.run import verify_environment
from reconciler.verify.seams import Timing

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _short(layout, secret):
    return layout.outputs["secretArns"][secret].rsplit(":", 1)[-1]


def _policy(layout, undo, role, statement):
    iam = layout.client("iam")
    iam.put_role_policy(RoleName=role, PolicyName="odd", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    undo(lambda: iam.delete_role_policy(RoleName=role, PolicyName="odd"))


def test_a_task_definition_naming_a_role_outside_the_stack(layout, run_verify, undo):
    iam = layout.client("iam")
    admin = iam.create_role(RoleName="role-frontend-admin-dev", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    undo(lambda: iam.delete_role(RoleName="role-frontend-admin-dev"))
    _policy(layout, undo, "role-frontend-admin-dev", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    registered, restore = _register_revision(layout, "frontend-blue", lambda c: c)
    undo(restore)
    ecs = layout.client("ecs")
    definition = ecs.describe_task_definition(taskDefinition=registered)["taskDefinition"]
    keep = ("family", "cpu", "memory", "networkMode", "requiresCompatibilities", "runtimePlatform", "executionRoleArn", "volumes")
    admin_revision = ecs.register_task_definition(containerDefinitions=definition["containerDefinitions"], taskRoleArn=admin,
                                                  **{k: definition[k] for k in keep if k in definition})["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=layout.outputs["clusterArn"], service=layout.outputs["serviceArns"]["frontend-blue"], taskDefinition=admin_revision)

    report = run_verify(groups=["secrets"])

    for secret in ("db-credentials", "api-keys"):
        check = failed(report, f"secrets.{_short(layout, secret)}.readers")
        assert list(check.evidence["unexpected"]) == ["frontend:task:role-frontend-admin-dev"]
        assert check.evidence["unexpected"]["frontend:task:role-frontend-admin-dev"]["role"] == admin


def test_a_resource_policy_letting_anyone_read_the_secret(layout, run_verify, undo):
    secrets = layout.client("secretsmanager")
    arn = layout.outputs["secretArns"]["db-credentials"]
    statement = {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
    secrets.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    undo(lambda: secrets.delete_resource_policy(SecretId=arn))

    report = run_verify(groups=["secrets"])

    check = failed(report, f"secrets.{_short(layout, 'db-credentials')}.readers")
    assert list(check.evidence["unexpected"]) == ["resource-policy:*"]
    assert check.evidence["unexpected"]["resource-policy:*"]["statement"] == statement
    assert only_failures(report) == [f"secrets.{_short(layout, 'db-credentials')}.readers"]


def test_a_resource_policy_naming_the_execution_role_passes(layout, run_verify, undo):
    secrets = layout.client("secretsmanager")
    arn = layout.outputs["secretArns"]["db-credentials"]
    reader = layout.outputs["executionRoleArns"]["processing-service"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": reader}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:DeleteSecret", "Resource": "*"},
    ]}
    secrets.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(policy))
    undo(lambda: secrets.delete_resource_policy(SecretId=arn))

    report = run_verify(groups=["secrets"])
    assert report.failures == [] and report.passed


def test_an_allow_with_not_action_reads_every_secret(layout, run_verify, undo):
    _policy(layout, undo, "role-frontend-task-dev", {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})

    report = run_verify(groups=["secrets"])

    for secret in ("db-credentials", "api-keys"):
        check = failed(report, f"secrets.{_short(layout, secret)}.readers")
        assert list(check.evidence["unexpected"]) == ["frontend:task"]


def test_an_allow_with_not_resource_reads_the_secrets_it_does_not_name(layout, run_verify, undo):
    other = layout.outputs["secretArns"]["api-keys"]
    _policy(layout, undo, "role-api-gateway-task-dev", {"Effect": "Allow", "Action": "secretsmanager:Get*", "NotResource": other})

    report = run_verify(groups=["secrets"])

    check = failed(report, f"secrets.{_short(layout, 'db-credentials')}.readers")
    assert list(check.evidence["unexpected"]) == ["api-gateway:task"]
    assert only_failures(report) == [f"secrets.{_short(layout, 'db-credentials')}.readers"]


def test_a_not_action_that_excludes_the_read_grants_nothing(layout, run_verify, undo):
    _policy(layout, undo, "role-frontend-task-dev", {"Effect": "Allow", "NotAction": ["secretsmanager:*", "iam:*"], "Resource": "*"})
    assert run_verify(groups=["secrets"]).passed


def test_missing_role_outputs_fail_the_reader_checks(layout, dev_state, fake_time):
    outputs = {k: v for k, v in layout.outputs.items() if k not in ("executionRoleArns", "taskRoleArns")}
    report = verify_environment(environment="dev", outputs=outputs, desired=dev_state, traffic=None, clients=layout.clients(),
                                timing=Timing(monotonic=fake_time.monotonic, sleep=fake_time.sleep), groups=["secrets"])

    check = failed(report, f"secrets.{_short(layout, 'db-credentials')}.readers")
    assert check.evidence["missingOutputs"] == ["executionRoleArns", "taskRoleArns"]
    assert "re-run the converge" in check.detail
    assert report.summary().status == "failed"


def test_zz_the_account_is_whole_again(run_verify):
    report = run_verify(groups=["secrets"])
    assert report.failures == [] and report.passed
