"""Issue 9, "Bounded, typed input handling": every malformed input gets a typed refusal, never another exception.

Webhooks (Function URL) are answered with a 4xx; EventBridge events are dropped with an ``event dropped``
log line naming the reason. Each case was reproduced on the original code (an AttributeError,
TypeError, RecursionError, ValueError, UnicodeEncodeError or pydantic ValidationError escaped, or the
input was accepted).
"""

from __future__ import annotations

import base64
import json

import pytest

from reconciler.errors import EventRejected
from reconciler.webhook import sign, verify_push

COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"


def signed_event(payloads, secret: str, body: bytes, **kwargs):
    return payloads.function_url_event(body, secret=secret, **kwargs)


def answer(response) -> tuple[int, str]:
    return response["statusCode"], json.loads(response["body"])["error"]


# --------------------------------------------------------------------------- webhook bodies that are signed but bad


SIGNED_BAD_BODIES = {
    # name: (body bytes, status, error fragment)
    "after-with-trailing-newline": (None, 400, "'after' is not a commit id"),
    "after-uppercase-hex": (None, 400, "'after' is not a commit id"),
    "after-39-hex": (None, 400, "'after' is not a commit id"),
    "after-with-leading-space": (None, 400, "'after' is not a commit id"),
    "after-is-a-number": (None, 400, "'after' Input should be a valid string"),
    "deep-nesting-100000": (b"[" * 100_000 + b"]" * 100_000, 400, "nests deeper than 64 levels"),
    "deep-nesting-under-recursion-limit": (b'{"a":' * 500 + b"1" + b"}" * 500, 400, "nests deeper than 64 levels"),
    "huge-integer": (b'{"ref": "refs/heads/main", "after": 1' + b"0" * 5000 + b"}", 400, "a number of 5001 digits"),
    "huge-float": (b'{"ref": "refs/heads/main", "n": 1e999}', 400, "out of range"),
    "nan": (b'{"ref": NaN}', 400, "NaN is not a JSON number"),
    "infinity": (b'{"ref": -Infinity}', 400, "-Infinity is not a JSON number"),
    "duplicate-after-key": (
        ('{"ref": "refs/heads/main", "after": "%s", "after": "%s"}' % (COMMIT, "0" * 40)).encode(),
        400,
        "duplicate key 'after'",
    ),
    "commits-not-a-list": (None, 400, "field 'commits' Input should be a valid list"),
    "file-path-not-a-string": (None, 400, "field 'commits.0.modified.0' Input should be a valid string"),
    "head-commit-author-a-list": (None, 400, "field 'head_commit.author'"),
    "ref-missing": (None, 400, "field 'ref' is missing"),
    "ref-a-number": (None, 400, "field 'ref' Input should be a valid string"),
    "before-not-a-commit": (None, 400, "'before' is not a commit id"),
}


def bad_payload(payloads, name: str) -> bytes:
    payload = payloads.github_push_payload()
    mutate = {
        "after-with-trailing-newline": lambda p: p.update(after=COMMIT + "\n"),
        "after-uppercase-hex": lambda p: p.update(after=COMMIT.upper()),
        "after-39-hex": lambda p: p.update(after=COMMIT[:39]),
        "after-with-leading-space": lambda p: p.update(after=" " + COMMIT),
        "after-is-a-number": lambda p: p.update(after=6113728),
        "commits-not-a-list": lambda p: p.update(commits={"modified": []}),
        "file-path-not-a-string": lambda p: p["commits"][0].update(modified=[7]),
        "head-commit-author-a-list": lambda p: p["head_commit"].update(author=["Jane"]),
        "ref-missing": lambda p: p.pop("ref"),
        "ref-a-number": lambda p: p.update(ref=1),
        "before-not-a-commit": lambda p: p.update(before="HEAD~1"),
    }[name]
    mutate(payload)
    return payloads.encode(payload)


@pytest.mark.parametrize("case", sorted(SIGNED_BAD_BODIES))
def test_signed_bad_body_is_a_4xx_and_queues_nothing(case, make_intake, make_settings_for, reconciler_aws, payloads, drain):
    body, status, fragment = SIGNED_BAD_BODIES[case]
    body = body if body is not None else bad_payload(payloads, case)
    intake = make_intake(make_settings_for(max_webhook_bytes=1_048_576))

    got_status, error = answer(intake.handle(signed_event(payloads, reconciler_aws.webhook_secret, body)))

    assert (got_status, fragment in error) == (status, True), error
    assert drain() == []


