"""The webhook's refusals: every one answers with its HTTP status and queues nothing."""

from __future__ import annotations

import hmac
import json

import pytest

from reconciler.webhook import sign, verify_push


@pytest.fixture
def compare_spy(monkeypatch):
    """Wrap hmac.compare_digest (the module attribute webhook.py calls) and record its arguments."""
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


def push_body(payloads, **kwargs) -> bytes:
    return payloads.encode(payloads.github_push_payload(**kwargs))


def answer(response) -> tuple[int, dict]:
    return response["statusCode"], json.loads(response["body"])


def test_valid_signature_is_compared_in_constant_time(intake, reconciler_aws, payloads, drain, compare_spy):
    body = push_body(payloads)
    expected = sign(reconciler_aws.webhook_secret.encode(), body)

    status, _ = answer(intake.handle(payloads.function_url_event(body, secret=reconciler_aws.webhook_secret)))

    assert status == 202
    assert compare_spy == [(expected.encode(), expected.encode())]
    assert len(drain()) == 1


def test_sign_matches_githubs_documented_example():
    # docs.github.com "Validating webhook deliveries": secret "It's a Secret to Everybody", payload "Hello, World!".
    assert sign(b"It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_missing_signature_is_401_and_nothing_is_queued(intake, payloads, drain, compare_spy):
    status, body = answer(intake.handle(payloads.function_url_event(push_body(payloads), secret=None)))

    assert status == 401
    assert "x-hub-signature-256" in body["error"]
    assert compare_spy == []
    assert drain() == []


def test_signature_made_with_another_secret_is_401(intake, reconciler_aws, payloads, drain, compare_spy):
    body = push_body(payloads)
    forged = sign(b"not-the-webhook-secret", body)

    status, answer_body = answer(intake.handle(payloads.function_url_event(body, secret=None, signature=forged)))

    assert status == 401
    assert "signature does not match" in answer_body["error"]
    assert len(compare_spy) == 1
    assert compare_spy[0][0] == forged.encode()
    assert compare_spy[0][1] == sign(reconciler_aws.webhook_secret.encode(), body).encode()
    assert drain() == []


def test_body_tampered_after_signing_is_401(intake, reconciler_aws, payloads, drain, compare_spy):
    original = push_body(payloads, commits=[{"modified": ["environments/dev.yaml"]}])
    signature = sign(reconciler_aws.webhook_secret.encode(), original)
    tampered = original.replace(b"environments/dev.yaml", b"environments/prod.yaml")
    assert tampered != original

    status, _ = answer(intake.handle(payloads.function_url_event(tampered, secret=None, signature=signature)))

    assert status == 401
    assert len(compare_spy) == 1
    assert drain() == []


def test_malformed_signature_headers_are_401(intake, payloads, drain, subtests):
    for value in ["sha1=0123", "", "sha256=", "SHA256=" + "0" * 64]:
        with subtests.test(signature=value):
            event = payloads.function_url_event(push_body(payloads), secret=None, signature=value)
            status, _ = answer(intake.handle(event))
            assert status == 401
            assert drain() == []


def test_oversized_body_is_413_before_any_verification(make_intake, make_settings_for, reconciler_aws, payloads, drain, compare_spy):
    intake = make_intake(make_settings_for(max_webhook_bytes=2048))
    payload = payloads.github_push_payload(commits=[{"modified": [f"environments/dev-{i}.yaml" for i in range(200)]}])
    body = payloads.encode(payload)
    assert len(body) > 2048

    unsigned = answer(intake.handle(payloads.function_url_event(body, secret=None)))
    signed = answer(intake.handle(payloads.function_url_event(body, secret=reconciler_aws.webhook_secret)))

    for status, answer_body in (unsigned, signed):
        assert status == 413
        assert "2048-byte limit" in answer_body["error"]
    assert compare_spy == []  # refused before the HMAC was even computed and compared
    assert drain() == []


def test_body_exactly_at_the_limit_is_accepted(make_intake, make_settings_for, reconciler_aws, payloads, drain):
    intake = make_intake(make_settings_for(max_webhook_bytes=4096))
    payload = payloads.github_push_payload()
    body = payloads.encode(payload)
    payload["pusher"]["name"] += "x" * (4096 - len(body))
    body = payloads.encode(payload)
    assert len(body) == 4096

    status, _ = answer(intake.handle(payloads.function_url_event(body, secret=reconciler_aws.webhook_secret)))

    assert status == 202
    assert len(drain()) == 1


def test_size_limit_counts_decoded_bytes_of_a_base64_body(make_intake, make_settings_for, reconciler_aws, payloads, drain):
    intake = make_intake(make_settings_for(max_webhook_bytes=4096))
    payload = payloads.github_push_payload()
    body = payloads.encode(payload)
    payload["pusher"]["name"] += "x" * (4000 - len(body))
    body = payloads.encode(payload)  # 4000 bytes, ~5336 once base64-encoded

    status, _ = answer(intake.handle(payloads.function_url_event(body, secret=reconciler_aws.webhook_secret, base64_encoded=True)))

    assert status == 202
    assert len(drain()) == 1


def test_push_to_another_branch_is_422(intake, reconciler_aws, payloads, drain):
    body = push_body(payloads, ref="refs/heads/feature/x")

    status, answer_body = answer(intake.handle(payloads.function_url_event(body, secret=reconciler_aws.webhook_secret)))

    assert status == 422
    assert "refs/heads/feature/x" in answer_body["error"]
    assert drain() == []


def test_push_of_a_tag_is_422(intake, reconciler_aws, payloads, drain):
    body = push_body(payloads, ref="refs/tags/main")

    status, _ = answer(intake.handle(payloads.function_url_event(body, secret=reconciler_aws.webhook_secret)))

    assert status == 422
    assert drain() == []


def test_events_other_than_push_are_422(intake, reconciler_aws, payloads, drain, subtests):
    for github_event in ["pull_request", "issues", "release", "create"]:
        with subtests.test(github_event=github_event):
            event = payloads.function_url_event(push_body(payloads), secret=reconciler_aws.webhook_secret, github_event=github_event)
            status, answer_body = answer(intake.handle(event))
            assert status == 422
            assert github_event in answer_body["error"]
            assert drain() == []


def test_ping_is_answered_with_pong(intake, reconciler_aws, payloads, drain):
    ping = payloads.encode({"zen": "Keep it logically awesome.", "hook_id": 292430182, "hook": {"type": "Repository", "events": ["push"]}})

    response = intake.handle(payloads.function_url_event(ping, secret=reconciler_aws.webhook_secret, github_event="ping"))

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"message": "pong"}
    assert drain() == []


