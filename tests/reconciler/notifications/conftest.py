"""What each kind of SNS subscriber receives, through moto: the SQS inbox (JSON), an e-mail
subscription and an HTTPS subscription (where AWS Chatbot would listen)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

CHATBOT_URL = "https://chatbot.example.test/sns"
EMAIL = "release-engineering@example.com"


class ChatbotEndpointDouble:
    """The HTTPS endpoint AWS Chatbot subscribes to the topic with: it cannot run here.

    Registered on moto's own HTTP interception, so moto's SNS delivers to it exactly as it
    delivers to any https subscriber (the ``https`` key of a ``MessageStructure=json`` message);
    it records the ``Message`` of each POSTed notification."""

    def __init__(self) -> None:
        import responses
        from moto.core.models import responses_mock

        self.messages: list[str] = []
        responses_mock.add(responses.CallbackResponse(method="POST", url=CHATBOT_URL, callback=self._receive))

    def _receive(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.messages.append(json.loads(request.body)["Message"])
        return 200, {}, "ok"


@dataclass
class Delivered:
    """One published notification as each subscriber got it."""

    subject: str
    attributes: dict[str, str]
    sqs: dict[str, Any]           # the SQS subscriber's Message, parsed (the JSON body)
    email: str                    # what the e-mail subscriber is sent
    https: str | None             # what the https subscriber was POSTed (None: nothing)
    published: dict[str, str] = field(default_factory=dict)  # the Message structure as published


@pytest.fixture
def subscribers(reconciler_aws: Any, read_notifications: Any):
    """The reconciler's topic with an e-mail and an https subscriber besides the SQS inbox; ``read()``
    returns each notification as every subscriber received it (e-mail: moto's record of the
    published Message, whose ``email`` key SNS sends to e-mail subscribers; moto sends no mail)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    chatbot = ChatbotEndpointDouble()
    sns = reconciler_aws.sns
    sns.subscribe(TopicArn=reconciler_aws.topic_arn, Protocol="email", Endpoint=EMAIL)
    sns.subscribe(TopicArn=reconciler_aws.topic_arn, Protocol="https", Endpoint=CHATBOT_URL)
    topic = sns_backends[DEFAULT_ACCOUNT_ID][reconciler_aws.session.region_name].topics[reconciler_aws.topic_arn]
    seen = {"published": 0, "https": 0}

    def read() -> list[Delivered]:
        inbox = read_notifications(reconciler_aws.sqs, reconciler_aws.inbox_url)
        published = topic.sent_notifications[seen["published"]:]
        https = chatbot.messages[seen["https"]:]
        seen["published"] += len(published)
        seen["https"] += len(https)
        assert len(inbox) == len(published), "every published notification reaches the SQS inbox"
        delivered = []
        for note, (_, message, _subject, _attributes, _group) in zip(inbox, published, strict=True):
            structure = json.loads(message)
            delivered.append(Delivered(
                subject=note["subject"], attributes=note["attributes"], sqs=note["message"],
                email=structure.get("email", structure["default"]), https=None, published=structure,
            ))
        # moto POSTs to the https subscriber as it publishes, in the same order.
        assert len(https) == len(delivered)
        for item, posted in zip(delivered, https, strict=True):
            item.https = posted
        return delivered

    return read
