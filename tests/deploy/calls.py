"""Record the AWS API calls code makes through the clients it is handed, as IAM actions.

A :class:`CallRecorder` wraps each client at the seam where the code receives it (``AwsClients``,
the rollout observer's and executor's clients, the drift probe's ``ec2``/``iam``). Every method the
client's botocore service model names is recorded as ``<IAM prefix>:<Operation>`` with its request
parameters, then passed on; paginators record the operation they page. The operation's name is the
one botocore's ``before-call`` event carries (``meta.method_to_api_mapping``), the IAM prefix the
service model's signing name (``elasticloadbalancing`` for elbv2, ``logs``), mapped where IAM differs
(CloudWatch signs as ``monitoring``, the tagging API as ``tagging``).

Why at the seam and not as a ``before-call`` handler on the session: the test doubles of the layouts
answer some calls themselves (moto runs no ECS task, so ``ecs:ListTasks``/``ecs:DescribeTasks`` never
reach botocore), and the doubles' own reads (the HTTP double reads the listeners) and the fixtures'
set-up calls would be counted as the code's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# botocore signing name -> IAM service prefix, where they differ.
IAM_PREFIX = {"monitoring": "cloudwatch", "tagging": "tag"}


@dataclass(frozen=True)
class Call:
    action: str  # <IAM prefix>:<Operation>, e.g. ecs:DescribeTasks
    params: dict[str, Any]


@dataclass
class Calls:
    """What one code path called, in order."""

    made: list[Call] = field(default_factory=list)

    @property
    def actions(self) -> set[str]:
        return {call.action for call in self.made}


def _service_model(client: Any) -> Any:
    return client.meta.service_model


def iam_prefix(client: Any) -> str:
    signing = _service_model(client).signing_name
    return IAM_PREFIX.get(signing, signing)


class CallRecorder:
    """A client (or a test's double of one) whose API calls are recorded in ``calls`` before they run."""

    def __init__(self, client: Any, calls: Calls):
        self._client, self._calls = client, calls
        self._prefix = iam_prefix(client)
        self._operations: dict[str, str] = dict(client.meta.method_to_api_mapping)

    def _record(self, method: str, params: dict[str, Any]) -> None:
        self._calls.made.append(Call(f"{self._prefix}:{self._operations[method]}", dict(params)))

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if name == "get_paginator":
            return lambda method: _RecordedPaginator(target(method), lambda params: self._record(method, params))
        if name in self._operations:
            def call(*args: Any, **params: Any) -> Any:
                self._record(name, params)
                return target(*args, **params)

            return call
        return target


class _RecordedPaginator:
    def __init__(self, paginator: Any, record: Any):
        self._paginator, self._record = paginator, record

    def paginate(self, **params: Any) -> Any:
        self._record(params)
        return self._paginator.paginate(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._paginator, name)


# --------------------------------------------------------------------------- what IAM authorises a call on


@dataclass(frozen=True)
class Request:
    """One authorisation IAM makes for a call: the action, the resource ARN (``*`` where the action has no
    resource type) and the condition keys the request carries that the template's statements test."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


class UnknownResource(LookupError):
    """The call's action is not in :data:`RESOURCES`: this module cannot say what IAM authorises it on."""


# Actions the Service Authorization Reference lists with no resource type: only Resource "*" grants them.
NO_RESOURCE_TYPE = ("ec2:Describe*", "elasticloadbalancing:Describe*", "tag:GetResources", "ecs:DescribeTaskDefinition",
                    "ecs:ListTaskDefinitions", "application-autoscaling:Describe*", "application-autoscaling:RegisterScalableTarget",
                    "logs:DescribeLogGroups", "sts:GetCallerIdentity")


@dataclass(frozen=True)
class Account:
    region: str
    account: str
    role_arns: dict[str, str] = field(default_factory=dict)  # role name -> ARN (the role's path is not in the request)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


def _last(value: str) -> str:
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def _cluster_arn(at: Account, params: dict[str, Any]) -> str:
    cluster = params.get("cluster", "default")
    return cluster if cluster.startswith("arn:") else at.arn("ecs", f"cluster/{cluster}")


def _ecs_services(at: Account, p: dict[str, Any], key: str) -> list[Request]:
    cluster = _last(_cluster_arn(at, p))
    names = p[key] if isinstance(p[key], list) else [p[key]]
    return [Request("", n if n.startswith("arn:") else at.arn("ecs", f"service/{cluster}/{n}")) for n in names]


def _ecs_tasks(at: Account, p: dict[str, Any]) -> list[Request]:
    cluster = _cluster_arn(at, p)
    return [Request("", t if t.startswith("arn:") else at.arn("ecs", f"task/{_last(cluster)}/{t}"), (("ecs:cluster", cluster),)) for t in p["tasks"]]


def _role(at: Account, p: dict[str, Any]) -> list[Request]:
    name = p["RoleName"]
    return [Request("", at.role_arns.get(name, f"arn:aws:iam::{at.account}:role/{name}"))]


def _secret(at: Account, p: dict[str, Any]) -> list[Request]:
    secret = p["SecretId"]
    return [Request("", secret if secret.startswith("arn:") else at.arn("secretsmanager", f"secret:{secret}-??????"))]


def _table(at: Account, p: dict[str, Any]) -> list[Request]:
    return [Request("", at.arn("dynamodb", f"table/{p['TableName']}"))]


_TRANSACTION_ITEM = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
                     "ConditionCheck": "dynamodb:ConditionCheckItem", "Get": "dynamodb:GetItem"}


