"""A notification as people read it: plain text for e-mail, the AWS Chatbot custom-notification shape.

Pure functions of what the notifier publishes (kind, severity, environment, subject and the JSON
body the converger, the worker, the rollout notifier and the tick runtime build). They render
what they are given: the caller hands them values the redactor has already scrubbed, and scrubs
what they return once more.

Every value from the body is text from outside (a commit's author, ``--by``, ``--reason``, engine
output, a resource name): none may start a line of its own. In the e-mail a value is folded to one
line (:func:`_one`), or, where its lines matter (an error, engine output), shown as a quoted block
whose every line starts ``|`` under its label; so the section titles, the footer and the commands
the renderer suggests are the only lines that look like them. In the chat message every value sits
in a code span (:func:`_span`), folded to one line, with Slack's ``&``, ``<``, ``>`` escaped, so no
link, mention or emphasis can form.

The e-mail says what happened, where (environment, stack, service, commit, job or rollout), why
(reason, error, policy violations, evidence, plan) and what to do next with the exact command
(:mod:`reconciler.notifications.next_steps`). It is cut to a limit with a note saying so; the cut
falls in the "why" part, so what happened, where and what to do next always remain.
"""

from __future__ import annotations

import json
import re
import unicodedata
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
QUOTE = "| "  # marks each line of a multi-line value in the e-mail
CHATBOT_KEYWORD_CHARS = 50
CHATBOT_RESOURCE_CHARS = 250
CHATBOT_THREAD_CHARS = 100
CHATBOT_CONTEXT_CHARS = 200
CHATBOT_SPAN_CHARS = 300  # one value in the description (an error or a message: 500)


def email_text(
    kind: EventKind | str, severity: Severity | str, environment: str, subject: str, body: Mapping[str, Any], *, limit: int = EMAIL_MAX_CHARS
) -> str:
    """The plain-text e-mail for one notification, at most ``limit`` characters."""
    kind_value, severity_value = _value(kind), _value(severity)
    step = next_step(kind_value, environment, body)
    kind_value, severity_value, environment = _one(kind_value), _one(severity_value), _one(environment)
    what = [f"{step.headline} in {environment} ({kind_value}, severity {severity_value})."]
    head = [_one(subject), ""] + _section("What happened", what)
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
    # Every field is cut to a bound: the https form has no other limit (notifications.size).
    service = _one(body.get("service"))
    kind_word, severity_word = _one_line(kind_value, CHATBOT_KEYWORD_CHARS), _one_line(severity_value, CHATBOT_KEYWORD_CHARS)
    heading = f"{SEVERITY_EMOJI.get(severity_value, ':information_source:')} [{_plain(environment, 60)}] {step.headline}"
    title = heading + (f": {_span(service, CHATBOT_TITLE_CHARS - len(heading) - 4)}" if service else "")
    content: dict[str, Any] = {
        "textType": "client-markdown",
        "title": title,
        "description": _cut_lines(list(_markdown(environment, body)), CHATBOT_DESCRIPTION_CHARS),
        "nextSteps": [step.action, *(f"`{_code(command)}`" for command in step.commands)],
        "keywords": [_one_line(word, CHATBOT_KEYWORD_CHARS) for word in (environment, kind_value, severity_value, service) if word],
    }
    context = {
        name: _one_line(text, CHATBOT_CONTEXT_CHARS) for name, text in (
            ("environment", environment), ("severity", severity_value), ("stack", _text(body.get("stack"))),
            ("commit", _text(body.get("commit"))), ("reason", _text(body.get("reason"))),
        ) if text
    }
    metadata: dict[str, Any] = {
        "summary": _plain(subject, CHATBOT_TITLE_CHARS),
        "eventType": kind_word,
        "relatedResources": [_one_line(name, CHATBOT_RESOURCE_CHARS) for name in (_text(body.get("stack")), service) if name],
        "additionalContext": context,
    }
    thread = _one_line(_text(body.get("rolloutId")) or _text(body.get("jobId")), CHATBOT_THREAD_CHARS)
    if thread:
        metadata["threadId"] = thread
    return {"version": "1.0", "source": "custom", "content": content, "metadata": metadata}


