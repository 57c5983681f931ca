"""The tick runtime's process: ``main`` takes the tests' own components, its watchdog wakes a rollout
that has no wake-up, and its loop outlives failing rounds and sweeps every ``sweep_seconds``.

Real: moto (SQS tick queue, the rollout world), the CoalescingTickScheduler, the controller and
the TickRunner. moto applies SQS delays in real time, so only immediate ticks are delivered here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.adapters.notify import StreamNotifier
from reconciler.redact import Redactor
from reconciler.rollout.model import RolloutPhase
from reconciler.settings import EnvironmentSettings, ReconcilerSettings, RepositorySettings
from reconciler.ticks.process import main, serve, stopping_on_sigterm
from reconciler.ticks.runner import TickRunner, TickTimings
from reconciler.ticks.schedule import CoalescingTickScheduler
from reconciler.wiring import Components, RolloutComponents
from reconciler.worker import Backoff

ROOT = Path(__file__).resolve().parents[3]
SECRET = "tick-process-secret-5e6f"


def rollouts_over(world: Any, queue_url: str) -> RolloutComponents:
    controller = world.controller()
    controller.scheduler = CoalescingTickScheduler(world.dynamodb, "ecs-gitops-rollouts", world.sqs, queue_url)
    return RolloutComponents(world.store, controller, None, queue_url)  # type: ignore[arg-type]


def components_over(world: Any) -> Components:
    settings = ReconcilerSettings(
        repository=RepositorySettings(url="unused"), environments={"dev": EnvironmentSettings(stack="dev", suffix="dev")},
        ticks={"sweepSeconds": 30},  # type: ignore[arg-type]
    )
    return Components(settings, world.states, None, StreamNotifier(), None, None, Redactor([SECRET]), None, None, world.session)  # type: ignore[arg-type]


def test_main_sweeps_then_ticks_a_rollout_that_had_no_wakeup(world, kit):
    url = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    record = world.start("frontend", world.push_image("frontend", "3.0.0"), kit.default_spec())  # started, never woken

    assert main(["--once"], components=components_over(world), rollouts=rollouts_over(world, url), clock=world.clock, configure_process=False) == 0

    assert world.store.get(record.rollout_id).phase == RolloutPhase.DEPLOYING  # the watchdog's wake-up ran its first tick


def test_main_without_a_rollout_table_says_what_to_set(world, caplog):
    assert main(["--once"], components=components_over(world), configure_process=False) == 2
    assert "aws.rolloutTable" in caplog.text and "aws.tickQueueUrl" in caplog.text


class StopLoop(BaseException):
    """Ends the endless loop from inside a test (a BaseException, as an interrupt would)."""


class FlakySqs:
    """Wraps moto's SQS client: the first receive fails as SQS does when throttled (moto cannot be made
    to), the sixth ends the test; each receive moves the fake clock 20 s (a long poll)."""

    def __init__(self, client: Any, clock: Any):
        self._client = client
        self._clock = clock
        self.receives = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def receive_message(self, **kwargs: Any) -> Any:
        self.receives += 1
        self._clock.advance(20)
        if self.receives == 1:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": f"slow down {SECRET}"}}, "ReceiveMessage")
        if self.receives == 6:
            raise StopLoop()
        return self._client.receive_message(**kwargs)


class SweepCountingRunner(TickRunner):
    """The real runner, remembering when it swept."""

    swept: list[Any]

    def sweep(self) -> list[str]:
        self.swept.append(self.clock())
        return super().sweep()


def test_the_loop_outlives_a_failing_round_and_sweeps_every_sweep_seconds(world):
    url = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    sqs = FlakySqs(world.sqs, world.clock)
    runner = SweepCountingRunner(rollouts_over(world, url), sqs, clock=world.clock)
    runner.swept = []
    start = world.clock()
    slept: list[float] = []
    timings = TickTimings(loop_retry=Backoff(base_seconds=5, cap_seconds=300), sweep_seconds=60)

    with pytest.raises(StopLoop):
        serve(runner, wait_seconds=0, sleep=slept.append, timings=timings)

    assert slept == [5]  # the throttled round, backed off
    # Rounds start at 0, 20, 40, 60, 80, 100 s of fake time: a sweep at 0 and at the first round past 60 s.
    assert runner.swept == [start, start + timedelta(seconds=60)]


def test_once_mode_stops_with_exit_code_1_when_a_round_fails(world):
    url = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    runner = TickRunner(rollouts_over(world, url), FlakySqs(world.sqs, world.clock), clock=world.clock)
    assert serve(runner, once=True, wait_seconds=0, sleep=lambda s: None) == 1


def test_python_dash_m_reconciler_ticks_without_settings_says_what_to_set_without_a_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "reconciler.ticks", "--once"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "ECS_GITOPS_SETTINGS" in result.stderr and "Traceback" not in result.stderr + result.stdout


class SigtermMidTickDouble:
    """The real controller; its first tick is interrupted by SIGTERM sent to this process (ECS stopping the
    task). It stands for the signal only: the tick itself is the real one."""

    def __init__(self, controller: Any):
        self._controller = controller
        self.ticked: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._controller, name)

    def tick(self, rollout_id: str) -> Any:
        if not self.ticked:
            os.kill(os.getpid(), signal.SIGTERM)
        self.ticked.append(rollout_id)
        return self._controller.tick(rollout_id)


class CountingSqs:
    """moto's SQS client, counting receives."""

    def __init__(self, client: Any):
        self._client = client
        self.receives = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def receive_message(self, **kwargs: Any) -> Any:
        self.receives += 1
        return self._client.receive_message(**kwargs)


def test_sigterm_stops_receiving_finishes_the_tick_in_hand_and_exits_0(world, kit):
    assert threading.current_thread() is threading.main_thread()  # signals reach the main thread only
    url = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    rollouts = rollouts_over(world, url)
    interrupting = SigtermMidTickDouble(rollouts.controller)
    rollouts = RolloutComponents(rollouts.store, interrupting, None, url)  # type: ignore[arg-type]
    first = world.start("frontend", world.push_image("frontend", "3.0.0"), kit.default_spec("frontend"))
    second = world.start("api-gateway", world.push_image("api-gateway", "3.0.0"), kit.default_spec("api-gateway"))
    for record in (first, second):
        rollouts.controller.scheduler.schedule(record.rollout_id, world.clock(), world.clock())
    sqs = CountingSqs(world.sqs)
    runner = TickRunner(rollouts, sqs, clock=world.clock)
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGTERM)

    with stopping_on_sigterm(stop):
        assert serve(runner, wait_seconds=0, sleep=lambda s: None, stop=stop) == 0

    assert signal.getsignal(signal.SIGTERM) is previous  # handed back
    assert stop.is_set() and sqs.receives == 1  # no receive after the signal
    [ticked] = interrupting.ticked  # the tick in hand ran to its end ...
    assert world.store.get(ticked).phase == RolloutPhase.DEPLOYING
    untouched = second.rollout_id if ticked == first.rollout_id else first.rollout_id
    assert world.store.get(untouched).phase == RolloutPhase.SCANNING  # ... the other was never started
    left = world.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [untouched] == [m["Body"].split('"rolloutId":"')[1].split('"')[0] for m in left]  # handed back at once, for another task
