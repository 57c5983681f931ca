"""Waking a stack's active rollouts when a converge of that stack has finished.

A converge's ``pulumi up`` applies what it rendered when it prepared, minutes earlier. The program
leaves the listener weights and the colours' counts to an active rollout (``ignore_changes``), so
the ``up`` should not move them; this is the second guard. Each rollout's next tick observes the
listener and re-asserts the weights it intends if they disagree (``decide``), at once rather than
at its next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from desired_state.naming import SERVICE_NAMES
from reconciler.clock import Clock
from reconciler.rollout.controller import TickScheduler
from reconciler.rollout.store import RolloutStore

log = logging.getLogger("ecs_gitops.rollout")


class StackRolloutWaker:
    """``waker(stack)``: an immediate tick for every active rollout of ``stack``, through the rollouts' scheduler."""

    def __init__(self, store: RolloutStore, scheduler: TickScheduler, clock: Clock, services: Iterable[str] = SERVICE_NAMES):
        self.store = store
        self.scheduler = scheduler
        self.clock = clock
        self.services = tuple(services)

    def __call__(self, stack: str) -> list[str]:
        """The ids of the rollouts woken."""
        now = self.clock()
        woken = []
        for service in self.services:
            record = self.store.active(stack, service)
            if record is None:
                continue
            self.scheduler.schedule(record.rollout_id, now, now)
            woken.append(record.rollout_id)
        if woken:
            log.info("a converge of %s finished; woke its active rollouts %s", stack, ", ".join(woken), extra={"stack": stack})
        return woken
