"""One table says, for every event kind, what to do next and the command to run."""

from __future__ import annotations

import shlex

import pytest

from reconciler.cli import build_parser
from reconciler.events import EventKind, Reason, Severity
from reconciler.notifications import NEXT_STEPS, chatbot_message, email_text, next_step

# Commands other branches of this wave add (contracts.md); parsed once they are in the parser.
CONTRACTED_COMMANDS = {"status", "history", "drift", "verify", "suspend", "resume"}
SAMPLE_BODY = {"stack": "prod", "service": "frontend", "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "reason": "X"}


def _subcommands() -> set[str]:
    parser = build_parser()
    [commands] = [a for a in parser._actions if a.dest == "command"]
    return set(commands.choices)


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_event_kind_has_a_next_step(kind):
    assert kind.value in NEXT_STEPS
    step = next_step(kind, "prod", SAMPLE_BODY)
    assert step.headline and step.action


def test_every_command_in_the_table_is_one_the_cli_accepts():
    known = _subcommands()
    parser = build_parser()
    reasons = [None, *Reason]
    for kind in EventKind:
        for reason in reasons:
            body = {**SAMPLE_BODY, "reason": reason.value if reason else None}
            for command in next_step(kind, "prod", body).commands:
                words = shlex.split(command)
                assert words[0] == "ecs-gitops", command
                if words[1] in known:
                    parser.parse_args(words[1:])  # exits (SystemExit) on an unknown option
                else:
                    assert words[1] in CONTRACTED_COMMANDS, command


@pytest.mark.parametrize(
    "kind, body, expected",
    [
        (EventKind.WAITING_FOR_APPROVAL, {"commit": "a" * 40}, f"ecs-gitops approve --environment prod --commit {'a' * 40} --by NAME"),
        (EventKind.ROLLOUT_TICK_FAILED, {"service": "api-gateway"}, "ecs-gitops rollout resume --environment prod --service api-gateway --by NAME"),
        (EventKind.STUCK_LOCK, {}, "ecs-gitops unlock --environment prod"),
        (EventKind.STUCK_LOCK, {}, "ecs-gitops locks --environment prod"),
        (EventKind.REFUSED_BY_POLICY, {}, "ecs-gitops validate --desired-state . --environment prod"),
        (EventKind.SKIPPED, {"reason": Reason.SUSPENDED.value}, "ecs-gitops resume --environment prod --by NAME --reason TEXT"),
        (EventKind.ROLLOUT_PAUSED, {"service": "frontend"}, "ecs-gitops rollout resume --environment prod --service frontend --by NAME"),
    ],
)
def test_the_command_is_the_exact_one_for_the_case(kind, body, expected):
    assert expected in next_step(kind, "prod", body).commands
    assert expected in email_text(kind, Severity.WARNING, "prod", "subject", body)
    assert f"`{expected}`" in chatbot_message(kind, Severity.WARNING, "prod", "subject", body)["content"]["nextSteps"]


def test_a_kind_the_table_does_not_know_still_renders():
    """A kind added later and forgotten here must not stop a notification (the test above catches it)."""
    step = next_step("some-new-kind", "prod", {})
    assert step.commands == ("ecs-gitops status --environment prod",)


def test_the_chatbot_message_uses_only_documented_fields():
    message = chatbot_message(EventKind.ROLLOUT_ROLLED_BACK, Severity.ERROR, "prod", "[prod] frontend rolled back",
                              {"stack": "prod", "service": "frontend", "rolloutId": "r1", "reason": "alarm frontend-5xx", "evidence": {"alarms": ["frontend-5xx"]}})

    assert set(message) <= {"version", "source", "id", "content", "metadata"}
    assert set(message["content"]) <= {"textType", "title", "description", "nextSteps", "keywords"}
    assert set(message["metadata"]) <= {"threadId", "summary", "eventType", "relatedResources", "additionalContext"}
    assert all(isinstance(v, str) for v in message["metadata"].get("additionalContext", {}).values())
    assert message["metadata"]["threadId"] == "r1"  # a rollout's transitions thread together
    assert "frontend-5xx" in message["content"]["description"]
