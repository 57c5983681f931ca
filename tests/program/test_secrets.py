"""Secrets: Secrets Manager secrets with no recovery window; values generated or from secret config, never in the plan."""

from __future__ import annotations

import json

import pytest

SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
PASSWORD = "random:index/randomPassword:RandomPassword"
NAMES = ("db-credentials", "api-keys")


def test_one_secret_per_declared_name(stack, state):
    s = state.environment_suffix
    assert set(state.secrets) == set(NAMES)
    secrets = stack.of_type(SECRET)
    assert sorted(r.inputs["name"] for r in secrets) == sorted(f"secret-{n}-{s}" for n in NAMES)
    assert sorted(stack.outputs["secretArns"]) == sorted(NAMES)


@pytest.mark.parametrize("secret", NAMES)
def test_secret_has_no_recovery_window(stack, state, secret):
    resource = stack.named(f"secret-{secret}-{state.environment_suffix}")
    assert resource.inputs["recoveryWindowInDays"] == 0.0
    assert resource.inputs["description"] == state.secrets[secret].description


@pytest.mark.parametrize("secret", NAMES)
def test_secret_version_value_is_masked_and_targets_its_secret(stack, state, mock_state, secret):
    s = state.environment_suffix
    version = stack.named(f"secret-value-{secret}-{s}")
    assert version.inputs["secretString"] == "[secret]"
    arn = mock_state(stack.named(f"secret-{secret}-{s}"))["arn"]
    assert version.inputs["secretId"] == arn
    assert stack.outputs["secretArns"][secret] == arn
    assert arn.startswith("arn:aws:secretsmanager:")


def test_two_secret_versions(stack):
    versions = stack.of_type(VERSION)
    assert len(versions) == 2
    assert {v.inputs["secretString"] for v in versions} == {"[secret]"}


def test_dev_generates_both_values(rendered_dev, dev_state):
    assert dev_state.secrets["db-credentials"].kind == "generated-credentials"
    assert dev_state.secrets["api-keys"].kind == "generated-string"
    credentials = rendered_dev.named("password-db-credentials-dev")
    api_keys = rendered_dev.named("password-api-keys-dev")
    assert credentials.inputs["special"] is True
    assert api_keys.inputs["special"] is False
    assert api_keys.inputs["length"] == 48.0
    assert len(rendered_dev.of_type(PASSWORD)) == 2


def test_prod_api_keys_come_from_secret_config_not_a_generator(rendered_prod, prod_state):
    spec = prod_state.secrets["api-keys"]
    assert spec.kind == "config"
    assert spec.config_key == "partnerApiKey"
    assert [r.name for r in rendered_prod.of_type(PASSWORD)] == ["password-db-credentials-prod"]
    assert rendered_prod.named("password-db-credentials-prod").inputs["length"] == 64.0
    assert rendered_prod.named("secret-value-api-keys-prod").inputs["secretString"] == "[secret]"


def test_the_config_secret_value_never_appears_in_the_plan(rendered_prod):
    document = json.dumps(rendered_prod.to_json_document())
    assert "test-value-of-partnerApiKey" not in document
    assert "partnerApiKey" not in json.dumps(rendered_prod.outputs)
    # The rendered document still carries the masked version.
    assert '"secretString": "[secret]"' in document


def test_generated_values_never_appear_in_the_plan(rendered_dev, rendered_prod):
    for stack in (rendered_dev, rendered_prod):
        document = json.dumps(stack.to_json_document())
        assert "generated-at-apply" not in document


def test_each_secret_carries_its_receivers(stack, state):
    """The policy pack checks injections against this tag, offline and under CrossGuard."""
    s = state.environment_suffix
    assert stack.named(f"secret-db-credentials-{s}").inputs["tags"] == {"allowed-services": "processing-service"}
    assert stack.named(f"secret-api-keys-{s}").inputs["tags"] == {"allowed-services": "api-gateway"}


def test_a_secret_without_receivers_has_no_tag(render_mutated):
    def mutate(doc):
        del doc["secrets"]["api-keys"]["allowedServices"]
        doc["secrets"]["db-credentials"]["allowedServices"] = ["processing-service", "api-gateway"]

    rendered = render_mutated(mutate)
    assert "tags" not in rendered.named("secret-api-keys-dev").inputs or not rendered.named("secret-api-keys-dev").inputs["tags"]
    assert rendered.named("secret-db-credentials-dev").inputs["tags"] == {"allowed-services": "api-gateway processing-service"}