def _transaction(at: Account, p: dict[str, Any]) -> list[Request]:
    """A transaction is authorised item by item, as the item's own action (there is no TransactWriteItems action)."""
    return [Request(_TRANSACTION_ITEM[kind], at.arn("dynamodb", f"table/{item['TableName']}")) for entry in p["TransactItems"] for kind, item in entry.items()]


def _alarms(at: Account, p: dict[str, Any]) -> list[Request]:
    return [Request("", at.arn("cloudwatch", f"alarm:{name}")) for name in p.get("AlarmNames") or []] or [Request("", "*")]


def _queue(at: Account, p: dict[str, Any]) -> list[Request]:
    """https://sqs.<region>.amazonaws.com/<account>/<name> -> arn:aws:sqs:<region>:<account>:<name>."""
    return [Request("", at.arn("sqs", p["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]))]


# action -> the resources (and condition keys) of its request. A Request whose action is "" is the call's own.
RESOURCES: dict[str, Any] = {
    "ecs:DescribeServices": lambda at, p: _ecs_services(at, p, "services"),
    "ecs:UpdateService": lambda at, p: _ecs_services(at, p, "service"),
    "ecs:DescribeTasks": _ecs_tasks,
    # ListTasks by cluster and service: no task resource yet; the ecs:cluster key scopes it.
    "ecs:ListTasks": lambda at, p: [Request("", "*", (("ecs:cluster", _cluster_arn(at, p)),))],
    "iam:SimulatePrincipalPolicy": lambda at, p: [Request("", p["PolicySourceArn"])],
    "iam:GetRole": _role,
    "iam:GetRolePolicy": _role,
    "iam:ListRolePolicies": _role,
    "iam:ListAttachedRolePolicies": _role,
    "logs:FilterLogEvents": lambda at, p: [Request("", at.arn("logs", f"log-group:{p['logGroupName']}"))],
    "logs:DescribeLogStreams": lambda at, p: [Request("", at.arn("logs", f"log-group:{p['logGroupName']}"))],
    "ec2:GetManagedPrefixListEntries": lambda at, p: [Request("", at.arn("ec2", f"prefix-list/{p['PrefixListId']}"))],
    "ecs:DescribeClusters": lambda at, p: [Request("", c if c.startswith("arn:") else at.arn("ecs", f"cluster/{c}")) for c in p.get("clusters", ["default"])],
    "secretsmanager:DescribeSecret": _secret,
    "secretsmanager:GetResourcePolicy": _secret,
    "servicediscovery:GetService": lambda at, p: [Request("", at.arn("servicediscovery", f"service/{p['Id']}"))],
    "ecr:DescribeImageScanFindings": lambda at, p: [Request("", at.arn("ecr", f"repository/{p['repositoryName']}"))],
    "ecr:DescribeImages": lambda at, p: [Request("", at.arn("ecr", f"repository/{p['repositoryName']}"))],
    "elasticloadbalancing:ModifyListener": lambda at, p: [Request("", p["ListenerArn"])],
    "elasticloadbalancing:ModifyRule": lambda at, p: [Request("", p["RuleArn"])],
    "cloudwatch:DescribeAlarms": _alarms,
    "dynamodb:GetItem": _table,
    "dynamodb:PutItem": _table,
    "dynamodb:UpdateItem": _table,
    "dynamodb:DeleteItem": _table,
    "dynamodb:Query": _table,
    "dynamodb:Scan": _table,
    "dynamodb:TransactWriteItems": _transaction,
    "sqs:SendMessage": _queue,
    "sqs:ReceiveMessage": _queue,
    "sqs:DeleteMessage": _queue,
    "sqs:ChangeMessageVisibility": _queue,
    "sqs:GetQueueAttributes": _queue,
}


def requests_of(call: Call, at: Account) -> list[Request]:
    """What IAM authorises ``call`` on; :class:`UnknownResource` for an action this module has not been told about."""
    import fnmatch

    if any(fnmatch.fnmatchcase(call.action, pattern) for pattern in NO_RESOURCE_TYPE):
        return [Request(call.action, "*")]
    derive = RESOURCES.get(call.action)
    if derive is None:
        raise UnknownResource(call.action)
    return [Request(r.action or call.action, r.resource, r.context) for r in derive(at, call.params)]
