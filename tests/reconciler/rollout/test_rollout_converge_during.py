"""A converge while a rollout runs never moves customers back, nor undoes what the rollout staged.

The converge is the real :class:`~reconciler.converge.Converger` over the rollout's stack status,
with the engine double standing in for the Pulumi CLI and :class:`ProgramApplyDouble` doing to
moto what ``pulumi up`` of the rendered program does to the listener and the colours. The
listener's weights are read back from moto after every tick and every converge.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from desired_state.loader import EXAMPLE_DIR
from desired_state.traffic import ColourWeights
from reconciler.converge import Converger
from reconciler.models import Job, Trigger
from reconciler.rollout.live import RolloutTrafficSource
from reconciler.rollout.model import RolloutPhase
from reconciler.settings import EnvironmentSettings, ReconcilerSettings, RepositorySettings
from reconciler.source import DirectorySource

W = ColourWeights


class ConvergeRig:
    """Converges the world's stack ("dev") from a desired-state directory, as a push would."""

    def __init__(self, world: Any, kit: Any, tmp_path: Any, engine: Any, live: bool = True):
        self.world = world
        self.directory = tmp_path / "desired-state"
        (self.directory / "environments").mkdir(parents=True)
        (self.directory / "environments" / "dev.yaml").write_text((EXAMPLE_DIR / "environments" / "dev.yaml").read_text())
        self.settings = ReconcilerSettings(
            repository=RepositorySettings(url=str(self.directory), image_write_back=False),
            environments={"dev": EnvironmentSettings(stack="dev", suffix="dev")},
            backend_url=f"file://{tmp_path / 'backend'}", work_dir=str(tmp_path / "work"),
        )
        self.program = kit.ProgramApplyDouble(world)
        self.engine = engine
        engine.on_call = self.program
        self.live = live
        self.jobs = 0

    def converge(self) -> None:
        world = self.world
        source = RolloutTrafficSource(world.store, world.router_for) if self.live else None
        converger = Converger(
            settings=self.settings, states=world.states, source=DirectorySource(self.directory), engine=self.engine, clock=world.clock,
            live_traffic=source,
        )
        self.jobs += 1
        event_id = f"push-{self.jobs}"
        job = Job(job_id=Job.make_id(event_id, "dev"), environment="dev", stack="dev", trigger=Trigger.GIT_PUSH, event_id=event_id, received_at=world.clock())
        outcome = converger.converge(job)
        assert outcome.outcome == "succeeded", outcome.message


@pytest.fixture
def rig(world, kit, tmp_path, make_engine) -> ConvergeRig:
    return ConvergeRig(world, kit, tmp_path, make_engine())


def green_never_goes_back(seen: list[tuple[int, int]]) -> None:
    green = [weights[1] for weights in seen]
    assert green == sorted(green), f"customers were moved back to the old colour: {seen}"


def test_a_converge_after_a_crash_between_the_alb_write_and_the_traffic_record_does_not_move_customers_back(world, kit, rig):
    """The end-to-end run that found it: listener 80/20, 40/60, 80/20, 40/60."""
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image, kit.default_spec(steps=(20, 60, 100)))
    record, snapshots = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 0)
    seen = [s.weights for s in snapshots]
    world.clock.set(record.bake_until)

    def die() -> None:
        raise kit.WorkerDied("worker died between the ALB write and the traffic-state write")

    world.elbv2_double.after_weight_change = die
    with pytest.raises(kit.WorkerDied):
        world.tick(record.rollout_id)
    seen.append(world.alb_weights("frontend"))
    assert seen[-1] == (40, 60)
    assert world.status().traffic.of("frontend").weights == W(blue=80, green=20)  # what the crash left behind

    # The queue redelivers the tick; a new worker resumes from the listener's 60 %.
    world.clock.advance(30)
    record, snapshots = world.run(record.rollout_id, controller=world.controller(), until=lambda r: r.phase == RolloutPhase.BAKING)
    seen += [s.weights for s in snapshots]
    assert record.step_index == 1
    # Whatever resumed the rollout re-recorded the weights it observed.
    assert world.status().traffic.of("frontend").weights == W(blue=40, green=60)

    rig.converge()  # a desired-state push during that bake
    seen.append(world.alb_weights("frontend"))

    record, snapshots = world.run(record.rollout_id)
    seen += [s.weights for s in snapshots]
    green_never_goes_back(seen)
    assert record.phase == RolloutPhase.COMPLETE
    assert world.alb_weights("frontend") == (0, 100)
