"""One rollout tick: observe, decide, act, record (conditionally), schedule the next tick.

Any worker can run any tick. Two workers racing on the same tick both compute the same
decision and issue the same idempotent calls; only one record write wins, the other gets
:class:`ConflictError` and stops. Waits never block: the next tick is scheduled on the tick
queue (SQS delay) and whichever worker receives it continues.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from reconciler.errors import ConflictError
from reconciler.rollout.decide import Decision, decide
from reconciler.rollout.execute import RolloutExecutor
from reconciler.rollout.model import RolloutPhase, RolloutRecord, Transition
from reconciler.rollout.observe import RolloutObserver
from reconciler.rollout.store import RolloutStore

log = logging.getLogger("ecs_gitops.rollout")
SQS_MAX_DELAY_SECONDS = 900


class TickScheduler(Protocol):
    def schedule(self, rollout_id: str, at: datetime, now: datetime) -> None: ...


class SqsTickScheduler:
    """Ticks on a standard SQS queue (FIFO queues take no per-message delay); duplicates are harmless."""

    def __init__(self, sqs_client: Any, queue_url: str):
        self._sqs = sqs_client
        self._url = queue_url

    def schedule(self, rollout_id: str, at: datetime, now: datetime) -> None:
        delay = max(0, min(SQS_MAX_DELAY_SECONDS, int((at - now).total_seconds())))
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps({"rolloutId": rollout_id, "notBefore": at.isoformat()}), DelaySeconds=delay)


def apply_decision(record: RolloutRecord, decision: Decision, now: datetime) -> RolloutRecord:
    """The record after ``decision``: new phase/step, timestamps and one history entry."""
    update: dict[str, Any] = {"updated_at": now}
    if decision.pause_reason:
        update.update({"paused": True, "pause_reason": decision.pause_reason, "paused_by_window": True})
        update["history"] = [*record.history, Transition(at=now, from_phase=record.phase, to_phase=record.phase, reason=decision.reason)]
    if decision.resume:
        update.update({"paused": False, "pause_reason": None, "paused_by_window": False})
        update["history"] = [*record.history, Transition(at=now, from_phase=record.phase, to_phase=record.phase, reason=decision.reason)]
    if decision.changes_phase(record):
        update.update({"phase": decision.phase, "phase_started_at": now})
        update["history"] = [
            *record.history,
            Transition(at=now, from_phase=record.phase, to_phase=decision.phase, reason=decision.reason, evidence=decision.evidence),
        ]
    if decision.step_index is not None:
        update["step_index"] = decision.step_index
        update["weights"] = record.target_weights(record.spec.steps[decision.step_index])
    if decision.bake_until is not None:
        update["bake_until"] = decision.bake_until
    if decision.phase == RolloutPhase.ROLLING_BACK and record.phase != RolloutPhase.ROLLING_BACK:
        update.update({"rollback_reason": decision.reason, "weights": record.live_only})
    if decision.phase == RolloutPhase.PROMOTED and record.phase != RolloutPhase.PROMOTED:
        update["promoted_at"] = now
    return record.model_copy(update=update)


class RolloutController:
    def __init__(
        self,
        store: RolloutStore,
        observer: RolloutObserver,
        executor: RolloutExecutor,
        scheduler: TickScheduler,
        clock: Callable[[], datetime],
        on_transition: Callable[[RolloutRecord, Transition], None] = lambda record, transition: None,
    ):
        self.store = store
        self.observer = observer
        self.executor = executor
        self.scheduler = scheduler
        self.clock = clock
        self.on_transition = on_transition

    def tick(self, rollout_id: str) -> RolloutRecord:
        now = self.clock()
        record = self.store.get(rollout_id)
        if record.phase.terminal:
            return record
        observed = self.observer.observe(record, now)
        decision = decide(record, observed, now)
        for action in decision.actions:
            # Fencing: act only while the record is still the one this decision was made from. A
            # worker that observed slowly must not undo what another did meanwhile (an abort, a rollback).
            current = self.store.get(rollout_id)
            if current.version != record.version:
                log.info("rollout moved on while this tick observed; dropping its decision", extra={"rollout_id": rollout_id})
                return current
            self.executor.apply(record, action)
        new = apply_decision(record, decision, now)
        if new != record.model_copy(update={"updated_at": now}):
            try:
                new = self.store.put(record, new)
            except ConflictError:
                log.info("another worker advanced the rollout first", extra={"rollout_id": rollout_id})
                return self.store.get(rollout_id)
            if new.history and new.history[-1].at == now:
                self.on_transition(new, new.history[-1])
        if decision.wake_at is not None and not new.phase.terminal:
            self.scheduler.schedule(rollout_id, decision.wake_at, now)
        elif new.phase == RolloutPhase.ROLLING_BACK or (decision.changes_phase(record) and not new.phase.terminal):
            self.scheduler.schedule(rollout_id, now, now)
        return new
