"""Identity: per service an execution role and a task role, least privilege."""

from __future__ import annotations

import json

import pytest

from program.components.identity import ecs_tasks_trust_policy, execution_policy
from program.mocks import PLACEHOLDER_ACCOUNT

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SERVICES = ("frontend", "api-gateway", "processing-service")
DECLARED_SECRETS = {"frontend": set(), "api-gateway": {"api-keys"}, "processing-service": {"db-credentials"}}


def _listed(value):
    return value if isinstance(value, list) else [value]


def _execution_statements(stack, service, suffix):
    policy = stack.named(f"policy-{service}-execution-{suffix}")
    return json.loads(policy.inputs["policy"])["Statement"]


def _statements_with(statements, prefix):
    return [st for st in statements if any(a.startswith(prefix) for a in _listed(st["Action"]))]


def test_two_roles_per_service_with_distinct_names(stack, state):
    s = state.environment_suffix
    service_roles = [r for r in stack.of_type(ROLE) if r.parent and r.parent.startswith("identity-")]
    names = [r.inputs["name"] for r in service_roles]
    assert sorted(names) == sorted(f"role-{svc}-{kind}-{s}" for svc in SERVICES for kind in ("execution", "task"))
    assert len(set(names)) == 6
    for service in SERVICES:
        for kind in ("execution", "task"):
            role = stack.named(f"role-{service}-{kind}-{s}")
            assert service in role.inputs["name"] and s in role.inputs["name"]
            assert role.parent == f"identity-{service}-{s}"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("kind", ["execution", "task"])
def test_roles_trust_only_ecs_tasks_of_this_account(stack, state, service, kind):
    role = stack.named(f"role-{service}-{kind}-{state.environment_suffix}")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": PLACEHOLDER_ACCOUNT}
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"].startswith(f"arn:aws:ecs:{state.region}:{PLACEHOLDER_ACCOUNT}:")


@pytest.mark.parametrize("service", SERVICES)
def test_execution_policy_is_attached_to_the_execution_role_only(stack, state, mock_state, service):
    s = state.environment_suffix
    policy = stack.named(f"policy-{service}-execution-{s}")
    assert policy.inputs["role"] == mock_state(stack.named(f"role-{service}-execution-{s}"))["id"]
    # The task role gets no permissions at all by default.
    task_role_id = mock_state(stack.named(f"role-{service}-task-{s}"))["id"]
    attached = [r for r in stack.resources if r.type.startswith("aws:iam/") and r.inputs.get("role") == task_role_id]
    assert attached == []


@pytest.mark.parametrize("service", SERVICES)
def test_execution_policy_has_no_wildcard_action_and_only_the_auth_token_on_any_resource(stack, state, service):
    statements = _execution_statements(stack, service, state.environment_suffix)
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _listed(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), action
    wildcard = [st for st in statements if "*" in _listed(st["Resource"])]
    assert len(wildcard) == 1
    assert _listed(wildcard[0]["Action"]) == ["ecr:GetAuthorizationToken"]
    assert _listed(wildcard[0]["Resource"]) == ["*"]


