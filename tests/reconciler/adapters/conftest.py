"""Fixtures for the adapter tests (moto fixtures come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.events import EventKind, Phase, Reason
from reconciler.models import AuditRecord, PlanSummary, Trigger

START = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)


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
