"""The stack lease, decided without trusting anybody's clock (client-go leader election's rule).

The lease record carries the holder, a heartbeat counter the holder increments on every beat,
and a fencing token that grows with every acquisition. A contender never compares the record's
timestamps with its own clock (a worker whose clock runs 16 minutes ahead would take a live
lease). It remembers, in its own process and per stack, when it first saw the record as it is
now, and takes the lease over only after seeing it unchanged for the stale interval on its own
monotonic clock, with a conditional write on the record's version.

The holder keeps the lease alive with heartbeats that are conditional too: a beat that finds
another token (taken over) or keeps failing for the stale interval marks the lease lost, and the
converger stops before its next phase.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from reconciler.adapters.stack_state import Lease, StackStateStore, StackStatus
from reconciler.errors import LeaseLostError

log = logging.getLogger("ecs_gitops.lease")

ObservedKey = tuple[str, str, int, int]


@dataclass(frozen=True)
class LeaseTimings:
    stale_after_seconds: float = 900.0
    heartbeat_seconds: float = 60.0
    busy_retry_seconds: int = 60


@dataclass(frozen=True)
class Observation:
    """A foreign lease as this process saw it, and when (its own monotonic clock)."""

    key: ObservedKey
    since: float


def observed_key(lease: Lease) -> ObservedKey:
    return (lease.holder, lease.job_id, lease.counter, lease.token)


def may_take_over(previous: Observation | None, lease: Lease, now: float, stale_after_seconds: float) -> tuple[bool, Observation]:
    """Whether a contender may take ``lease``, and what it should remember.

    Only an observation of this very record (same holder, job, counter, token) at least
    ``stale_after_seconds`` ago on the contender's own clock makes it stale; any change restarts
    the wait. The record's timestamps play no part.
    """
    key = observed_key(lease)
    if previous is None or previous.key != key:
        return False, Observation(key, now)
    return now - previous.since >= stale_after_seconds, previous


class LeaseObserver:
    """Process memory of the foreign leases seen, per stack; one per worker process, shared by its jobs."""

    def __init__(self, monotonic: Callable[[], float]):
        self._monotonic = monotonic
        self._seen: dict[str, Observation] = {}
        self._lock = threading.Lock()

    def may_take(self, stack: str, lease: Lease, stale_after_seconds: float) -> bool:
        with self._lock:
            allowed, observation = may_take_over(self._seen.get(stack), lease, self._monotonic(), stale_after_seconds)
            self._seen[stack] = observation
            return allowed

    def forget(self, stack: str) -> None:
        with self._lock:
            self._seen.pop(stack, None)


class HeldLease:
    """This worker's lease on one stack while a job runs: heartbeats, fenced writes, and whether it is lost."""

    def __init__(
        self,
        states: StackStateStore,
        stack: str,
        lease: Lease,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
        timings: LeaseTimings,
    ):
        self.states = states
        self.stack = stack
        self.holder = lease.holder
        self.job_id = lease.job_id
        self.token = lease.token
        self.clock = clock
        self.monotonic = monotonic
        self.timings = timings
        self.lost_reason: str | None = None
        self._last_beat = monotonic()

    def is_mine(self, lease: Lease | None) -> bool:
        return lease is not None and lease.holder == self.holder and lease.token == self.token

    def _lose(self, reason: str) -> None:
        if self.lost_reason is None:
            self.lost_reason = reason
            log.warning("stack lease lost", extra={"stack": self.stack, "job_id": self.job_id, "reason": reason})

    def _taken_over(self, status: StackStatus) -> str:
        lease = status.lease
        if lease is None:
            return f"the lease on stack {self.stack} (token {self.token}) was released by someone else"
        return f"stack {self.stack} was taken over by {lease.holder} for job {lease.job_id} (token {lease.token}, ours was {self.token})"

    def beat(self) -> None:
        """One heartbeat: bump the counter with a conditional write, if the lease is still ours."""
        if self.lost_reason is not None:
            return
        gone: list[str] = []

        def change(status: StackStatus) -> StackStatus | None:
            if not self.is_mine(status.lease):
                gone.append(self._taken_over(status))
                return None
            assert status.lease is not None
            return status.model_copy(update={"lease": status.lease.model_copy(update={"counter": status.lease.counter + 1, "heartbeat_at": self.clock()})})

        try:
            self.states.update(self.stack, change)
        except Exception as exc:  # noqa: BLE001 - a missed beat is retried; only a run of them for the stale interval loses the lease
            silent = self.monotonic() - self._last_beat
            log.warning("lease heartbeat failed", extra={"stack": self.stack, "job_id": self.job_id, "error": type(exc).__name__})
            if silent >= self.timings.stale_after_seconds:
                self._lose(
                    f"the lease heartbeat on stack {self.stack} failed for {int(silent)}s (stale after {int(self.timings.stale_after_seconds)}s); "
                    "another worker may take the stack over"
                )
            return
        if gone:
            self._lose(gone[0])
        else:
            self._last_beat = self.monotonic()

    def check(self) -> None:
        """Raise :class:`LeaseLostError` if the lease is gone: called before every phase."""
        if self.lost_reason is not None:
            raise LeaseLostError(f"{self.lost_reason}; this worker stopped before its next phase")

    def update(self, change: Callable[[StackStatus], StackStatus | None]) -> StackStatus:
        """A status write that happens only while the lease is ours (fenced by the token)."""
        self.check()

        def fenced(status: StackStatus) -> StackStatus | None:
            if not self.is_mine(status.lease):
                self._lose(self._taken_over(status))
                raise LeaseLostError(f"{self.lost_reason}; this worker stopped before its next phase")
            return change(status)

        return self.states.update(self.stack, fenced)

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Beat every ``heartbeat_seconds`` while the body runs (a long engine call included)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.timings.heartbeat_seconds) and self.lost_reason is None:
                self.beat()

        thread = threading.Thread(target=loop, name=f"lease-{self.stack}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)
