"""SNS notifications: JSON body, message attributes for subscription filters, a short subject.

Subject, body and attributes all pass the :class:`~reconciler.redact.Redactor` before they leave:
a notification goes to people and to other systems' inboxes.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TextIO

from reconciler.events import EventKind, Severity
from reconciler.redact import Redactor

SUBJECT_LIMIT = 100  # SNS rejects longer subjects


class Notifier(Protocol):
    def publish(
        self, *, kind: EventKind, severity: Severity, environment: str, subject: str, body: dict[str, Any], attributes: Mapping[str, str | Sequence[str]] | None = None
    ) -> str: ...


class SnsNotifier:
    def __init__(self, sns_client: Any, topic_arn: str, redactor: Redactor | None = None):
        self._sns = sns_client
        self._topic = topic_arn
        self._redactor = redactor or Redactor()

    def publish(
        self, *, kind: EventKind, severity: Severity, environment: str, subject: str, body: dict[str, Any], attributes: Mapping[str, str | Sequence[str]] | None = None
    ) -> str:
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
                **self._extra_attributes(attributes),
            },
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
