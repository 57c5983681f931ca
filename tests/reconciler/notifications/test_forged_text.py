"""A value from outside (a commit's author, --by, --reason, a policy violation's resource) cannot forge
a section, a footer or a command in the e-mail, nor a link or emphasis in the chat message."""

from __future__ import annotations

import pytest

from reconciler.events import EventKind, Severity
from reconciler.notifications import chatbot_message, email_text

# Every separator str.splitlines() breaks a line at, and the ones mail clients show as a break.
LINE_BREAKS = ("\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
FORGED_SECTION = "What to do next"
FORGED_COMMAND = "ecs-gitops approve --environment prod --commit 6113728 --by cab"


def _forged_body(brk: str) -> dict:
    """The review's reproduction (t10.py), with the line break under test."""
    forged = f"{brk}{FORGED_SECTION}{brk}  Nothing to do: this was approved by the CAB.{brk}    {FORGED_COMMAND}{brk}--{brk}Sent by ecs-gitops."
    return {
        "stack": "prod" + forged,
        "service": "api" + forged,
        "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "author": "Jane" + forged,
        "jobId": "j1" + forged,
        "trigger": "git-push" + forged,
        "rolloutId": "r1" + forged,
        "phase": "baking" + forged,
        "from": "starting" + forged,
        "oldImage": "old" + forged,
        "newImage": "new" + forged,
        "weights": {"blue" + forged: 90, "green": "10" + forged},
        "outcome": "refused",
        "reason": "PolicyViolation" + forged,
        "message": "policy refused" + forged,
        "error": "engine output" + forged,
        "by": "mallory" + forged,
        "action": "suspend" + forged,
        "at": "2025-03-04T12:00:00Z" + forged,
        "attempts": "3" + forged,
        "supersededBy": "j2" + forged,
        "policyViolations": [{"policy": "EDGE-004" + forged, "severity": "mandatory" + forged, "resource": "alb" + forged, "message": "x" + forged}],
        "plan": {"create": 1, "resources": {"create" + forged: ["svc" + forged]}},
        "evidence": {"note" + forged: "5xx rate" + forged},
        "details": {"extra" + forged: "value" + forged},
    }


def _email(body: dict) -> str:
    return email_text(EventKind.REFUSED, Severity.ERROR, "prod", "[prod] refused", body)


@pytest.mark.parametrize("brk", LINE_BREAKS, ids=[f"U+{ord(b[0]):04X}" for b in LINE_BREAKS])
def test_no_value_starts_a_section_a_footer_or_a_command_in_the_email(brk):
    text = _email(_forged_body(brk))
    lines = text.splitlines()

    # One "What to do next" heading, at column 0: the renderer's own.
    assert [line for line in lines if line.strip() == FORGED_SECTION] == [FORGED_SECTION]
    # One footer, the renderer's: no value line reads "--" or starts "Sent by".
    assert [line for line in lines if line.strip() == "--"] == ["--"]
    assert sum(line.lstrip().startswith("Sent by ecs-gitops") for line in lines) == 1
    # The only lines that read as a command are the ones the renderer suggests.
    commands = [line.strip() for line in lines if line.lstrip().startswith("ecs-gitops ")]
    assert commands == ["ecs-gitops status --environment prod"]
    # Nothing at column 0 but the subject, the section titles and the footer.
    assert {line for line in lines if line and not line[0].isspace()} <= {
        "[prod] refused", "What happened", "Where", "Why", "Details", "What to do next", "--",
        "Sent by ecs-gitops. Programs get the same event as JSON over SQS or Lambda (kind=refused).",
    }


@pytest.mark.parametrize("brk", LINE_BREAKS, ids=[f"U+{ord(b[0]):04X}" for b in LINE_BREAKS])
def test_no_value_breaks_a_line_of_the_chat_message(brk):
    message = chatbot_message(EventKind.REFUSED, Severity.ERROR, "prod", "[prod] refused" + brk + FORGED_SECTION, _forged_body(brk))
    content, metadata = message["content"], message["metadata"]

    description = content["description"].splitlines()
    assert all(line.startswith(("*Where:*", "*Why:*", "*Error:*", "*By:*", "• ")) for line in description), description
    for text in (content["title"], metadata["summary"], metadata["threadId"], *content["keywords"], *metadata["relatedResources"],
                 *metadata["additionalContext"].values()):
        assert len(text.splitlines()) == 1, text
    assert content["nextSteps"] == ["Nothing was applied. Read why above and fix it. To see the environment:", "`ecs-gitops status --environment prod`"]


def test_an_email_value_keeps_its_lines_as_a_quoted_block():
    """Engine output and tracebacks keep their lines, each marked as quoted text, never at a command's place."""
    body = {"stack": "dev", "error": f"line one\n    {FORGED_COMMAND}\nline three"}

    lines = email_text(EventKind.CONVERGE_FAILED, Severity.ERROR, "dev", "[dev] converge failed", body).splitlines()

    start = lines.index("  Error:")
    assert lines[start + 1:start + 4] == ["    | line one", f"    |     {FORGED_COMMAND}", "    | line three"]


MARKUP = "*Approved by CAB* _now_ ~no~ `code` <https://evil.example/login|ecs-gitops approve> [click](https://evil.example) &amp; <!channel>"


def test_chat_markup_in_values_is_shown_as_text_not_rendered():
    body = {
        "stack": "prod", "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "reason": "PolicyViolation",
        "message": "policy refused: " + MARKUP, "error": "engine: " + MARKUP, "by": "mallory " + MARKUP, "service": "api " + MARKUP,
        "policyViolations": [{"policy": "EDGE-004", "severity": "mandatory " + MARKUP, "resource": "alb " + MARKUP, "message": MARKUP}],
        "evidence": {"note": MARKUP},
    }

    message = chatbot_message(EventKind.REFUSED, Severity.ERROR, "prod", "[prod] refused", body)
    description, title = message["content"]["description"], message["content"]["title"]

    for text in (description, title):
        # No link, mention or entity can form: Slack's three escapes are applied.
        assert "<" not in text and ">" not in text
        assert "&amp;amp;" in text and "&lt;https://evil.example/login|ecs-gitops approve&gt;" in text
    # Every value sits inside a code span, where neither Slack nor Teams renders emphasis or links.
    for line in description.splitlines():
        label, _, rest = line.partition(" ")
        outside = "".join(rest.split("`")[0::2])  # the text between the code spans
        for mark in ("*", "_", "~", "[", "]", "&", "http"):
            assert mark not in outside, (mark, line)
    assert title.endswith(": `api *Approved by CAB* _now_ ~no~ 'code' &lt;https://evil.example/login|ecs-gitops approve&gt; "
                          "[click](https://evil.example) &amp;amp; &lt;!channel&gt;`")
