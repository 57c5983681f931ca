"""The ``notifications:`` settings reach the SNS notifier that ``build`` wires."""

from __future__ import annotations

import json

from reconciler.events import EventKind, Severity
from reconciler.settings import ReconcilerSettings, RepositorySettings
from reconciler.wiring import build


def _settings(git_repo, tmp_path, topic_arn, **notifications):
    return ReconcilerSettings.model_validate({
        "repository": {"url": str(git_repo.path), "branch": "main"},
        "environments": {"dev": {"stack": "dev", "suffix": "dev"}},
        "backendUrl": f"file://{tmp_path / 'state' / 'backend'}",
        "workDir": str(tmp_path / "state" / "work"),
        "aws": {"topicArn": topic_arn},
        **({"notifications": notifications} if notifications else {}),
    })


def test_chatbot_is_off_unless_the_settings_ask(git_repo, tmp_path):
    settings = ReconcilerSettings(repository=RepositorySettings(url=str(git_repo.path)), environments={})
    assert settings.notifications.chatbot is False


def test_the_chatbot_setting_turns_on_the_https_form(git_repo, tmp_path, reconciler_aws, subscribers):
    settings = _settings(git_repo, tmp_path, reconciler_aws.topic_arn, chatbot=True, emailMaxChars=3000)
    components = build(settings, state_dir=tmp_path / "state", boto3_session=reconciler_aws.session)

    components.notifier.publish(
        kind=EventKind.STUCK_LOCK, severity=Severity.ERROR, environment="dev", subject="[dev] stuck-lock",
        body={"stack": "dev", "reason": "StackLocked", "error": "e" * 10_000},
    )

    [note] = subscribers()
    assert json.loads(note.https)["content"]["title"]
    assert len(note.email) <= 3000 and "ecs-gitops unlock --environment dev" in note.email


def test_without_the_setting_https_subscribers_get_the_json(git_repo, tmp_path, reconciler_aws, subscribers):
    components = build(_settings(git_repo, tmp_path, reconciler_aws.topic_arn), state_dir=tmp_path / "state", boto3_session=reconciler_aws.session)

    components.notifier.publish(kind=EventKind.NO_DRIFT, severity=Severity.INFO, environment="dev", subject="s", body={"stack": "dev"})

    [note] = subscribers()
    assert json.loads(note.https) == note.sqs
    assert note.email.startswith("s\n")


def test_the_settings_default_is_the_renderers_own():
    from reconciler.notifications import EMAIL_MAX_CHARS
    from reconciler.settings import NotificationSettings

    assert NotificationSettings().email_max_chars == EMAIL_MAX_CHARS


def test_the_example_settings_document_the_section_as_it_parses():
    """The commented ``notifications:`` block of reconciler-settings.example.yaml, uncommented, is valid."""
    from itertools import takewhile
    from pathlib import Path

    import yaml

    from reconciler.settings import NotificationSettings

    lines = Path("reconciler-settings.example.yaml").read_text().splitlines()
    start = lines.index("# notifications:")
    block = list(takewhile(lambda line: line.startswith("#   "), lines[start + 1:]))
    assert block
    section = NotificationSettings.model_validate(yaml.safe_load("\n".join(line[4:] for line in block)))
    assert section == NotificationSettings()
