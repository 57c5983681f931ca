"""Refusals a person can act on: every problem at once, repo paths with the commit, no secrets."""

from __future__ import annotations

import os

import pytest

from desired_state.credentials import looks_like_credential_name, looks_like_credential_value
from desired_state.errors import DesiredStateError, TrafficStateError
from desired_state.loader import check_unique_suffixes, load_environment
from desired_state.traffic import parse_traffic_state, read_traffic_state

COMMIT = "3f2a9c1d0e5b8a7f6c4d3e2f1a0b9c8d7e6f5a4b"


# --- every problem in one pass ---------------------------------------------------------------


def test_a_type_error_does_not_hide_the_cross_field_problems(dev_yaml, refuse):
    edited = (
        dev_yaml.replace("    cpu: 512\n", '    cpu: "512"\n')
        .replace('{repository: api-gateway, tag: "2.8.0"}', '{repository: frontend, tag: "2.8.0"}')
        .replace("[us-east-1a, us-east-1b, us-east-1c]", "[us-east-1a, us-east-1b, us-west-2c]")
        .replace(
            "    desiredCount: 2\n    scaling: {min: 2, max: 10, cpuTarget: 50}",
            "    desiredCount: 20\n    scaling: {min: 2, max: 10, cpuTarget: 50}",
        )
    )

    refusal = refuse(edited)

    assert sorted(refusal.where(), key=lambda w: w[2]) == [
        (refusal.file, "network.availabilityZones[2]", edited.line("us-west-2c")),
        (refusal.file, "services.frontend.cpu", edited.line('cpu: "512"')),
        (refusal.file, "services.api-gateway.image.repository", edited.line("{repository: frontend, tag: \"2.8.0\"}")),
        (refusal.file, "services.processing-service.desiredCount", edited.line("desiredCount: 20")),
    ]


def test_secret_rules_run_beside_a_type_error(dev_yaml, refuse):
    edited = dev_yaml.replace("{env: PARTNER_API_KEY, secret: api-keys}", "{env: PARTNER_API_KEY, secret: api-keyz}").replace(
        "      ORDER_BATCH_SIZE: \"50\"\n", "      ORDER_BATCH_SIZE: \"50\"\n      DB_USERNAME: app\n"
    ).replace("    port: 8080\n    desiredCount: 2\n    scaling: {min: 2, max: 10, cpuTarget: 60}", "    port: eighty\n    desiredCount: 2\n    scaling: {min: 2, max: 10, cpuTarget: 60}")

    refusal = refuse(edited)

    assert sorted(p.field for p in refusal.problems) == [
        "services.api-gateway.secrets[0].secret",
        "services.frontend.port",
        "services.processing-service.secrets[0].env",
    ]


def test_a_rule_that_reads_a_refused_value_is_left_to_that_problem(dev_yaml, refuse):
    # cpu is refused by type; the memory rule that needs cpu must not guess.
    edited = dev_yaml.replace("    cpu: 512\n    memory: 1024\n", '    cpu: "512"\n    memory: 999\n')

    refusal = refuse(edited)

    assert [p.field for p in refusal.problems] == ["services.frontend.cpu"]


def test_a_missing_region_still_checks_zones_against_the_default(dev_yaml, refuse):
    edited = dev_yaml.replace("region: us-east-1\n", "").replace("    cpu: 512\n", "    cpu: true\n").replace(
        "[us-east-1a, us-east-1b, us-east-1c]", "[us-west-2a, us-east-1b, us-east-1c]"
    )

    refusal = refuse(edited)

    assert sorted(p.field for p in refusal.problems) == ["network.availabilityZones[0]", "services.frontend.cpu"]


def test_document_problems_and_schema_problems_come_together(dev_yaml, refuse):
    edited = dev_yaml.replace("    cpu: 512\n    memory: 1024\n", "    cpu: 512\n    memory: 1024\n    cpu: 4096\n").replace(
        "  natGateways: single", "  natGateways: !!binary aGVsbG8="
    ).replace("    port: 9000\n", '    port: "9000"\n')

    refusal = refuse(edited)

    assert sorted(refusal.where(), key=lambda w: w[2]) == [
        (refusal.file, "network.natGateways", edited.line("natGateways: !!binary")),
        (refusal.file, "services.frontend.cpu", edited.line("cpu: 4096")),
        (refusal.file, "services.processing-service.port", edited.line('port: "9000"')),
    ]


# --- paths as in the repository, with the commit ----------------------------------------------


def test_problems_name_the_repo_path_and_commit_not_the_checkout(write_environment, dev_yaml):
    edited = dev_yaml.replace("    cpu: 512\n", "    cpu: 300\n")
    directory = write_environment("dev", edited.text)

    with pytest.raises(DesiredStateError) as caught:
        load_environment(directory, "dev", commit=COMMIT)

    message = str(caught.value)
    assert f"environments/dev.yaml:{edited.line('cpu: 300')} at 3f2a9c1: services.frontend.cpu: " in message
    assert str(directory) not in message
    assert caught.value.problems[0].commit == "3f2a9c1"


