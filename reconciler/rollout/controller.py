"""One rollout tick: observe, decide, act, record (conditionally), schedule the next tick.

Any worker can run any tick. Two workers racing on the same tick both compute the same
decision and issue the same idempotent calls; only one record write wins, the other gets
:class:`ConflictError` and stops. Waits never block: the next tick is scheduled on the tick
queue (SQS delay) and whichever worker receives it continues.

The fence: a version check before each action cannot stop an AWS call that is already on its
way, so another worker's abort and whole rollback can land between the check and the call, and
the call then undoes them (the listener back at 90/10 with the new colour at zero tasks and a
terminal record no tick will ever look at again). So every tick decides, acts, then re-reads the
record; if it moved meanwhile, the tick re-asserts what the newer record stands for (its target
weights, desired counts, live colour, staged image) for everything the tick touched, and reads
again until the record holds still. AWS never ends away from what the stored record says.

The actions are carried out with the record as decided (``apply_decision`` first), so a revert
says why it rolls back. A tick that only observes the listener re-records its weights in the
traffic state when that says otherwise (a worker died between the ALB write and the
traffic-state write): a converge renders the traffic state (see :mod:`reconciler.rollout.live`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from reconciler.errors import ConflictError
from desired_state.traffic import ColourWeights
from reconciler.rollout.decide import DEFAULT_TIMINGS, Action, ActionKind, Decision, Observed, RolloutTimings, decide
from reconciler.rollout.execute import RolloutExecutor
from reconciler.rollout.live import rendered_weights, weights_to_record
from reconciler.rollout.model import PROMOTED_PHASES, ROLLED_BACK_PHASES, RolloutPhase, RolloutRecord, Transition, intended_weights
from reconciler.rollout.observe import RolloutObserver
from reconciler.rollout.store import RolloutStore

log = logging.getLogger("ecs_gitops.rollout")
SQS_MAX_DELAY_SECONDS = 900


class TickScheduler(Protocol):
    def schedule(self, rollout_id: str, at: datetime, now: datetime, cause: str | None = None) -> None: ...


class SqsTickScheduler:
    """Ticks on a standard SQS queue (FIFO queues take no per-message delay); duplicates are harmless."""

    def __init__(self, sqs_client: Any, queue_url: str):
        self._sqs = sqs_client
        self._url = queue_url

    def schedule(self, rollout_id: str, at: datetime, now: datetime, cause: str | None = None) -> None:
        delay = max(0, min(SQS_MAX_DELAY_SECONDS, int((at - now).total_seconds())))
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps({"rolloutId": rollout_id, "notBefore": at.isoformat()}), DelaySeconds=delay)


URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.IGNORECASE)
ROLLBACK_EVIDENCE_LIMIT = 600


def _bare_url(match: re.Match[str]) -> str:
    """A URL without its user part, query and fragment: the smoke URL may carry credentials or a token."""
    try:
        parts = urlsplit(match.group(0))
        host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    except ValueError:
        return "<url>"
    return f"{parts.scheme}://{host}{parts.path}"


def rollback_reason(reason: str, evidence: Mapping[str, Any]) -> str:
    """Why a rollout rolled back, naming the gate and its evidence, for the revert commit and the history.

    ``alarm a fired during the bake (gate alarms; alarms: ["a"])``. URLs lose their credentials and
    query; the evidence part is bounded (a deployment's description can be long).
    """
    gate = evidence.get("gate")
    parts = [f"gate {gate}"] if gate else []
    parts += [f"{key}: {json.dumps(value, sort_keys=True, default=str)}" for key, value in evidence.items() if key != "gate" and value not in (None, [], {})]
    if not parts:
        return reason
    details = URL.sub(_bare_url, "; ".join(parts))
    if len(details) > ROLLBACK_EVIDENCE_LIMIT:
        details = details[: ROLLBACK_EVIDENCE_LIMIT - 3] + "..."
    return f"{reason} ({details})"


def apply_decision(record: RolloutRecord, decision: Decision, now: datetime) -> RolloutRecord:
    """The record after ``decision``: new phase/step, timestamps and one history entry."""
    update: dict[str, Any] = {"updated_at": now}
    if decision.pause_reason:
        update.update({"paused": True, "pause_reason": decision.pause_reason, "paused_by_window": decision.pause_by_window})
        update["history"] = [
            *record.history, Transition(at=now, from_phase=record.phase, to_phase=record.phase, reason=decision.reason, evidence=decision.evidence)
        ]
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
        update.update({"rollback_reason": rollback_reason(decision.reason, decision.evidence), "weights": record.live_only})
    if decision.phase == RolloutPhase.PROMOTED and record.phase != RolloutPhase.PROMOTED:
        update["promoted_at"] = now
    return record.model_copy(update=update)


TRAFFIC_STATE_KINDS = (ActionKind.MARK_LIVE, ActionKind.RESTORE_LIVE)
IMAGE_KINDS = (ActionKind.STAGE_IMAGE, ActionKind.REVERT_IMAGE)


def intended_count(record: RolloutRecord, colour: str) -> int:
    """The desired task count of ``colour`` that ``record`` stands for."""
    if colour == record.to_colour:
        staged = record.phase not in (RolloutPhase.SCANNING, *ROLLED_BACK_PHASES)
        return record.live_desired_count if staged else 0
    return 0 if record.phase == RolloutPhase.COMPLETE else record.live_desired_count


def intended_actions(
    record: RolloutRecord, touched: Iterable[ActionKind | tuple[ActionKind, str]], listener: ColourWeights | None = None
) -> tuple[Action, ...]:
    """The idempotent actions that put what a tick touched where ``record`` says it is.

    ``touched`` holds the action kinds the tick carried out, with ``(SCALE_COLOUR, colour)`` for
    scaling (only the colours it scaled are re-asserted: the others may have been scaled by
    auto-scaling since). Order: scale-ups before any weight moves towards them, scale-downs last.
    A tick that only re-recorded weights has the traffic state re-recorded from ``listener`` (the
    listener read back now) as :func:`~reconciler.rollout.live.rendered_weights` decides.
    """
    kinds = {k if isinstance(k, ActionKind) else k[0] for k in touched}
    scaled = sorted({k[1] for k in touched if isinstance(k, tuple)})
    weights = intended_weights(record)
    scale = [Action(ActionKind.SCALE_COLOUR, colour=c, count=intended_count(record, c)) for c in scaled] if record.mode == "blue-green" else []
    actions: list[Action] = [a for a in scale if a.count]
    if record.mode == "blue-green" and ActionKind.SET_WEIGHTS in kinds:
        actions.append(Action(ActionKind.SET_WEIGHTS, weights=weights))
    elif record.mode == "blue-green" and ActionKind.RECORD_WEIGHTS in kinds:
        actions.append(Action(ActionKind.RECORD_WEIGHTS, weights=rendered_weights(record, listener, None)))
    if kinds & set(TRAFFIC_STATE_KINDS):
        if record.phase in PROMOTED_PHASES:
            actions.append(Action(ActionKind.MARK_LIVE))
        else:
            actions.append(Action(ActionKind.RESTORE_LIVE))
            if record.mode == "blue-green" and weights != record.live_only:
                # RESTORE_LIVE records all traffic on the old colour; mid-shift the record says otherwise.
                actions.append(Action(ActionKind.SET_WEIGHTS, weights=weights))
    actions.extend(a for a in scale if not a.count)
    if kinds & set(IMAGE_KINDS):
        unstaged = record.phase in (RolloutPhase.SCANNING, *ROLLED_BACK_PHASES)
        actions.append(Action(ActionKind.REVERT_IMAGE if unstaged else ActionKind.STAGE_IMAGE))
    return tuple(actions)


def _touch(action: Action) -> ActionKind | tuple[ActionKind, str]:
    return (action.kind, action.colour) if action.kind == ActionKind.SCALE_COLOUR and action.colour else action.kind


class RolloutController:
    def __init__(
        self,
        store: RolloutStore,
        observer: RolloutObserver,
        executor: RolloutExecutor,
        scheduler: TickScheduler,
        clock: Callable[[], datetime],
        on_transition: Callable[[RolloutRecord, Transition], None] = lambda record, transition: None,
        max_reassertions: int = 5,
        timings: RolloutTimings = DEFAULT_TIMINGS,
    ):
        self.store = store
        self.observer = observer
        self.executor = executor
        self.scheduler = scheduler
        self.clock = clock
        self.on_transition = on_transition
        # Each re-assertion follows one more move of the record; terminal records do not move, so
        # this bounds only a record that keeps changing under the tick (the next tick picks it up).
        self.max_reassertions = max_reassertions
        self.timings = timings

    def tick(self, rollout_id: str) -> RolloutRecord:
        now = self.clock()
        record = self.store.get(rollout_id)
        if record.phase.terminal:
            # A leftover wake-up or watch of a finished rollout: finish any cleanup its end left, quietly.
            self.store.finish(record)
            return record
        observed = self.observer.observe(record, now)
        decision = decide(record, observed, now, self.timings)
        # The actions are carried out for the record as decided (a revert names why it rolls back);
        # the fence stays on the version read, which ``decided`` still carries.
        decided = apply_decision(record, decision, now)
        touched: list[ActionKind | tuple[ActionKind, str]] = []
        for action in (*decision.actions, *self._rerecord(record, observed, decision)):
            # Fencing: act only while the record is still the one this decision was made from. A
            # worker that observed slowly must not undo what another did meanwhile (an abort, a rollback).
            current = self.store.get(rollout_id)
            if current.version != record.version:
                log.info("rollout moved on while this tick observed; dropping its decision", extra={"rollout_id": rollout_id})
                return self._reassert(rollout_id, record, touched)
            touched.append(_touch(action))
            self.executor.apply(decided, action)
        if touched and self.store.get(rollout_id).version != record.version:
            # The record moved between a version check and an AWS call: the call may have undone it.
            return self._reassert(rollout_id, record, touched)
        new = decided
        if new != record.model_copy(update={"updated_at": now}):
            try:
                new = self.store.put(record, new, clean_up=False)
            except ConflictError:
                log.info("another worker advanced the rollout first", extra={"rollout_id": rollout_id})
                return self._reassert(rollout_id, record, touched)
            if new.history and new.history[-1].at == now:
                self.on_transition(new, new.history[-1])
            # The end is notified first: this cleanup may fail, and a later tick of the finished rollout retries it.
            self.store.finish(new)
        if decision.wake_at is not None and not new.phase.terminal:
            self.scheduler.schedule(rollout_id, decision.wake_at, now)
        elif new.phase == RolloutPhase.ROLLING_BACK or (decision.changes_phase(record) and not new.phase.terminal):
            self.scheduler.schedule(rollout_id, now, now)
        return new

    def _rerecord(self, record: RolloutRecord, observed: Observed, decision: Decision) -> tuple[Action, ...]:
        """Re-record the weights this tick observed when the traffic state says otherwise.

        Whatever resumes a rollout goes on from the listener; a converge renders the traffic state.
        A worker that died between the ALB write and the traffic-state write left them apart.
        """
        listener = observed.listener_weights
        if listener is None or record.mode != "blue-green" or any(a.kind == ActionKind.SET_WEIGHTS for a in decision.actions):
            return ()  # nothing observed, or the tick sets (and so records) the weights itself
        recorded = self.executor.recorded_traffic(record)
        weights = weights_to_record(record, listener, decision.actions, recorded)
        if weights is None:
            return ()
        log.warning(
            "the traffic state says %s but the listener shows %s; re-recording what the listener shows",
            recorded.resolved_weights().model_dump(), listener.model_dump(), extra={"rollout_id": record.rollout_id},
        )
        return (Action(ActionKind.RECORD_WEIGHTS, weights=weights),)

    def _reassert(
        self, rollout_id: str, acted_on: RolloutRecord, touched: Iterable[ActionKind | tuple[ActionKind, str]]
    ) -> RolloutRecord:
        """Put what this tick touched where the newest record says it is; the newest record."""
        kinds = set(touched)
        seen = acted_on.version
        current = self.store.get(rollout_id)
        for _ in range(self.max_reassertions):
            if current.version == seen or not kinds:
                return current
            listener = self.observer.router_for(current).verify_weights() if ActionKind.RECORD_WEIGHTS in kinds and current.mode == "blue-green" else None
            actions = intended_actions(current, kinds, listener)
            log.warning(
                "rollout moved to version %d (%s) while this tick acted on version %d; re-asserting its %s",
                current.version, current.phase.value, acted_on.version, ", ".join(a.kind.value for a in actions) or "state",
                extra={"rollout_id": rollout_id},
            )
            for action in actions:
                self.executor.apply(current, action)
            kinds |= {_touch(a) for a in actions}
            seen = current.version
            current = self.store.get(rollout_id)
        if current.version != seen:
            log.warning(
                "rollout %s kept moving while this tick re-asserted it; its next tick converges it", rollout_id, extra={"rollout_id": rollout_id}
            )
        return current
