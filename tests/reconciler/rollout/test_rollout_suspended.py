"""A suspended environment starts no rollout (Reason.SUSPENDED, naming who and why), while a rollout
already running keeps ticking: its gates and rollback are the safety loop and are not cut off."""

from __future__ import annotations

from desired_state.loader import EXAMPLE_DIR
from reconciler.converge import Converger
from reconciler.events import EventKind, Reason
from reconciler.operations.suspend import resume, suspend
from reconciler.rollout.model import RolloutPhase
from reconciler.settings import EnvironmentSettings, ReconcilerSettings, RepositorySettings
from reconciler.source import DirectorySource
from reconciler.wiring import RolloutComponents
from reconciler.worker import Worker

ENV = EnvironmentSettings(stack="dev", suffix="dev")


def test_no_rollout_starts_while_the_environment_is_suspended_and_one_starts_after_resume(world, kit, rig):
    suspend(world.states, "dev", "dev", by="alice", reason="change freeze", now=world.clock())
    image = world.push_image("frontend", "3.0.0")

    result = rig.starter.on_image_push(rig.job("frontend", image), ENV, kit.example_state(), world.clock())

    assert result.started is None and result.suspended
    assert "suspended by alice" in result.message and "change freeze" in result.message
    assert world.store.latest("dev", "frontend") is None and rig.ticks == [] and rig.outputs_asked == []

    resume(world.states, "dev")
    started = rig.starter.on_image_push(rig.job("frontend", image), ENV, kit.example_state(), world.clock()).started
    assert started is not None and started.phase == RolloutPhase.SCANNING


def test_the_settings_suspension_also_stops_new_rollouts(world, kit, rig):
    image = world.push_image("processing-service", "3.0.0")
    suspended = EnvironmentSettings(stack="dev", suffix="dev", suspended=True)
    result = rig.starter.on_image_push(rig.job("processing-service", image), suspended, kit.example_state(), world.clock())
    assert result.started is None and result.suspended and "suspended: true" in result.message
    assert world.store.latest("dev", "processing-service") is None and rig.converges == []


def test_the_worker_reports_a_refused_rollout_with_reason_suspended(world, kit, rig, tmp_path):
    directory = tmp_path / "desired-state"
    (directory / "environments").mkdir(parents=True)
    (directory / "environments" / "dev.yaml").write_text((EXAMPLE_DIR / "environments" / "dev.yaml").read_text())
    settings = ReconcilerSettings(
        repository=RepositorySettings(url=str(directory)), environments={"dev": ENV},
        backend_url=f"file://{tmp_path / 'backend'}", work_dir=str(tmp_path / "work"),
    )
    converger = Converger(settings=settings, states=world.states, source=DirectorySource(directory), engine=None, clock=world.clock)
    worker = Worker(queue=None, converger=converger, rollouts=RolloutComponents(world.store, world.controller(), rig.starter, "unused"), clock=world.clock)
    suspend(world.states, "dev", "dev", by="alice", reason="change freeze", now=world.clock())

    outcome = worker._handle(rig.job("frontend", world.push_image("frontend", "3.0.0")), 1)

    assert (outcome.outcome, outcome.kind, outcome.reason) == ("skipped", EventKind.ROLLOUT_NOT_STARTED, Reason.SUSPENDED)
    assert "suspended by alice" in outcome.message
    assert world.store.latest("dev", "frontend") is None


def test_a_running_rollout_keeps_ticking_while_its_environment_is_suspended(world, kit):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    suspend(world.states, "dev", "dev", by="alice", reason="change freeze", now=world.clock())

    moved, _ = world.run(record.rollout_id, until=lambda r: r.phase not in (RolloutPhase.SCANNING, RolloutPhase.DEPLOYING), max_ticks=20)

    assert moved.phase != RolloutPhase.SCANNING
    assert world.states.get("dev").suspension is not None  # nothing lifted it
