"""Converge loops in parallel: two stacks converge at once, one stack never twice at once.

What moto 5.2.5 does with a FIFO queue (measured, see the report of this change):

- a receive that *starts* while one of a group's messages is in flight gets nothing of that group
  (withheld until the message is deleted or visible again), as in SQS;
- but a long poll that was already waiting when the messages arrived works from its own stale
  snapshot of the in-flight groups: two long polls waiting on an empty queue each got one message
  of the same group (A1 and A2) at the same moment, three runs out of three. SQS never does that.

So on raw moto a stack's jobs can reach two loops at once, and only the stack lease keeps them
apart; the tests below check the lease alone (a standard queue, no groups at all) and the FIFO
order (through :class:`AtomicReceiveSqsDouble`, which gives moto SQS's one-receiver-per-group rule).
"""

from __future__ import annotations

import _thread
import logging
import threading
import time
from collections import Counter
from typing import Any

import pytest

from reconciler.adapters.queue import JobQueue
from reconciler.events import Reason
from reconciler.models import Trigger
from reconciler.wiring import Components
from reconciler.worker import Backoff, WorkerTimings, main
from reconciler.worker_pool import JobLoops

# Upper bounds only (a test moves on as soon as its condition holds): generous for a loaded machine,
# where the first render of a process takes seconds.
WAIT_SECONDS = 60.0
JOIN_SECONDS = 30.0
SECRET = "pool-secret-value-91"


@pytest.fixture
def blocking_engine(make_engine):
    class BlockingUpEngineDouble(make_engine):
        """TEST DOUBLE: the Pulumi CLI cannot run here (see ``EngineDouble``). Its ``up`` records when it
        starts and ends per stack and holds until ``release`` is set (or ``hold_seconds`` pass), so a test
        can see which converges overlap."""

        def __init__(self) -> None:
            super().__init__()
            self.changed = threading.Condition()
            self.release = threading.Event()
            self.hold_seconds = WAIT_SECONDS
            self.running: Counter[str] = Counter()
            self.most_at_once: Counter[str] = Counter()
            self.stacks_at_once = 0
            self.started: list[tuple[str, str]] = []  # (stack, job id) in the order the ups began

        def up(self, request):
            job_id = request.message.rsplit(" job ", 1)[-1]
            with self.changed:
                self.running[request.stack] += 1
                self.most_at_once[request.stack] = max(self.most_at_once[request.stack], self.running[request.stack])
                self.stacks_at_once = max(self.stacks_at_once, sum(1 for n in self.running.values() if n))
                self.started.append((request.stack, job_id))
                self.changed.notify_all()
            try:
                self.release.wait(self.hold_seconds)
                return super().up(request)
            finally:
                with self.changed:
                    self.running[request.stack] -= 1
                    self.changed.notify_all()

        def wait_for(self, predicate, timeout: float = WAIT_SECONDS) -> bool:
            with self.changed:
                return self.changed.wait_for(predicate, timeout)

    return BlockingUpEngineDouble()


class AtomicReceiveSqsDouble:
    """TEST DOUBLE around the moto SQS client: what moto cannot do here is hand a FIFO group's messages to one
    receiver at a time when several long polls wait at once (measured, module docstring). Receives are
    made one at a time (moto answers at once) and a long poll waits here for a send, delete or visibility
    change; every call still goes to moto."""

    def __init__(self, sqs: Any):
        self._sqs = sqs
        self._one_receive = threading.Lock()
        self._moved = threading.Condition()

    def receive_message(self, **request: Any) -> dict[str, Any]:
        deadline = time.monotonic() + request.get("WaitTimeSeconds", 0)
        while True:
            with self._one_receive:
                response = self._sqs.receive_message(**{**request, "WaitTimeSeconds": 0})
            if response.get("Messages") or time.monotonic() >= deadline:
                return response
            with self._moved:
                self._moved.wait(min(0.2, max(0.0, deadline - time.monotonic())))

    def _moving(self, name: str, **request: Any) -> dict[str, Any]:
        response = getattr(self._sqs, name)(**request)
        with self._moved:
            self._moved.notify_all()
        return response

    def send_message(self, **request: Any) -> dict[str, Any]:
        return self._moving("send_message", **request)

    def delete_message(self, **request: Any) -> dict[str, Any]:
        return self._moving("delete_message", **request)

    def change_message_visibility(self, **request: Any) -> dict[str, Any]:
        return self._moving("change_message_visibility", **request)


