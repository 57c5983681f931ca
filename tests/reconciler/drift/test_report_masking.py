"""Secrets in a drift report: masked wherever they are, and a secret-marked property's values never shown."""

from __future__ import annotations

from datetime import UTC, datetime

from pulumi.automation.events import DiffKind

from reconciler.drift.model import SECRET_MASK, DriftReport
from reconciler.drift.report import build_report, headline
from reconciler.drift.rules import DriftContext
from tests.reconciler.drift.steps import SECRET_VERSION, changed, deleted_out_of_band, secret

OLD_PASSWORD = "hunter2-db-password-9f8e7d"
NEW_PASSWORD = "rotated-by-hand-0a1b2c"
API_KEY = "sk-live-5f4e3d2c1b0a"
PROGRAM_KEY = "sk-live-from-config-777"


def report_of(*steps) -> DriftReport:
    return build_report(
        list(steps), environment="prod", stack="prod", applied_commit="abc123", checked_at=datetime(2026, 12, 1, tzinfo=UTC), context=DriftContext()
    )


def everything(report: DriftReport) -> str:
    return report.model_dump_json(by_alias=True) + repr(report) + headline(report) + "".join(r.summary for r in report.resources)


def test_a_secret_marked_property_never_shows_a_value_even_unwrapped():
    """secretString is secret by the provider's schema; here neither side is wrapped as a secret."""
    real = {"secretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-prod", "secretString": NEW_PASSWORD, "versionStages": ["AWSCURRENT"]}
    desired = {"secretId": real["secretId"], "secretString": OLD_PASSWORD}
    report = report_of(changed(SECRET_VERSION, "secret-db-credentials-prod", real=real, desired=desired, diff={"secretString": DiffKind.UPDATE}))

    [resource] = report.resources
    [drift] = resource.properties
    assert (drift.path, drift.expected, drift.actual, drift.secret) == ("secretString", SECRET_MASK, SECRET_MASK, True)
    assert resource.summary == "secretString changed (secret)"
    assert OLD_PASSWORD not in everything(report) and NEW_PASSWORD not in everything(report)


def test_wrapped_secret_values_in_old_and_new_are_masked():
    real = {"masterUsername": "app", "masterPassword": secret(NEW_PASSWORD)}
    desired = {"masterUsername": "app", "masterPassword": secret(OLD_PASSWORD)}
    report = report_of(changed("aws:rds/cluster:Cluster", "db-prod", real=real, desired=desired, diff={"masterPassword": DiffKind.UPDATE}))

    [drift] = report.resources[0].properties
    assert (drift.expected, drift.actual, drift.secret) == (SECRET_MASK, SECRET_MASK, True)
    assert OLD_PASSWORD not in everything(report) and NEW_PASSWORD not in everything(report)


def test_a_secret_output_masks_the_plain_input_on_the_other_side():
    """An additional secret output: the engine wraps the output, the program's input is plain."""
    real = {"name": "hook", "token": secret(API_KEY)}
    desired = {"name": "hook", "token": PROGRAM_KEY}
    report = report_of(changed("aws:cloudwatch/eventApiDestination:EventApiDestination", "hook-prod", real=real, desired=desired, diff={"token": DiffKind.UPDATE}))

    [drift] = report.resources[0].properties
    assert (drift.expected, drift.actual, drift.secret) == (SECRET_MASK, SECRET_MASK, True)
    assert API_KEY not in everything(report) and PROGRAM_KEY not in everything(report)


def test_nested_secrets_are_masked_and_the_rest_stays_readable():
    def auth(key_value, header):
        return {"authorizationType": "API_KEY", "authParameters": {"apiKey": {"key": header, "value": key_value}}}

    real = {"name": "conn", **auth(secret(API_KEY), "x-api-key")}
    desired = {"name": "conn", **auth(PROGRAM_KEY, "x-api-token")}
    diff = {"authParameters": DiffKind.UPDATE, "authParameters.apiKey.value": DiffKind.UPDATE}
    report = report_of(changed("aws:cloudwatch/eventConnection:EventConnection", "conn-prod", real=real, desired=desired, diff=diff))

    whole, value = report.resources[0].properties
    assert whole.path == "authParameters" and whole.secret
    assert whole.actual == {"apiKey": {"key": "x-api-key", "value": SECRET_MASK}}
    assert whole.expected == {"apiKey": {"key": "x-api-token", "value": SECRET_MASK}}
    assert (value.path, value.expected, value.actual, value.secret) == ("authParameters.apiKey.value", SECRET_MASK, SECRET_MASK, True)
    assert API_KEY not in everything(report) and PROGRAM_KEY not in everything(report)


def test_a_secret_inside_a_list_under_a_diffed_path():
    real = {"environment": [{"name": "DB_URL", "value": secret(f"postgres://app:{NEW_PASSWORD}@db")}, {"name": "MODE", "value": "debug"}]}
    desired = {"environment": [{"name": "DB_URL", "value": f"postgres://app:{OLD_PASSWORD}@db"}, {"name": "MODE", "value": "prod"}]}
    report = report_of(changed("aws:lambda/function:Function", "fn-prod", real=real, desired=desired, diff={"environment[1].value": DiffKind.UPDATE, "environment": DiffKind.UPDATE}))

    by_path = {p.path: p for p in report.resources[0].properties}
    assert by_path["environment[1].value"].actual == "debug" and not by_path["environment[1].value"].secret
    assert by_path["environment"].secret
    assert OLD_PASSWORD not in everything(report) and NEW_PASSWORD not in everything(report)


def test_a_deleted_secret_version_shows_nothing_of_its_value():
    report = report_of(deleted_out_of_band(SECRET_VERSION, "secret-db-credentials-prod", {"secretId": "arn", "secretString": OLD_PASSWORD}))
    assert report.resources[0].summary == "deleted out of band"
    assert OLD_PASSWORD not in everything(report)


def test_an_engine_blinded_value_counts_as_secret():
    real = {"value": SECRET_MASK}
    desired = {"value": OLD_PASSWORD}
    report = report_of(changed("aws:appconfig/hostedConfigurationVersion:HostedConfigurationVersion", "cfg", real=real, desired=desired, diff={"value": DiffKind.UPDATE}))
    [drift] = report.resources[0].properties
    assert (drift.expected, drift.actual, drift.secret) == (SECRET_MASK, SECRET_MASK, True)
    assert OLD_PASSWORD not in everything(report)
