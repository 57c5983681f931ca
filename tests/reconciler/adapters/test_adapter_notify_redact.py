"""The notification channel: SNS subject, body and message attributes are scrubbed before publishing."""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import quote

from reconciler.adapters.notify import SUBJECT_LIMIT, SnsNotifier, StreamNotifier
from reconciler.events import EventKind, Severity
from reconciler.redact import MASK, Redactor

SECRET = "whsec-9Qz/7+Lk2Xp41abc"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def _body() -> dict:
    return {
        "message": f"engine said {json.dumps(SECRET)} and {quote(SECRET, safe='')}",
        "error": f"clone https://bot:pa/ss@git.example/x failed; token {GITHUB_TOKEN}",
        "details": {"environment": {"DB_PASSWORD": 98765432123, "LOG_LEVEL": "info"}, "blob": base64.b64encode(SECRET.encode()).decode()},
        "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    }


def _assert_clean(text: str) -> None:
    for leaked in (SECRET, json.dumps(SECRET)[1:-1], quote(SECRET, safe=""), base64.b64encode(SECRET.encode()).decode(), "pa/ss", GITHUB_TOKEN, "98765432123"):
        assert leaked not in text


def test_sns_body_subject_and_attributes_are_scrubbed(reconciler_aws, read_notifications):
    notifier = SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn, redactor=Redactor([SECRET]))

    notifier.publish(
        kind=EventKind.CONVERGE_FAILED,
        severity=Severity.ERROR,
        environment=f"dev {SECRET}",
        subject=f"[dev] converge failed: {SECRET.upper()}",
        body=_body(),
    )

    [note] = read_notifications(reconciler_aws.sqs, reconciler_aws.inbox_url)
    _assert_clean(json.dumps(note))
    assert SECRET.upper() not in note["subject"]
    assert note["subject"] == f"[dev] converge failed: {MASK}"
    assert note["attributes"]["environment"] == f"dev {MASK}"
    assert note["message"]["details"]["environment"] == {"DB_PASSWORD": MASK, "LOG_LEVEL": "info"}
    assert note["message"]["commit"] == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"


def test_subject_is_scrubbed_before_it_is_cut(reconciler_aws, read_notifications):
    """Cut first, the secret's head would no longer match the secret and would go out."""
    notifier = SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn, redactor=Redactor([SECRET]))
    subject = "x" * (SUBJECT_LIMIT - 12) + SECRET

    notifier.publish(kind=EventKind.CONVERGE_FAILED, severity=Severity.ERROR, environment="dev", subject=subject, body={})

    [note] = read_notifications(reconciler_aws.sqs, reconciler_aws.inbox_url)
    assert note["subject"] == "x" * (SUBJECT_LIMIT - 12) + MASK
    assert SECRET[:12] not in note["subject"]


def test_stream_notifier_scrubs_too():
    stream = io.StringIO()
    notifier = StreamNotifier(stream, redactor=Redactor([SECRET]))

    notifier.publish(kind=EventKind.CONVERGE_FAILED, severity=Severity.ERROR, environment="dev", subject=f"failed {SECRET}", body=_body())

    _assert_clean(stream.getvalue())
    assert json.loads(stream.getvalue())["subject"] == f"failed {MASK}"


def test_without_a_redactor_credential_shapes_are_still_masked():
    stream = io.StringIO()

    StreamNotifier(stream).publish(kind=EventKind.CONVERGE_FAILED, severity=Severity.ERROR, environment="dev", subject="s", body={"error": f"token {GITHUB_TOKEN}"})

    assert GITHUB_TOKEN not in stream.getvalue()