@pytest.fixture
def pool(make_harness, blocking_engine, reconciler_aws):
    """Components as main() builds them, over file stores (their writes are atomic across threads,
    which moto's DynamoDB conditional writes are not), the blocking engine and a job queue on moto."""
    harness = make_harness(engine=blocking_engine)
    harness.settings_overrides = {"stack_busy_retry_seconds": 1}

    def components(sqs: Any = None, queue_url: str | None = None) -> Components:
        queue = JobQueue(sqs or reconciler_aws.sqs, queue_url or reconciler_aws.queue_url)
        return Components(harness.settings, harness.states, harness.audit, harness.notifier, harness.source,
                          blocking_engine, harness.redactor, queue, None, reconciler_aws.session)

    return harness, components


def _loops(components: Components, concurrency: int = 2) -> JobLoops:
    timings = WorkerTimings(loop_retry=Backoff(base_seconds=0, cap_seconds=0))
    return JobLoops.for_components(components, concurrency=concurrency, wait_seconds=1, timings=timings)


def _stop(loops: JobLoops) -> None:
    loops.stop()
    assert loops.join(timeout=JOIN_SECONDS) == [], "every loop ends within the join timeout"


def test_two_stacks_converge_at_the_same_time(pool):
    harness, components = pool
    engine = harness.engine
    built = components()
    loops = _loops(built)
    loops.start()
    try:
        built.queue.send(harness.job(environment="dev", trigger=Trigger.MANUAL))
        built.queue.send(harness.job(environment="prod", trigger=Trigger.MANUAL))

        both = engine.wait_for(lambda: engine.running["dev"] == 1 and engine.running["prod"] == 1)
        engine.release.set()
        assert both, f"both ups in progress at once; ups seen: {engine.started}"
        assert engine.wait_for(lambda: len(engine.started) == 2 and not any(engine.running.values()))
    finally:
        engine.release.set()
        _stop(loops)
    assert {stack for stack, _ in engine.started} == {"dev", "prod"}
    assert [r.reason for r in harness.history("dev")] == [Reason.APPLIED]
    assert [r.reason for r in harness.history("prod")] == [Reason.APPLIED]


def test_one_stacks_jobs_run_one_at_a_time_in_queue_order(pool, reconciler_aws):
    """SQS's FIFO rule (AtomicReceiveSqsDouble over moto): the stack's next job reaches a loop only after the last one is deleted."""
    harness, components = pool
    engine = harness.engine
    engine.hold_seconds = 0.2  # long enough for the other loops to try for the stack's next job
    built = components(AtomicReceiveSqsDouble(reconciler_aws.sqs))
    jobs = [harness.job(environment="dev", trigger=Trigger.MANUAL) for _ in range(3)]
    for job in jobs:
        built.queue.send(job)
    loops = _loops(built, concurrency=3)
    loops.start()
    try:
        assert engine.wait_for(lambda: len(engine.started) == 3 and not engine.running["dev"]), engine.started
    finally:
        _stop(loops)
    assert engine.most_at_once["dev"] == 1
    assert [job_id for _, job_id in engine.started] == [job.job_id for job in jobs]
    assert [r.reason for r in harness.history("dev")] == [Reason.APPLIED] * 3


