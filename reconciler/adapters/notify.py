"""SNS notifications: JSON body, message attributes for subscription filters, a short subject."""

from __future__ import annotations

import json
from typing import Any

from reconciler.events import EventKind, Severity

SUBJECT_LIMIT = 100  # SNS rejects longer subjects


class Notifier:
    def __init__(self, sns_client: Any, topic_arn: str):
        self._sns = sns_client
        self._topic = topic_arn

    def publish(self, *, kind: EventKind, severity: Severity, environment: str, subject: str, body: dict[str, Any]) -> str:
        message = {"kind": kind.value, "severity": severity.value, "environment": environment, **body}
        response = self._sns.publish(
            TopicArn=self._topic,
            Subject=subject[:SUBJECT_LIMIT],
            Message=json.dumps(message, sort_keys=True, default=str),
            MessageAttributes={
                "environment": {"DataType": "String", "StringValue": environment},
                "kind": {"DataType": "String", "StringValue": kind.value},
                "severity": {"DataType": "String", "StringValue": severity.value},
            },
        )
        return str(response["MessageId"])