@pytest.mark.parametrize("service", SERVICES)
def test_image_pull_is_scoped_to_the_services_own_repository(stack, state, mock_state, service):
    s = state.environment_suffix
    own = mock_state(stack.named(f"ecr-{service}-{s}"))["arn"]
    others = {mock_state(stack.named(f"ecr-{other}-{s}"))["arn"] for other in SERVICES if other != service}
    statements = [st for st in _statements_with(_execution_statements(stack, service, s), "ecr:") if st["Resource"] != "*"]
    assert len(statements) == 1
    (pull,) = statements
    assert set(_listed(pull["Action"])) == {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
    assert _listed(pull["Resource"]) == [own]
    assert others.isdisjoint(_listed(pull["Resource"]))


@pytest.mark.parametrize("service", SERVICES)
def test_log_writes_are_scoped_to_the_services_own_log_group(stack, state, mock_state, service):
    s = state.environment_suffix
    own = mock_state(stack.named(f"logs-{service}-{s}"))["arn"]
    (logs,) = _statements_with(_execution_statements(stack, service, s), "logs:")
    assert set(_listed(logs["Action"])) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    for resource in _listed(logs["Resource"]):
        assert resource == own or resource.startswith(f"{own}:"), resource
    for other in SERVICES:
        if other != service:
            other_arn = mock_state(stack.named(f"logs-{other}-{s}"))["arn"]
            assert not any(r.startswith(other_arn) for r in _listed(logs["Resource"]))


@pytest.mark.parametrize("service", SERVICES)
def test_secret_reads_only_for_declared_secrets(stack, state, service):
    s = state.environment_suffix
    arns = stack.outputs["secretArns"]
    statements = _statements_with(_execution_statements(stack, service, s), "secretsmanager:")
    declared = {injection.secret for injection in state.services.get(service).secrets}
    assert declared == DECLARED_SECRETS[service]
    if not declared:
        assert statements == []
        return
    (read,) = statements
    assert _listed(read["Action"]) == ["secretsmanager:GetSecretValue"]
    assert sorted(_listed(read["Resource"])) == sorted(arns[n] for n in declared)


def test_processing_service_may_read_db_credentials_only(rendered_dev):
    arns = rendered_dev.outputs["secretArns"]
    (read,) = _statements_with(_execution_statements(rendered_dev, "processing-service", "dev"), "secretsmanager:")
    assert read["Resource"] == [arns["db-credentials"]]
    assert arns["api-keys"] not in json.dumps(_execution_statements(rendered_dev, "processing-service", "dev"))
    assert _statements_with(_execution_statements(rendered_dev, "frontend", "dev"), "secretsmanager:") == []


def test_a_service_gets_no_read_access_to_a_secret_that_does_not_list_it(render_mutated):
    """frontend injects the database credentials, which list only processing-service: its role may not read them."""

    def mutate(doc):
        doc["services"]["frontend"]["secrets"] = [{"env": "DB_PASSWORD", "secret": "db-credentials", "key": "password"}]

    rendered = render_mutated(mutate)
    assert _statements_with(_execution_statements(rendered, "frontend", "dev"), "secretsmanager:") == []
    (read,) = _statements_with(_execution_statements(rendered, "processing-service", "dev"), "secretsmanager:")
    assert read["Resource"] == [rendered.outputs["secretArns"]["db-credentials"]]


def test_a_listed_service_that_injects_the_secret_may_read_it(render_mutated):
    def mutate(doc):
        doc["services"]["frontend"]["secrets"] = [{"env": "DB_PASSWORD", "secret": "db-credentials", "key": "password"}]
        doc["secrets"]["db-credentials"]["allowedServices"] = ["frontend", "processing-service"]

    rendered = render_mutated(mutate)
    (read,) = _statements_with(_execution_statements(rendered, "frontend", "dev"), "secretsmanager:")
    assert read["Resource"] == [rendered.outputs["secretArns"]["db-credentials"]]


def test_a_secret_that_lists_no_service_is_readable_by_none(render_mutated):
    def mutate(doc):
        del doc["secrets"]["api-keys"]["allowedServices"]

    rendered = render_mutated(mutate)
    for service in SERVICES:
        statements = _execution_statements(rendered, service, "dev")
        assert rendered.outputs["secretArns"]["api-keys"] not in json.dumps(statements)


def test_no_kms_statement_without_a_key(stack, state):
    for service in SERVICES:
        assert _statements_with(_execution_statements(stack, service, state.environment_suffix), "kms:") == []


# --- the policy builders themselves ------------------------------------------------------------


def test_trust_policy_builder():
    document = json.loads(ecs_tasks_trust_policy("111122223333", "eu-west-1"))
    (statement,) = document["Statement"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "111122223333"},
        "ArnLike": {"aws:SourceArn": "arn:aws:ecs:eu-west-1:111122223333:*"},
    }


def test_execution_policy_builder_without_secrets_has_no_secret_statement():
    document = json.loads(execution_policy("arn:repo", "arn:logs", [], None))
    assert [st["Sid"] for st in document["Statement"]] == ["EcrAuthTokenIsAccountWide", "PullOwnRepository", "WriteOwnLogGroup"]
    assert document["Statement"][2]["Resource"] == ["arn:logs:log-stream:*"]
