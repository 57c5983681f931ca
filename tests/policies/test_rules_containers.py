"""TASK-001..003, LOGS-001..002, SECRET-001..002: task sizes, the ECS API schema, logs and secrets."""

from __future__ import annotations

import json

import pytest

from policies import aws_types as t
from policies.pack import context_from_resources, evaluate
from policies.offline import views_of

CONTAINER_RULES = ("TASK-001", "TASK-002", "TASK-003", "LOGS-001", "LOGS-002", "SECRET-001", "SECRET-002")
DEV_TASKS = {"td-frontend-blue-dev", "td-frontend-green-dev", "td-api-gateway-blue-dev", "td-api-gateway-green-dev", "td-processing-service-dev"}


@pytest.mark.parametrize("rule_id", CONTAINER_RULES)
def test_clean_dev_and_prod_pass(kit, dev_views, prod_views, rule_id):
    assert kit.run(dev_views, rule_id) == []
    assert kit.run(prod_views, rule_id, kit.PROD) == []


def test_dev_renders_the_task_definitions_the_tests_edit(dev_views):
    assert {v.name for v in dev_views if v.type == t.TASK_DEFINITION} == DEV_TASKS


# --- TASK-001: the spec's exact sizes -------------------------------------------------------


def test_frontend_sized_like_api_gateway_in_the_desired_state(kit, render_mutated):
    """A valid Fargate pair the schema accepts, but not the spec's size for frontend."""

    def mutate(doc):
        doc["services"]["frontend"].update(cpu=1024, memory=2048)

    views = views_of(render_mutated(mutate))
    violations = kit.run(views, "TASK-001")
    for task in ("td-frontend-blue-dev", "td-frontend-green-dev"):
        kit.expect(violations, "TASK-001", task, "cpu/memory is 1024/2048", "frontend at 512 CPU units / 1024 MiB")
    assert kit.resources(violations) == {"td-frontend-blue-dev", "td-frontend-green-dev"}
    # The pair is one Fargate accepts: only the spec rule objects.
    assert kit.run(views, "TASK-002") == []


def test_processing_service_memory_changed(kit, dev_views):
    broken = kit.replace(dev_views, "td-processing-service-dev", update={"memory": "8192"})
    violations = kit.run(broken, "TASK-001")
    kit.expect(violations, "TASK-001", "td-processing-service-dev", "cpu/memory is 2048/8192", "processing-service at 2048 CPU units / 4096 MiB")
    assert kit.resources(violations) == {"td-processing-service-dev"}


@pytest.mark.parametrize("tags", [{}, {"service": "billing"}], ids=["untagged", "unknown-service"])
def test_task_definition_without_a_known_service_tag(kit, dev_views, tags):
    broken = kit.replace(dev_views, "td-api-gateway-blue-dev", update={"tags": tags})
    violations = kit.run(broken, "TASK-001")
    kit.expect(violations, "TASK-001", "td-api-gateway-blue-dev", "tag 'service'", "tag every task definition with one of")
    assert kit.resources(violations) == {"td-api-gateway-blue-dev"}


# --- TASK-002: Fargate-valid pairs ----------------------------------------------------------


def test_cpu_memory_pair_fargate_rejects(kit, dev_views):
    broken = kit.replace(dev_views, "td-frontend-blue-dev", update={"cpu": "256", "memory": "4096"})
    violations = kit.run(broken, "TASK-002")
    kit.expect(violations, "TASK-002", "td-frontend-blue-dev", "cpu 256 with memory 4096 MiB is not a Fargate task size")
    assert kit.resources(violations) == {"td-frontend-blue-dev"}


def test_cpu_that_is_no_fargate_size(kit, dev_views):
    broken = kit.replace(dev_views, "td-frontend-green-dev", update={"cpu": "300"})
    kit.expect(kit.run(broken, "TASK-002"), "TASK-002", "td-frontend-green-dev", "cpu 300", "not a Fargate task size")