# --------------------------------------------------------------------------- e-mail sections


def _where(body: Mapping[str, Any]) -> Iterator[str]:
    if body.get("stack"):
        yield f"Stack: {_one(body['stack'])}"
    if body.get("service"):
        yield f"Service: {_one(body['service'])}"
    if body.get("commit"):
        yield f"Commit: {_one(body['commit'])[:12]}" + (f" by {_one(body['author'])}" if body.get("author") else "")
    elif body.get("author"):
        yield f"Author: {_one(body['author'])}"
    if body.get("jobId"):
        yield f"Job: {_one(body['jobId'])}" + (f" ({_one(body['trigger'])})" if body.get("trigger") else "")
    if body.get("rolloutId"):
        yield f"Rollout: {_one(body['rolloutId'])}"
    if body.get("phase"):
        moved = f"{_one(body['from'])} -> " if body.get("from") and body.get("from") != body.get("phase") else ""
        yield f"Phase: {moved}{_one(body['phase'])}" + (" (paused)" if body.get("paused") else "")
    if body.get("oldImage") or body.get("newImage"):
        yield f"Images: {_one(body.get('oldImage')) or '?'} -> {_one(body.get('newImage')) or '?'}"
    if isinstance(body.get("weights"), Mapping):
        yield "Weights: " + ", ".join(f"{_one(colour)} {_one(weight)}" for colour, weight in body["weights"].items())


def _why(body: Mapping[str, Any]) -> Iterator[str]:
    for name, label in (("reason", "Reason"), ("message", "Message"), ("error", "Error")):
        value = body.get(name)
        if value and not (name == "error" and value == body.get("message")):
            yield from _labelled(label, _text(value))
    if body.get("by"):
        yield f"By: {_one(body['by'])}" + (f" ({_one(body['action'])})" if body.get("action") else "")
    elif body.get("action"):
        yield from _labelled("Action", _text(body["action"]))  # the tick runtime's note of what to do
    if body.get("at"):
        yield f"At: {_one(body['at'])}"
    if body.get("attempts"):
        yield f"Attempts: {_one(body['attempts'])}"
    if body.get("supersededBy"):
        yield f"Superseded by: {_one(body['supersededBy'])}"
    violations = [v for v in body.get("policyViolations") or [] if isinstance(v, Mapping)]
    if violations:
        yield "Policy violations:"
        for violation in sorted(violations, key=lambda v: v.get("severity") != "mandatory"):
            yield from _labelled(
                f"{INDENT}- {_one(violation.get('policy'))} ({_one(violation.get('severity'))}) on {_one(violation.get('resource'))}",
                _text(violation.get("message")),
            )
    if isinstance(body.get("plan"), Mapping):
        plan = body["plan"]
        yield "Plan: " + ", ".join(f"{_one(plan.get(op, 0))} to {op}" for op in ("create", "update", "replace", "delete"))
        resources = plan.get("resources")
        for operation, names in sorted((resources if isinstance(resources, Mapping) else {}).items(), key=lambda item: str(item[0])):
            if operation != "same" and names:
                listed = names if isinstance(names, list | tuple) else [names]
                yield f"{INDENT}{_one(operation)}: {', '.join(map(_one, listed))}"
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
            yield from _flat(item, f"{prefix}.{_one(key)}" if prefix else _one(key))
    elif isinstance(value, list | tuple) and any(isinstance(item, Mapping | list | tuple) for item in value):
        for index, item in enumerate(value):
            yield from _flat(item, f"{prefix}[{index}]")
    elif isinstance(value, list | tuple):
        yield from _labelled(prefix or "-", ", ".join(map(_one, value)))
    else:
        yield from _labelled(prefix or "-", _text(value))


