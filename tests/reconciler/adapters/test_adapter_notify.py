"""SNS notifications as a subscriber receives them: JSON body, filterable attributes, short subject."""

from __future__ import annotations

import io
import json

from reconciler.adapters.notify import SUBJECT_LIMIT, SnsNotifier, StreamNotifier
from reconciler.events import EventKind, Severity


def test_publish_delivers_json_and_message_attributes(reconciler_aws, read_notifications):
    notifier = SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn)

    message_id = notifier.publish(
        kind=EventKind.CONVERGE_FAILED,
        severity=Severity.ERROR,
        environment="prod",
        subject="ecs-gitops: prod converge failed",
        body={"jobId": "j" * 32, "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "reason": "EngineFailed"},
    )

    assert message_id
    [note] = read_notifications(reconciler_aws.sqs, reconciler_aws.inbox_url)
    assert note["subject"] == "ecs-gitops: prod converge failed"
    assert note["message"] == {
        "kind": "converge-failed",
        "severity": "error",
        "environment": "prod",
        "jobId": "j" * 32,
        "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "reason": "EngineFailed",
    }
    assert note["attributes"] == {"environment": "prod", "kind": "converge-failed", "severity": "error"}


def test_subject_is_truncated_to_the_sns_limit(reconciler_aws, read_notifications):
    notifier = SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn)
    subject = "ecs-gitops: dev waiting for approval of plan " + "x" * 200

    notifier.publish(kind=EventKind.WAITING_FOR_APPROVAL, severity=Severity.WARNING, environment="dev", subject=subject, body={})

    [note] = read_notifications(reconciler_aws.sqs, reconciler_aws.inbox_url)
    assert SUBJECT_LIMIT == 100
    assert note["subject"] == subject[:100]
    assert len(note["subject"]) == 100
    assert note["attributes"]["kind"] == "waiting-for-approval"
    assert note["attributes"]["severity"] == "warning"


def test_body_values_that_are_not_json_are_stringified(reconciler_aws, read_notifications):
    from datetime import UTC, datetime

    notifier = SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn)
    when = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)

    notifier.publish(kind=EventKind.STUCK_LOCK, severity=Severity.WARNING, environment="dev", subject="stuck", body={"since": when})

    [note] = read_notifications(reconciler_aws.sqs, reconciler_aws.inbox_url)
    assert note["message"]["since"] == str(when)


def test_body_cannot_override_the_envelope_fields_silently(reconciler_aws, read_notifications):
    """Documents current behaviour: body keys are merged after kind/severity/environment."""
    notifier = SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn)

    notifier.publish(kind=EventKind.SKIPPED, severity=Severity.INFO, environment="dev", subject="s", body={"detail": "x"})

    [note] = read_notifications(reconciler_aws.sqs, reconciler_aws.inbox_url)
    assert note["message"] == {"kind": "skipped", "severity": "info", "environment": "dev", "detail": "x"}


def test_stream_notifier_writes_json_lines():
    stream = io.StringIO()
    notifier = StreamNotifier(stream)

    ids = [
        notifier.publish(kind=EventKind.PLAN_READY, severity=Severity.INFO, environment="dev", subject="plan ready", body={"create": 1}),
        notifier.publish(kind=EventKind.SKIPPED, severity=Severity.INFO, environment="prod", subject="skipped", body={}),
    ]

    assert ids == ["local-1", "local-2"]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines == [
        {"subject": "plan ready", "kind": "plan-ready", "severity": "info", "environment": "dev", "create": 1},
        {"subject": "skipped", "kind": "skipped", "severity": "info", "environment": "prod"},
    ]


def test_extra_attributes_are_filterable_strings_and_string_arrays(reconciler_aws, read_notifications):
    notifier = SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn)

    notifier.publish(
        kind=EventKind.DRIFT_DETECTED, severity=Severity.ERROR, environment="prod", subject="drift", body={},
        attributes={"driftSeverity": "high", "resourceTypes": ["aws:ec2/securityGroup:SecurityGroup", "aws:iam/role:Role"]},
    )

    [note] = read_notifications(reconciler_aws.sqs, reconciler_aws.inbox_url)
    assert note["attributes"]["driftSeverity"] == "high"
    assert json.loads(note["attributes"]["resourceTypes"]) == ["aws:ec2/securityGroup:SecurityGroup", "aws:iam/role:Role"]


def test_extra_attributes_cannot_override_the_notifiers_own(reconciler_aws):
    import pytest

    notifier = SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn)
    with pytest.raises(ValueError, match="kind"):
        notifier.publish(kind=EventKind.DRIFT_DETECTED, severity=Severity.ERROR, environment="prod", subject="s", body={}, attributes={"kind": "x"})
