"""SNS notifications: JSON body, message attributes for subscription filters, a short subject.

Subject, body and attributes all pass the :class:`~reconciler.redact.Redactor` before they leave:
a notification goes to people and to other systems' inboxes.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Protocol, TextIO

from reconciler.events import EventKind, Severity
from reconciler.redact import Redactor

SUBJECT_LIMIT = 100  # SNS rejects longer subjects


class Notifier(Protocol):
    def publish(self, *, kind: EventKind, severity: Severity, environment: str, subject: str, body: dict[str, Any]) -> str: ...


class SnsNotifier:
    def __init__(self, sns_client: Any, topic_arn: str, redactor: Redactor | None = None):
        self._sns = sns_client
        self._topic = topic_arn
        self._redactor = redactor or Redactor()

    def publish(self, *, kind: EventKind, severity: Severity, environment: str, subject: str, body: dict[str, Any]) -> str:
        environment = self._redactor.scrub(environment)
        message = self._redactor.scrub_value({"kind": kind.value, "severity": severity.value, "environment": environment, **body})
        response = self._sns.publish(
            TopicArn=self._topic,
            # Scrubbed before it is cut: a cut would leave a secret's head that no longer matches.
            Subject=self._redactor.scrub(subject)[:SUBJECT_LIMIT],
            Message=json.dumps(message, sort_keys=True, default=str),
            MessageAttributes={
                "environment": {"DataType": "String", "StringValue": environment},
                "kind": {"DataType": "String", "StringValue": kind.value},
                "severity": {"DataType": "String", "StringValue": severity.value},
            },
        )
        return str(response["MessageId"])


class StreamNotifier:
    """Local use: notifications as JSON lines on a stream (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, redactor: Redactor | None = None):
        self._stream = stream or sys.stderr
        self._count = 0
        self._redactor = redactor or Redactor()
        # One line per notification, and one id each, when converge loops publish from several threads.
        self._lock = threading.Lock()

    def publish(self, *, kind: EventKind, severity: Severity, environment: str, subject: str, body: dict[str, Any]) -> str:
        message = self._redactor.scrub_value(
            {"subject": subject, "kind": kind.value, "severity": severity.value, "environment": environment, **body}
        )
        line = json.dumps(message, sort_keys=True, default=str) + "\n"
        with self._lock:
            self._count += 1
            self._stream.write(line)
            return f"local-{self._count}"
