"""A notification as people read it: plain text for e-mail, the AWS Chatbot custom-notification shape.

Pure functions of what the notifier publishes (kind, severity, environment, subject and the JSON
body the converger, the worker, the rollout notifier and the tick runtime build). They render
what they are given: the caller hands them values the redactor has already scrubbed, and scrubs
what they return once more.

The e-mail says what happened, where (environment, stack, service, commit, job or rollout), why
(reason, error, policy violations, evidence, plan) and what to do next with the exact command
(:mod:`reconciler.notifications.next_steps`). It is cut to a limit with a note saying so; the cut
falls in the "why" part, so what happened, where and what to do next always remain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.events import EventKind, Severity
from reconciler.notifications.next_steps import next_step

EMAIL_MAX_CHARS = 16_000  # a screenful or ten; the JSON subscribers get everything
MIN_EMAIL_CHARS = 1_000
CHATBOT_TITLE_CHARS = 250
CHATBOT_DESCRIPTION_CHARS = 3_000  # Slack and Teams fold long messages; the e-mail has the rest
CHATBOT_ITEMS = 5  # violations or evidence entries shown in a chat message
SEVERITY_EMOJI = {Severity.INFO.value: ":white_check_mark:", Severity.WARNING.value: ":warning:", Severity.ERROR.value: ":x:"}

# Body fields the sections below place themselves; anything else goes under "Details".
WHERE_FIELDS = ("stack", "service", "commit", "author", "jobId", "trigger", "phase", "from", "rolloutId", "oldImage", "newImage", "weights", "paused")
WHY_FIELDS = ("reason", "message", "error", "by", "action", "at", "attempts", "supersededBy", "policyViolations", "plan", "evidence")
ENVELOPE_FIELDS = ("kind", "severity", "environment", "outcome", "details")
INDENT = "  "


def email_text(
    kind: EventKind | str, severity: Severity | str, environment: str, subject: str, body: Mapping[str, Any], *, limit: int = EMAIL_MAX_CHARS
) -> str:
    """The plain-text e-mail for one notification, at most ``limit`` characters."""
    kind_value, severity_value = _value(kind), _value(severity)
    step = next_step(kind_value, environment, body)
    what = [f"{step.headline} in {environment} ({kind_value}, severity {severity_value})."]
    head = [subject, ""] + _section("What happened", what)
    head += _section("Where", [f"Environment: {environment}", *_where(body)])
    why_lines, detail_lines = list(_why(body)), list(_details(body))
    why = (_section("Why", why_lines) if why_lines else []) + (_section("Details", detail_lines) if detail_lines else [])
    todo = [step.action, *(f"{INDENT}{command}" for command in step.commands)]
    tail = _section("What to do next", todo) + [
        "--", f"Sent by ecs-gitops. Programs get the same event as JSON over SQS or Lambda (kind={kind_value}).",
    ]
    return _fit(head, why, tail, limit=max(limit, MIN_EMAIL_CHARS), environment=environment)


def chatbot_message(kind: EventKind | str, severity: Severity | str, environment: str, subject: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The AWS Chatbot (Amazon Q Developer in chat applications) custom notification for one event.

    Only the documented fields: ``version`` 1.0, ``source`` custom, ``content`` (``textType``
    client-markdown, ``title``, ``description``, ``nextSteps``, ``keywords``) and ``metadata``
    (``threadId``, ``summary``, ``eventType``, ``relatedResources``, ``additionalContext``).
    A rollout's transitions share a thread, as do a job's attempts.
    """
    kind_value, severity_value = _value(kind), _value(severity)
    step = next_step(kind_value, environment, body)
    service = _text(body.get("service"))
    title = f"{SEVERITY_EMOJI.get(severity_value, ':information_source:')} [{environment}] {step.headline}" + (f": {service}" if service else "")
    content: dict[str, Any] = {
        "textType": "client-markdown",
        "title": _cut(title, CHATBOT_TITLE_CHARS),
        "description": _cut("\n".join(_markdown(environment, body)), CHATBOT_DESCRIPTION_CHARS),
        "nextSteps": [step.action, *(f"`{_code(command)}`" for command in step.commands)],
        "keywords": [word for word in (environment, kind_value, severity_value, service) if word],
    }
    context = {
        name: text for name, text in (
            ("environment", environment), ("severity", severity_value), ("stack", _text(body.get("stack"))),
            ("commit", _text(body.get("commit"))), ("reason", _cut(_text(body.get("reason")), 200)),
        ) if text
    }
    metadata: dict[str, Any] = {
        "summary": _cut(subject, CHATBOT_TITLE_CHARS),
        "eventType": kind_value,
        "relatedResources": [name for name in (_text(body.get("stack")), service) if name],
        "additionalContext": context,
    }
    thread = _text(body.get("rolloutId")) or _text(body.get("jobId"))
    if thread:
        metadata["threadId"] = thread
    return {"version": "1.0", "source": "custom", "content": content, "metadata": metadata}


