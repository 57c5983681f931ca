"""A rollback never waits for a converge: the tick runtime rolls a rollout back while converges of
the same stack and of another stack are in the middle of their ``pulumi up``.

Real: two converge :class:`Worker` s, each in its own thread, reading the job FIFO queue (moto SQS)
with real Convergers over the temp git repo and the rollout world's stack status; the rollout
world (moto ALB, ECS, ECR, CloudWatch, DynamoDB rollout table); the tick queue, the
CoalescingTickScheduler, the RolloutController and the TickRunner in the test thread.
Test doubles: the engine (``EngineDouble``, tests/reconciler/conftest.py: the Pulumi CLI cannot
run here), whose ``up`` is held on a ``threading.Event`` by :class:`UpGate`; ``ClockedSqsDouble``
for the tick queue's delays on the fake clock. Nothing sleeps; every thread is joined with a timeout.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

from reconciler.adapters.queue import JobQueue
from reconciler.rollout.model import RolloutPhase
from reconciler.worker import Worker

WAIT = 10  # seconds: only reached when something is broken


class UpGate:
    """The engine double's ``on_call`` hook: ``up`` of each stack waits until the test opens the gate."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = {stack: threading.Event() for stack in ("dev", "prod")}

    def wait_any(self) -> bool:
        """Until some stack's up has started (the first converge, whichever stack its worker took)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if any(e.wait(0.01) for e in self.entered.values()):
                return True
        return False

    def __call__(self, operation: str, request: Any) -> None:
        if operation != "up":
            return
        self.entered[request.stack].set()
        assert self.open.wait(WAIT), "the test never opened the gate"


def test_a_rollback_completes_while_converges_of_the_same_and_another_stack_run(
    world, kit, ticks_kit, make_harness, make_engine, reconciler_aws, git_repo
):
    aws = reconciler_aws
    gate = UpGate()
    engine = make_engine()
    engine.on_call = gate
    # The converges write the same stack status as the rollout (stack "dev"): the same stack for real.
    harness = make_harness(engine=engine, states=world.states)
    dev_commit, prod_commit = git_repo.bump("dev"), git_repo.bump("prod")
    queue = JobQueue(aws.sqs, aws.queue_url)
    queue.send(harness.job(dev_commit, environment="dev"))
    queue.send(harness.job(prod_commit, environment="prod"))

    record, poll = ticks_kit.baking(world, kit, "frontend")
    assert world.alb_weights("frontend") == (50, 50)
    ticks = ticks_kit.make_rig(world, "ticks")
    ticks.scheduler.schedule(record.rollout_id, poll, world.clock())

    outcomes: dict[str, list[Any]] = {}

    def converge(name: str) -> None:
        # The converge's policy phase renders the program under Pulumi's mocks, which want an event
        # loop in the thread (and are process-global: the test lets one thread render at a time).
        asyncio.set_event_loop(asyncio.new_event_loop())
        worker = Worker(JobQueue(aws.sqs, aws.queue_url), harness.converger(worker_id=f"{name}:1"))
        outcomes[name] = worker.run_once(wait_seconds=0)

    workers = [threading.Thread(target=converge, args=(name,), name=name) for name in ("worker-a", "worker-b")]
    try:
        workers[0].start()
        assert gate.wait_any(), "the first converge reaches pulumi up"
        workers[1].start()
        assert gate.entered["dev"].wait(WAIT) and gate.entered["prod"].wait(WAIT), "both converges reach pulumi up"

        # Both converges hold their pulumi up. The alarm fires; its event wakes the rollout at once.
        world.cloudwatch.set_alarm_state(AlarmName="frontend-5xx", StateValue="ALARM", StateReason="test: 5xx")
        ticks.scheduler.schedule(record.rollout_id, world.clock(), world.clock(), cause="alarm frontend-5xx entered ALARM")
        handled = ticks.run_until(world.clock() + timedelta(seconds=60))

        rolled_back = world.store.get(record.rollout_id)
        assert rolled_back.phase == RolloutPhase.ROLLED_BACK
        assert [r.phase for r in handled][:2] == [RolloutPhase.ROLLING_BACK, RolloutPhase.ROLLED_BACK]
        assert world.alb_weights("frontend") == (100, 0)  # read back from the listener: all on the old colour
        assert "frontend" not in world.status().image_overrides  # the staged image reverted
        assert world.desired_counts("frontend")["blue"] == kit.LIVE_COUNT
        assert all(w.is_alive() for w in workers) and not gate.open.is_set()  # the converges are still in pulumi up
        assert engine.operations.count("up") == 2
    finally:
        gate.open.set()
        for w in workers:
            w.join(timeout=WAIT)
    assert not any(w.is_alive() for w in workers)
    converged = sorted((o.outcome, o.reason.value) for name in outcomes for o in outcomes[name])
    assert len(converged) == 2 and all(outcome == "succeeded" for outcome, _ in converged), converged
    # Each converge applies its stack's newest commit; the dev one wrote the status the rollout shares.
    assert harness.status("prod").last_applied_commit == world.status().last_applied_commit == git_repo.head == prod_commit