# --------------------------------------------------------------------------- requests whose envelope is bad


def envelope_case(payloads, secret: str, name: str) -> dict:
    body = payloads.encode(payloads.github_push_payload())
    event = signed_event(payloads, secret, body)
    if name == "body-is-a-dict":
        event["body"] = {"ref": "refs/heads/main"}
    elif name == "body-is-an-int":
        event["body"] = 42
    elif name == "body-is-a-list":
        event["body"] = [body.decode()]
    elif name == "body-base64-is-an-int":
        event.update(body=42, isBase64Encoded=True)
    elif name == "body-with-unpaired-surrogate":
        event["body"] = '{"ref": "\ud800"}'
    elif name == "base64-with-non-ascii":
        event.update(body="é" * 8, isBase64Encoded=True)
    elif name == "base64-of-invalid-utf8":
        raw = b'{"ref": "\xff"}'
        event.update(body=base64.b64encode(raw).decode(), isBase64Encoded=True)
        event["headers"]["x-hub-signature-256"] = sign(secret.encode(), raw)
    elif name == "is-base64-encoded-a-string":
        event["isBase64Encoded"] = "true"
    elif name == "headers-a-list":
        event["headers"] = [["x-github-event", "push"]]
    elif name == "headers-a-string":
        event["headers"] = "x-github-event: push"
    elif name == "header-value-a-list":
        event["headers"]["x-github-event"] = ["push"]
    elif name == "header-name-twice-in-two-cases":
        event["headers"]["X-Hub-Signature-256"] = sign(b"another-secret", body)
    elif name == "request-context-a-list":
        event["requestContext"] = {"http": [1]}
    elif name == "method-a-number":
        event["requestContext"]["http"]["method"] = 1
    elif name == "delivery-id-with-newline":
        event["headers"]["x-github-delivery"] = "d-1\nforged: yes"
    elif name == "delivery-id-a-kilobyte":
        event["headers"]["x-github-delivery"] = "d" * 1024
    elif name == "signature-uppercase-hex":
        event["headers"]["x-hub-signature-256"] = event["headers"]["x-hub-signature-256"].upper().replace("SHA256=", "sha256=")
    elif name == "signature-with-trailing-newline":
        event["headers"]["x-hub-signature-256"] += "\n"
    elif name == "signature-non-ascii":
        event["headers"]["x-hub-signature-256"] = "sha256=" + "é" * 64
    else:
        raise AssertionError(name)
    return event


ENVELOPE_CASES = {
    "body-is-a-dict": (400, "body is a dict, not a string"),
    "body-is-an-int": (400, "body is a int, not a string"),
    "body-is-a-list": (400, "body is a list, not a string"),
    "body-base64-is-an-int": (400, "body is a int, not a string"),
    "body-with-unpaired-surrogate": (400, "unpaired surrogate"),
    "base64-with-non-ascii": (400, "not valid base64"),
    "base64-of-invalid-utf8": (400, "not UTF-8"),
    "is-base64-encoded-a-string": (400, "isBase64Encoded is not a boolean"),
    "headers-a-list": (400, "headers are not a map"),
    "headers-a-string": (400, "headers are not a map"),
    "header-value-a-list": (400, "headers are not a map"),
    "header-name-twice-in-two-cases": (400, "different capitalisations"),
    "request-context-a-list": (400, "no requestContext.http"),
    "method-a-number": (400, "method is not a string"),
    "delivery-id-with-newline": (400, "is not a delivery id"),
    "delivery-id-a-kilobyte": (400, "is not a delivery id"),
    "signature-uppercase-hex": (401, "not of the form sha256=<64 lowercase hex>"),
    "signature-with-trailing-newline": (401, "not of the form sha256=<64 lowercase hex>"),
    "signature-non-ascii": (401, "not of the form sha256=<64 lowercase hex>"),
}


@pytest.mark.parametrize("case", sorted(ENVELOPE_CASES))
def test_bad_request_envelope_is_a_4xx_and_queues_nothing(case, intake, reconciler_aws, payloads, drain):
    status, fragment = ENVELOPE_CASES[case]

    got_status, error = answer(intake.handle(envelope_case(payloads, reconciler_aws.webhook_secret, case)))

    assert (got_status, fragment in error) == (status, True), error
    assert drain() == []