# --------------------------------------------------------------------------- e-mail sections


def _where(body: Mapping[str, Any]) -> Iterator[str]:
    if body.get("stack"):
        yield f"Stack: {_text(body['stack'])}"
    if body.get("service"):
        yield f"Service: {_text(body['service'])}"
    if body.get("commit"):
        yield f"Commit: {_text(body['commit'])[:12]}" + (f" by {_text(body['author'])}" if body.get("author") else "")
    elif body.get("author"):
        yield f"Author: {_text(body['author'])}"
    if body.get("jobId"):
        yield f"Job: {_text(body['jobId'])}" + (f" ({_text(body['trigger'])})" if body.get("trigger") else "")
    if body.get("rolloutId"):
        yield f"Rollout: {_text(body['rolloutId'])}"
    if body.get("phase"):
        moved = f"{_text(body['from'])} -> " if body.get("from") and body.get("from") != body.get("phase") else ""
        yield f"Phase: {moved}{_text(body['phase'])}" + (" (paused)" if body.get("paused") else "")
    if body.get("oldImage") or body.get("newImage"):
        yield f"Images: {_text(body.get('oldImage')) or '?'} -> {_text(body.get('newImage')) or '?'}"
    if isinstance(body.get("weights"), Mapping):
        yield "Weights: " + ", ".join(f"{colour} {weight}" for colour, weight in body["weights"].items())


def _why(body: Mapping[str, Any]) -> Iterator[str]:
    for name, label in (("reason", "Reason"), ("message", "Message"), ("error", "Error")):
        value = body.get(name)
        if value and not (name == "error" and value == body.get("message")):
            yield from _labelled(label, _text(value))
    if body.get("by"):
        yield f"By: {_text(body['by'])}" + (f" ({_text(body['action'])})" if body.get("action") else "")
    elif body.get("action"):
        yield from _labelled("Action", _text(body["action"]))  # the tick runtime's note of what to do
    if body.get("at"):
        yield f"At: {_text(body['at'])}"
    if body.get("attempts"):
        yield f"Attempts: {_text(body['attempts'])}"
    if body.get("supersededBy"):
        yield f"Superseded by: {_text(body['supersededBy'])}"
    violations = [v for v in body.get("policyViolations") or [] if isinstance(v, Mapping)]
    if violations:
        yield "Policy violations:"
        for violation in sorted(violations, key=lambda v: v.get("severity") != "mandatory"):
            yield from _labelled(
                f"{INDENT}- {_text(violation.get('policy'))} ({_text(violation.get('severity'))}) on {_text(violation.get('resource'))}",
                _text(violation.get("message")),
            )
    if isinstance(body.get("plan"), Mapping):
        plan = body["plan"]
        yield "Plan: " + ", ".join(f"{plan.get(op, 0)} to {op}" for op in ("create", "update", "replace", "delete"))
        for operation, names in sorted((plan.get("resources") or {}).items()):
            if operation != "same" and names:
                yield f"{INDENT}{operation}: {', '.join(map(_text, names))}"
    if body.get("evidence"):
        yield "Evidence:"
        yield from (INDENT + line for line in _flat(body["evidence"]))


def _details(body: Mapping[str, Any]) -> Iterator[str]:
    """Whatever the body holds beyond the fields placed above (the converger's details, new fields)."""
    rest = {k: v for k, v in body.items() if k not in (*WHERE_FIELDS, *WHY_FIELDS, *ENVELOPE_FIELDS) and v not in (None, "", [], {})}
    if isinstance(body.get("details"), Mapping):
        rest = {**body["details"], **rest}
    yield from _flat(rest)


