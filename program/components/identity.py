"""Per-service IAM: a task execution role and a task role, least privilege.

The execution role may pull only its own repository, write only its own log group and read
only the secrets its service declares. ``ecr:GetAuthorizationToken`` is the one action AWS does
not allow to be scoped to a resource, so it is the one ``"Resource": "*"``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from desired_state.naming import ROLE_PATH, name
from program.components.trust import service_trust_policy

ECR_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
LOG_WRITE_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]


def ecs_tasks_trust_policy(account_id: str, region: str) -> str:
    """Only ECS tasks of this account and region may assume the role."""
    return service_trust_policy("ecs-tasks.amazonaws.com", account_id, f"arn:aws:ecs:{region}:{account_id}:*")


def execution_policy(repository_arn: str, log_group_arn: str, secret_arns: Sequence[str], kms_key_arn: str | None) -> str:
    statements: list[dict[str, object]] = [
        {"Sid": "EcrAuthTokenIsAccountWide", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {"Sid": "PullOwnRepository", "Effect": "Allow", "Action": ECR_PULL_ACTIONS, "Resource": [repository_arn]},
        {"Sid": "WriteOwnLogGroup", "Effect": "Allow", "Action": LOG_WRITE_ACTIONS, "Resource": [f"{log_group_arn}:log-stream:*"]},
    ]
    if secret_arns:
        statements.append(
            {"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": sorted(secret_arns)}
        )
    if kms_key_arn:
        statements.append({"Sid": "DecryptOwnImages", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [kms_key_arn]})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


@dataclass(frozen=True)
class IdentityArgs:
    suffix: str
    service: str
    region: str
    account_id: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    log_group_arn: pulumi.Input[str]
    secret_arns: Sequence[pulumi.Input[str]]
    registry_kms_key_arn: str | None
    # The managed policy every role must carry (template.yaml's PlatformRoleBoundary): the deploy policy
    # refuses iam:CreateRole without it, and it caps what any inline policy can grant.
    permissions_boundary_arn: str | None = None


class ServiceIdentity(pulumi.ComponentResource):
    execution_role: aws.iam.Role
    task_role: aws.iam.Role

    def __init__(self, resource_name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ecs-gitops:platform:ServiceIdentity", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        trust = pulumi.Output.from_input(args.account_id).apply(lambda account: ecs_tasks_trust_policy(account, args.region))

        execution_name = name("role", args.suffix, args.service, "execution")
        self.execution_role = aws.iam.Role(
            execution_name,
            name=execution_name,
            description=f"ECS task execution role of {args.service} ({args.suffix})",
            path=ROLE_PATH,
            assume_role_policy=trust,
            permissions_boundary=args.permissions_boundary_arn,
            opts=child,
        )
        aws.iam.RolePolicy(
            name("policy", args.suffix, args.service, "execution"),
            name=name("policy", args.suffix, args.service, "execution"),
            role=self.execution_role.id,
            policy=pulumi.Output.all(args.repository_arn, args.log_group_arn, *args.secret_arns).apply(
                lambda values: execution_policy(values[0], values[1], values[2:], args.registry_kms_key_arn)
            ),
            opts=child,
        )

        # The application itself gets no AWS permissions until a service declares it needs some.
        task_name = name("role", args.suffix, args.service, "task")
        self.task_role = aws.iam.Role(
            task_name,
            name=task_name,
            description=f"ECS task role of {args.service} ({args.suffix}); no permissions by default",
            path=ROLE_PATH,
            assume_role_policy=trust,
            permissions_boundary=args.permissions_boundary_arn,
            opts=child,
        )
        self.register_outputs({"executionRoleArn": self.execution_role.arn, "taskRoleArn": self.task_role.arn})
