"""Task definitions: exact sizes, Fargate-valid pairs, logs, secrets, and the ECS API schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from desired_state.schema import FARGATE_TASK_SIZES
from policies import aws_types as t
from policies.credentials import credential_reason
from policies.model import Finding, ResourceView, Stack
from policies.rules import rule

# The platform spec's task sizes: (CPU units, memory MiB) per service.
SPEC_TASK_SIZES: dict[str, tuple[int, int]] = {
    "frontend": (512, 1024),
    "api-gateway": (1024, 2048),
    "processing-service": (2048, 4096),
}
REQUIRED_LOG_RETENTION_DAYS = 30

def _service_of(task: ResourceView) -> str | None:
    return task.tag("service")


def _containers(task: ResourceView) -> list[dict[str, Any]]:
    parsed = task.json_prop("containerDefinitions")
    return [c for c in parsed if isinstance(c, dict)] if isinstance(parsed, list) else []


def _as_int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


@rule("TASK-001", "mandatory", "Task sizes are exactly the spec's per service (512/1024, 1024/2048, 2048/4096)")
def spec_task_sizes(stack: Stack) -> Iterator[Finding]:
    for task in stack.of_type(t.TASK_DEFINITION):
        service = _service_of(task)
        if service not in SPEC_TASK_SIZES:
            yield Finding(task.name, f"tag 'service' is {service!r}; tag every task definition with one of {', '.join(SPEC_TASK_SIZES)}")
            continue
        cpu, memory = SPEC_TASK_SIZES[service]
        actual = (_as_int(task.props.get("cpu")), _as_int(task.props.get("memory")))
        if actual != (cpu, memory):
            yield Finding(
                task.name,
                f"cpu/memory is {actual[0]}/{actual[1]}; the spec fixes {service} at {cpu} CPU units / {memory} MiB",
            )


@rule("TASK-002", "mandatory", "Task cpu/memory is a pair Fargate accepts")
def fargate_valid_size(stack: Stack) -> Iterator[Finding]:
    for task in stack.of_type(t.TASK_DEFINITION):
        cpu, memory = _as_int(task.props.get("cpu")), _as_int(task.props.get("memory"))
        allowed = FARGATE_TASK_SIZES.get(cpu or -1)
        if allowed is None or memory not in allowed:
            yield Finding(task.name, f"cpu {cpu} with memory {memory} MiB is not a Fargate task size; see the Fargate task size table")
        if "FARGATE" not in (task.props.get("requiresCompatibilities") or []):
            yield Finding(task.name, "requiresCompatibilities lacks FARGATE; set it to ['FARGATE']")


@rule("LOGS-001", "mandatory", "Every container logs with awslogs and a stream prefix to a 30-day log group of the stack")
def container_logging(stack: Stack) -> Iterator[Finding]:
    groups = {g.props.get("name"): g for g in stack.of_type(t.LOG_GROUP)}
    for task in stack.of_type(t.TASK_DEFINITION):
        for container in _containers(task):
            where = f"container '{container.get('name')}'"
            config = container.get("logConfiguration") or {}
            options = config.get("options") or {}
            if config.get("logDriver") != "awslogs":
                yield Finding(task.name, f"{where}: logConfiguration.logDriver is {config.get('logDriver')!r}; use awslogs")
                continue
            if not options.get("awslogs-stream-prefix"):
                yield Finding(task.name, f"{where}: no awslogs-stream-prefix; set one so streams say which service wrote them")
            group = groups.get(options.get("awslogs-group"))
            service = _service_of(task)
            if group is not None and group.tag("service") not in (None, service):
                yield Finding(
                    task.name,
                    f"{where}: logs to {group.name}, the log group of {group.tag('service')}; each service writes only to its own group",
                )
            if group is None:
                yield Finding(
                    task.name,
                    f"{where}: awslogs-group {options.get('awslogs-group')!r} is not a log group of this stack; point it at the service's own group",
                )
            elif _as_int(group.props.get("retentionInDays")) != REQUIRED_LOG_RETENTION_DAYS:
                yield Finding(task.name, f"{where}: its log group {group.name} keeps logs {group.props.get('retentionInDays')} days, not 30")


@rule("LOGS-002", "mandatory", "Each service has its own log group with 30-day retention")
def service_log_groups(stack: Stack) -> Iterator[Finding]:
    services = {_service_of(task) for task in stack.of_type(t.TASK_DEFINITION)}
    groups = {g.tag("service"): g for g in stack.of_type(t.LOG_GROUP) if g.tag("service")}
    for service in sorted(s for s in services if s):
        group = groups.get(service)
        if group is None:
            yield Finding(service, f"service {service} has no log group tagged service={service}; create one")
        elif _as_int(group.props.get("retentionInDays")) != REQUIRED_LOG_RETENTION_DAYS:
            yield Finding(group.name, f"retentionInDays is {group.props.get('retentionInDays')}; set it to 30")


@rule("SECRET-001", "mandatory", "Secrets reach containers only through `secrets` with Secrets Manager ARNs")
def secrets_by_arn(stack: Stack) -> Iterator[Finding]:
    for task in stack.of_type(t.TASK_DEFINITION):
        for container in _containers(task):
            for secret in container.get("secrets") or []:
                value_from = str(secret.get("valueFrom", ""))
                if not value_from.startswith("arn:aws:secretsmanager:"):
                    # The value itself is never quoted: it may be the secret, pasted in by mistake.
                    yield Finding(
                        task.name,
                        f"container '{container.get('name')}': secret {secret.get('name')}: valueFrom is not a Secrets Manager ARN; "
                        "reference the secret by its ARN",
                    )


@rule(
    "SECRET-002",
    "mandatory",
    "No environment value looks like a credential (the heuristic is desired_state.credentials, shared with the "
    "loader and the redactor). By name (whole words split on _ - . and camel case, trailing numbers and OLD/NEW dropped): "
    "PASSWORD, PASSWD, PASS, PWD, PASSPHRASE, PASSCODE, SECRET(S), TOKEN or *TOKEN, CREDENTIAL(S), CREDS, DSN, AUTH, "
    "AUTHORIZATION, BEARER, COOKIE, SALT, PEPPER, CONNECTION_STRING, ACCESS_KEY_ID, KEY, and any *_KEY except public and "
    "data keys (PUBLIC_KEY, PARTITION_KEY, SORT_KEY, CACHE_KEY, ROUTING_KEY, KMS_KEY, ...); not a name whose last word "
    "describes the credential (TOKEN_TTL_SECONDS, PASSWORD_MIN_LENGTH, PUBLIC_KEY_URL, AUTH_URL, SECRET_ARN, *_FILE). "
    "KEYCLOAK_URL holds no KEY word. By value, whatever the name: AWS access key ids (AKIA/ASIA), an AWS secret access "
    "key after its key, PEM private keys, GitHub (ghp_, github_pat_), GitLab (glpat-) and Slack tokens, JWTs, "
    "user:password@ in a URL (a '/' in the password included; host:port/path@ is none), a value assigned to a "
    "credential-named key (password= in a connection string, tokens in a URL query, Authorization: ...), "
    "Bearer/Basic credentials, long high-entropy strings. "
    "Empty values pass. Messages never quote the value.",
)
def no_credentials_in_environment(stack: Stack) -> Iterator[Finding]:
    for task in stack.of_type(t.TASK_DEFINITION):
        for container in _containers(task):
            for variable in container.get("environment") or []:
                name, value = str(variable.get("name", "")), str(variable.get("value", ""))
                reason = credential_reason(name, value)
                if reason:
                    yield Finding(
                        task.name,
                        f"container '{container.get('name')}': environment variable {name}: {reason}; "
                        "move it to Secrets Manager and inject it through `secrets`",
                    )


@lru_cache(maxsize=1)
def _register_task_definition_shape() -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model("ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape


def register_task_definition_params(task: ResourceView) -> dict[str, Any]:
    """The RegisterTaskDefinition request the provider would send for this resource."""
    params: dict[str, Any] = {
        "family": task.props.get("family", task.name),
        "containerDefinitions": task.json_prop("containerDefinitions"),
    }
    for key in ("cpu", "memory", "networkMode", "executionRoleArn", "taskRoleArn", "requiresCompatibilities"):
        if task.props.get(key) is not None:
            params[key] = task.props[key]
    if task.props.get("runtimePlatform"):
        params["runtimePlatform"] = task.props["runtimePlatform"]
    if task.props.get("volumes"):
        params["volumes"] = [{"name": v.get("name")} for v in task.props["volumes"]]
    return params


@rule("TASK-003", "mandatory", "Task definitions pass the ECS API's RegisterTaskDefinition schema")
def ecs_api_schema(stack: Stack) -> Iterator[Finding]:
    from botocore.validate import ParamValidator

    shape = _register_task_definition_shape()
    for task in stack.of_type(t.TASK_DEFINITION):
        params = register_task_definition_params(task)
        if not isinstance(params["containerDefinitions"], list):
            yield Finding(task.name, "containerDefinitions is not a JSON list of container definitions")
            continue
        report = ParamValidator().validate(params, shape)
        if report.has_errors():
            for line in report.generate_report().splitlines():
                yield Finding(task.name, f"ECS would reject RegisterTaskDefinition: {line.strip()}")


def _receivers(secret: ResourceView) -> set[str]:
    return set((secret.tag(t.SECRET_RECEIVERS_TAG) or "").split())


def _secret_label(stack: Stack, secret: ResourceView) -> str:
    """The desired-state name of a secret (``secret-<name>-<suffix>``), as the person fixing it writes it."""
    physical = str(secret.props.get("name") or secret.name)
    stem = physical.removeprefix("secret-")
    suffix = f"-{stack.context.environment_suffix}"
    return stem.removesuffix(suffix) if stem != physical and stem.endswith(suffix) else physical


def _secret_by_arn(secrets: list[ResourceView], arn: str) -> ResourceView | None:
    """The stack's secret an ARN (possibly with ``:json-key::``) points at: ``...:secret:<name>-<6 chars>``."""
    matches = [s for s in secrets if s.props.get("name") and re.search(rf":secret:{re.escape(str(s.props['name']))}(-[A-Za-z0-9]{{6}})?(:|$)", arn)]
    return max(matches, key=lambda s: len(str(s.props["name"])), default=None)


