import pytest
from pydantic import ValidationError

from reconciler.errors import SettingsError
from reconciler.settings import EnvironmentSettings, Floors, load_settings


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


def test_the_class_follows_production_and_an_explicit_class_must_agree():
    assert EnvironmentSettings(stack="dev", suffix="dev").environment_class == "non-production"
    prod = EnvironmentSettings(stack="prod", suffix="prod", production=True, require_signed_commits=False)
    assert prod.environment_class == "production"
    assert EnvironmentSettings.model_validate({"stack": "p", "suffix": "p", "production": True, "requireSignedCommits": False, "environmentClass": "production"}).environment_class == "production"
    with pytest.raises(ValidationError, match="disagrees with production"):
        EnvironmentSettings.model_validate({"stack": "p", "suffix": "p", "production": True, "requireSignedCommits": False, "environmentClass": "non-production"})
    with pytest.raises(ValidationError, match="disagrees with production"):
        EnvironmentSettings.model_validate({"stack": "d", "suffix": "d", "environmentClass": "production"})


def test_an_undeclared_class_is_for_code_only_never_a_settings_file(tmp_path):
    assert EnvironmentSettings(stack="dev", suffix="dev", environment_class=None).environment_class is None
    file = tmp_path / "settings.yaml"
    file.write_text("repository: {url: x}\nenvironments: {prod: {stack: prod, suffix: prod, environmentClass: null}}\n")
    with pytest.raises(SettingsError, match="environments.prod.environmentClass: null is not allowed"):
        load_settings(file)


def test_the_example_settings_set_floors_and_lease_timings(monkeypatch):
    settings = load_settings("reconciler-settings.example.yaml")
    prod, dev = settings.environment("prod"), settings.environment("dev")
    assert (prod.environment_class, dev.environment_class) == ("production", "non-production")
    assert (prod.floors.min_rollout_steps, prod.floors.min_bake_seconds, prod.floors.max_scan_severity_threshold) == (3, 300, "HIGH")
    assert dev.floors == Floors()
    assert (settings.lease_stale_after_seconds, settings.lease_heartbeat_seconds, settings.stack_busy_retry_seconds) == (900, 60, 60)
    assert settings.max_desired_state_file_bytes == 1_048_576


def test_lease_and_floor_settings_are_checked(tmp_path):
    file = tmp_path / "settings.yaml"
    file.write_text("repository: {url: x}\nenvironments: {dev: {stack: dev, suffix: dev}}\nleaseStaleAfterSeconds: 60\nleaseHeartbeatSeconds: 30\n")
    with pytest.raises(SettingsError, match="at most a third of leaseStaleAfterSeconds"):
        load_settings(file)
    file.write_text("repository: {url: x}\nenvironments: {dev: {stack: dev, suffix: dev, floors: {maxScanSeverityThreshold: SEVERE}}}\n")
    with pytest.raises(SettingsError, match="environments.dev.floors.maxScanSeverityThreshold"):
        load_settings(file)


@pytest.mark.parametrize(
    "document, field",
    [
        ("repository: {url: x}\nenvironments: 5\n", "environments"),
        ("repository: {url: x}\nenvironments: [dev]\n", "environments"),
        ("repository: {url: x}\nenvironments: {dev: {stack: dev, suffix: dev}}\naws: [1, 2]\n", "aws"),
        ("repository: {url: x}\nenvironments: {dev: {stack: dev, suffix: dev}}\naws: text\n", "aws"),
    ],
    ids=["environments-int", "environments-list", "aws-list", "aws-string"],
)
def test_a_section_of_the_wrong_type_is_a_settings_error_naming_it(tmp_path, document, field):
    file = tmp_path / "settings.yaml"
    file.write_text(document)
    with pytest.raises(SettingsError, match=rf"settings.yaml: invalid reconciler settings: {field}: "):
        load_settings(file)


def test_the_worker_timings_come_from_the_settings_worker_section(tmp_path):
    from reconciler.worker import Backoff, WorkerTimings

    file = tmp_path / "settings.yaml"
    file.write_text(
        "repository: {url: x}\nenvironments: {dev: {stack: dev, suffix: dev}}\n"
        "worker: {jobVisibilitySeconds: 3600, jobRetry: {baseSeconds: 10, capSeconds: 40}}\n"
    )
    timings = WorkerTimings.from_settings(load_settings(file).worker)

    assert (timings.job_visibility_seconds, timings.job_retry) == (3600, Backoff(10, 40))
    assert timings.loop_retry == WorkerTimings().loop_retry  # what is not set keeps its default


def test_the_tick_timings_come_from_the_settings_ticks_section(tmp_path):
    from reconciler.settings import TickSettings
    from reconciler.ticks.runner import TickTimings
    from reconciler.worker import Backoff

    file = tmp_path / "settings.yaml"
    file.write_text(
        "repository: {url: x}\nenvironments: {dev: {stack: dev, suffix: dev}}\n"
        "ticks: {maxAttempts: 4, retry: {baseSeconds: 10, capSeconds: 40}, sweepSeconds: 30, overdueGraceSeconds: 90}\n"
    )
    timings = TickTimings.from_settings(load_settings(file).ticks)

    assert (timings.tick_max_attempts, timings.tick_retry, timings.sweep_seconds, timings.overdue_grace_seconds) == (4, Backoff(10, 40), 30, 90)
    assert timings.loop_retry == TickTimings().loop_retry  # what is not set keeps its default
    assert TickTimings() == TickTimings.from_settings(TickSettings())  # the defaults live in one place


def test_the_old_worker_tick_keys_are_still_read_into_the_ticks_section(tmp_path):
    from reconciler.ticks.runner import TickTimings
    from reconciler.worker import Backoff

    file = tmp_path / "settings.yaml"
    file.write_text(
        "repository: {url: x}\nenvironments: {dev: {stack: dev, suffix: dev}}\n"
        "worker: {tickMaxAttempts: 4, tickRetry: {baseSeconds: 10, capSeconds: 40}}\n"
    )
    assert (TickTimings.from_settings(load_settings(file).ticks).tick_max_attempts,
            TickTimings.from_settings(load_settings(file).ticks).tick_retry) == (4, Backoff(10, 40))
    # The new section wins over the old keys.
    file.write_text(file.read_text() + "ticks: {maxAttempts: 3}\n")
    settings = load_settings(file)
    assert (settings.ticks.max_attempts, settings.ticks.retry.base_seconds) == (3, 10)


def test_a_retry_whose_cap_is_below_its_base_is_refused(tmp_path):
    file = tmp_path / "settings.yaml"
    file.write_text(
        "repository: {url: x}\nenvironments: {dev: {stack: dev, suffix: dev}}\n"
        "worker: {tickRetry: {baseSeconds: 60, capSeconds: 30}}\n"
    )
    with pytest.raises(SettingsError, match="worker.tickRetry|worker.tick_retry"):
        load_settings(file)
