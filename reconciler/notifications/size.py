"""One SNS message per notification, within what SNS accepts (256 KB, subject and attributes included).

With ``MessageStructure=json`` each protocol reads its own key, and one without a key reads
``default``. The JSON goes out under ``default``, ``sqs`` and ``lambda``; when the three copies do
not fit, ``sqs`` and ``lambda`` are left out (they read the same ``default``), then the e-mail is
cut shorter, and only then is the JSON itself cut to the fields that name the event, marked
``"truncated": true`` (the audit record keeps the whole): first to its top-level scalars with long
strings cut, and when even those are too many, to the fields that identify the event. The https
(Chatbot) form is bounded field by field where it is rendered
(:func:`reconciler.notifications.render.chatbot_message`), so what is left always fits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

SNS_MESSAGE_LIMIT = 262_144  # bytes: SNS's maximum message size
JSON_PROTOCOLS = ("default", "sqs", "lambda")
TRUNCATED_STRING_CHARS = 1_000
MIN_STRING_CHARS = 100
IDENTIFYING_FIELDS = ("kind", "severity", "environment", "stack", "service", "commit", "jobId", "rolloutId", "attempt", "trigger", "outcome", "reason", "phase")
# Only what is kept somewhere is promised: the audit record keeps the outcome and its summary (a drift check's
# counts, not its report), and a drift report is printed whole by the drift command.
TRUNCATED_NOTE = (
    "the event was too large for one SNS message: only its top-level fields are here, long strings cut; the audit "
    "record (ecs-gitops history) keeps its outcome and summary, and ecs-gitops drift --output json prints a drift report whole"
)


def message_size(structure: Mapping[str, str]) -> int:
    """The bytes of the published ``Message`` (the structure as JSON)."""
    return len(json.dumps(structure).encode())


def structured_message(
    event: Mapping[str, Any],
    email: Callable[[int], str],
    *,
    email_limit: int,
    https: str | None,
    budget: int = SNS_MESSAGE_LIMIT,
    min_email_chars: int = 1_000,
) -> dict[str, str]:
    """The ``MessageStructure=json`` message: ``event`` as JSON for programs, ``email(limit)`` for people,
    ``https`` (when given) for AWS Chatbot; at most ``budget`` bytes."""
    body = _json(event)
    text = email(email_limit)

    def assemble(json_body: str, email_text: str, copies: bool) -> dict[str, str]:
        structure = {protocol: json_body for protocol in (JSON_PROTOCOLS if copies else JSON_PROTOCOLS[:1])}
        structure["email"] = email_text
        if https is not None:
            structure["https"] = https
        return structure

    structure = assemble(body, text, copies=True)
    if message_size(structure) <= budget:
        return structure
    structure = assemble(body, text, copies=False)
    limit = email_limit
    while message_size(structure) > budget and limit > min_email_chars:
        limit = max(min_email_chars, int(limit * 0.7))
        text = email(limit)
        structure = assemble(body, text, copies=False)
    for reduce in (lambda: _reduced(event, TRUNCATED_STRING_CHARS), lambda: _reduced(event, MIN_STRING_CHARS), lambda: _identifying(event)):
        if message_size(structure) <= budget:
            break
        structure = assemble(_json(reduce()), text, copies=False)
    if message_size(structure) > budget and "https" in structure:
        # Only when the subject and attributes leave almost nothing: a message SNS takes, the https
        # subscribers reading ``default``, rather than one SNS refuses for everyone.
        del structure["https"]
    return structure


def _reduced(event: Mapping[str, Any], string_chars: int) -> dict[str, Any]:
    """The event's top-level scalars (long strings cut), marked as cut."""
    kept: dict[str, Any] = {}
    for name, value in event.items():
        if isinstance(value, str):
            kept[name] = value if len(value) <= string_chars else value[:string_chars] + "..."
        elif value is None or isinstance(value, bool | int | float):
            kept[name] = value
    return {**kept, "truncated": True, "truncatedNote": TRUNCATED_NOTE}


def _identifying(event: Mapping[str, Any]) -> dict[str, Any]:
    """Only the fields that name the event (each cut short), and how many were left out."""
    kept = {
        name: value if not isinstance(value, str) or len(value) <= MIN_STRING_CHARS else value[:MIN_STRING_CHARS] + "..."
        for name, value in event.items()
        if name in IDENTIFYING_FIELDS and (value is None or isinstance(value, str | bool | int | float))
    }
    return {**kept, "truncated": True, "truncatedNote": TRUNCATED_NOTE, "fieldsLeftOut": len(event) - len(kept)}


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=str)
