"""The tick runtime's tests use the rollout tests' moto world (``world``, ``kit``, ``rig``), and
``ticks``: a tick queue, scheduler and :class:`TickRunner` over that world on the fake clock.

tests/ has no ``__init__.py``, so the rollout conftest is loaded here by path, under its own
module name, and its fixtures are re-exported for this directory.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reconciler.rollout.controller import SqsTickScheduler
from reconciler.rollout.model import RolloutPhase, RolloutRecord
from reconciler.ticks.runner import TickRunner
from reconciler.ticks.schedule import CoalescingTickScheduler
from reconciler.wiring import RolloutComponents

_PATH = Path(__file__).resolve().parents[1] / "rollout" / "conftest.py"
_NAME = "rollout_world_conftest"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, _PATH)
    assert _spec is not None and _spec.loader is not None
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
rollout_world = sys.modules[_NAME]

world = rollout_world.world
kit = rollout_world.kit
rig = rollout_world.rig

ROLLOUT_TABLE = rollout_world.ROLLOUT_TABLE
GRACE = 120


class ClockedSqsDouble:
    """TEST DOUBLE around moto's SQS client, for message delays only.

    moto applies ``DelaySeconds`` in real time, so a test on a fake clock could never let a delay
    pass. A message sent with a delay is held here until the fake clock reaches its time, then sent
    to moto with no delay; every other call (and every undelayed send) goes straight to moto.
    """

    def __init__(self, client: Any, clock: Any):
        self._client = client
        self._clock = clock
        self.held: list[tuple[datetime, dict[str, Any]]] = []
        self.sent: list[str] = []  # every body sent, held or not
        self.hidden: list[str] = []  # receipts whose visibility the runner changed (a retry's backoff)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        delay = kwargs.pop("DelaySeconds", 0)
        self.sent.append(kwargs["MessageBody"])
        if delay <= 0:
            return self._client.send_message(**kwargs)
        self.held.append((self._clock() + timedelta(seconds=delay), kwargs))
        return {"MessageId": f"held-{len(self.held)}"}

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        due = [(at, message) for at, message in self.held if at <= self._clock()]
        self.held = [(at, message) for at, message in self.held if at > self._clock()]
        for _, message in sorted(due, key=lambda held: held[0]):
            self._client.send_message(**message)
        return self._client.receive_message(**kwargs)

    def change_message_visibility(self, **kwargs: Any) -> dict[str, Any]:
        self.hidden.append(kwargs["ReceiptHandle"])
        return self._client.change_message_visibility(**kwargs)

    def next_due(self) -> datetime | None:
        return min((at for at, _ in self.held), default=None)


@dataclass
class ApiCalls:
    """Every AWS API call the tick path makes, counted by a botocore ``before-call`` hook."""

    calls: list[str] = field(default_factory=list)

    def hook(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}.{model.name}")

    def names(self) -> list[str]:
        return list(self.calls)

    def since(self, mark: int) -> list[str]:
        return self.names()[mark:]


@dataclass
class TickRig:
    world: Any
    url: str
    sqs: ClockedSqsDouble
    scheduler: Any
    runner: TickRunner
    api: ApiCalls

    def drain(self) -> list[RolloutRecord]:
        """Handle every tick visible now (the runner's rounds until the queue has nothing due)."""
        handled: list[RolloutRecord] = []
        while True:
            before = len(self.api.calls)
            batch = self.runner.run_once()
            handled.extend(batch)
            received = [c for c in self.api.since(before) if c == "sqs.DeleteMessage" or c.startswith("sqs.ChangeMessage")]
            if not batch and not received:
                return handled

    def run_until(self, end: datetime) -> list[RolloutRecord]:
        """Let the fake clock run to ``end``, handling each tick when it comes due."""
        handled = self.drain()
        while (due := self.sqs.next_due()) is not None and due < end:
            self.world.clock.set(max(self.world.clock(), due))
            handled.extend(self.drain())
        self.world.clock.set(max(self.world.clock(), end))
        return handled


def make_rig(world: Any, name: str, coalescing: bool = True) -> TickRig:
    url = world.sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs = ClockedSqsDouble(world.sqs, world.clock)
    scheduler: Any = (
        CoalescingTickScheduler(world.dynamodb, ROLLOUT_TABLE, sqs, url, overdue_grace_seconds=GRACE) if coalescing else SqsTickScheduler(sqs, url)
    )
    controller = world.controller()
    controller.scheduler = scheduler
    runner = TickRunner(RolloutComponents(world.store, controller, None, url), sqs, clock=world.clock)  # type: ignore[arg-type]
    api = ApiCalls()
    for client in (world.sqs, world.dynamodb, world.elbv2, world.ecs, world.ecr, world.cloudwatch, world.autoscaling):
        client.meta.events.register("before-call.*.*", api.hook)
    return TickRig(world, url, sqs, scheduler, runner, api)


def baking(world: Any, kit: Any, service: str) -> tuple[RolloutRecord, datetime]:
    """A rollout of ``service`` that just entered its first bake (120 s), and the poll its last tick asked for."""
    image = world.push_image(service, "3.0.0")
    record = world.start(service, image, kit.default_spec(service, steps=(50, 100), bake_seconds=120))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING)
    [wake] = [at for rid, at, _ in world.scheduler.calls[-1:] if rid == record.rollout_id]
    return record, wake


@pytest.fixture
def ticks_kit() -> SimpleNamespace:
    """The helpers above, for test modules (tests/ has no ``__init__.py``, so they cannot import this file)."""
    return SimpleNamespace(
        ClockedSqsDouble=ClockedSqsDouble, ApiCalls=ApiCalls, TickRig=TickRig, make_rig=make_rig, baking=baking,
        ROLLOUT_TABLE=ROLLOUT_TABLE, GRACE=GRACE,
    )
