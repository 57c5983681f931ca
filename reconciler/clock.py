"""The one clock. Everything that stamps or waits takes its time from a clock it is given.

Wall time (:data:`Clock`) stamps what people and other processes read: audit records, stack
status, leases, approvals, jobs, rollout history and wake-ups. It is injected
(``wiring.build(clock=...)`` makes it ``Components.clock``, which the converger, the audit
records, the rollout controller, the worker and the command line all use), so the deployed
wiring runs at any date a test chooses. :func:`utc_now` is the only place the real time is read.

Monotonic time (:data:`Monotonic`) measures how long this process has watched something (a
foreign lease, a message it holds); it never leaves the process and is injected the same way
(``Components.monotonic``), with :func:`time.monotonic` as the default.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]


def utc_now() -> datetime:
    """The real time, timezone-aware UTC: the default clock of every component."""
    return datetime.now(UTC)