def test_verify_push_refuses_a_request_that_is_not_an_object():
    for event in ([1], "POST /", None, 3):
        with pytest.raises(EventRejected) as caught:
            verify_push(event, b"secret", 4096)  # type: ignore[arg-type]
        assert caught.value.status_code == 400


def test_a_long_text_body_is_413_before_it_is_encoded():
    event = {"requestContext": {"http": {"method": "POST"}}, "headers": {}, "body": "é" * 3000, "isBase64Encoded": False}
    # 3000 characters, 6000 bytes once encoded: over a 4096-byte limit either way.
    with pytest.raises(EventRejected) as caught:
        verify_push(event, b"secret", 4096)
    assert caught.value.status_code == 413


# --------------------------------------------------------------------------- EventBridge events that are bad


def eventbridge_case(payloads, name: str):
    if name == "not-an-object":
        return ["aws.ecr"]
    if name == "codecommit-commit-not-hex":
        return payloads.codecommit_change(commit="z" * 40)
    if name == "codecommit-commit-trailing-newline":
        return payloads.codecommit_change(commit=payloads.commit_a + "\n")
    if name == "codecommit-commit-short":
        return payloads.codecommit_change(commit=payloads.commit_a[:7])
    if name == "codecommit-commit-a-number":
        return payloads.codecommit_change(commit=1234567)  # type: ignore[arg-type]
    if name == "codecommit-commit-sha256":
        return payloads.codecommit_change(commit="a" * 64)
    if name == "detail-a-list":
        event = payloads.ecr_image_action()
        event["detail"] = [event["detail"]]
        return event
    if name == "id-a-number":
        event = payloads.codecommit_change()
        event["id"] = 12
        return event
    if name == "source-a-list":
        event = payloads.codecommit_change()
        event["source"] = ["aws.codecommit"]
        return event
    if name == "finding-count-a-string":
        return payloads.ecr_image_scan(counts={"CRITICAL": "10"})  # type: ignore[dict-item]
    if name == "finding-count-a-bool":
        return payloads.ecr_image_scan(counts={"CRITICAL": True})  # type: ignore[dict-item]
    if name == "finding-count-huge":
        return payloads.ecr_image_scan(counts={"CRITICAL": 10**400})
    if name == "scheduler-environment-a-number":
        tick = payloads.scheduler_tick()
        tick["environment"] = 5
        return tick
    if name == "scheduler-kind-a-list":
        tick = payloads.scheduler_tick()
        tick["kind"] = ["resync"]
        return tick
    raise AssertionError(name)


EVENTBRIDGE_CASES = {
    "not-an-object": "event is a list, not a JSON object",
    "codecommit-commit-not-hex": "'commitId' is not a commit id",
    "codecommit-commit-trailing-newline": "'commitId' is not a commit id",
    "codecommit-commit-short": "'commitId' is not a commit id",
    "codecommit-commit-a-number": "'commitId' Input should be a valid string",
    # Git's SHA-256 object names parse, but a job carries SHA-1 commits only: refused, not queued half-made.
    "codecommit-commit-sha256": "cannot become a job: field 'commit'",
    "detail-a-list": "field 'detail' Input should be a valid dictionary",
    "id-a-number": "field 'id' Input should be a valid string",
    "source-a-list": "field 'source' Input should be a valid string",
    "finding-count-a-string": "field 'finding-severity-counts.CRITICAL' Input should be a valid integer",
    "finding-count-a-bool": "field 'finding-severity-counts.CRITICAL' Input should be a valid integer",
    "finding-count-huge": "field 'finding-severity-counts.CRITICAL' Input should be less than or equal to",
    "scheduler-environment-a-number": "field 'environment' Input should be a valid string",
    "scheduler-kind-a-list": "field 'kind' Input should be a valid string",
}


@pytest.mark.parametrize("case", sorted(EVENTBRIDGE_CASES))
def test_bad_eventbridge_event_is_a_logged_drop(case, intake, payloads, assert_dropped):
    result = intake.handle(eventbridge_case(payloads, case))

    assert_dropped(result, "InvalidEvent", EVENTBRIDGE_CASES[case].replace("(", r"\(").replace(".", r"\."))


def test_refusals_do_not_echo_a_megabyte_of_input(intake, payloads, assert_dropped):
    tick = payloads.scheduler_tick()
    tick["kind"] = "k" * 1000  # under the 1024-character field bound, so the kind check itself answers

    result = intake.handle(tick)

    assert_dropped(result, "InvalidEvent", "kind must be")
    assert len(result["dropped"]["error"]) < 300
