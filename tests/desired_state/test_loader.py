"""Loading environment files: the examples, digests, and refusals of the document itself."""

from __future__ import annotations

import hashlib
import re

import pytest
import yaml

from desired_state.errors import DesiredStateError, EnvironmentNotFoundError
from desired_state.loader import load_environment

try:
    from tests.conftest import example_document
except ImportError:  # pytest started without the project root on sys.path
    from desired_state.loader import EXAMPLE_DIR

    def example_document(environment: str = "dev") -> dict:
        return yaml.safe_load((EXAMPLE_DIR / "environments" / f"{environment}.yaml").read_text())


DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


# --- the bundled examples ------------------------------------------------------------------


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_bundled_example_loads_without_problems(example_dir, environment):
    loaded = load_environment(example_dir, environment)

    path = example_dir / "environments" / f"{environment}.yaml"
    assert loaded.name == environment
    assert loaded.file == str(path)
    assert loaded.state.environment_suffix == environment
    assert DIGEST.match(loaded.digest), loaded.digest
    assert loaded.digest == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_examples_differ_where_they_should(dev_state, prod_state):
    assert dev_state.network.nat_gateways == "single"
    assert prod_state.network.nat_gateways == "per-az"
    assert dev_state.edge.certificate_arn is None
    assert prod_state.edge.certificate_arn is not None
    assert prod_state.secrets["api-keys"].kind == "config"


def test_digest_is_stable_for_the_same_bytes_and_changes_with_content(example_dir, dev_yaml, accept):
    original = load_environment(example_dir, "dev")

    same = accept(dev_yaml)
    assert same.digest == original.digest

    commented = accept(dev_yaml.append("# a comment changes no field\n"))
    assert DIGEST.match(commented.digest)
    assert commented.digest != original.digest
    assert commented.state == original.state


def test_digest_changes_when_the_same_data_is_written_differently(dev_state, example_dir, accept):
    redumped = yaml.safe_dump(example_document("dev"), sort_keys=False)

    loaded = accept(redumped)

    assert loaded.state == dev_state
    assert loaded.digest == "sha256:" + hashlib.sha256(redumped.encode()).hexdigest()
    assert loaded.digest != load_environment(example_dir, "dev").digest


def test_digest_changes_when_a_field_changes(example_dir, dev_yaml, accept):
    changed = accept(dev_yaml.replace("    desiredCount: 2\n    scaling: {min: 2, max: 10, cpuTarget: 60}", "    desiredCount: 3\n    scaling: {min: 2, max: 10, cpuTarget: 60}"))

    assert changed.state.services.frontend.desired_count == 3
    assert changed.digest != load_environment(example_dir, "dev").digest


# --- the file and document -----------------------------------------------------------------


def test_missing_environment_lists_the_known_ones(example_dir):
    with pytest.raises(EnvironmentNotFoundError) as caught:
        load_environment(example_dir, "staging")

    problems = caught.value.problems
    assert [(p.file, p.field, p.line) for p in problems] == [("environments/staging.yaml", "", None)]
    assert "environment 'staging' not found (known environments: dev, prod)" in problems[0].reason
    assert "nothing was rendered" in str(caught.value)


def test_missing_environment_names_only_what_is_there(write_environment):
    directory = write_environment("qa", "environmentSuffix: qa\n")

    with pytest.raises(EnvironmentNotFoundError) as caught:
        load_environment(directory, "dev")

    [problem] = caught.value.problems
    assert (problem.file, problem.field, problem.line) == ("environments/dev.yaml", "", None)
    assert "known environments: qa" in problem.reason


def test_missing_environments_directory_says_so(tmp_path):
    with pytest.raises(EnvironmentNotFoundError) as caught:
        load_environment(tmp_path, "dev")

    [problem] = caught.value.problems
    assert (problem.file, problem.field, problem.line) == ("environments/dev.yaml", "", None)
    assert "no environments/ directory there" in problem.reason


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank-lines", "comment-only"])
def test_empty_file_is_refused(refuse, text):
    refusal = refuse(text)

    assert refusal.where() == [(refusal.file, "", None)]
    assert refusal.reasons == ["the file is empty"]


@pytest.mark.parametrize("text", ["- frontend\n- api-gateway\n", "just a string\n", "42\n"], ids=["list", "string", "number"])
def test_document_that_is_not_a_mapping_is_refused(refuse, text):
    refusal = refuse(text)

    assert refusal.where() == [(refusal.file, "", 1)]
    assert "must be a mapping" in refusal.reasons[0]


