"""SNS refuses a subject with a line break or a control character: whatever a subject was built from
(a name someone typed, a reason), the published one is a single line within the limit."""

from __future__ import annotations

import pytest

from reconciler.adapters.notify import SUBJECT_LIMIT, SnsNotifier
from reconciler.events import EventKind, Severity

BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\t", "\x00", "\x1b", "\x7f"]


@pytest.mark.parametrize("separator", BREAKS)
def test_a_subject_with_a_line_break_or_control_character_is_published_on_one_line(reconciler_aws, read_notifications, separator):
    notifier = SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn)

    notifier.publish(
        kind=EventKind.ENVIRONMENT_SUSPENDED, severity=Severity.WARNING, environment="dev",
        subject=f"[dev] environment-suspended by alice{separator}{separator}Approved by the CAB " + "x" * 200, body={},
    )

    [note] = read_notifications(reconciler_aws.sqs, reconciler_aws.inbox_url)
    subject = note["subject"]
    assert subject.startswith("[dev] environment-suspended by alice Approved by the CAB x")
    assert len(subject) <= SUBJECT_LIMIT and len(subject.splitlines()) == 1
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029" for ch in subject)
