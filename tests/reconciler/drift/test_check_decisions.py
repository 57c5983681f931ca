"""The drift check's pure decisions: remediation limits, deferral, severity and attributes, the metric, the settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from reconciler.drift.check import (
    deferral,
    metric_data,
    notification_attributes,
    notification_severity,
    remediation,
    remediation_job,
    report_document,
    summary,
)
from reconciler.drift.model import DriftedResource, DriftKind, DriftReport, DriftSeverity, PropertyDrift
from reconciler.events import Severity
from reconciler.models import Job, Trigger
from reconciler.rollout.model import RolloutPhase
from reconciler.settings import DriftSettings, EnvironmentSettings
from tests.reconciler.drift.checking import rollout

AT = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
SG = "aws:ec2/securityGroup:SecurityGroup"
REPO = "aws:ecr/repository:Repository"


def resource(name: str, type_: str, severity: DriftSeverity) -> DriftedResource:
    return DriftedResource(
        urn=f"urn:pulumi:dev::ecs-gitops::{type_}::{name}", type=type_, name=name, kind=DriftKind.CHANGED, severity=severity,
        properties=[PropertyDrift(path="tags.team", expected="platform", actual="x")], summary="tag team changed",
    )


def report(*resources: DriftedResource) -> DriftReport:
    return DriftReport(environment="dev", stack="dev", applied_commit=COMMIT, checked_at=AT, resources=list(resources))


HIGH_SG = resource("sg-api-gateway-dev", SG, DriftSeverity.HIGH)
LOW_REPO = resource("ecr-frontend-dev", REPO, DriftSeverity.LOW)


def test_report_mode_never_remediates_and_says_how_to_put_it_back():
    decided = remediation(report(HIGH_SG), DriftSettings())
    assert not decided.remediate
    # Not `reconcile --commit`: a manual job converges the branch head (review D10); a drift remediation names the applied commit.
    assert "ecs-gitops drift --remediate --environment dev" in decided.message and COMMIT[:12] in decided.message


def test_nothing_drifted_nothing_to_remediate():
    assert not remediation(report(), DriftSettings(mode="remediate")).remediate


@pytest.mark.parametrize(
    ("settings", "resources", "expected"),
    [
        (DriftSettings(mode="remediate"), (HIGH_SG, LOW_REPO), True),
        (DriftSettings(mode="remediate", remediate_severities=("low",)), (LOW_REPO,), True),
        (DriftSettings(mode="remediate", remediate_severities=("low",)), (LOW_REPO, HIGH_SG), False),
        (DriftSettings(mode="remediate", remediate_types=(SG,)), (HIGH_SG,), True),
        (DriftSettings(mode="remediate", remediate_types=(SG,)), (HIGH_SG, LOW_REPO), False),
        # Either list admits a resource: the type admits the SG, the severity the repository.
        (DriftSettings(mode="remediate", remediate_types=(SG,), remediate_severities=("low",)), (HIGH_SG, LOW_REPO), True),
    ],
)
def test_limited_remediation_needs_every_drifted_resource_allowed(settings, resources, expected):
    decided = remediation(report(*resources), settings)
    assert decided.remediate is expected
    if not expected:
        assert "sg-api-gateway-dev" in decided.message or "ecr-frontend-dev" in decided.message


def test_limits_without_remediate_are_refused_in_the_settings():
    with pytest.raises(ValidationError, match="limit mode: remediate"):
        EnvironmentSettings(stack="dev", suffix="dev", drift={"remediateSeverities": ["low"]})
    assert EnvironmentSettings(stack="dev", suffix="dev").drift.mode == "report"


def test_the_remediation_job_converges_the_applied_commit_once_per_check():
    check = Job(job_id="c" * 32, environment="dev", stack="dev", trigger=Trigger.SCHEDULED_DRIFT_CHECK, event_id="scheduler:x", received_at=AT)
    job = remediation_job(check, COMMIT, AT)
    assert (job.trigger, job.commit, job.stack) == (Trigger.DRIFT_REMEDIATION, COMMIT, "dev")
    assert remediation_job(check, COMMIT, AT).job_id == job.job_id  # a redelivered check queues the same job (FIFO dedup)


@pytest.mark.parametrize(
    ("phases", "deferred"),
    [
        ((), False),
        ((RolloutPhase.SHIFTING,), True),
        ((RolloutPhase.BAKING,), True),
        ((RolloutPhase.ROLLING_BACK,), True),
        ((RolloutPhase.SCANNING, RolloutPhase.DEPLOYING, RolloutPhase.SMOKE_TESTING, RolloutPhase.PROMOTED), False),
        ((RolloutPhase.COMPLETE, RolloutPhase.ROLLED_BACK), False),
    ],
)
def test_only_a_traffic_shift_defers_the_check(phases, deferred):
    records = [rollout(phase, service=("frontend", "api-gateway", "processing-service", "frontend")[i]) for i, phase in enumerate(phases)]
    assert (deferral(records) is not None) is deferred


@pytest.mark.parametrize(
    ("severities", "expected"),
    [((DriftSeverity.HIGH, DriftSeverity.LOW), Severity.ERROR), ((DriftSeverity.MEDIUM,), Severity.WARNING), ((DriftSeverity.LOW,), Severity.INFO)],
)
def test_notification_severity_is_the_highest_drift_severity(severities, expected):
    drifted = report(*(resource(f"r{i}", REPO, severity) for i, severity in enumerate(severities)))
    assert notification_severity(drifted) == expected


def test_attributes_name_the_drift_severity_and_each_type_once():
    assert notification_attributes(report(HIGH_SG, LOW_REPO, resource("ecr-api-dev", REPO, DriftSeverity.LOW))) == {
        "driftSeverity": "high", "resourceTypes": [SG, REPO],  # sorted: ec2 before ecr
    }


def test_the_metric_counts_drifted_resources_or_a_failure_and_nothing_when_deferred():
    drifted = summary(report(HIGH_SG, LOW_REPO), "m")
    assert {d["MetricName"]: d["Value"] for d in metric_data("dev", drifted)} == {"DriftedResources": 2.0, "DriftCheckFailed": 0.0}
    assert {d["MetricName"]: d["Value"] for d in metric_data("dev", summary(report(), "m"))} == {"DriftedResources": 0.0, "DriftCheckFailed": 0.0}
    from reconciler.drift.check import deferred_summary, failed_summary

    assert {d["MetricName"]: d["Value"] for d in metric_data("dev", failed_summary(AT, COMMIT, "boom"))} == {"DriftCheckFailed": 1.0}
    assert metric_data("dev", deferred_summary(AT, COMMIT, "later")) == []
    assert metric_data("dev", drifted)[0]["Dimensions"] == [{"Name": "Environment", "Value": "dev"}]


def test_the_report_document_writes_the_secret_flag_as_masked():
    [document] = report_document(report(HIGH_SG))["resources"]
    assert document["properties"] == [{"path": "tags.team", "expected": "platform", "actual": "x", "masked": False}]
