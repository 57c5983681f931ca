"""SNS notifications: one message per event in a form for each subscriber, filterable attributes, a short subject.

Published with ``MessageStructure=json``: the JSON body for ``default``, ``sqs`` and ``lambda``
(programs read it as before), plain text for ``email`` (what happened, where, why, what to do next),
and, when the settings ask (``notifications.chatbot``), the AWS Chatbot custom-notification shape
for ``https``. The rendering is :mod:`reconciler.notifications`; this adapter only assembles and publishes.

Subject, body, attributes and every rendered form pass the :class:`~reconciler.redact.Redactor`
before they leave: a notification goes to people and to other systems' inboxes.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TextIO

from reconciler.events import EventKind, Severity
from reconciler.notifications import EMAIL_MAX_CHARS, SNS_MESSAGE_LIMIT, chatbot_message, email_text, structured_message
from reconciler.redact import Redactor

SUBJECT_LIMIT = 100  # SNS rejects longer subjects
# SNS also rejects a subject with a line break or a control character: each run of them (C0, DEL, C1,
# the line and paragraph separators; all that str.splitlines() breaks on) becomes one space.
_SUBJECT_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class Notifier(Protocol):
    def publish(
        self, *, kind: EventKind, severity: Severity, environment: str, subject: str, body: dict[str, Any], attributes: Mapping[str, str | Sequence[str]] | None = None
    ) -> str: ...


class SnsNotifier:
    """``chatbot``: also publish the AWS Chatbot shape for https subscribers (else they get the JSON);
    ``email_max_chars``: the longest e-mail text (cut with a note beyond it)."""

    def __init__(
        self, sns_client: Any, topic_arn: str, redactor: Redactor | None = None, *, chatbot: bool = False, email_max_chars: int = EMAIL_MAX_CHARS,
    ):
        self._sns = sns_client
        self._topic = topic_arn
        self._redactor = redactor or Redactor()
        self._chatbot = chatbot
        self._email_max_chars = email_max_chars

    def publish(
        self, *, kind: EventKind, severity: Severity, environment: str, subject: str, body: dict[str, Any], attributes: Mapping[str, str | Sequence[str]] | None = None
    ) -> str:
        scrub = self._redactor.scrub
        environment = scrub(environment)
        message = self._redactor.scrub_value({"kind": kind.value, "severity": severity.value, "environment": environment, **body})
        # Scrubbed before it is cut: a cut would leave a secret's head that no longer matches.
        subject = _SUBJECT_BREAKS.sub(" ", scrub(subject)).strip()[:SUBJECT_LIMIT]
        message_attributes = {
            "environment": {"DataType": "String", "StringValue": environment},
            "kind": {"DataType": "String", "StringValue": kind.value},
            "severity": {"DataType": "String", "StringValue": severity.value},
            **self._extra_attributes(attributes),
        }
        # The forms are rendered from the scrubbed message and scrubbed again as they are: the last step out.
        rendered = {k: v for k, v in message.items() if k not in ("kind", "severity", "environment")}
        chatbot = (
            json.dumps(self._redactor.scrub_value(chatbot_message(kind, severity, environment, subject, rendered)), sort_keys=True)
            if self._chatbot else None
        )
        structure = structured_message(
            message,
            lambda limit: scrub(email_text(kind, severity, environment, subject, rendered, limit=limit)),
            email_limit=self._email_max_chars,
            https=chatbot,
            budget=SNS_MESSAGE_LIMIT - _overhead(subject, message_attributes),
        )
        response = self._sns.publish(
            TopicArn=self._topic,
            Subject=subject,
            Message=json.dumps(structure),
            MessageStructure="json",
            MessageAttributes=message_attributes,
        )
        return str(response["MessageId"])

    def _extra_attributes(self, attributes: Mapping[str, str | Sequence[str]] | None) -> dict[str, dict[str, str]]:
        """More filterable attributes (e.g. a drift check's resource types): a string, or a list as ``String.Array``."""
        extra: dict[str, dict[str, str]] = {}
        for name, value in (attributes or {}).items():
            if name in ("environment", "kind", "severity"):
                raise ValueError(f"notification attribute {name} is set by the notifier itself")
            if isinstance(value, str):
                extra[name] = {"DataType": "String", "StringValue": self._redactor.scrub(value)}
            else:
                extra[name] = {"DataType": "String.Array", "StringValue": json.dumps([self._redactor.scrub(item) for item in value])}
        return extra


def _overhead(subject: str, attributes: Mapping[str, Mapping[str, str]]) -> int:
    """What SNS counts against its size limit besides the message: the subject and the attributes."""
    size = len(subject.encode())
    for name, attribute in attributes.items():
        size += len(name.encode()) + sum(len(value.encode()) for value in attribute.values())
    return size


class StreamNotifier:
    """Local use: notifications as JSON lines on a stream (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, redactor: Redactor | None = None):
        self._stream = stream or sys.stderr
        self._count = 0
        self._redactor = redactor or Redactor()
        # One line per notification, and one id each, when converge loops publish from several threads.
        self._lock = threading.Lock()

    def publish(
        self, *, kind: EventKind, severity: Severity, environment: str, subject: str, body: dict[str, Any], attributes: Mapping[str, str | Sequence[str]] | None = None
    ) -> str:
        message = self._redactor.scrub_value(
            {"subject": subject, "kind": kind.value, "severity": severity.value, "environment": environment, **body}
        )
        if attributes:
            message["attributes"] = self._redactor.scrub_value({name: value if isinstance(value, str) else list(value) for name, value in attributes.items()})
        line = json.dumps(message, sort_keys=True, default=str) + "\n"
        with self._lock:
            self._count += 1
            self._stream.write(line)
            return f"local-{self._count}"
