"""A suspended environment starts no rollout (Reason.SUSPENDED, naming who and why), while a rollout
already running keeps ticking: its gates and rollback are the safety loop and are not cut off."""

from __future__ import annotations

import threading

import pytest

from desired_state.loader import EXAMPLE_DIR
from reconciler.adapters.stack_state import DynamoStackStateStore, FileStackStateStore
from reconciler.converge import Converger
from reconciler.events import EventKind, Reason
from reconciler.operations.suspend import resume, suspend
from reconciler.rollout.model import RolloutPhase
from reconciler.rollout.store import RolloutStore
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


# ---------------------------------------------------------------------- a suspend racing the start


def dynamo_states(world):
    """The stack status in a DynamoDB table on moto, as the deployed reconciler keeps it."""
    from reconciler.adapters.stack_state import DynamoStackStateStore

    world.dynamodb.create_table(
        TableName="ecs-gitops-state", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    return DynamoStackStateStore(world.dynamodb, "ecs-gitops-state")


def starter_on(world, rig, states, store=None):
    from reconciler.rollout.starter import RolloutStarter

    return RolloutStarter(store or world.store, states, world.observer(), rig.outputs_of, lambda r: rig.ticks.append(r.rollout_id), rig.converges.append)


@pytest.mark.parametrize("backend", ["file", "dynamodb"])
def test_a_suspend_while_the_starter_reads_the_stack_outputs_starts_no_rollout(world, kit, rig, backend):
    states = world.states if backend == "file" else dynamo_states(world)
    starter = starter_on(world, rig, states)
    image = world.push_image("frontend", "3.0.0")
    original = starter.outputs_of

    def outputs_then_suspend(stack):
        assert suspend(states, "dev", "dev", by="carol", reason="freeze", now=world.clock()).changed
        return original(stack)

    starter.outputs_of = outputs_then_suspend
    result = starter.on_image_push(rig.job("frontend", image), ENV, kit.example_state(), world.clock())

    assert result.started is None and result.suspended and "suspended by carol" in result.message
    assert world.store.latest("dev", "frontend") is None and rig.ticks == []


class SuspendAtCreateStore(RolloutStore):
    """The real store; ``on_create`` runs right before the start's transaction, where a suspend written by
    another process would land after every read of the starter (two processes cannot be interleaved there)."""

    def __init__(self, dynamodb_client, table_name, on_create):
        super().__init__(dynamodb_client, table_name)
        self.on_create = on_create

    def create(self, record, **kwargs):
        self.on_create()
        return super().create(record, **kwargs)


def test_dynamodb_a_suspend_written_after_every_read_fails_the_start_transaction(world, kit, rig):
    states = dynamo_states(world)
    other_process = DynamoStackStateStore(world.dynamodb, "ecs-gitops-state")
    store = SuspendAtCreateStore(
        world.dynamodb, kit.ROLLOUT_TABLE, lambda: suspend(other_process, "dev", "dev", by="carol", reason="freeze", now=world.clock())
    )
    starter = starter_on(world, rig, states, store)
    image = world.push_image("frontend", "3.0.0")

    result = starter.on_image_push(rig.job("frontend", image), ENV, kit.example_state(), world.clock())

    assert result.started is None and result.suspended and "suspended by carol" in result.message
    assert world.store.latest("dev", "frontend") is None and world.store.active("dev", "frontend") is None and rig.ticks == []
    # Resumed, the same push starts it: nothing of the refused start was left behind.
    resume(states, "dev")
    store.on_create = lambda: None
    assert starter.on_image_push(rig.job("frontend", image), ENV, kit.example_state(), world.clock()).started is not None


def test_file_store_a_suspend_from_another_thread_waits_until_the_start_is_written(world, kit, rig):
    suspended = threading.Event()

    def suspend_from_another_thread():
        suspend(FileStackStateStore(world.states.directory), "dev", "dev", by="carol", reason="freeze", now=world.clock())
        suspended.set()

    thread = threading.Thread(target=suspend_from_another_thread)
    seen: list[bool] = []

    def start_suspend_then_wait():
        thread.start()
        # Without the start holding the status, the suspend is written now, before the rollout exists.
        seen.append(suspended.wait(0.3))

    store = SuspendAtCreateStore(world.dynamodb, kit.ROLLOUT_TABLE, start_suspend_then_wait)
    starter = starter_on(world, rig, world.states, store)
    image = world.push_image("frontend", "3.0.0")

    result = starter.on_image_push(rig.job("frontend", image), ENV, kit.example_state(), world.clock())
    thread.join(timeout=5)

    assert seen == [False], "the suspend was written while the start was between its check and its write"
    assert result.started is not None  # started before the suspension, so it runs on like any running rollout
    assert suspended.is_set() and world.states.get("dev").suspension is not None