def test_not_fargate_compatible(kit, dev_views):
    broken = kit.replace(dev_views, "td-api-gateway-green-dev", update={"requiresCompatibilities": ["EC2"]})
    violations = kit.run(broken, "TASK-002")
    kit.expect(violations, "TASK-002", "td-api-gateway-green-dev", "requiresCompatibilities lacks FARGATE", "['FARGATE']")
    assert kit.resources(violations) == {"td-api-gateway-green-dev"}


# --- TASK-003: the ECS RegisterTaskDefinition schema ----------------------------------------


def test_unknown_container_key(kit, dev_views):
    def misspell(definitions):
        definitions[0]["portMapings"] = definitions[0].pop("portMappings")

    broken = kit.edit_containers(dev_views, "td-frontend-blue-dev", misspell)
    violations = kit.run(broken, "TASK-003")
    kit.expect(violations, "TASK-003", "td-frontend-blue-dev", "ECS would reject RegisterTaskDefinition", "Unknown parameter", "portMapings")
    assert kit.resources(violations) == {"td-frontend-blue-dev"}


def test_string_where_the_container_cpu_int_belongs(kit, dev_views):
    def stringly(definitions):
        definitions[0]["cpu"] = "lots"

    broken = kit.edit_containers(dev_views, "td-api-gateway-blue-dev", stringly)
    violations = kit.run(broken, "TASK-003")
    kit.expect(violations, "TASK-003", "td-api-gateway-blue-dev", "Invalid type for parameter containerDefinitions[0].cpu")
    assert kit.resources(violations) == {"td-api-gateway-blue-dev"}


def test_string_where_the_container_port_int_belongs(kit, dev_views):
    def stringly(definitions):
        definitions[0]["portMappings"][0]["containerPort"] = "8080"

    broken = kit.edit_containers(dev_views, "td-processing-service-dev", stringly)
    violations = kit.run(broken, "TASK-003")
    kit.expect(
        violations, "TASK-003", "td-processing-service-dev", "Invalid type for parameter containerDefinitions[0].portMappings[0].containerPort"
    )
    assert kit.resources(violations) == {"td-processing-service-dev"}


def test_every_schema_error_is_its_own_violation(kit, dev_views):
    def two_errors(definitions):
        definitions[0]["portMapings"] = definitions[0].pop("portMappings")
        definitions[0]["memoryReservation"] = "512"

    violations = kit.run(kit.edit_containers(dev_views, "td-frontend-green-dev", two_errors), "TASK-003")
    kit.expect(violations, "TASK-003", "td-frontend-green-dev", "portMapings")
    kit.expect(violations, "TASK-003", "td-frontend-green-dev", "containerDefinitions[0].memoryReservation")
    assert len(violations) == 2


def test_missing_required_nested_field(kit, dev_views):
    """The API requires every ulimit's hardLimit (a container's own name is optional in the API model)."""

    def no_hard_limit(definitions):
        del definitions[0]["ulimits"][0]["hardLimit"]

    violations = kit.run(kit.edit_containers(dev_views, "td-frontend-blue-dev", no_hard_limit), "TASK-003")
    kit.expect(violations, "TASK-003", "td-frontend-blue-dev", "Missing required parameter in containerDefinitions[0].ulimits[0]", "hardLimit")


@pytest.mark.parametrize("raw", ["not json", '{"name": "frontend"}'], ids=["unparseable", "object"])
def test_container_definitions_that_are_no_list(kit, dev_views, raw):
    broken = kit.replace(dev_views, "td-frontend-blue-dev", update={"containerDefinitions": raw})
    violations = kit.run(broken, "TASK-003")
    kit.expect(violations, "TASK-003", "td-frontend-blue-dev", "containerDefinitions is not a JSON list")


def test_rendered_task_definitions_pass_the_schema(kit, dev_views, prod_views):
    for views, context in ((dev_views, kit.DEV), (prod_views, kit.PROD)):
        tasks = [v for v in views if v.type == t.TASK_DEFINITION]
        assert len(tasks) == 5
        assert kit.run(tasks, "TASK-003", context) == []


