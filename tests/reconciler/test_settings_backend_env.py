"""The Pulumi backend and secrets provider template.yaml created (or was given) reach the workers as
environment variables, and win over the settings file, as the aws section's resource names do."""

from __future__ import annotations

from reconciler.settings import SETTINGS_ENV_VARS, load_settings

SETTINGS = """
repository: {url: codecommit::us-east-1://desired-state}
environments: {dev: {stack: dev, suffix: dev}}
backendUrl: s3://from-the-file
secretsProvider: awskms://alias/from-the-file
"""


def test_the_templates_backend_and_secrets_provider_win_over_the_file(tmp_path, monkeypatch):
    file = tmp_path / "settings.yaml"
    file.write_text(SETTINGS)
    monkeypatch.setenv("ECS_GITOPS_BACKEND_URL", "s3://state-bucket-of-the-template?region=us-east-1")
    monkeypatch.setenv("ECS_GITOPS_SECRETS_PROVIDER", "awskms:///arn:aws:kms:us-east-1:123456789012:key/k?region=us-east-1")
    settings = load_settings(file)
    assert settings.backend_url == "s3://state-bucket-of-the-template?region=us-east-1"
    assert settings.secrets_provider == "awskms:///arn:aws:kms:us-east-1:123456789012:key/k?region=us-east-1"
    assert SETTINGS_ENV_VARS == {"backendUrl": "ECS_GITOPS_BACKEND_URL", "secretsProvider": "ECS_GITOPS_SECRETS_PROVIDER"}


def test_without_the_variables_the_file_decides(tmp_path, monkeypatch):
    file = tmp_path / "settings.yaml"
    file.write_text(SETTINGS)
    for variable in ("ECS_GITOPS_BACKEND_URL", "ECS_GITOPS_SECRETS_PROVIDER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("ECS_GITOPS_BACKEND_URL", "")  # set but empty: not given
    settings = load_settings(file)
    assert (settings.backend_url, settings.secrets_provider) == ("s3://from-the-file", "awskms://alias/from-the-file")