def _flat(value: Any, prefix: str = "") -> Iterator[str]:
    """``key: value`` lines for a nested value (nested keys joined with dots; short lists on one line)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _flat(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list | tuple) and any(isinstance(item, Mapping | list | tuple) for item in value):
        for index, item in enumerate(value):
            yield from _flat(item, f"{prefix}[{index}]")
    elif isinstance(value, list | tuple):
        yield from _labelled(prefix or "-", ", ".join(map(_text, value)))
    else:
        yield from _labelled(prefix or "-", _text(value))


def _labelled(label: str, text: str) -> list[str]:
    """``label: text``; a multi-line text goes under the label, indented, without blank lines."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if len(lines) <= 1:
        return [f"{label}: {lines[0] if lines else text}"]
    return [f"{label}:", *(INDENT + line for line in lines)]


def _section(title: str, lines: list[str]) -> list[str]:
    """A titled block: its lines indented, a blank line after (no blank line inside: values have none)."""
    return [title, *(INDENT + line for line in lines), ""]


def _fit(head: list[str], why: list[str], tail: list[str], *, limit: int, environment: str) -> str:
    """The e-mail within ``limit`` characters; what does not fit is the end of the "why" part, and a note says so."""
    text = "\n".join([*head, *why, *tail])
    if len(text) <= limit:
        return text
    middle = "\n".join(why)
    fixed = "\n".join([*head, *tail])

    def note_for(cut: int) -> str:
        return (
            f"{INDENT}[... truncated: {cut} more characters not shown, too long for e-mail. The full event is in the "
            f"JSON notification and the audit record: ecs-gitops history --environment {environment}]"
        )

    room = limit - len(fixed) - len(note_for(len(middle))) - 2
    if room < 0:
        # Even without the "why" part it is too long (an enormous value in "where"): cut the whole text.
        note = note_for(len(text))
        return text[: max(0, limit - len(note) - 1)] + "\n" + note
    kept = middle[:room]
    if "\n" in kept:
        kept = kept[: kept.rindex("\n")]  # a whole line, not half a word
    note = note_for(len(middle) - len(kept))
    return "\n".join([*head, kept, note, "", *tail])


# --------------------------------------------------------------------------- chat markdown


def _markdown(environment: str, body: Mapping[str, Any]) -> Iterator[str]:
    where = [f"environment `{_code(environment)}`"]
    for name in ("stack", "service"):
        if body.get(name):
            where.append(f"{name} `{_code(_text(body[name]))}`")
    if body.get("commit"):
        where.append(f"commit `{_code(_text(body['commit'])[:12])}`")
    if body.get("phase"):
        where.append(f"phase `{_code(_text(body['phase']))}`")
    yield "*Where:* " + " · ".join(where)
    reason, message = _text(body.get("reason")), _text(body.get("message"))
    if reason or message:
        yield "*Why:* " + ": ".join(_one_line(part, 500) for part in (reason, message) if part)
    error = _text(body.get("error"))
    if error and error != message:
        yield f"*Error:* `{_code(_one_line(error, 500))}`"
    if body.get("by"):
        yield f"*By:* {_one_line(_text(body['by']), 100)}"
    violations = [v for v in body.get("policyViolations") or [] if isinstance(v, Mapping)]
    for violation in sorted(violations, key=lambda v: v.get("severity") != "mandatory")[:CHATBOT_ITEMS]:
        yield (
            f"• `{_code(_text(violation.get('policy')))}` ({_text(violation.get('severity'))}) "
            f"{_one_line(_text(violation.get('resource')), 100)}: {_one_line(_text(violation.get('message')), 300)}"
        )
    if len(violations) > CHATBOT_ITEMS:
        yield f"• and {len(violations) - CHATBOT_ITEMS} more"
    evidence = list(_flat(body["evidence"])) if body.get("evidence") else []
    for line in evidence[:CHATBOT_ITEMS]:
        yield f"• {_one_line(line, 300)}"
    if len(evidence) > CHATBOT_ITEMS:
        yield f"• and {len(evidence) - CHATBOT_ITEMS} more"


# --------------------------------------------------------------------------- small helpers


def _value(item: Any) -> str:
    return str(getattr(item, "value", item))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _one_line(text: str, limit: int) -> str:
    return _cut(" ".join(text.split()), limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code(text: str) -> str:
    """Safe inside a markdown code span."""
    return text.replace("`", "'")