# --- LOGS-001: every container logs to a 30-day group of the stack --------------------------


def test_container_not_logging_with_awslogs(kit, dev_views):
    def json_file(definitions):
        definitions[0]["logConfiguration"] = {"logDriver": "json-file", "options": {}}

    violations = kit.run(kit.edit_containers(dev_views, "td-frontend-blue-dev", json_file), "LOGS-001")
    kit.expect(violations, "LOGS-001", "td-frontend-blue-dev", "container 'frontend'", "logConfiguration.logDriver is 'json-file'", "use awslogs")
    assert kit.resources(violations) == {"td-frontend-blue-dev"}


def test_container_without_log_configuration(kit, dev_views):
    def none(definitions):
        del definitions[0]["logConfiguration"]

    violations = kit.run(kit.edit_containers(dev_views, "td-api-gateway-blue-dev", none), "LOGS-001")
    kit.expect(violations, "LOGS-001", "td-api-gateway-blue-dev", "logDriver is None", "use awslogs")


def test_container_without_stream_prefix(kit, dev_views):
    def no_prefix(definitions):
        del definitions[0]["logConfiguration"]["options"]["awslogs-stream-prefix"]

    violations = kit.run(kit.edit_containers(dev_views, "td-processing-service-dev", no_prefix), "LOGS-001")
    kit.expect(violations, "LOGS-001", "td-processing-service-dev", "no awslogs-stream-prefix", "set one")
    assert kit.resources(violations) == {"td-processing-service-dev"}


def test_container_logging_to_a_group_outside_the_stack(kit, dev_views):
    def elsewhere(definitions):
        definitions[0]["logConfiguration"]["options"]["awslogs-group"] = "/somewhere/else"

    violations = kit.run(kit.edit_containers(dev_views, "td-frontend-green-dev", elsewhere), "LOGS-001")
    kit.expect(violations, "LOGS-001", "td-frontend-green-dev", "awslogs-group '/somewhere/else' is not a log group of this stack")
    assert kit.resources(violations) == {"td-frontend-green-dev"}


def test_container_logging_to_a_group_with_short_retention(kit, dev_views):
    broken = kit.replace(dev_views, "logs-frontend-dev", update={"retentionInDays": 7})
    violations = kit.run(broken, "LOGS-001")
    for task in ("td-frontend-blue-dev", "td-frontend-green-dev"):
        kit.expect(violations, "LOGS-001", task, "its log group logs-frontend-dev keeps logs 7 days, not 30")
    assert kit.resources(violations) == {"td-frontend-blue-dev", "td-frontend-green-dev"}


# --- LOGS-002: each service has its own 30-day group ----------------------------------------


def test_service_without_its_log_group(kit, dev_views):
    broken = kit.remove(dev_views, "logs-api-gateway-dev")
    violations = kit.run(broken, "LOGS-002")
    kit.expect(violations, "LOGS-002", "api-gateway", "no log group tagged service=api-gateway", "create one")
    assert kit.resources(violations) == {"api-gateway"}


def test_service_log_group_with_short_retention(kit, dev_views):
    broken = kit.replace(dev_views, "logs-processing-service-dev", update={"retentionInDays": 14})
    violations = kit.run(broken, "LOGS-002")
    kit.expect(violations, "LOGS-002", "logs-processing-service-dev", "retentionInDays is 14", "set it to 30")
    assert kit.resources(violations) == {"logs-processing-service-dev"}


def test_flow_log_group_retention_is_not_a_service_concern(kit, prod_views):
    """Prod keeps VPC flow logs 365 days; that group belongs to no service and is not flagged."""
    assert kit.view(prod_views, "logs-vpc-flow-prod").props["retentionInDays"] == 365
    assert kit.run(prod_views, "LOGS-002", kit.PROD) == []


# --- SECRET-001: secrets only by Secrets Manager ARN ----------------------------------------