def test_the_stack_lease_alone_keeps_one_stack_to_one_loop(pool, reconciler_aws):
    """No FIFO group at all (a standard queue hands every loop a job of the same stack at once):
    the lease must still keep two converges of one stack apart; the loser comes back later."""
    harness, components = pool
    engine = harness.engine
    engine.hold_seconds = 0.3
    sqs = reconciler_aws.sqs
    unordered = sqs.create_queue(QueueName="jobs-without-groups")["QueueUrl"]
    built = components(sqs, unordered)
    loops = _loops(built, concurrency=3)
    loops.start()
    jobs = [harness.job(environment="dev", trigger=Trigger.MANUAL) for _ in range(3)]
    try:
        time.sleep(0.1)  # the loops are long-polling when the jobs arrive
        for job in jobs:
            sqs.send_message(QueueUrl=unordered, MessageBody=job.model_dump_json(by_alias=True))
        applied = lambda: {job_id for _, job_id in engine.started} >= {job.job_id for job in jobs} and not engine.running["dev"]  # noqa: E731
        assert engine.wait_for(applied), engine.started
    finally:
        _stop(loops)
    assert engine.most_at_once["dev"] == 1
    reasons = [r.reason for r in harness.history("dev")]
    assert Reason.STACK_LOCKED in reasons, "two loops held jobs of the stack at once, and the lease turned one away"
    assert reasons.count(Reason.APPLIED) >= 3


def test_main_runs_the_settings_number_of_loops_and_drains_with_once(pool):
    harness, components = pool
    engine = harness.engine
    engine.hold_seconds = 0.0
    built = components()
    assert built.settings.worker.concurrency == 2
    built.queue.send(harness.job(environment="dev", trigger=Trigger.MANUAL))
    built.queue.send(harness.job(environment="prod", trigger=Trigger.MANUAL))
    names: set[str] = set()
    engine.on_call = lambda operation, request: names.add(threading.current_thread().name)

    assert main(["--once"], components=built, configure_process=False) == 0

    assert {stack for stack, _ in engine.started} == {"dev", "prod"}
    assert names and all(name.startswith("converge-loop-") for name in names)


def test_concurrency_on_the_command_line_wins_and_must_be_positive(pool, capsys):
    harness, components = pool
    built = components()
    built.queue.send(harness.job(environment="dev", trigger=Trigger.MANUAL))
    harness.engine.hold_seconds = 0.0
    assert main(["--once", "--concurrency", "3"], components=built, configure_process=False) == 0
    with pytest.raises(SystemExit) as exit_:
        main(["--once", "--concurrency", "0"], components=built, configure_process=False)
    assert exit_.value.code == 2
    assert "--concurrency" in capsys.readouterr().err


class LoopCrash(BaseException):
    """Escapes the loop's own per-round handling (it is no Exception), as a bug in the loop itself would."""


def test_a_loop_that_dies_is_logged_scrubbed_and_replaced_while_the_others_go_on(pool, caplog):
    harness, components = pool
    engine = harness.engine
    engine.hold_seconds = 0.0
    built = components()
    built.redactor.add(SECRET)
    crashes: list[str] = []

    class CrashOnceQueue(JobQueue):
        def receive(self, *args: Any, **kwargs: Any):
            if not crashes:
                crashes.append(threading.current_thread().name)
                raise LoopCrash(f"loop broke holding {SECRET}")
            return super().receive(*args, **kwargs)

    built.queue = CrashOnceQueue(built.queue._sqs, built.queue._url)
    loops = _loops(built)
    caplog.set_level(logging.INFO)
    loops.start()
    try:
        built.queue.send(harness.job(environment="dev", trigger=Trigger.MANUAL))
        built.queue.send(harness.job(environment="prod", trigger=Trigger.MANUAL))
        assert engine.wait_for(lambda: len(engine.started) == 2 and not any(engine.running.values()))
        assert len(loops.alive()) == 2, "the dead loop was replaced"
    finally:
        _stop(loops)
    assert crashes
    assert "LoopCrash" in caplog.text and f"loop broke holding {SECRET}" not in caplog.text
    assert SECRET not in caplog.text


def test_an_interrupt_stops_every_loop(pool):
    harness, components = pool
    loops = _loops(components())
    timer = threading.Timer(0.3, _thread.interrupt_main)
    started = time.monotonic()
    timer.start()
    try:
        assert loops.run(join_seconds=JOIN_SECONDS) == 130
    finally:
        timer.cancel()
    assert loops.alive() == []
    assert time.monotonic() - started < JOIN_SECONDS
