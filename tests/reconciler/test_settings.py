import pytest
from pydantic import ValidationError

from reconciler.errors import SettingsError
from reconciler.settings import EnvironmentSettings, load_settings


def test_production_requires_signed_commits_by_default():
    with pytest.raises(ValidationError, match="production environments require them"):
        EnvironmentSettings(stack="prod", suffix="prod", production=True)
    env = EnvironmentSettings(stack="prod", suffix="prod", production=True, allowed_signers_file="/etc/allowed")
    assert env.signed_commits_required is True


def test_production_may_turn_signing_off_explicitly_and_non_production_is_off_by_default():
    assert EnvironmentSettings(stack="prod", suffix="prod", production=True, require_signed_commits=False).signed_commits_required is False
    assert EnvironmentSettings(stack="dev", suffix="dev").signed_commits_required is False


def test_the_example_settings_load_with_prod_signed_and_gated(monkeypatch):
    monkeypatch.setenv("ECS_GITOPS_JOB_QUEUE_URL", "https://sqs.example/jobs.fifo")
    settings = load_settings("reconciler-settings.example.yaml")
    prod = settings.environment("prod")
    assert (prod.signed_commits_required, prod.require_approval, prod.windows[0].timezone) == (True, True, "America/New_York")
    assert settings.aws.job_queue_url == "https://sqs.example/jobs.fifo"  # resource names come from the template's env vars
    with pytest.raises(SettingsError, match="not managed by this reconciler"):
        settings.environment("staging")


def test_invalid_settings_name_the_file_and_field(tmp_path):
    file = tmp_path / "settings.yaml"
    file.write_text("repository: {url: x}\nenvironments: {dev: {stack: dev}}\n")
    with pytest.raises(SettingsError) as refused:
        load_settings(file)
    assert str(file) in str(refused.value) and "environments.dev.suffix" in str(refused.value)