def test_yaml_syntax_error_gives_its_line(dev_yaml, refuse):
    broken = dev_yaml.replace("    cpu: 512\n", "    cpu: 512: 1024\n")

    refusal = refuse(broken)

    assert refusal.where() == [(refusal.file, "", broken.line("cpu: 512: 1024"))]
    assert refusal.reasons[0].startswith("not valid YAML: ")
    assert "mapping values are not allowed" in refusal.reasons[0]


def test_unclosed_flow_sequence_is_a_syntax_error_at_the_next_key(refuse):
    refusal = refuse("environmentSuffix: dev\nnetwork:\n  availabilityZones: [us-east-1a, us-east-1b\n  cidr: 10.0.0.0/16\n")

    assert refusal.where() == [(refusal.file, "", 4)]
    assert "not valid YAML" in refusal.reasons[0]


def test_second_yaml_document_is_refused(dev_yaml, refuse):
    doubled = dev_yaml.append("---\nenvironmentSuffix: other\n")

    refusal = refuse(doubled)

    assert refusal.where() == [(refusal.file, "", doubled.line("---"))]
    assert "another document" in refusal.reasons[0]


def test_duplicate_top_level_key_names_both_lines(dev_yaml, refuse):
    doubled = dev_yaml.replace("region: us-east-1\n", "region: us-east-1\nenvironmentSuffix: prod\n")

    refusal = refuse(doubled)

    first, second = doubled.line("environmentSuffix: dev"), doubled.line("environmentSuffix: prod")
    assert (first, second) == (2, 4)
    assert refusal.where() == [(refusal.file, "environmentSuffix", second)]
    assert refusal.reasons == [f"duplicate key; it is also set on line {first}"]


def test_duplicate_nested_key_names_both_lines(dev_yaml, refuse):
    doubled = dev_yaml.replace("    cpu: 512\n    memory: 1024\n", "    cpu: 512\n    memory: 1024\n    cpu: 4096\n")

    refusal = refuse(doubled)

    first, second = doubled.line("    cpu: 512"), doubled.line("    cpu: 4096")
    assert refusal.where() == [(refusal.file, "services.frontend.cpu", second)]
    assert f"it is also set on line {first}" in refusal.reasons[0]


def test_duplicate_key_in_a_flow_mapping(dev_yaml, refuse):
    doubled = dev_yaml.replace("{min: 2, max: 10, cpuTarget: 60}", "{min: 2, max: 10, min: 3, cpuTarget: 60}")

    refusal = refuse(doubled)

    line = doubled.line("min: 3")
    assert refusal.where() == [(refusal.file, "services.frontend.scaling.min", line)]
    assert f"also set on line {line}" in refusal.reasons[0]


def test_non_string_key_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("region: us-east-1\n", "region: us-east-1\n8080: http\n")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "", edited.line("8080: http"))]
    assert "key 8080 is not a string" in refusal.reasons[0]


def test_binary_value_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("      LOG_LEVEL: debug\n      API_BASE_PATH: /api\n", "      LOG_LEVEL: !!binary aGVsbG8=\n      API_BASE_PATH: /api\n")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.environment.LOG_LEVEL", edited.line("!!binary"))]
    assert "binary and set values are not allowed" in refusal.reasons[0]


# --- unknown keys ---------------------------------------------------------------------------


def test_unknown_top_level_key_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("region: us-east-1\n", "region: us-east-1\nowner: trading-team\n")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "owner", edited.line("owner: trading-team"))]
    assert "unknown key" in refusal.reasons[0]


def test_unknown_nested_key_is_refused_and_not_defaulted(dev_yaml, refuse):
    # A typo of natGateways must not silently fall back to the per-az default.
    edited = dev_yaml.replace("  natGateways: single", "  natGateway: single")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "network.natGateway", edited.line("natGateway: single"))]
    assert refusal.reasons == ["unknown key (check its spelling against the schema)"]


def test_unknown_key_in_a_flow_mapping_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("{min: 2, max: 10, cpuTarget: 60}", "{min: 2, max: 10, cpuTarget: 60, cpuTargets: 70}")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.scaling.cpuTargets", edited.line("cpuTargets: 70"))]
    assert "unknown key" in refusal.reasons[0]


def test_misspelt_required_key_is_reported_missing_and_unknown(dev_yaml, refuse):
    edited = dev_yaml.replace("environmentSuffix: dev", "environmentSufix: dev")

    refusal = refuse(edited)

    line = edited.line("environmentSufix: dev")
    assert sorted(refusal.where()) == sorted(
        [(refusal.file, "environmentSuffix", line), (refusal.file, "environmentSufix", line)]
    )
    reasons = dict(zip((p.field for p in refusal.problems), refusal.reasons))
    assert reasons["environmentSuffix"] == "required field is missing"
    assert "unknown key" in reasons["environmentSufix"]


