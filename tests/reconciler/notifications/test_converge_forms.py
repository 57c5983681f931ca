"""A real converge (the harness's converger over the temp repo and the engine double) publishing
through SnsNotifier on moto: what the SQS, e-mail and Chatbot (https) subscribers each receive."""

from __future__ import annotations

import json

import pytest

from reconciler.adapters.notify import SnsNotifier

COMMANDS_START = "ecs-gitops "


@pytest.fixture
def converge(make_harness, reconciler_aws, subscribers):
    """(harness, read): a harness whose converger publishes to the moto topic, with the Chatbot form on."""
    harness = make_harness(notifier=SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn, chatbot=True))
    return harness, subscribers


def _only(delivered):
    assert len(delivered) == 1, [d.subject for d in delivered]
    return delivered[0]


def _section(text: str, title: str) -> str:
    """The lines of one e-mail section (from its title to the next blank line)."""
    lines = text.splitlines()
    start = lines.index(title)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[start + 1:end])


def test_a_succeeded_converge_reaches_each_subscriber_in_its_own_form(converge, git_repo):
    harness, read = converge
    commit = git_repo.bump("dev")

    outcome = harness.run(harness.job(commit))

    assert outcome.outcome == "succeeded"
    note = _only(read())
    # SQS (and Lambda, and any default subscriber): the JSON body exactly as before.
    assert note.sqs["kind"] == "converge-succeeded" and note.sqs["reason"] == "Applied" and note.sqs["commit"] == commit
    assert note.published["default"] == note.published["sqs"] == note.published["lambda"]
    assert json.loads(note.published["default"]) == note.sqs
    # E-mail: plain text a person reads.
    email = note.email
    assert not email.lstrip().startswith("{")
    assert email.splitlines()[0] == f"[dev] converge-succeeded: Applied ({commit[:12]})"  # the subject
    assert "converge succeeded in dev" in _section(email, "What happened")
    where = _section(email, "Where")
    assert "Environment: dev" in where and "Stack: dev" in where and f"Commit: {commit[:12]}" in where
    assert "Test User" in where
    why = _section(email, "Why")
    assert "Reason: Applied" in why and outcome.message in why
    assert "ecs-gitops history --environment dev" in _section(email, "What to do next")
    # Chatbot: the custom-notification shape.
    chat = json.loads(note.https)
    assert (chat["version"], chat["source"], chat["content"]["textType"]) == ("1.0", "custom", "client-markdown")
    assert "converge succeeded" in chat["content"]["title"] and "dev" in chat["content"]["title"]
    assert f"`{commit[:12]}`" in chat["content"]["description"]
    assert chat["metadata"]["eventType"] == "converge-succeeded"
    assert any(step.startswith("`ecs-gitops history") for step in chat["content"]["nextSteps"])


def test_a_failed_converge_says_why_and_what_to_run(converge, git_repo, engine):
    harness, read = converge
    harness.engine.fail_with_engine_error("up")
    commit = git_repo.bump("dev")

    outcome = harness.run(harness.job(commit))

    assert outcome.outcome == "failed"
    note = _only(read())
    assert note.sqs["kind"] == "converge-failed" and note.sqs["reason"] == "EngineFailed"
    email = note.email
    assert email.splitlines()[0].startswith("[dev] converge-failed: EngineFailed")
    why = _section(email, "Why")
    assert "Reason: EngineFailed" in why
    assert "svc-frontend-blue-dev: creating failed" in why
    assert "Phase: apply" in _section(email, "Where")
    next_steps = _section(email, "What to do next")
    assert "ecs-gitops status --environment dev" in next_steps
    chat = json.loads(note.https)
    assert ":x:" in chat["content"]["title"]
    assert "creating failed" in chat["content"]["description"]


def test_a_policy_refusal_names_each_violation_and_the_fix(converge, git_repo):
    harness, read = converge
    commit = git_repo.replace("prod", "natGateways: per-az", "natGateways: single")

    outcome = harness.run(harness.job(commit, environment="prod"))

    assert outcome.outcome == "refused"
    note = _only(read())
    assert note.sqs["kind"] == "refused-by-policy"
    assert [v["policy"] for v in note.sqs["policyViolations"] if v["severity"] == "mandatory"] == ["NET-005"]
    email = note.email
    assert email.splitlines()[0].startswith("[prod] refused-by-policy: PolicyViolation")
    assert "refused by policy in prod" in _section(email, "What happened")
    why = _section(email, "Why")
    assert "NET-005 (mandatory)" in why and "per-az" in why
    next_steps = _section(email, "What to do next")
    assert "fix" in next_steps.lower() and "push" in next_steps.lower()
    assert "ecs-gitops validate --desired-state . --environment prod" in next_steps
    chat = json.loads(note.https)
    assert "NET-005" in chat["content"]["description"]
    assert chat["metadata"]["eventType"] == "refused-by-policy"


def test_waiting_for_approval_gives_the_exact_approve_command(make_harness, reconciler_aws, subscribers, git_repo):
    harness = make_harness(notifier=SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn))
    harness.configure("dev", require_approval=True)
    commit = git_repo.bump("dev")

    harness.run(harness.job(commit))

    note = _only(subscribers())
    assert note.sqs["kind"] == "waiting-for-approval"
    assert f"ecs-gitops approve --environment dev --commit {commit} --by NAME" in _section(note.email, "What to do next")
    # Without the chatbot setting, https subscribers get the JSON like everyone else.
    assert json.loads(note.https) == note.sqs
    assert "https" not in note.published