def test_unsigned_ping_is_401(intake, payloads, drain):
    response = intake.handle(payloads.function_url_event(b'{"zen": "x"}', secret=None, github_event="ping"))

    assert response["statusCode"] == 401


def test_methods_other_than_post_are_405(intake, reconciler_aws, payloads, drain, compare_spy, subtests):
    for method in ["GET", "PUT", "HEAD"]:
        with subtests.test(method=method):
            event = payloads.function_url_event(push_body(payloads), secret=reconciler_aws.webhook_secret, method=method)
            status, answer_body = answer(intake.handle(event))
            assert status == 405
            assert method in answer_body["error"]
            assert compare_spy == []
            assert drain() == []


def test_webhooks_are_404_when_no_secret_is_configured(make_intake, make_settings_for, reconciler_aws, payloads, drain, secret_calls):
    intake = make_intake(make_settings_for(repository={"webhook_secret_id": None}))

    status, answer_body = answer(intake.handle(payloads.function_url_event(push_body(payloads), secret=reconciler_aws.webhook_secret)))

    assert status == 404
    assert "webhookSecretId" in answer_body["error"]
    assert secret_calls == []
    assert drain() == []


def test_missing_delivery_id_is_400(intake, reconciler_aws, payloads, drain):
    event = payloads.function_url_event(push_body(payloads), secret=reconciler_aws.webhook_secret, delivery=None)

    status, answer_body = answer(intake.handle(event))

    assert status == 400
    assert "x-github-delivery" in answer_body["error"]
    assert drain() == []


def test_signed_body_that_is_not_json_is_400(intake, reconciler_aws, payloads, drain):
    status, _ = answer(intake.handle(payloads.function_url_event(b"payload=%7B%7D", secret=reconciler_aws.webhook_secret)))

    assert status == 400
    assert drain() == []


def test_signed_json_array_is_400(intake, reconciler_aws, payloads, drain):
    status, answer_body = answer(intake.handle(payloads.function_url_event(b"[1, 2]", secret=reconciler_aws.webhook_secret)))

    assert status == 400
    assert "not a JSON object" in answer_body["error"]


def test_secret_is_read_once_for_many_deliveries(intake, reconciler_aws, payloads, secret_calls):
    for index in range(3):
        body = push_body(payloads)
        intake.handle(payloads.function_url_event(body, secret=reconciler_aws.webhook_secret, delivery=f"d-{index}"))

    assert secret_calls == [reconciler_aws.webhook_secret_id]


def test_rejection_never_echoes_the_secret_or_signature(intake, reconciler_aws, payloads):
    body = push_body(payloads)
    forged = sign(b"other-secret-value", body)

    response = intake.handle(payloads.function_url_event(body, secret=None, signature=forged))

    assert reconciler_aws.webhook_secret not in response["body"]
    assert forged not in response["body"]
    assert sign(reconciler_aws.webhook_secret.encode(), body) not in response["body"]


def test_verify_push_checks_size_before_signature():
    """Directly: a huge unsigned body must be a 413, not a 401 (no HMAC over attacker-sized input)."""
    from reconciler.errors import EventRejected

    event = {"requestContext": {"http": {"method": "POST"}}, "headers": {}, "body": "x" * 5000, "isBase64Encoded": False}
    with pytest.raises(EventRejected) as caught:
        verify_push(event, b"secret", 4096)
    assert caught.value.status_code == 413
