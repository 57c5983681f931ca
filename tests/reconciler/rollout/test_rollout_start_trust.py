"""A rollout starts only from a desired state a converge would accept: signed where required, the
settings' identity, and the settings' floors. Its steps, bake and scan gate come from that commit,
so an unsigned or under-floor commit must not set them for production by way of an image push."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from desired_state.loader import EXAMPLE_DIR
from reconciler.converge import Converger
from reconciler.events import EventKind, Reason
from reconciler.settings import EnvironmentSettings, Floors, ReconcilerSettings, RepositorySettings
from reconciler.source import DirectorySource
from reconciler.wiring import RolloutComponents
from reconciler.worker import Worker


@pytest.fixture
def start_push(world, rig, tmp_path):
    """Write dev.yaml (after ``mutate``), build a worker with ``env`` settings, push a frontend image at it."""

    def run(env: EnvironmentSettings, mutate=lambda document: None):
        directory = tmp_path / "desired-state"
        (directory / "environments").mkdir(parents=True, exist_ok=True)
        document: dict[str, Any] = yaml.safe_load((EXAMPLE_DIR / "environments" / "dev.yaml").read_text())
        mutate(document)
        (directory / "environments" / "dev.yaml").write_text(yaml.safe_dump(document))
        settings = ReconcilerSettings(
            repository=RepositorySettings(url=str(directory), image_write_back=False), environments={"dev": env},
            backend_url=f"file://{tmp_path / 'backend'}", work_dir=str(tmp_path / "work"),
        )
        converger = Converger(settings=settings, states=world.states, source=DirectorySource(directory), engine=None, clock=world.clock)
        components = RolloutComponents(world.store, world.controller(), rig.starter, "unused-tick-queue")
        worker = Worker(queue=None, converger=converger, rollouts=components, clock=world.clock)
        image = world.push_image("frontend", "3.0.0")
        return worker._image_pushed(rig.job("frontend", image))

    return run


def test_a_push_at_a_file_claiming_another_suffix_starts_no_rollout(world, kit, start_push):
    outcome = start_push(EnvironmentSettings(stack="dev", suffix="dev"), lambda d: d.update(environmentSuffix="prod"))

    assert (outcome.outcome, outcome.kind, outcome.reason) == ("refused", EventKind.REFUSED, Reason.IDENTITY_MISMATCH)
    assert "environments/dev.yaml" in outcome.message and "environmentSuffix" in outcome.message
    assert world.store.active("dev", "frontend") is None


def test_a_push_at_a_desired_state_below_the_floors_starts_no_rollout(world, kit, start_push):
    def one_step(document):
        document["services"]["frontend"].setdefault("rollout", {})["steps"] = [100]

    outcome = start_push(EnvironmentSettings(stack="dev", suffix="dev", floors=Floors(min_rollout_steps=3)), one_step)

    assert (outcome.outcome, outcome.reason) == ("refused", Reason.BELOW_FLOOR)
    assert "services.frontend.rollout.steps" in outcome.message
    assert world.store.active("dev", "frontend") is None


def test_a_push_where_signed_commits_are_required_verifies_the_head_first(world, kit, start_push, tmp_path):
    signers = tmp_path / "allowed_signers"
    signers.write_text("")
    env = EnvironmentSettings(stack="dev", suffix="dev", require_signed_commits=True, allowed_signers_file=str(signers))

    outcome = start_push(env)

    # A plain directory has no signed commit: the push is refused, not rolled out from unverified content.
    assert (outcome.outcome, outcome.kind, outcome.reason) == ("refused", EventKind.REFUSED_UNSIGNED, Reason.UNSIGNED_COMMIT)
    assert world.store.active("dev", "frontend") is None


def test_a_push_within_identity_and_floors_still_starts(world, kit, start_push):
    outcome = start_push(EnvironmentSettings(stack="dev", suffix="dev", floors=Floors(min_rollout_steps=2)))

    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.ROLLOUT_STARTED)
