"""Several converge loops in one worker process, so one long ``pulumi up`` holds back only its own stack.

Each loop is a thread with its own :class:`~reconciler.worker.Worker` and
:class:`~reconciler.converge.Converger` over the process's shared components (queue client,
stores, source, engine, redactor, lease observer); threads suit the work, which waits on the
Pulumi CLI's subprocess, git and AWS calls with the GIL released.

One stack stays strictly ordered and never converges twice at once:

- the job queue is FIFO with one message group per stack: SQS hands out a stack's next job only
  after the previous one is deleted or its visibility ends, whichever loop or task asks;
- the stack lease is the second guard. Each loop holds leases under its own name
  (``host:pid/loop-N``), so a loop never mistakes a sibling loop's lease for its own.

A loop that dies of anything (its own bug, ``SystemExit`` from a library) is logged with the
traceback scrubbed and started again after the loop backoff; the other loops never notice.
An interrupt stops every loop: they finish the job in hand, and are waited for a bounded time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reconciler.converge import Converger, default_worker_id
from reconciler.redact import format_exception_scrubbed
from reconciler.wiring import Components
from reconciler.worker import Worker, WorkerTimings, serve

log = logging.getLogger("ecs_gitops.worker")

LOOP_THREAD_PREFIX = "converge-loop-"
# How often the main thread looks up from waiting for the loops (an interrupt lands within this).
SUPERVISE_POLL_SECONDS = 0.5


def loop_worker_id(process_id: str, index: int) -> str:
    """The lease holder name of converge loop ``index`` (1-based) of the process ``process_id``."""
    return f"{process_id}/loop-{index}"


@dataclass
class _Loop:
    index: int
    worker: Worker
    thread: threading.Thread | None = None
    exit_code: int | None = None
    crashes: int = 0

    @property
    def name(self) -> str:
        return f"{LOOP_THREAD_PREFIX}{self.index}"


@dataclass
class JobLoops:
    """``len(workers)`` job loops over one queue. ``once``: each loop ends when its receive finds nothing."""

    workers: Sequence[Worker]
    once: bool = False
    wait_seconds: int = 20
    timings: WorkerTimings | None = None
    # The loops' backoff waits; None: waits that a stop ends at once.
    sleep: Callable[[float], None] | None = None
    # Thread joins wait in real time; this process's monotonic clock bounds them (injectable like every clock).
    monotonic: Callable[[], float] = time.monotonic
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _loops: list[_Loop] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.workers:
            raise ValueError("a worker process needs at least one converge loop")
        self._loops = [_Loop(index, worker) for index, worker in enumerate(self.workers, start=1)]

    @classmethod
    def for_components(
        cls,
        components: Components,
        *,
        concurrency: int,
        make_worker: Callable[[Converger], Worker] | None = None,
        once: bool = False,
        wait_seconds: int = 20,
        timings: WorkerTimings | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> JobLoops:
        """``concurrency`` loops, each a worker (``make_worker``; by default a plain job worker) around a
        converger of its own that holds leases under the loop's own name.

        Everything is built here, in the calling thread: a boto3 session is not thread-safe, its clients are.
        """
        if components.queue is None:
            raise ValueError("converge loops need the job queue (aws.jobQueueUrl)")
        queue = components.queue
        build = make_worker or (lambda converger: Worker(queue, converger, timings=timings))
        process = default_worker_id()
        workers = [build(components.converger(worker_id=loop_worker_id(process, index))) for index in range(1, concurrency + 1)]
        return cls(workers, once=once, wait_seconds=wait_seconds, timings=timings, sleep=sleep)

    # ------------------------------------------------------------------ threads

    def start(self) -> None:
        for loop in self._loops:
            loop.thread = threading.Thread(target=self._run_loop, args=(loop,), name=loop.name, daemon=True)
            loop.thread.start()
        log.info("converge loops started", extra={"loops": len(self._loops), "once": self.once})

    def _run_loop(self, loop: _Loop) -> None:
        retry = (self.timings or loop.worker.timings).loop_retry
        while not self._stop.is_set():
            try:
                loop.exit_code = serve(
                    loop.worker, once=self.once, wait_seconds=self.wait_seconds, sleep=self.sleep or self._stop.wait, timings=self.timings, stop=self._stop,
                )
                return
            except BaseException as exc:  # noqa: BLE001 - one loop's crash must end neither the process nor this loop for good
                loop.crashes += 1
                delay = retry.delay(loop.crashes)
                log.critical(
                    "converge loop %s stopped by an unexpected error; it starts again in %ss:\n%s", loop.name, delay,
                    format_exception_scrubbed(type(exc), exc, exc.__traceback__, loop.worker.redactor),
                    extra={"loop": loop.index, "crashes": loop.crashes},
                )
                del exc  # the traceback holds the loop's frames
                self._stop.wait(delay)

    def stop(self) -> None:
        """Ask every loop to stop after the job in hand (a long poll ends within its wait)."""
        self._stop.set()

    def join(self, timeout: float) -> list[str]:
        """Wait up to ``timeout`` seconds in all for the loops to end; the names of those still running."""
        deadline = self.monotonic() + timeout
        for loop in self._loops:
            if loop.thread is not None:
                loop.thread.join(max(0.0, deadline - self.monotonic()))
        return self.alive()

    def alive(self) -> list[str]:
        return [loop.name for loop in self._loops if loop.thread is not None and loop.thread.is_alive()]

    @property
    def exit_code(self) -> int:
        """0 when every loop ended cleanly, else the worst loop's code (1: a round failed with ``once``)."""
        return max((loop.exit_code if loop.exit_code is not None else 1) for loop in self._loops)

    def run(self, *, join_seconds: float) -> int:
        """Start the loops and wait for them (``once``: until all have drained the queue; otherwise until an
        interrupt). An interrupt stops them and waits ``join_seconds`` for the jobs in hand; exit code 130."""
        try:
            self.start()
            while self.alive():
                for loop in self._loops:
                    if loop.thread is not None:
                        loop.thread.join(SUPERVISE_POLL_SECONDS)
        except KeyboardInterrupt:
            log.warning("worker interrupted; stopping the converge loops after their jobs in hand", extra={"wait_seconds": join_seconds})
            self.stop()
            left = self.join(join_seconds)
            if left:
                # Their jobs' messages come back after the visibility timeout; their leases go stale.
                log.warning("converge loops still busy after the stop grace; exiting without them", extra={"loops": left})
            return 130
        return self.exit_code
