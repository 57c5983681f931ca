"""SecretReader: one GetSecretValue per secret per process; errors name the secret, never a value."""

from __future__ import annotations

import pytest

from reconciler.adapters.secrets import SecretReader
from reconciler.errors import SettingsError


@pytest.fixture
def get_secret_calls(reconciler_aws) -> list[str]:
    calls: list[str] = []
    reconciler_aws.secretsmanager.meta.events.register(
        "provide-client-params.secrets-manager.GetSecretValue", lambda params, **_: calls.append(params["SecretId"])
    )
    return calls


def test_reads_a_string_secret_once_and_caches_it(reconciler_aws, get_secret_calls):
    reader = SecretReader(reconciler_aws.secretsmanager)

    values = [reader.read(reconciler_aws.webhook_secret_id) for _ in range(3)]

    assert values == [reconciler_aws.webhook_secret.encode()] * 3
    assert isinstance(values[0], bytes)
    assert get_secret_calls == [reconciler_aws.webhook_secret_id]


def test_binary_secret_is_returned_as_bytes(reconciler_aws, get_secret_calls):
    reconciler_aws.secretsmanager.create_secret(Name="ecs-gitops/binary", SecretBinary=b"\x00\x01binary-key\xff")
    reader = SecretReader(reconciler_aws.secretsmanager)

    assert reader.read("ecs-gitops/binary") == b"\x00\x01binary-key\xff"
    assert reader.read("ecs-gitops/binary") == b"\x00\x01binary-key\xff"
    assert get_secret_calls == ["ecs-gitops/binary"]


def test_each_secret_is_cached_separately(reconciler_aws, get_secret_calls):
    reconciler_aws.secretsmanager.create_secret(Name="ecs-gitops/other", SecretString="other-value-123")
    reader = SecretReader(reconciler_aws.secretsmanager)

    assert reader.read("ecs-gitops/other") == b"other-value-123"
    assert reader.read(reconciler_aws.webhook_secret_id) == reconciler_aws.webhook_secret.encode()
    reader.read("ecs-gitops/other")

    assert get_secret_calls == ["ecs-gitops/other", reconciler_aws.webhook_secret_id]


def test_unknown_secret_raises_settings_error_naming_the_secret(reconciler_aws):
    reader = SecretReader(reconciler_aws.secretsmanager)
    reader.read(reconciler_aws.webhook_secret_id)  # a value is now cached in the reader

    with pytest.raises(SettingsError) as caught:
        reader.read("ecs-gitops/does-not-exist")

    message = str(caught.value)
    assert "ecs-gitops/does-not-exist" in message
    assert "ResourceNotFoundException" in message
    assert reconciler_aws.webhook_secret not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # `from None`: no botocore chain


def test_a_failed_read_is_not_cached(reconciler_aws, get_secret_calls):
    reader = SecretReader(reconciler_aws.secretsmanager)
    with pytest.raises(SettingsError):
        reader.read("ecs-gitops/late")
    reconciler_aws.secretsmanager.create_secret(Name="ecs-gitops/late", SecretString="created-later-456")

    assert reader.read("ecs-gitops/late") == b"created-later-456"
    assert get_secret_calls == ["ecs-gitops/late", "ecs-gitops/late"]