def test_missing_service_is_reported_at_services(dev_yaml, refuse):
    start = dev_yaml.text.index("  processing-service:\n")
    end = dev_yaml.text.index("tags:\n")
    edited = dev_yaml.replace(dev_yaml.text[start:end], "")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.processing-service", edited.line("services:"))]
    assert refusal.reasons == ["required field is missing"]


# --- several problems at once --------------------------------------------------------------


def test_every_schema_problem_in_a_file_is_reported_at_once(dev_yaml, refuse):
    edited = (
        dev_yaml.replace("  natGateways: single", "  natGateway: single")
        .replace("    cpu: 512\n", '    cpu: "512"\n')
        .replace('{repository: api-gateway, tag: "2.8.0"}', "{repository: api-gateway, tag: latest}")
        .replace("{min: 2, max: 10, cpuTarget: 50}", "{min: 5, max: 3, cpuTarget: 50}")
    )

    refusal = refuse(edited)

    assert len(refusal.problems) == 4
    assert sorted(refusal.where(), key=lambda w: w[2]) == [
        (refusal.file, "network.natGateway", edited.line("natGateway: single")),
        (refusal.file, "services.frontend.cpu", edited.line('cpu: "512"')),
        (refusal.file, "services.api-gateway.image.tag", edited.line("tag: latest")),
        (refusal.file, "services.processing-service.scaling", edited.line("{min: 5, max: 3")),
    ]
    assert refusal.message.startswith("desired state refused (4 problems); nothing was rendered")
    assert f"{refusal.file}:{edited.line('tag: latest')}: services.api-gateway.image.tag: " in refusal.message


def test_every_cross_field_problem_in_a_file_is_reported_at_once(dev_yaml, refuse):
    edited = (
        dev_yaml.replace("[us-east-1a, us-east-1b, us-east-1c]", "[us-east-1a, us-east-1b, us-west-2c]")
        .replace("    cpu: 512\n", "    cpu: 300\n")
        .replace('{repository: api-gateway, tag: "2.8.0"}', '{repository: frontend, tag: "2.8.0"}')
        .replace("    desiredCount: 2\n    scaling: {min: 2, max: 10, cpuTarget: 50}", "    desiredCount: 20\n    scaling: {min: 2, max: 10, cpuTarget: 50}")
        .append("discovery:\n  namespace: platform.internal\n")
    )

    refusal = refuse(edited)

    assert len(refusal.problems) == 5
    assert sorted(refusal.where(), key=lambda w: w[2]) == [
        (refusal.file, "network.availabilityZones[2]", edited.line("us-west-2c")),
        (refusal.file, "services.frontend.cpu", edited.line("cpu: 300")),
        (refusal.file, "services.api-gateway.image.repository", edited.line('{repository: frontend, tag: "2.8.0"}')),
        (refusal.file, "services.processing-service.desiredCount", edited.line("desiredCount: 20")),
        (refusal.file, "discovery.namespace", edited.line("namespace: platform.internal")),
    ]


# --- YAML the loader must refuse cleanly, never crash on -----------------------------------


def test_unknown_yaml_tag_is_refused_at_its_field(dev_yaml, refuse):
    edited = dev_yaml.replace('tag: "1.4.2"', "tag: !release 1.4.2")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.image.tag", edited.line("!release"))]
    assert "!release" in refusal.reasons[0]


def test_merge_key_is_honoured_or_refused_cleanly(dev_yaml, write_environment):
    edited = dev_yaml.replace("{min: 2, max: 10, cpuTarget: 60}", "&scaling {min: 2, max: 10, cpuTarget: 60}").replace(
        "{min: 2, max: 10, cpuTarget: 55}", "{<<: *scaling, cpuTarget: 55}"
    )
    directory = write_environment("dev", edited.text)

    try:
        loaded = load_environment(directory, "dev")
    except DesiredStateError as exc:
        assert [(p.file, p.line) for p in exc.problems] == [("environments/dev.yaml", edited.line("<<: *scaling"))]
    else:
        scaling = loaded.state.services.api_gateway.scaling
        assert (scaling.min, scaling.max, scaling.cpu_target) == (2, 10, 55)


def test_infinite_number_is_refused_at_its_field(dev_yaml, refuse):
    edited = dev_yaml.replace("{min: 2, max: 10, cpuTarget: 60}", "{min: 2, max: 10, cpuTarget: .inf}")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.scaling.cpuTarget", edited.line("cpuTarget: .inf"))]