def test_secret_from_parameter_store(kit, dev_views):
    def ssm(definitions):
        definitions[0]["secrets"][1]["valueFrom"] = "arn:aws:ssm:us-east-1:123456789012:parameter/db/password"

    violations = kit.run(kit.edit_containers(dev_views, "td-processing-service-dev", ssm), "SECRET-001")
    v = kit.expect(
        violations, "SECRET-001", "td-processing-service-dev", "secret DB_PASSWORD", "not a Secrets Manager ARN", "reference the secret by its ARN"
    )
    assert "container 'processing-service'" in v.message
    assert len(violations) == 1  # DB_USERNAME still comes from Secrets Manager


def test_secret_by_bare_name(kit, dev_views):
    def bare(definitions):
        definitions[0]["secrets"][0]["valueFrom"] = "secret-api-keys-dev"

    violations = kit.run(kit.edit_containers(dev_views, "td-api-gateway-blue-dev", bare), "SECRET-001")
    kit.expect(violations, "SECRET-001", "td-api-gateway-blue-dev", "secret PARTNER_API_KEY", "not a Secrets Manager ARN")
    assert kit.resources(violations) == {"td-api-gateway-blue-dev"}


# --- SECRET-002: no credential-looking environment values -----------------------------------


def _all_messages(views, context):
    return [v.message for v in evaluate(views, context).violations]


def test_password_in_the_desired_state_environment(kit, render_mutated):
    def mutate(doc):
        doc["services"]["frontend"]["environment"]["DB_PASSWORD"] = "hunter2"

    views = views_of(render_mutated(mutate))
    violations = kit.run(views, "SECRET-002")
    for task in ("td-frontend-blue-dev", "td-frontend-green-dev"):
        kit.expect(
            violations, "SECRET-002", task, "environment variable DB_PASSWORD", "name suggests a credential", "move it to Secrets Manager", "`secrets`"
        )
    assert kit.resources(violations) == {"td-frontend-blue-dev", "td-frontend-green-dev"}
    assert all("hunter2" not in m for m in _all_messages(views, context_from_resources(views)))


def test_aws_access_key_value_in_the_desired_state_environment(kit, render_mutated):
    key = "AKIAIOSFODNN7EXAMPLE"

    def mutate(doc):
        doc["services"]["api-gateway"]["environment"]["UPSTREAM_ID"] = key

    views = views_of(render_mutated(mutate))
    violations = kit.run(views, "SECRET-002")
    for task in ("td-api-gateway-blue-dev", "td-api-gateway-green-dev"):
        kit.expect(violations, "SECRET-002", task, "environment variable UPSTREAM_ID", "looks like an AWS access key id", "move it to Secrets Manager")
    assert kit.resources(violations) == {"td-api-gateway-blue-dev", "td-api-gateway-green-dev"}
    assert all(key not in m and "AKIA" not in m for m in _all_messages(views, context_from_resources(views)))


