"""Every form is scrubbed, and the whole message stays within what SNS accepts."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from reconciler.adapters.notify import SnsNotifier
from reconciler.events import EventKind, Severity
from reconciler.notifications import SNS_MESSAGE_LIMIT, email_text
from reconciler.redact import MASK, Redactor

SECRET = "whsec-9Qz/7+Lk2Xp41abc"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
LEAKS = (SECRET, json.dumps(SECRET)[1:-1], quote(SECRET, safe=""), base64.b64encode(SECRET.encode()).decode(), "pa/ss", GITHUB_TOKEN, "98765432123")


def _secret_body() -> dict:
    return {
        "stack": "prod",
        "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "reason": "EngineFailed",
        "message": f"engine said {json.dumps(SECRET)} and {quote(SECRET, safe='')}",
        "error": f"clone https://bot:pa/ss@git.example/x failed; token {GITHUB_TOKEN}",
        "details": {"environment": {"DB_PASSWORD": 98765432123, "LOG_LEVEL": "info"}, "blob": base64.b64encode(SECRET.encode()).decode()},
        "evidence": {"note": f"saw {SECRET.upper()}"},
    }


def test_no_form_carries_a_secret(reconciler_aws, subscribers):
    notifier = SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn, redactor=Redactor([SECRET]), chatbot=True)

    notifier.publish(
        kind=EventKind.CONVERGE_FAILED, severity=Severity.ERROR, environment="prod",
        subject=f"[prod] converge failed: {SECRET}", body=_secret_body(),
    )

    [note] = subscribers()
    assert set(note.published) == {"default", "sqs", "lambda", "email", "https"}
    for protocol, form in note.published.items():
        for leaked in (*LEAKS, SECRET.upper()):
            assert leaked not in form, (protocol, leaked)
    chat = json.loads(note.https)
    for leaked in LEAKS:
        assert leaked not in json.dumps(chat) and leaked not in note.email
    # The forms still say what they can: the masked value is visible where the secret was.
    assert MASK in note.email and MASK in chat["content"]["description"]
    assert note.sqs["details"]["environment"] == {"DB_PASSWORD": MASK, "LOG_LEVEL": "info"}


def test_the_email_form_is_cut_with_a_note_and_keeps_what_to_do_next():
    body = {"stack": "dev", "reason": "EngineFailed", "error": "line of engine output\n" * 5000}

    text = email_text(EventKind.CONVERGE_FAILED, Severity.ERROR, "dev", "[dev] converge failed", body, limit=4000)

    assert len(text) <= 4000
    assert "truncated" in text
    assert "What to do next" in text and "ecs-gitops status --environment dev" in text
    assert text.splitlines()[0] == "[dev] converge failed"


def test_a_huge_body_still_publishes_within_the_sns_limit(reconciler_aws, subscribers):
    notifier = SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn, chatbot=True)
    body = {"stack": "dev", "reason": "EngineFailed", "jobId": "j" * 32, "error": "x" * 200_000, "details": {"log": ["y" * 1000] * 100}}

    notifier.publish(kind=EventKind.CONVERGE_FAILED, severity=Severity.ERROR, environment="dev", subject="[dev] converge failed", body=body)

    [note] = subscribers()
    assert len(json.dumps(note.published).encode()) <= SNS_MESSAGE_LIMIT
    # The JSON subscribers get valid JSON that says it was cut, with the fields that identify the event.
    assert note.sqs["truncated"] is True
    assert (note.sqs["kind"], note.sqs["jobId"], note.sqs["reason"]) == ("converge-failed", "j" * 32, "EngineFailed")
    assert "truncated" in note.email and "What to do next" in note.email
    assert json.loads(note.https)["version"] == "1.0"


def test_a_body_that_fits_once_but_not_three_times_goes_out_whole(reconciler_aws, subscribers):
    """SQS and Lambda subscribers fall back to ``default``: the copies are dropped before the body is cut."""
    notifier = SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn)
    body = {"stack": "dev", "reason": "EngineFailed", "error": "x" * 120_000}

    notifier.publish(kind=EventKind.CONVERGE_FAILED, severity=Severity.ERROR, environment="dev", subject="s", body=body)

    [note] = subscribers()
    assert note.sqs["error"] == "x" * 120_000 and "truncated" not in note.sqs
    assert "sqs" not in note.published and "lambda" not in note.published
    assert len(json.dumps(note.published).encode()) <= SNS_MESSAGE_LIMIT
