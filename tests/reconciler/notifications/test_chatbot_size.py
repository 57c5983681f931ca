"""The whole SNS message, the Chatbot (``https``) form included, stays within SNS's 256 KB in UTF-8
bytes whatever the body holds (review 13 Low 7: the https form was never cut)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.adapters.notify import SnsNotifier, _overhead
from reconciler.events import EventKind, Severity
from reconciler.notifications import SNS_MESSAGE_LIMIT, chatbot_message

ASTRAL = "😀"  # 4 bytes in UTF-8, 12 as a JSON escape, 14 once the structure is JSON again


class SnsClientDouble:
    """Records what would be published: the size check is on the request, before AWS is reached."""

    def __init__(self) -> None:
        self.request: dict[str, Any] = {}

    def publish(self, **request: Any) -> dict[str, str]:
        self.request = request
        return {"MessageId": "1"}


def _published_size(request: dict[str, Any]) -> int:
    return len(request["Message"].encode()) + _overhead(request["Subject"], request["MessageAttributes"])


def _publish(body: dict[str, Any]) -> dict[str, Any]:
    sns = SnsClientDouble()
    SnsNotifier(sns, "arn:aws:sns:eu-west-1:123456789012:t", chatbot=True).publish(
        kind=EventKind.CONVERGE_FAILED, severity=Severity.ERROR, environment="dev", subject="[dev] converge failed", body=body,
    )
    return sns.request


# The review's reproduction (t11.py), scaled down to a few times the limit where that is enough:
# the two that went over (many top-level strings, a huge service name), and the others.
BODIES = {
    "astral error": {"stack": "dev", "error": ASTRAL * 30_000, "message": "m"},
    "many top-level strings": {f"k{i}": "é" * 900 for i in range(400)},
    "huge plan resources": {"stack": "dev", "plan": {"create": 1, "resources": {"create": [ASTRAL * 50] * 1000}}},
    "huge violations": {"stack": "dev", "policyViolations": [{"policy": "P", "severity": "mandatory", "resource": "r" * 500, "message": ASTRAL * 100}] * 300},
    "huge service name": {"stack": "dev", "service": ASTRAL * 100_000, "rolloutId": ASTRAL * 100_000},
    "long plain service name": {"stack": "dev", "service": "s" * 100_000, "commit": "c" * 100_000, "jobId": "j" * 100_000},
    "control chars": {"stack": "dev", "error": "\x01" * 100_000},
    "many top-level astral strings": {f"{ASTRAL * 50}{i}": ASTRAL * 200 for i in range(400)},
}


@pytest.mark.parametrize("name", BODIES)
def test_the_whole_message_fits_sns(name):
    request = _publish(BODIES[name])

    assert _published_size(request) <= SNS_MESSAGE_LIMIT
    structure = json.loads(request["Message"])
    chat = json.loads(structure["https"])  # still the Chatbot shape, not left out
    assert chat["version"] == "1.0" and chat["content"]["description"].startswith("*Where:*")


def test_every_chatbot_field_is_bounded():
    huge = ASTRAL * 100_000
    body = {"stack": huge, "service": huge, "commit": huge, "reason": huge, "message": huge, "error": huge, "by": huge,
            "rolloutId": huge, "jobId": huge, "phase": huge, "evidence": {huge: huge},
            "policyViolations": [{"policy": huge, "severity": huge, "resource": huge, "message": huge}] * 10}

    message = chatbot_message(huge, huge, huge, huge, body)

    # A fixed bound, whatever the body: the description's 3,000 characters and a few hundred per field.
    assert len(json.dumps(message, ensure_ascii=False)) < 12_000
    assert len(message["content"]["title"]) <= 250 and len(message["content"]["description"]) <= 3_000
    for command in message["content"]["nextSteps"][1:]:
        assert len(command) < 200  # a name too long for a command is a placeholder, not a 100k-character line


_text = st.text(alphabet=st.sampled_from(["a", "é", ASTRAL, "\n", "\\", '"', "<", "&", "`", "\x01", "\u2028"]), max_size=60)
_big = st.builds(lambda piece, times: piece * times, _text, st.integers(0, 6000))
_value = st.recursive(_big | st.integers() | st.none(), lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4), max_leaves=12)
FIELDS = ["stack", "service", "commit", "author", "jobId", "rolloutId", "reason", "message", "error", "by", "phase", "evidence", "plan", "details"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.dictionaries(st.sampled_from(FIELDS) | _text, _value, max_size=40))
def test_any_body_fits_sns(body):
    assert _published_size(_publish(body)) <= SNS_MESSAGE_LIMIT