def test_without_a_commit_the_path_stands_alone(write_environment, dev_yaml):
    edited = dev_yaml.replace("    cpu: 512\n", "    cpu: 300\n")
    directory = write_environment("dev", edited.text)

    with pytest.raises(DesiredStateError) as caught:
        load_environment(directory, "dev")

    assert str(caught.value).splitlines()[1].startswith(f"  environments/dev.yaml:{edited.line('cpu: 300')}: services.frontend.cpu: ")
    assert str(directory) not in str(caught.value)


def test_loaded_environment_names_its_source_and_the_line_of_a_field(example_dir, dev_yaml):
    loaded = load_environment(example_dir, "dev", commit=COMMIT)

    assert loaded.source_file == "environments/dev.yaml"
    assert loaded.path == example_dir / "environments" / "dev.yaml"
    assert loaded.line_of("services.frontend.cpu") == dev_yaml.line("    cpu: 512")
    assert loaded.line_of("network.availabilityZones[1]") == dev_yaml.line("availabilityZones:")
    assert loaded.line_of("services.api-gateway.secrets[0].env") == dev_yaml.line("PARTNER_API_KEY")
    assert loaded.line_of("services.frontend.noSuchField") == dev_yaml.line("  frontend:")
    assert loaded.line_of("") == dev_yaml.line("environmentSuffix: dev")


def test_a_directory_named_like_an_environment_file_is_named_as_such(write_environment):
    directory = write_environment("qa", "environmentSuffix: qa\n")
    (directory / "environments" / "dev.yaml").mkdir()

    with pytest.raises(DesiredStateError) as caught:
        load_environment(directory, "dev")

    assert [p.reason for p in caught.value.problems] == [
        "environments/dev.yaml is a directory, not a file; an environment is one YAML file"
    ]


def test_an_environment_file_that_is_a_symlink_is_refused(write_environment, dev_yaml):
    directory = write_environment("dev", dev_yaml.text)
    os.symlink("dev.yaml", directory / "environments" / "prod.yaml")

    with pytest.raises(DesiredStateError) as caught:
        load_environment(directory, "prod")

    [problem] = caught.value.problems
    assert problem.file == "environments/prod.yaml"
    assert "is a symbolic link; environment files must be regular files" in problem.reason


def test_a_dangling_symlink_is_refused_not_reported_missing(write_environment):
    directory = write_environment("qa", "environmentSuffix: qa\n")
    os.symlink("/nonexistent/dev.yaml", directory / "environments" / "dev.yaml")

    with pytest.raises(DesiredStateError) as caught:
        load_environment(directory, "dev")

    assert "symbolic link" in caught.value.problems[0].reason


# --- credentials are never echoed -------------------------------------------------------------


def test_a_credential_named_field_does_not_echo_its_value(dev_yaml, refuse):
    edited = dev_yaml.replace("      LOG_LEVEL: debug\n      API_BASE_PATH: /api\n", "      LOG_LEVEL: debug\n      DB_PASSWORD: 98765432123\n")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.environment.DB_PASSWORD", edited.line("DB_PASSWORD: 98765432123"))]
    assert "98765432123" not in refusal.message
    assert "value hidden: the key looks like a credential" in refusal.reasons[0]


@pytest.mark.parametrize("key", ["DB_PASS", "PWD", "SENTRY_DSN", "AUTH_HEADER", "GITHUB_TOKEN", "STRIPE_KEY", "PRIVATE_PEM", "AWS_SECRET_ACCESS_KEY"])
def test_other_credential_names_hide_their_value(dev_yaml, refuse, key):
    edited = dev_yaml.replace("      LOG_LEVEL: debug\n      API_BASE_PATH: /api\n", f"      LOG_LEVEL: debug\n      {key}: 4242424242.5\n")

    refusal = refuse(edited)

    assert "4242424242" not in refusal.message
    assert refusal.problems[0].field.endswith(key)


def test_an_ordinary_field_still_shows_what_was_found(dev_yaml, refuse):
    edited = dev_yaml.replace("      LOG_LEVEL: debug\n      API_BASE_PATH: /api\n", "      LOG_LEVEL: debug\n      PASSENGER_COUNT: 12345\n")

    refusal = refuse(edited)

    assert "found int 12345" in refusal.reasons[0]


@pytest.mark.parametrize(
    "value",
    ["AKIAIOSFODNN7EXAMPLE", "ghp_" + "a1B2" * 9, "github_pat_" + "x1" * 20, "https://trader:pa/ss@db.internal/orders"],
    ids=["aws-access-key-id", "github-token", "github-pat", "url-password"],
)
def test_a_credential_shaped_value_is_never_echoed(dev_yaml, refuse, value):
    edited = dev_yaml.replace('{repository: frontend, tag: "1.4.2"}', f'{{repository: frontend, tag: "{value}x!"}}')

    refusal = refuse(edited)

    assert refusal.problems[0].field == "services.frontend.image.tag"
    assert value not in refusal.message
    assert value[:12] not in refusal.message