def _refusal(stack: Stack, service: str, secret: ResourceView, how: str) -> str:
    label = _secret_label(stack, secret)
    listed = ", ".join(sorted(_receivers(secret))) or "no service"
    return (
        f"service {service} {how} secret {label}, which may go only to {listed} (secrets.{label}.allowedServices); "
        f"remove it from {service}, or list {service} under secrets.{label}.allowedServices if that tier truly needs it"
    )


@rule(
    "SECRET-003",
    "mandatory",
    "A service receives, and its roles may read, only the secrets that list it under `allowedServices` "
    "(least privilege between tiers: the internet-facing frontend never gets the database credentials; no list, no receiver)",
)
def secrets_only_to_listed_services(stack: Stack) -> Iterator[Finding]:
    secrets = list(stack.of_type(t.SECRET))
    role_services: dict[str, set[str]] = {}
    for task in stack.of_type(t.TASK_DEFINITION):
        service = _service_of(task) or task.name
        for prop in ("executionRoleArn", "taskRoleArn"):
            for role in stack.referenced(task, prop, t.ROLE):
                role_services.setdefault(role.name, set()).add(service)
        received: dict[str, ResourceView] = {s.name: s for s in stack.referenced(task, "containerDefinitions", t.SECRET)}
        for container in _containers(task):
            for injection in container.get("secrets") or []:
                value_from = str(injection.get("valueFrom", ""))
                secret = _secret_by_arn(secrets, value_from)
                if secret is not None:
                    received[secret.name] = secret
                elif value_from.startswith("arn:aws:secretsmanager:"):
                    yield Finding(
                        task.name,
                        f"service {service}: secret {injection.get('name')} comes from a Secrets Manager secret this stack does not own; "
                        "declare it under secrets with the services that may receive it",
                    )
        for secret in sorted(received.values(), key=lambda s: s.name):
            if service not in _receivers(secret):
                yield Finding(task.name, _refusal(stack, service, secret, "receives"))
    for policy in stack.of_type(t.ROLE_POLICY, t.POLICY):
        readable = {s.name: s for s in stack.referenced(policy, "policy", t.SECRET)}
        document = policy.json_prop("policy")
        statements = document.get("Statement") if isinstance(document, dict) else None
        for statement in statements if isinstance(statements, list) else []:
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            resources = statement.get("Resource")
            for arn in resources if isinstance(resources, list) else [resources]:
                secret = _secret_by_arn(secrets, str(arn))
                if secret is not None:
                    readable[secret.name] = secret
        services = set().union(*(role_services.get(r.name, set()) for r in stack.referenced(policy, "role", t.ROLE)))
        for service in sorted(services):
            for secret in sorted(readable.values(), key=lambda s: s.name):
                if service not in _receivers(secret):
                    yield Finding(policy.name, _refusal(stack, service, secret, "has a role that may read"))
