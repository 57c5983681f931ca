"""A drift check waits only while traffic actually moves, and not for ever.

A paused rollout (an operator's pause, or a deny window's) moves no weights: the check runs, and the
rules set the rollout's own differences aside. A check deferred for longer than the environment's
``drift.maxDeferralMinutes`` runs anyway (a rollout stuck baking must not hide a console change for days).
How long checks have been deferred comes from the stack status's ``lastDriftCheck``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from reconciler.adapters.stack_state import StackStatus
from reconciler.drift.check import DriftChecker, deferral, deferred_summary, summary
from reconciler.drift.model import DriftCheckSummary, DriftReport
from reconciler.events import EventKind
from reconciler.models import Job, Trigger
from reconciler.rollout.model import RolloutPhase
from reconciler.settings import DriftSettings, EnvironmentSettings, ReconcilerSettings, RepositorySettings
from tests.reconciler.drift.checking import make_world, rollout

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
COMMIT = "c" * 40
MAX = timedelta(minutes=120)


def baking(**update):
    return rollout(RolloutPhase.BAKING, at=NOW - timedelta(days=3)).model_copy(update=update)


def deferred_check(*, at: datetime, since: datetime | None) -> DriftCheckSummary:
    return DriftCheckSummary(checked_at=at, result="deferred", applied_commit=COMMIT, message="deferred", deferred_since=since)


def compared_check(at: datetime) -> DriftCheckSummary:
    return summary(DriftReport(environment="dev", stack="dev", applied_commit=COMMIT, checked_at=at), "no drift")


# --------------------------------------------------------------------------- paused: nothing moves, nothing to wait for


@pytest.mark.parametrize(
    "paused",
    [
        {"paused": True, "pause_reason": "paused by operator"},
        {"paused": True, "paused_by_window": True, "pause_reason": "deny window"},
    ],
    ids=["operator", "change-window"],
)
def test_a_paused_rollout_does_not_defer_the_check(paused):
    assert deferral([baking(**paused)]) is None
    assert deferral([baking(**paused)], now=NOW, last_check=None, max_deferral=MAX) is None


def test_near_miss_a_running_shift_beside_a_paused_one_still_defers():
    moving = rollout(RolloutPhase.SHIFTING, service="api-gateway")
    reason = deferral([baking(paused=True), moving])
    assert reason is not None and "api-gateway" in reason and "frontend" not in reason


# --------------------------------------------------------------------------- bounded


def test_a_check_deferred_past_the_maximum_runs_anyway():
    last = deferred_check(at=NOW - timedelta(minutes=15), since=NOW - timedelta(minutes=121))
    assert deferral([baking()], now=NOW, last_check=last, max_deferral=MAX) is None


def test_near_miss_a_check_deferred_for_less_than_the_maximum_waits_and_says_until_when():
    last = deferred_check(at=NOW - timedelta(minutes=15), since=NOW - timedelta(minutes=100))
    reason = deferral([baking()], now=NOW, last_check=last, max_deferral=MAX)
    assert reason is not None and "deferred since 2026-12-01T10:20" in reason and "runs anyway from 2026-12-01T12:20" in reason


def test_the_first_deferral_after_a_compared_check_starts_the_clock():
    """The last check compared three hours ago: this is the first deferral, not the 180th minute of one."""
    reason = deferral([baking()], now=NOW, last_check=compared_check(NOW - timedelta(hours=3)), max_deferral=MAX)
    assert reason is not None and "deferred since 2026-12-01T12:00" in reason


def test_a_deferred_summary_keeps_when_the_deferral_began():
    began = NOW - timedelta(minutes=45)
    assert deferred_summary(NOW, COMMIT, "m", previous=deferred_check(at=NOW - timedelta(minutes=15), since=began)).deferred_since == began
    # An older record without the field: its own time is the earliest known deferral.
    older = deferred_check(at=NOW - timedelta(minutes=15), since=None)
    assert deferred_summary(NOW, COMMIT, "m", previous=older).deferred_since == older.checked_at
    # After a check that compared (or none at all), this deferral is the first.
    assert deferred_summary(NOW, COMMIT, "m", previous=compared_check(NOW - timedelta(hours=3))).deferred_since == NOW
    assert deferred_summary(NOW, COMMIT, "m").deferred_since == NOW


def test_the_maximum_is_a_setting_with_a_default():
    assert DriftSettings().max_deferral_minutes == 120
    assert DriftSettings.model_validate({"maxDeferralMinutes": 30}).max_deferral_minutes == 30
    with pytest.raises(ValidationError):
        DriftSettings.model_validate({"maxDeferralMinutes": 0})


def checker(max_minutes: int = 120) -> DriftChecker:
    env = EnvironmentSettings(stack="dev", suffix="dev", drift=DriftSettings(max_deferral_minutes=max_minutes))
    settings = ReconcilerSettings(repository=RepositorySettings(url="https://example.com/desired.git"), environments={"dev": env})
    return DriftChecker(settings, clock=lambda: NOW, rollouts=lambda stack: [baking()])


def test_the_checker_decides_from_the_status_its_clock_and_the_environments_maximum():
    job = Job(job_id="j" * 32, environment="dev", stack="dev", trigger=Trigger.SCHEDULED_DRIFT_CHECK, event_id="e", received_at=NOW)
    status = StackStatus(stack="dev", last_drift_check=deferred_check(at=NOW - timedelta(minutes=15), since=NOW - timedelta(minutes=61)))
    assert checker(120).deferral(job, status) is not None
    assert checker(60).deferral(job, status) is None
    assert checker(60).deferral(job, None) is not None  # no status yet: the first deferral


def test_a_check_run_past_the_maximum_says_a_rollout_is_still_shifting():
    from reconciler.engine import EngineResult, StackRequest
    from reconciler.models import PlanSummary

    class QuietPreviewDouble:
        """Stands in for the Pulumi CLI (not installed here): a refreshed preview that finds nothing."""

        def preview(self, request: StackRequest) -> EngineResult:
            return EngineResult("preview", PlanSummary(same=40), {}, (), "3.0.0-double")

    job = Job(job_id="j" * 32, environment="dev", stack="dev", trigger=Trigger.SCHEDULED_DRIFT_CHECK, event_id="e", received_at=NOW)
    found = checker().compare(QuietPreviewDouble(), StackRequest(stack="dev", config={}, refresh=True), job=job, status=StackStatus(stack="dev"), commit=COMMIT)
    assert found.kind == EventKind.NO_DRIFT
    assert "compared while frontend (rollout r-frontend-1, baking) shifts traffic" in found.message


# --------------------------------------------------------------------------- through the worker


@pytest.fixture
def world(make_harness, reconciler_aws, read_notifications):
    return make_world(make_harness, reconciler_aws, read_notifications)


def test_a_paused_rollout_lets_the_scheduled_check_compare(world):
    world.apply_head()
    paused = rollout(RolloutPhase.BAKING, at=world.harness.clock() - timedelta(days=3)).model_copy(update={"paused": True, "pause_reason": "paused by operator"})
    world.rollouts.create(paused)

    outcome = world.check()

    assert outcome.kind == EventKind.NO_DRIFT and world.engine.operations == ["preview"]
    assert world.harness.status().last_drift_check.result == "no-drift"