def _labelled(label: str, text: str) -> list[str]:
    """``label: text``; a multi-line text goes under the label as a quoted block (each line marked ``|``),
    without blank lines, so none of its lines reads as a title, a footer or a suggested command."""
    lines = [_visible(line).rstrip() for line in text.splitlines()]
    lines = [line for line in lines if line.strip()]
    if len(lines) <= 1:
        return [f"{label}: {_one(lines[0]) if lines else ''}".rstrip()]
    return [f"{label}:", *(INDENT + QUOTE + line for line in lines)]


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
    where = [f"environment {_span(environment, 100)}"]
    for name in ("stack", "service"):
        if body.get(name):
            where.append(f"{name} {_span(body[name], CHATBOT_SPAN_CHARS)}")
    if body.get("commit"):
        where.append(f"commit {_span(_one(body['commit'])[:12], 12)}")
    if body.get("phase"):
        where.append(f"phase {_span(body['phase'], 100)}")
    yield "*Where:* " + " · ".join(where)
    reason, message = _text(body.get("reason")), _text(body.get("message"))
    if reason or message:
        yield "*Why:* " + ": ".join(_span(part, 500) for part in (reason, message) if part)
    error = _text(body.get("error"))
    if error and error != message:
        yield f"*Error:* {_span(error, 500)}"
    if body.get("by"):
        yield f"*By:* {_span(body['by'], 100)}"
    violations = [v for v in body.get("policyViolations") or [] if isinstance(v, Mapping)]
    for violation in sorted(violations, key=lambda v: v.get("severity") != "mandatory")[:CHATBOT_ITEMS]:
        yield (
            f"• {_span(violation.get('policy'), 100)} ({_span(violation.get('severity'), 50)}) "
            f"{_span(violation.get('resource'), 100)}: {_span(violation.get('message'), CHATBOT_SPAN_CHARS)}"
        )
    if len(violations) > CHATBOT_ITEMS:
        yield f"• and {len(violations) - CHATBOT_ITEMS} more"
    evidence = list(_flat(body["evidence"])) if body.get("evidence") else []
    for line in evidence[:CHATBOT_ITEMS]:
        yield f"• {_span(line, CHATBOT_SPAN_CHARS)}"
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


def _visible(text: str) -> str:
    """``text`` with no character that breaks a line or hides itself: controls and line or paragraph
    separators become spaces, format characters (zero-width, bidirectional overrides) go."""
    if text.isascii() and text.isprintable():
        return text
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp"):
            kept.append(" ")
        elif category != "Cf":
            kept.append(char)
    return "".join(kept)


def _one(value: Any) -> str:
    """A value on one line: every line break (any ``str.splitlines()`` separator) and run of whitespace one space."""
    return " ".join(_visible(_text(value)).split())


def _one_line(text: str, limit: int) -> str:
    return _cut(_one(text), limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _cut_lines(lines: list[str], limit: int) -> str:
    """Whole lines (each one valid markdown) within ``limit`` characters; a note says when some are left out."""
    kept: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        if size + len(line) + 1 > limit - 40:
            kept.append(f"• and {len(lines) - index} more line(s) in the e-mail")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def _escape(text: str) -> str:
    """Slack's three escapes: with them no ``<link|text>``, ``<!channel>`` or entity forms."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(value: Any, limit: int) -> str:
    """A value as plain chat text: one line, cut, escaped."""
    return _escape(_one_line(_text(value), limit))


def _span(value: Any, limit: int) -> str:
    """A value as a markdown code span: one line, cut, escaped; inside it neither Slack nor Teams
    renders emphasis, strike-through or links."""
    text = _escape(_code(_one(value)))
    if len(text) > limit:
        # Cut after escaping, never inside an entity: the span stays within ``limit`` and closed.
        text = re.sub(r"&[a-z]*$", "", text[: max(1, limit) - 1]) + "…"
    return f"`{text}`"


def _code(text: str) -> str:
    """Safe inside a markdown code span."""
    return text.replace("`", "'")
