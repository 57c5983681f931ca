"""IAM: no wildcard actions, no wildcard resources where AWS allows scoping, one pair of roles per service."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from policies import aws_types as t
from policies.model import Finding, ResourceView, Stack
from policies.rules import rule

# Actions AWS does not let a policy scope to a resource; "Resource": "*" is the only option.
UNSCOPABLE_ACTIONS = frozenset(
    {
        "ecr:getauthorizationtoken",
        "sts:getcalleridentity",
        "logs:describeloggroups",
        "secretsmanager:listsecrets",
        "secretsmanager:getrandompassword",
        "cloudwatch:putmetricdata",
        "xray:puttracesegments",
        "xray:puttelemetryrecords",
        "ec2:describenetworkinterfaces",
        "ssmmessages:createcontrolchannel",
        "ssmmessages:createdatachannel",
        "ssmmessages:openchannel",
        "ssmmessages:opendatachannel",
    }
)
ADMIN_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, dict)]


def _policy_documents(stack: Stack) -> Iterator[tuple[ResourceView, dict[str, Any]]]:
    for resource in stack.of_type(t.ROLE_POLICY, t.POLICY):
        yield from ((resource, s) for s in _statements(resource.json_prop("policy")))
    for role in stack.of_type(t.ROLE):
        for inline in role.props.get("inlinePolicies") or []:
            if isinstance(inline, dict):
                try:
                    yield from ((role, s) for s in _statements(json.loads(inline.get("policy") or "{}")))
                except json.JSONDecodeError:
                    continue


@rule("IAM-001", "mandatory", "No policy allows a wildcard action")
def no_wildcard_actions(stack: Stack) -> Iterator[Finding]:
    for resource, statement in _policy_documents(stack):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            yield Finding(resource.name, f"statement {statement.get('Sid', '')!r} uses NotAction; list the allowed actions instead")
        for action in _as_list(statement.get("Action")):
            if action == "*" or str(action).endswith(":*"):
                yield Finding(resource.name, f"statement {statement.get('Sid', '')!r} allows {action!r}; name the exact actions needed")


@rule("IAM-002", "mandatory", "No wildcard resource for actions that AWS lets you scope")
def no_wildcard_resources(stack: Stack) -> Iterator[Finding]:
    for resource, statement in _policy_documents(stack):
        if statement.get("Effect") != "Allow" or "*" not in _as_list(statement.get("Resource")):
            continue
        scopable = [a for a in _as_list(statement.get("Action")) if str(a).lower() not in UNSCOPABLE_ACTIONS]
        if scopable:
            yield Finding(
                resource.name,
                f"statement {statement.get('Sid', '')!r} grants {', '.join(map(str, scopable))} on '*'; scope it to the ARNs it needs",
            )


@rule("IAM-003", "mandatory", "Each service has its own task role and execution role, and they differ")
def distinct_roles_per_service(stack: Stack) -> Iterator[Finding]:
    used_by: dict[str, set[str]] = defaultdict(set)
    for task in stack.of_type(t.TASK_DEFINITION):
        service = task.tag("service") or task.name
        execution = {r.name for r in stack.referenced(task, "executionRoleArn", t.ROLE)}
        task_role = {r.name for r in stack.referenced(task, "taskRoleArn", t.ROLE)}
        if not execution:
            yield Finding(task.name, "executionRoleArn is not a role of this stack; give the service its own execution role")
        if not task_role:
            yield Finding(task.name, "taskRoleArn is not a role of this stack; give the service its own task role")
        if execution & task_role:
            yield Finding(task.name, "the task role and the execution role are the same role; use two roles")
        for role in execution | task_role:
            used_by[role].add(service)
    for role, services in sorted(used_by.items()):
        if len(services) > 1:
            yield Finding(role, f"shared by services {', '.join(sorted(services))}; each service needs its own roles")


@rule("IAM-004", "mandatory", "No administrator or power-user policy is attached")
def no_admin_policies(stack: Stack) -> Iterator[Finding]:
    for attachment in stack.of_type(t.ROLE_POLICY_ATTACHMENT):
        arn = str(attachment.props.get("policyArn", ""))
        if arn.rsplit("/", 1)[-1] in ADMIN_MANAGED_POLICIES:
            yield Finding(attachment.name, f"attaches {arn.rsplit('/', 1)[-1]}; attach a least-privilege policy instead")
    for role in stack.of_type(t.ROLE):
        for arn in role.props.get("managedPolicyArns") or []:
            if str(arn).rsplit("/", 1)[-1] in ADMIN_MANAGED_POLICIES:
                yield Finding(role.name, f"managedPolicyArns includes {str(arn).rsplit('/', 1)[-1]}; remove it")
    for resource, statement in _policy_documents(stack):
        if statement.get("Effect") == "Allow" and "*" in _as_list(statement.get("Action")) and "*" in _as_list(statement.get("Resource")):
            yield Finding(resource.name, "an inline administrator statement (Action * on Resource *); remove it")