CREDENTIAL_VALUES = {
    "pem": ("SIGNING_MATERIAL", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x\n-----END RSA PRIVATE KEY-----", "a PEM private key"),
    "github": ("CI_HOOK", "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5", "a GitHub token"),
    "slack": ("CHAT_HOOK", "xoxb-1234567890-abcdefghij", "a Slack token"),
    "jwt": ("SESSION", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "a JSON web token"),
    "url": ("DATABASE_URL", "postgres://app:s3cretpa55@db.internal:5432/orders", "a URL with an embedded password"),
    "entropy": ("UPSTREAM_SIGNATURE", "Zq8Xv2Lr9Kp4Wn7Tb1Hc6Fd3Jm5Ys0Ga", "a long high-entropy string"),
}


@pytest.mark.parametrize("case", CREDENTIAL_VALUES, ids=list(CREDENTIAL_VALUES))
def test_credential_shaped_values(kit, dev_views, case):
    name, value, what = CREDENTIAL_VALUES[case]

    def plant(definitions):
        definitions[0]["environment"].append({"name": name, "value": value})

    broken = kit.edit_containers(dev_views, "td-processing-service-dev", plant)
    violations = kit.run(broken, "SECRET-002")
    kit.expect(violations, "SECRET-002", "td-processing-service-dev", f"environment variable {name}", what, "move it to Secrets Manager")
    assert len(violations) == 1
    secret_part = value if case != "url" else "s3cretpa55"
    assert all(secret_part not in m for m in _all_messages(broken, kit.DEV))


@pytest.mark.parametrize(
    "name, value",
    [("LOG_LEVEL", "debug"), ("ORDER_BATCH_SIZE", "50"), ("PROCESSING_SERVICE_HOST", "processing-service-dev.dev.platform.internal"), ("DB_PASSWORD", "")],
)
def test_ordinary_values_are_not_credentials(kit, dev_views, name, value):
    def plant(definitions):
        definitions[0]["environment"] = [{"name": name, "value": value}]

    assert kit.run(kit.edit_containers(dev_views, "td-frontend-blue-dev", plant), "SECRET-002") == []


# --- SECRET-002: the names and shapes it used to miss ---------------------------------------

PLANTED = "Plain-0ld-value"  # a value no value pattern matches: only the name can flag it


def _plant_one(kit, dev_views, name, value):
    def plant(definitions):
        definitions[0]["environment"] = [{"name": name, "value": value}]

    return kit.edit_containers(dev_views, "td-processing-service-dev", plant)


@pytest.mark.parametrize(
    "name",
    [
        "DB_PASS", "PWD", "DSN", "SENTRY_DSN", "AUTH", "BASIC_AUTH", "CSRF_TOKEN", "GITHUBTOKEN", "SIGNING_KEY", "ENCRYPTION_KEY",
        "KEY", "PASSPHRASE", "CREDENTIALS", "PRIVATE_KEY", "CONNECTION_STRING", "DB_CONNECTION_STRING", "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY", "CLIENTSECRET", "DBPASSWORD", "API_KEY_2", "DB_PASSWORD_OLD", "SECRET_KEY_BASE", "PASSWORD_SALT",
        "db-pass", "Jwt.Signing.Key",
    ],
)
def test_credential_names_it_used_to_miss(kit, dev_views, name):
    broken = _plant_one(kit, dev_views, name, PLANTED)
    violations = kit.run(broken, "SECRET-002")
    kit.expect(violations, "SECRET-002", "td-processing-service-dev", f"environment variable {name}", "name suggests a credential")
    assert all(PLANTED not in v.message for v in violations)


@pytest.mark.parametrize(
    "name",
    [
        "LOG_LEVEL", "KEYCLOAK_URL", "KEYCLOAK_REALM", "PUBLIC_KEY_URL", "JWT_PUBLIC_KEY", "TOKEN_TTL_SECONDS", "PASSWORD_MIN_LENGTH",
        "AUTH_URL", "SECRET_ARN", "DB_PASSWORD_FILE", "PARTITION_KEY", "SORT_KEY", "CACHE_KEY", "ROUTING_KEY", "PASSENGER_COUNT",
        "BYPASS_CACHE", "TOKENIZER_MODEL", "MONKEY_MODE", "OAUTH_CLIENT_ID", "API_BASE_PATH",
    ],
)
def test_names_about_credentials_or_merely_containing_letters_of_one_pass(kit, dev_views, name):
    assert kit.run(_plant_one(kit, dev_views, name, PLANTED), "SECRET-002") == []


VALUE_SHAPES = {
    "asia-session-key": ("UPSTREAM", "ASIAY34FZKBOKMUTVV7A", "an AWS access key id"),
    "aws-secret-after-key": ("UPSTREAM", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "an AWS secret access key"),
    "aws-secret-json": ("UPSTREAM", '{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}', "an AWS secret access key"),
    "url-password-with-slash": ("DATABASE_URL", "https://user:pa/ss@db.internal/orders", "a URL with an embedded password"),
    "url-no-user": ("CACHE_URL", "redis://:s3cretpa55@cache.internal:6379/0", "a URL with an embedded password"),
    "github-pat": ("CI_HOOK", "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV", "a GitHub token"),
    "openssh-key": ("SIGNING_MATERIAL", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", "a PEM private key"),
    "libpq-dsn": ("DATABASE", "host=db.internal port=5432 user=app password=hunter2 dbname=orders", "a connection string with a password"),
    "ado-dsn": ("DATABASE", "Server=db.internal;User Id=app;Password=hunter2;Database=orders", "a connection string with a password"),
    "bearer": ("UPSTREAM_HEADER", "Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0", "an HTTP authorization credential"),
    "query-token": ("WEBHOOK", "https://hooks.example.com/notify?access_token=abcd1234efgh5678", "a URL with a token in its query"),
}


@pytest.mark.parametrize("case", VALUE_SHAPES, ids=list(VALUE_SHAPES))
def test_credential_value_shapes_it_used_to_miss(kit, dev_views, case):
    name, value, what = VALUE_SHAPES[case]
    violations = kit.run(_plant_one(kit, dev_views, name, value), "SECRET-002")
    kit.expect(violations, "SECRET-002", "td-processing-service-dev", f"environment variable {name}", f"looks like {what}")
    secret = {"url-password-with-slash": "pa/ss", "url-no-user": "s3cretpa55", "libpq-dsn": "hunter2", "ado-dsn": "hunter2"}.get(case, value)
    assert all(secret not in m for m in _all_messages(_plant_one(kit, dev_views, name, value), kit.DEV))


@pytest.mark.parametrize(
    "value",
    [
        "https://api.example.com:8443/v1/users/alice@example.com",  # a port and an address in the path: no userinfo
        "https://keycloak.internal/realms/trading",
        "postgres://db.internal:5432/orders",
        "Basic authentication-required for partners",  # prose, not a header
        "bypass=1",
        "LOG_LEVEL=debug;FORMAT=json",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-credentials-AbCdEf",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    ],
)
def test_values_that_only_resemble_credentials_pass(kit, dev_views, value):
    assert kit.run(_plant_one(kit, dev_views, "UPSTREAM", value), "SECRET-002") == []


# --- SECRET-003: a secret goes only to the services it lists --------------------------------


def _give_frontend_the_database_credentials(doc):
    doc["services"]["frontend"]["secrets"] = [
        {"env": "DB_USERNAME", "secret": "db-credentials", "key": "username"},
        {"env": "DB_PASSWORD", "secret": "db-credentials", "key": "password"},
    ]


def test_the_internet_facing_frontend_given_the_database_credentials(kit, render_mutated):
    """The reproduced case: the desired state accepted it and the pack passed it."""
    views = views_of(render_mutated(_give_frontend_the_database_credentials))
    violations = kit.run(views, "SECRET-003")
    for task in ("td-frontend-blue-dev", "td-frontend-green-dev"):
        v = kit.expect(
            violations, "SECRET-003", task, "service frontend receives secret db-credentials",
            "may go only to processing-service (secrets.db-credentials.allowedServices)", "list frontend under secrets.db-credentials.allowedServices",
        )
        assert v.severity == "mandatory"
    assert kit.resources(violations) == {"td-frontend-blue-dev", "td-frontend-green-dev"}
    # The program gave frontend's execution role no read access: there is nothing to report on it.
    assert not any(v.resource.startswith("policy-") for v in violations)


def test_a_secret_that_lists_no_service_goes_to_none(kit, render_mutated):
    def mutate(doc):
        del doc["secrets"]["api-keys"]["allowedServices"]

    violations = kit.run(views_of(render_mutated(mutate)), "SECRET-003")
    for task in ("td-api-gateway-blue-dev", "td-api-gateway-green-dev"):
        kit.expect(violations, "SECRET-003", task, "service api-gateway receives secret api-keys, which may go only to no service")
    assert kit.resources(violations) == {"td-api-gateway-blue-dev", "td-api-gateway-green-dev"}


def test_listing_the_service_makes_it_allowed(kit, render_mutated):
    """The counter-example: the same injection with frontend listed is no violation."""

    def mutate(doc):
        _give_frontend_the_database_credentials(doc)
        doc["secrets"]["db-credentials"]["allowedServices"] = ["frontend", "processing-service"]

    assert kit.run(views_of(render_mutated(mutate)), "SECRET-003") == []


def test_listed_but_not_injected_is_no_violation(kit, render_mutated):
    def mutate(doc):
        doc["secrets"]["db-credentials"]["allowedServices"] = ["processing-service", "api-gateway"]

    assert kit.run(views_of(render_mutated(mutate)), "SECRET-003") == []


def test_a_role_policy_that_reads_a_secret_its_service_may_not_receive(kit, dev_views):
    """Whatever built it: the frontend's execution role granted the database credentials."""
    processing = json.loads(kit.view(dev_views, "policy-processing-service-execution-dev").props["policy"])
    read = next(s for s in processing["Statement"] if s["Sid"] == "ReadOwnSecrets")
    frontend = json.loads(kit.view(dev_views, "policy-frontend-execution-dev").props["policy"])
    frontend["Statement"].append(read)
    broken = kit.replace(dev_views, "policy-frontend-execution-dev", update={"policy": json.dumps(frontend)})
    violations = kit.run(broken, "SECRET-003")
    kit.expect(violations, "SECRET-003", "policy-frontend-execution-dev", "service frontend has a role that may read secret db-credentials")
    assert kit.resources(violations) == {"policy-frontend-execution-dev"}


def test_an_injection_by_hand_written_arn_is_matched_to_its_secret(kit, dev_views):
    """No property dependency (an ARN pasted in): the ARN alone names the secret."""
    arn = next(
        c["secrets"][1]["valueFrom"] for c in json.loads(kit.view(dev_views, "td-processing-service-dev").props["containerDefinitions"])
    )

    def plant(definitions):
        definitions[0]["secrets"] = [{"name": "DB_PASSWORD", "valueFrom": arn}]

    broken = kit.replace(kit.edit_containers(dev_views, "td-frontend-blue-dev", plant), "td-frontend-blue-dev", property_dependencies={})
    violations = kit.run(broken, "SECRET-003")
    kit.expect(violations, "SECRET-003", "td-frontend-blue-dev", "service frontend receives secret db-credentials")


def test_a_secret_the_stack_does_not_own(kit, dev_views):
    def plant(definitions):
        definitions[0]["secrets"] = [{"name": "UPSTREAM", "valueFrom": "arn:aws:secretsmanager:us-east-1:999999999999:secret:someone-elses-AbCdEf"}]

    violations = kit.run(kit.edit_containers(dev_views, "td-frontend-blue-dev", plant), "SECRET-003")
    kit.expect(violations, "SECRET-003", "td-frontend-blue-dev", "secret UPSTREAM comes from a Secrets Manager secret this stack does not own")


def test_prod_keeps_its_tiers_apart_too(kit, render_mutated):
    violations = kit.run(views_of(render_mutated(_give_frontend_the_database_credentials, environment="prod")), "SECRET-003", kit.PROD)
    kit.expect(violations, "SECRET-003", "td-frontend-blue-prod", "service frontend receives secret db-credentials")


def test_a_secret_lists_only_services_of_the_platform_and_each_once():
    from pydantic import ValidationError

    from desired_state.schema import SecretSpec

    assert SecretSpec(kind="generated-string", allowed_services=("api-gateway",)).may_receive("api-gateway")
    assert not SecretSpec(kind="generated-string").may_receive("api-gateway")  # no list, no receiver
    with pytest.raises(ValidationError, match="'billing' is not a service of the platform"):
        SecretSpec(kind="generated-string", allowed_services=("billing",))
    with pytest.raises(ValidationError, match="listed twice"):
        SecretSpec(kind="generated-string", allowed_services=("frontend", "frontend"))
