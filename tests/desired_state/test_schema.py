"""Field rules of the desired-state schema, each shown through a refused (or accepted) file."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from desired_state.schema import FARGATE_TASK_SIZES, ImageRef, ScalingSpec, SecretSpec

FRONTEND_IMAGE = '{repository: frontend, tag: "1.4.2"}'
FRONTEND_SIZING = "    desiredCount: 2\n    scaling: {min: 2, max: 10, cpuTarget: 60}"
FRONTEND_HEALTH = "{path: /healthz, interval: 15, timeout: 5,"
DIGEST = "sha256:" + "ab" * 32


# --- strict types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field", "found"),
    [
        ("    cpu: 512\n", '    cpu: "512"\n', "services.frontend.cpu", "found str '512'"),
        ("    port: 8080\n" + FRONTEND_SIZING, "    port: 80.5\n" + FRONTEND_SIZING, "services.frontend.port", "found float 80.5"),
        (FRONTEND_SIZING, FRONTEND_SIZING.replace("desiredCount: 2", "desiredCount: true"), "services.frontend.desiredCount", "found bool True"),
    ],
    ids=["cpu-as-string", "port-as-float", "desiredCount-as-bool"],
)
def test_number_of_the_wrong_type_is_refused(dev_yaml, refuse, old, new, field, found):
    edited = dev_yaml.replace(old, new)

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, field, edited.line(new.splitlines()[0].strip()))]
    assert "Input should be a valid integer" in refusal.reasons[0]
    assert found in refusal.reasons[0]


def test_environment_value_yaml_reads_as_bool_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("      LOG_LEVEL: debug\n      API_BASE_PATH", "      LOG_LEVEL: on\n      API_BASE_PATH")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.environment.LOG_LEVEL", edited.line("LOG_LEVEL: on"))]
    assert "Input should be a valid string (found bool True)" in refusal.reasons[0]


def test_tag_yaml_reads_as_a_float_is_refused(dev_yaml, refuse):
    # Unquoted 1.10 is the float 1.1: the tag would silently lose its trailing zero.
    edited = dev_yaml.replace(FRONTEND_IMAGE, "{repository: frontend, tag: 1.10}")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.image.tag", edited.line("tag: 1.10"))]
    assert "Input should be a valid string (found float 1.1)" in refusal.reasons[0]


def test_date_like_tag_stays_a_string_and_is_accepted(dev_yaml, accept):
    loaded = accept(dev_yaml.replace(FRONTEND_IMAGE, "{repository: frontend, tag: 2024-01-01}"))

    assert loaded.state.services.frontend.image.tag == "2024-01-01"
    assert loaded.state.services.frontend.image.reference == ":2024-01-01"


# --- Fargate task sizes ---------------------------------------------------------------------


def test_memory_fargate_does_not_pair_with_the_cpu_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("    cpu: 512\n    memory: 1024\n", "    cpu: 512\n    memory: 3000\n")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.memory", edited.line("memory: 3000"))]
    assert "Fargate does not accept cpu 512 with memory 3000 MiB" in refusal.reasons[0]
    assert "use one of 1024, 2048, 3072, 4096" in refusal.reasons[0]


def test_cpu_that_is_no_fargate_size_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("    cpu: 512\n", "    cpu: 300\n")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.cpu", edited.line("cpu: 300"))]
    assert "300 is not a Fargate CPU size" in refusal.reasons[0]


@pytest.mark.parametrize(("cpu", "memory"), [(256, 512), (512, 4096), (4096, 30720), (16384, 122880)])
def test_fargate_pairs_at_the_edges_are_accepted(dev_yaml, accept, cpu, memory):
    assert memory in FARGATE_TASK_SIZES[cpu]

    loaded = accept(dev_yaml.replace("    cpu: 512\n    memory: 1024\n", f"    cpu: {cpu}\n    memory: {memory}\n"))

    assert (loaded.state.services.frontend.cpu, loaded.state.services.frontend.memory) == (cpu, memory)


# --- environment suffix ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["Dev", "dev_1", "dev--1", "-dev"])
def test_suffix_not_lowercase_with_single_hyphens_is_refused(dev_yaml, refuse, suffix):
    edited = dev_yaml.replace("environmentSuffix: dev", f"environmentSuffix: {suffix}")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "environmentSuffix", edited.line("environmentSuffix:"))]
    assert f"'{suffix}' must be lowercase letters, digits and single hyphens" in refusal.reasons[0]


def test_suffix_too_long_for_target_group_names_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("environmentSuffix: dev", "environmentSuffix: feature-1234")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "environmentSuffix", edited.line("environmentSuffix:"))]
    reason = refusal.reasons[0]
    assert "ELBv2 target group name 'tg-api-gateway-green-feature-1234' 33 characters" in reason
    assert "AWS allows 32" in reason
    assert "the suffix may be at most 11 characters" in reason


def test_suffix_of_eleven_characters_is_accepted(dev_yaml, accept):
    loaded = accept(dev_yaml.replace("environmentSuffix: dev", "environmentSuffix: feature-123"))

    assert loaded.state.environment_suffix == "feature-123"
    assert len(loaded.state.environment_suffix) == 11


# --- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["latest", "stable", "Latest"])
def test_moving_tag_is_refused(dev_yaml, refuse, tag):
    edited = dev_yaml.replace(FRONTEND_IMAGE, f"{{repository: frontend, tag: {tag}}}")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.image.tag", edited.line(f"tag: {tag}"))]
    assert f"'{tag}' is a moving tag" in refusal.reasons[0]


def test_tag_with_forbidden_characters_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace(FRONTEND_IMAGE, '{repository: frontend, tag: "1.4.2+build"}')

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.image.tag", edited.line("1.4.2+build"))]
    assert "is not a valid image tag" in refusal.reasons[0]


def test_image_with_neither_tag_nor_digest_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace(FRONTEND_IMAGE, "{repository: frontend}")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.image", edited.line("{repository: frontend}"))]
    assert "give a tag or a digest" in refusal.reasons[0]


@pytest.mark.parametrize("digest", ["sha256:abc", "sha256:" + "AB" * 32, "md5:" + "ab" * 16, "ab" * 32])
def test_malformed_digest_is_refused(dev_yaml, refuse, digest):
    edited = dev_yaml.replace(FRONTEND_IMAGE, f'{{repository: frontend, digest: "{digest}"}}')

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.image.digest", edited.line("digest:"))]
    assert f"'{digest}' is not an image digest of the form sha256:<64 hex characters>" in refusal.reasons[0]


def test_image_pinned_by_digest_is_accepted_and_referenced_by_it(dev_yaml, accept):
    loaded = accept(dev_yaml.replace(FRONTEND_IMAGE, f"{{repository: frontend, digest: {DIGEST}}}"))

    image = loaded.state.services.frontend.image
    assert (image.tag, image.digest, image.reference) == (None, DIGEST, "@" + DIGEST)


def test_image_from_another_services_repository_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace(FRONTEND_IMAGE, '{repository: api-gateway, tag: "1.4.2"}')

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.image.repository", edited.line('{repository: api-gateway, tag: "1.4.2"}'))]
    assert "'api-gateway' is not this service's repository; frontend pulls only from 'frontend'" in refusal.reasons[0]


# --- scaling and health checks --------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 11])
def test_desired_count_outside_scaling_bounds_is_refused(dev_yaml, refuse, count):
    edited = dev_yaml.replace(FRONTEND_SIZING, FRONTEND_SIZING.replace("desiredCount: 2", f"desiredCount: {count}"))

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.desiredCount", edited.line(f"desiredCount: {count}"))]
    assert f"{count} is outside the scaling bounds 2..10" in refusal.reasons[0]


def test_scaling_min_above_max_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("{min: 2, max: 10, cpuTarget: 60}", "{min: 5, max: 3, cpuTarget: 60}")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.scaling", edited.line("{min: 5, max: 3"))]
    assert "min (5) is above max (3)" in refusal.reasons[0]


@pytest.mark.parametrize("timeout", [15, 20])
def test_health_check_timeout_not_below_interval_is_refused(dev_yaml, refuse, timeout):
    edited = dev_yaml.replace(FRONTEND_HEALTH, f"{{path: /healthz, interval: 15, timeout: {timeout},")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.frontend.healthCheck", edited.line("path: /healthz"))]
    assert f"timeout ({timeout}s) must be shorter than interval (15s)" in refusal.reasons[0]


# --- secrets --------------------------------------------------------------------------------


def test_injection_of_an_undeclared_secret_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("{env: PARTNER_API_KEY, secret: api-keys}", "{env: PARTNER_API_KEY, secret: partner-key}")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.api-gateway.secrets[0].secret", edited.line("secret: partner-key"))]
    assert "'partner-key' is not declared under secrets (declared: api-keys, db-credentials)" in refusal.reasons[0]


def test_env_var_set_both_plain_and_from_a_secret_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace('      PROCESSING_PORT: "9000"\n', '      PROCESSING_PORT: "9000"\n      PARTNER_API_KEY: plain-text\n')

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "services.api-gateway.secrets[0].env", edited.line("{env: PARTNER_API_KEY"))]
    assert "PARTNER_API_KEY is also a plain environment value" in refusal.reasons[0]


def test_config_secret_without_config_key_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("    kind: generated-string\n    length: 48\n", "    kind: config\n")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "secrets.api-keys", edited.line("  api-keys:"))]
    assert "kind config needs configKey" in refusal.reasons[0]


def test_generated_credentials_without_username_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("    username: trading_app\n", "")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "secrets.db-credentials", edited.line("  db-credentials:"))]
    assert "kind generated-credentials needs a username" in refusal.reasons[0]


def test_config_key_on_a_generated_secret_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("    kind: generated-string\n    length: 48\n", "    kind: generated-string\n    configKey: partnerApiKey\n")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "secrets.api-keys", edited.line("  api-keys:"))]
    assert "configKey only applies to kind config, not generated-string" in refusal.reasons[0]


def test_secret_specs_directly():
    assert SecretSpec(kind="config", config_key="partnerApiKey").config_key == "partnerApiKey"
    with pytest.raises(ValidationError, match="needs a username"):
        SecretSpec(kind="generated-credentials")


# --- network --------------------------------------------------------------------------------


def test_availability_zone_outside_the_region_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("[us-east-1a, us-east-1b, us-east-1c]", "[us-east-1a, us-west-2b, us-east-1c]")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "network.availabilityZones[1]", edited.line("us-west-2b"))]
    assert "'us-west-2b' is not in region us-east-1" in refusal.reasons[0]


def test_availability_zones_that_are_not_distinct_are_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("[us-east-1a, us-east-1b, us-east-1c]", "[us-east-1a, us-east-1b, us-east-1a]")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "network.availabilityZones", edited.line("availabilityZones:"))]
    assert "the three availability zones must be distinct" in refusal.reasons[0]


def test_two_availability_zones_are_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("[us-east-1a, us-east-1b, us-east-1c]", "[us-east-1a, us-east-1b]")

    refusal = refuse(edited)

    # Said plainly (issue 9), not as "availabilityZones[2]: required field is missing".
    assert refusal.where() == [(refusal.file, "network.availabilityZones", edited.line("availabilityZones:"))]
    assert refusal.reasons[0].startswith("only 2 availability zones given; list exactly 3")


def test_four_availability_zones_are_refused_by_count(dev_yaml, refuse):
    edited = dev_yaml.replace("[us-east-1a, us-east-1b, us-east-1c]", "[us-east-1a, us-east-1b, us-east-1c, us-east-1d]")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "network.availabilityZones", edited.line("availabilityZones:"))]
    assert refusal.reasons[0].startswith("4 availability zones given; list exactly 3")


@pytest.mark.parametrize(
    ("cidr", "reason"),
    [
        ("8.8.0.0/16", "'8.8.0.0/16' is not inside a private RFC 1918 range"),
        ("100.64.0.0/16", "is not inside a private RFC 1918 range"),
        ("10.20.0.0/24", "prefix /24 is out of range; use /16 to /22"),
        ("10.0.0.0/12", "prefix /12 is out of range; use /16 to /22"),
        ("not-a-cidr", "'not-a-cidr' is not an IPv4 network in CIDR form"),
        ("10.20.0.1/16", "is not an IPv4 network in CIDR form"),
    ],
    ids=["public", "shared-address-space", "prefix-too-long", "prefix-too-short", "not-cidr", "host-bits-set"],
)
def test_unusable_cidr_is_refused(dev_yaml, refuse, cidr, reason):
    edited = dev_yaml.replace("cidr: 10.20.0.0/16", f"cidr: {cidr}")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "network.cidr", edited.line("cidr:"))]
    assert reason in refusal.reasons[0]


@pytest.mark.parametrize("cidr", ["127.0.0.0/16", "169.254.0.0/16", "198.18.0.0/16"])
def test_reserved_non_rfc1918_cidr_is_refused(dev_yaml, refuse, cidr):
    # The rule promises RFC 1918; Python's is_private also covers loopback, link-local,
    # benchmarking and reserved ranges, which AWS will not take as a VPC CIDR.
    edited = dev_yaml.replace("cidr: 10.20.0.0/16", f"cidr: {cidr}")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "network.cidr", edited.line("cidr:"))]
    assert "RFC 1918" in refusal.reasons[0]


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "172.16.0.0/20", "192.168.0.0/22"])
def test_rfc1918_cidr_within_prefix_range_is_accepted(dev_yaml, accept, cidr):
    assert accept(dev_yaml.replace("cidr: 10.20.0.0/16", f"cidr: {cidr}")).state.network.cidr == cidr


# --- edge and discovery ---------------------------------------------------------------------


def test_old_tls_policy_is_refused(dev_yaml, refuse):
    edited = dev_yaml.replace("  testListenerPort: 8443\n", "  sslPolicy: ELBSecurityPolicy-2016-08\n  testListenerPort: 8443\n")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "edge.sslPolicy", edited.line("sslPolicy:"))]
    assert "'ELBSecurityPolicy-2016-08' is not a current TLS 1.2+/1.3 policy" in refusal.reasons[0]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:acm:us-east-1:123:certificate/3f1c2a7e-5b9d-4c1e-9a2f-6d7e8b9c0a1b",
        "arn:aws:iam::123456789012:server-certificate/legacy",
        "3f1c2a7e-5b9d-4c1e-9a2f-6d7e8b9c0a1b",
    ],
    ids=["short-account", "iam-certificate", "bare-id"],
)
def test_malformed_certificate_arn_is_refused(dev_yaml, refuse, arn):
    edited = dev_yaml.replace("  testListenerPort: 8443\n", f"  certificateArn: {arn}\n  testListenerPort: 8443\n")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "edge.certificateArn", edited.line("certificateArn:"))]
    assert f"'{arn}' is not an ACM certificate ARN" in refusal.reasons[0]


def test_discovery_namespace_without_the_suffix_is_refused(dev_yaml, refuse):
    edited = dev_yaml.append("discovery:\n  namespace: platform.internal\n")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "discovery.namespace", edited.line("namespace: platform.internal"))]
    assert "'platform.internal' must contain the environment suffix 'dev'" in refusal.reasons[0]


def test_discovery_namespace_defaults_to_one_with_the_suffix(dev_state, dev_yaml, accept):
    assert dev_state.discovery_namespace == "dev.platform.internal"
    loaded = accept(dev_yaml.append("discovery:\n  namespace: dev.trading.internal\n"))
    assert loaded.state.discovery_namespace == "dev.trading.internal"


# --- models used directly -------------------------------------------------------------------


def test_models_are_frozen(dev_state):
    with pytest.raises(ValidationError):
        dev_state.services.frontend.cpu = 1024  # type: ignore[misc]


def test_image_ref_refuses_a_tag_given_as_a_number():
    with pytest.raises(ValidationError, match="valid string"):
        ImageRef.model_validate({"repository": "frontend", "tag": 1.1})


def test_scaling_spec_accepts_python_field_names_and_camel_case():
    assert ScalingSpec(min=1, max=2, cpu_target=50).cpu_target == 50
    assert ScalingSpec.model_validate({"min": 1, "max": 2, "cpuTarget": 50}).cpu_target == 50


# A `$` anchor matches before a trailing newline, so `re.match(r"^...$")` accepted "v1.2.3\n";
# the intake refuses whitespace itself, but the schema is the last word on what is deployable.
@pytest.mark.parametrize(
    "fields",
    [
        {"tag": "v1.2.3\n"},
        {"digest": "sha256:" + "a" * 64 + "\n"},
        {"repository": "frontend", "tag": "latest\n"},
    ],
    ids=["tag", "digest", "moving-tag"],
)
def test_a_trailing_newline_never_passes_an_anchored_pattern(fields):
    with pytest.raises(ValidationError):
        ImageRef.model_validate({"repository": "frontend", **fields})


@pytest.mark.parametrize("suffix", ["dev\n", "prod\n"])
def test_suffix_with_a_trailing_newline_is_refused(suffix):
    from desired_state.naming import suffix_problems

    assert suffix_problems(suffix)
