"""Where the console-added rules and policies are removed: in the remediation job, after its up, never in the
scheduled check (which runs through a closed change window). The undo itself, against moto, is in
``test_flow_undo.py``; here its place in the converge."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.converge import Converger
from reconciler.drift.check import DriftChecker
from reconciler.events import EventKind, Reason, Severity
from reconciler.models import Trigger
from tests.reconciler.drift.checking import make_world, sg_ingress_opened

CLOSED_ALL_DAY = [{"kind": "deny", "start": "00:00", "end": "23:59", "timezone": "UTC"}]


class UndoSpyingDriftChecker(DriftChecker):
    """The real checker, its undo called through (here without AWS clients, so it says it removed nothing),
    each call noted with the engine operations done before it."""

    def __init__(self, *args: Any, engine: Any, undo_calls: list, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.engine, self.undo_calls = engine, undo_calls

    def undo_for_remediation(self, job, *, state, traffic):
        self.undo_calls.append((job.trigger, list(self.engine.operations)))
        return super().undo_for_remediation(job, state=state, traffic=traffic)


@pytest.fixture
def world(make_harness, reconciler_aws, read_notifications, monkeypatch):
    world = make_world(make_harness, reconciler_aws, read_notifications)
    made = world.converger
    calls: list = []

    def converger() -> Converger:  # built per job, as the world's is: with the settings as configured now
        converger = made()
        real = converger.drift
        converger.drift = UndoSpyingDriftChecker(
            real.settings, clock=real.clock, rollouts=real.rollouts, enqueue=real.enqueue, cloudwatch=real.cloudwatch,
            engine=world.engine, undo_calls=calls,
        )
        return converger

    monkeypatch.setattr(world, "converger", converger)
    world.undo_calls = calls
    return world


def test_the_check_removes_nothing_and_the_remediation_job_removes_after_its_up(world):
    world.apply_head()
    world.harness.configure("dev", drift={"mode": "remediate"})
    world.engine.refresh_steps = (sg_ingress_opened(),)

    check = world.check()
    assert check.kind == EventKind.DRIFT_DETECTED and world.undo_calls == []

    [remediated] = world.work()

    assert [trigger for trigger, _ in world.undo_calls] == [Trigger.DRIFT_REMEDIATION]
    assert world.undo_calls[0][1][-1] == "up"  # after the up, in the job
    assert (remediated.outcome, remediated.reason) == ("succeeded", Reason.APPLIED)
    # Nothing was removed here (no AWS clients): the outcome says so and is a warning, not a quiet success.
    assert "console-added rules and policies not removed: no AWS clients here" in remediated.message
    assert remediated.severity == Severity.WARNING
    assert world.harness.last_record().trigger == Trigger.DRIFT_REMEDIATION


def test_with_the_change_window_closed_nothing_is_removed_until_the_window_opens(world):
    world.apply_head()
    world.harness.configure("dev", drift={"mode": "remediate"}, windows=CLOSED_ALL_DAY)
    world.engine.refresh_steps = (sg_ingress_opened(),)

    world.check()
    [waiting] = world.work()

    assert (waiting.outcome, waiting.reason) == ("waiting", Reason.OUTSIDE_WINDOW)
    assert world.undo_calls == [] and "up" not in world.engine.operations


def test_a_pushed_change_never_runs_the_undo(world, git_repo):
    world.apply_head()
    world.harness.configure("dev", drift={"mode": "remediate"})
    world.queue.send(world.harness.job(git_repo.bump("dev")))
    [pushed] = world.work()
    assert pushed.outcome == "succeeded" and "console-added" not in pushed.message
    assert world.undo_calls == []
