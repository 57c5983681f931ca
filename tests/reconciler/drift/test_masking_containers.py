"""A task definition's container values never leave the report (review finding D9).

A value a person adds in the console (``DB_PASSWORD=...`` as a plain environment variable) is
unknown to the redactor and marked secret by nothing: the report must not copy it. Container
definitions are reported per container and field; ``environment`` and ``secrets`` by variable
name only; ``command``, ``entryPoint`` and other value-carrying fields masked.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.drift.check import report_document
from reconciler.drift.model import SECRET_MASK, DriftReport
from reconciler.drift.report import build_report, headline
from reconciler.drift.rules import DriftContext
from reconciler.redact import Redactor
from tests.reconciler.drift.steps import ACCOUNT, REGION, task_definition_replaced

SECRET = "Zx9qLm2Rt7Vb4Nc8"  # random-looking, registered with no redactor
OTHER_SECRET = "pw-Qq81LmX0zzT4"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/api-gateway@sha256:1111"


def _replaced(real: list[dict[str, Any]], desired: list[dict[str, Any]]) -> list[Any]:
    steps = task_definition_replaced()
    for step in steps:
        step.old.outputs["containerDefinitions"] = step.old.inputs["containerDefinitions"] = json.dumps(real)
        step.new.inputs["containerDefinitions"] = json.dumps(desired)
    return steps


def _container(**extra: Any) -> dict[str, Any]:
    return {"name": "api-gateway", "image": IMAGE, "essential": True, "memory": 512.0, **extra}


def _report(steps: list[Any]) -> DriftReport:
    return build_report(steps, environment="prod", stack="prod", applied_commit="abc", checked_at=datetime(2026, 12, 1, tzinfo=UTC), context=DriftContext())


def _notification_body(report: DriftReport) -> str:
    """What the converger publishes for a drift check (converge.py ``_finish``): headline, message and the scrubbed report document."""
    title = headline(report)
    return json.dumps({"headline": title, "message": f"{title}; reported only", "report": Redactor().scrub_value(report_document(report))})


def _everything(report: DriftReport) -> str:
    return report.model_dump_json(by_alias=True) + repr(report) + headline(report) + json.dumps(report_document(report)) + _notification_body(report)


def _props(report: DriftReport) -> dict[str, Any]:
    [resource] = report.resources
    return {p.path: (p.expected, p.actual, p.secret) for p in resource.properties}


def test_a_plain_env_var_added_in_the_console_is_reported_by_name_never_by_value() -> None:
    report = _report(_replaced(
        real=[_container(environment=[{"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_PASSWORD", "value": SECRET}])],
        desired=[_container(environment=[{"name": "LOG_LEVEL", "value": "info"}])],
    ))

    assert SECRET not in _everything(report)
    assert _props(report) == {'containerDefinitions["api-gateway"].environment["DB_PASSWORD"]': (None, SECRET_MASK, True)}
    assert report.resources[0].summary == "task definition replaced out of band: container api-gateway environment added DB_PASSWORD"


def test_changed_and_removed_variables_are_named_and_their_values_masked() -> None:
    report = _report(_replaced(
        real=[_container(environment=[{"name": "API_TOKEN", "value": SECRET}])],
        desired=[_container(environment=[{"name": "API_TOKEN", "value": OTHER_SECRET}, {"name": "FEATURE", "value": OTHER_SECRET}])],
    ))

    assert SECRET not in _everything(report) and OTHER_SECRET not in _everything(report)
    assert _props(report) == {
        'containerDefinitions["api-gateway"].environment["API_TOKEN"]': (SECRET_MASK, SECRET_MASK, True),
        'containerDefinitions["api-gateway"].environment["FEATURE"]': (SECRET_MASK, None, True),
    }
    assert report.resources[0].summary.endswith("container api-gateway environment changed API_TOKEN, removed FEATURE")


@pytest.mark.parametrize(
    ("field", "real", "desired"),
    [
        ("command", ["serve", f"--db-password={SECRET}"], ["serve"]),
        ("entryPoint", ["sh", "-c", f"PGPASSWORD={SECRET} exec app"], ["app"]),
        ("dockerLabels", {"token": SECRET}, {}),
        ("healthCheck", {"command": ["CMD-SHELL", f"curl -H 'x: {SECRET}' localhost"]}, {"command": ["CMD-SHELL", "true"]}),
        ("logConfiguration", {"logDriver": "splunk", "options": {"splunk-token": SECRET}}, {"logDriver": "awslogs", "options": {}}),
    ],
)
def test_other_value_carrying_container_fields_are_masked(field: str, real: Any, desired: Any) -> None:
    report = _report(_replaced(real=[_container(**{field: real})], desired=[_container(**{field: desired})]))

    assert SECRET not in _everything(report)
    assert _props(report) == {f'containerDefinitions["api-gateway"].{field}': (SECRET_MASK, SECRET_MASK, True)}
    assert f"container api-gateway differs in {field}" in report.resources[0].summary


def test_secrets_are_named_their_references_masked() -> None:
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-{SECRET}"
    report = _report(_replaced(real=[_container(secrets=[{"name": "DB", "valueFrom": arn}])], desired=[_container(secrets=[])]))

    assert SECRET not in _everything(report)
    assert _props(report) == {'containerDefinitions["api-gateway"].secrets["DB"]': (None, SECRET_MASK, True)}


def test_fields_that_carry_no_values_stay_readable() -> None:
    hotfix = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/api-gateway:hotfix"
    report = _report(_replaced(real=[_container(image=hotfix, memory=2048.0)], desired=[_container()]))

    assert _props(report) == {
        'containerDefinitions["api-gateway"].image': (IMAGE, hotfix, False),
        'containerDefinitions["api-gateway"].memory': (512, 2048, False),
    }
    assert "container api-gateway runs api-gateway:hotfix, expected api-gateway@sha256:1111" in report.resources[0].summary


def test_a_container_added_in_the_console_shows_its_fields_without_values() -> None:
    sidecar = {"name": "debug", "image": "busybox", "environment": [{"name": "DB_PASSWORD", "value": SECRET}], "command": ["sh", SECRET]}
    report = _report(_replaced(real=[_container(), sidecar], desired=[_container()]))

    assert SECRET not in _everything(report)
    [(path, (expected, actual, secret))] = _props(report).items()
    assert (path, expected, secret) == ('containerDefinitions["debug"]', None, True)
    assert actual == {"name": "debug", "image": "busybox", "environment": {"DB_PASSWORD": SECRET_MASK}, "command": SECRET_MASK}
    assert "container debug added" in report.resources[0].summary


def test_container_definitions_that_do_not_parse_are_masked_whole() -> None:
    steps = task_definition_replaced()
    for step in steps:
        step.old.outputs["containerDefinitions"] = step.old.inputs["containerDefinitions"] = f'[{{"name": "x", "value": "{SECRET}"'
    report = _report(steps)

    assert SECRET not in _everything(report)
    assert _props(report)["containerDefinitions"][1:] == (SECRET_MASK, True)


def test_the_drift_finding_message_built_from_the_report_carries_no_value() -> None:
    """The finding's message (the notification's and the audit's text) is the headline and a note."""
    report = _report(_replaced(real=[_container(environment=[{"name": "DB_PASSWORD", "value": SECRET}])], desired=[_container()]))
    assert SECRET not in headline(report) and SECRET not in _notification_body(report)