def test_a_bad_tag_under_a_credential_name_does_not_echo_it(dev_yaml, refuse):
    edited = dev_yaml.replace("      LOG_LEVEL: debug\n      API_BASE_PATH: /api\n", '      LOG_LEVEL: debug\n      API_TOKEN: !!int "s3cr3tvalue"\n')

    refusal = refuse(edited)

    assert "s3cr3tvalue" not in refusal.message


@pytest.mark.parametrize("name", ["DB_PASSWORD", "dbPassword", "db-pass", "PWD", "API_KEY", "apiKey", "SENTRY_DSN", "BASIC_AUTH", "DBPASSWORD", "github_token", "CREDENTIALS", "PRIVATE_KEY"])
def test_credential_names_are_recognised(name):
    assert looks_like_credential_name(name)


@pytest.mark.parametrize("name", ["LOG_LEVEL", "PASSENGER_COUNT", "AUTHOR", "MONKEY_MODE", "KEYBOARD_LAYOUT", "API_BASE_PATH", "cpu", "desiredCount", "CREDENTIALS_FILE"])  # a *_FILE holds a path, as in SECRET-002
def test_ordinary_names_are_not_credentials(name):
    assert not looks_like_credential_name(name)


@pytest.mark.parametrize("value", ["ASIAIOSFODNN7EXAMPLE", "postgres://u:p@h/db", "ghs_" + "z" * 30, "Bearer abcdefghijk12345"])
def test_credential_values_are_recognised(value):
    assert looks_like_credential_value(value)


@pytest.mark.parametrize("value", ["1.4.2", "https://example.com/path", "AKIA", "mailto:me@example.com", "user@example.com", "Bearer authentication"])
def test_ordinary_values_are_not_credentials(value):
    assert not looks_like_credential_value(value)


# --- traffic state reads like desired state ---------------------------------------------------


def test_traffic_state_problem_has_its_own_heading_and_no_pydantic_prefix():
    with pytest.raises(TrafficStateError) as caught:
        parse_traffic_state('{"services": {"frontend": {"weights": {"blue": 90, "green": 20}}}}', "traffic.json")

    message = str(caught.value)
    assert message.startswith("traffic state refused (1 problem)")
    assert "Value error" not in message
    assert [(p.file, p.field) for p in caught.value.problems] == [("traffic.json", "services.frontend.weights")]
    assert caught.value.problems[0].reason == "blue (90) and green (20) must add up to 100"


def test_traffic_state_fields_are_named_as_written():
    with pytest.raises(TrafficStateError) as caught:
        parse_traffic_state('{"services": {"frontend": {"liveColour": "red"}, "worker": {}}}')

    fields = sorted(p.field for p in caught.value.problems)
    assert fields == ["services.frontend.liveColour", "services.worker"]
    assert {p.file for p in caught.value.problems} == {"<traffic state>"}


def test_traffic_state_file_is_named_and_bad_json_is_refused(tmp_path):
    path = tmp_path / "traffic.json"
    path.write_text("{not json")

    with pytest.raises(TrafficStateError) as caught:
        read_traffic_state(path)

    [problem] = caught.value.problems
    assert problem.file == str(path)
    assert problem.reason.startswith("not valid JSON")


def test_missing_traffic_state_file_is_refused(tmp_path):
    with pytest.raises(TrafficStateError) as caught:
        read_traffic_state(tmp_path / "absent.json")

    assert "cannot read traffic state" in caught.value.problems[0].reason


def test_traffic_state_errors_are_desired_state_errors():
    assert issubclass(TrafficStateError, DesiredStateError)


# --- unique suffixes without settings -----------------------------------------------------------


def test_two_environment_files_with_the_same_suffix_are_refused(write_environment, dev_yaml):
    directory = write_environment("dev", dev_yaml.text)
    write_environment("prod", dev_yaml.text)

    with pytest.raises(DesiredStateError) as caught:
        check_unique_suffixes(directory)

    line = dev_yaml.line("environmentSuffix: dev")
    assert [(p.file, p.field, p.line) for p in caught.value.problems] == [
        ("environments/dev.yaml", "environmentSuffix", line),
        ("environments/prod.yaml", "environmentSuffix", line),
    ]
    assert "'dev' is claimed by environments/dev.yaml and environments/prod.yaml" in caught.value.problems[0].reason


def test_distinct_suffixes_pass(example_dir):
    assert check_unique_suffixes(example_dir) is None


def test_unreadable_files_are_left_to_their_own_load(write_environment, dev_yaml):
    directory = write_environment("dev", dev_yaml.text)
    write_environment("broken", "environmentSuffix: [\n")
    write_environment("empty", "")

    assert check_unique_suffixes(directory) is None


def test_a_problem_found_after_loading_is_named_at_the_files_commit():
    from desired_state.errors import FieldProblem
    from desired_state.loader import EXAMPLE_DIR, load_environment

    loaded = load_environment(EXAMPLE_DIR, "dev", commit="3f2a9c1d" + "0" * 32)
    line = loaded.line_of("environmentSuffix")
    refusal = loaded.refusal([FieldProblem(loaded.source_file, "environmentSuffix", line, "expected 'qa', found 'dev'")])

    assert f"environments/dev.yaml:{line} at 3f2a9c1: environmentSuffix: expected 'qa', found 'dev'" in str(refusal)
