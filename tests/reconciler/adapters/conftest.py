"""Fixtures for the adapter tests (moto fixtures come from tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.events import EventKind, Phase, Reason
from reconciler.models import AuditRecord, PlanSummary, Trigger

START = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)


def _read_notifications(sqs: Any, inbox_url: str) -> list[dict]:
    """Same logic as tests/conftest.py's ``read_notifications``.

    Copied rather than imported: without ``__init__.py`` files, ``from tests.conftest import ...``
    would execute tests/conftest.py a second time under another module name (re-running its
    ``pulumi.runtime.set_mocks``), and ``import conftest`` resolves to whichever conftest pytest
    imported last.
    """
    found = []
    while True:
        batch = sqs.receive_message(QueueUrl=inbox_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            envelope = json.loads(message["Body"])
            found.append(
                {
                    "subject": envelope.get("Subject"),
                    "message": json.loads(envelope["Message"]),
                    "attributes": {k: v["Value"] for k, v in (envelope.get("MessageAttributes") or {}).items()},
                }
            )
            sqs.delete_message(QueueUrl=inbox_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def read_notifications() -> Callable[[Any, str], list[dict]]:
    return _read_notifications


@pytest.fixture
def audit_record() -> Callable[..., AuditRecord]:
    """An AuditRecord for one finished job; ``minutes`` shifts its finish time."""

    def _make(stack: str = "dev", job_id: str = "a" * 32, minutes: int = 0, attempt: int = 1, **overrides: Any) -> AuditRecord:
        finished = START + timedelta(minutes=minutes)
        fields: dict[str, Any] = {
            "stack": stack,
            "job_id": job_id,
            "attempt": attempt,
            "environment": stack,
            "trigger": Trigger.GIT_PUSH,
            "event_id": f"github:{job_id}",
            "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "author": "janedoe",
            "desired_state_digest": "sha256:" + "d" * 64,
            "plan": PlanSummary(create=1, update=2, resources={"create": ["svc-frontend-dev"], "update": ["tg-a", "tg-b"]}),
            "outcome": "succeeded",
            "kind": EventKind.CONVERGE_SUCCEEDED,
            "reason": Reason.APPLIED,
            "last_phase": Phase.DONE,
            "started_at": finished - timedelta(seconds=90),
            "finished_at": finished,
            "duration_ms": 90_000,
            "engine_version": "3.150.0",
            "program_version": "0.1.0",
        }
        fields.update(overrides)
        return AuditRecord(**fields)

    return _make
