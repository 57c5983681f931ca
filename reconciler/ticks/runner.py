"""Rollout ticks off the tick queue: each advances one rollout by one observe-decide-act step.

The tick runtime runs only this, never a converge, so a rollback never waits for a ``pulumi up``.
No tick can stop it:

- a tick whose wake-up was superseded (see :mod:`reconciler.ticks.schedule`) is dropped after one
  conditional write, before the rollout is read or AWS is called;
- a second copy of a tick another task runs (its lease is held) goes back on the queue until the
  lease ends, and is dropped then if that run moved the wake-up on;
- a tick asking for no more delay than SQS applies is due when it arrives, whatever the sender's
  clock said (``delaySeconds``);
- a tick that fails is retried with backoff; on its last allowed attempt the rollout is paused
  with the reason and one notification goes out (the pause, through the rollouts' one helper, as
  ``rollout-tick-failed``), and SQS parks the tick in the tick DLQ;
- a tick that is not a tick, or names no rollout, is dropped with a log line.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from reconciler.adapters.notify import Notifier
from reconciler.clock import Clock, utc_now
from reconciler.errors import ReconcilerError
from reconciler.events import EventKind, Reason, Severity
from reconciler.redact import Redactor
from reconciler.rollout import commands
from reconciler.rollout.model import RolloutRecord
from reconciler.settings import TickSettings
from reconciler.ticks.schedule import CoalescingTickScheduler, TickMessage, WakeWatchdog
from reconciler.wiring import RolloutComponents
from reconciler.worker import Backoff

__all__ = ["TickMessage", "TickRunner", "TickTimings"]

log = logging.getLogger("ecs_gitops.ticks")

TICKS_ACTOR = "ecs-gitops tick runtime"
TICK_FAILED_NOTE = "rollout tick failed"
ERROR_TEXT_LIMIT = 500
MAX_VISIBILITY_SECONDS = 43200  # SQS's longest visibility timeout

_DEFAULTS = TickSettings()


@dataclass(frozen=True)
class TickTimings:
    """How the tick runtime retries, parks and sweeps; from the settings' ``ticks`` section
    (:class:`~reconciler.settings.TickSettings`, where the defaults and their reasons live)."""

    tick_retry: Backoff = field(default_factory=lambda: Backoff.of(_DEFAULTS.retry))
    tick_max_attempts: int = _DEFAULTS.max_attempts
    loop_retry: Backoff = field(default_factory=lambda: Backoff.of(_DEFAULTS.loop_retry))
    sweep_seconds: int = _DEFAULTS.sweep_seconds
    overdue_grace_seconds: int = _DEFAULTS.overdue_grace_seconds
    claim_lease_seconds: int = _DEFAULTS.claim_lease_seconds

    @classmethod
    def from_settings(cls, ticks: TickSettings) -> TickTimings:
        return cls(
            tick_retry=Backoff.of(ticks.retry),
            tick_max_attempts=ticks.max_attempts,
            loop_retry=Backoff.of(ticks.loop_retry),
            sweep_seconds=ticks.sweep_seconds,
            overdue_grace_seconds=ticks.overdue_grace_seconds,
            claim_lease_seconds=ticks.claim_lease_seconds,
        )


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class TickRunner:
    def __init__(
        self,
        rollouts: RolloutComponents,
        sqs: Any,
        *,
        clock: Clock = utc_now,
        timings: TickTimings | None = None,
        notifier: Notifier | None = None,
        redactor: Redactor | None = None,
    ):
        self.rollouts = rollouts
        self.sqs = sqs  # an SQS client for the rollout tick queue
        self.clock = clock
        self.timings = timings or TickTimings()
        self.notifier = notifier
        self.redactor = redactor or Redactor()

    @property
    def wakes(self) -> CoalescingTickScheduler | None:
        """The coalescing scheduler, when the controller schedules through one (token checks need it)."""
        scheduler = self.rollouts.controller.scheduler
        return scheduler if isinstance(scheduler, CoalescingTickScheduler) else None

    # ------------------------------------------------------------------ ticks

    def run_once(self, wait_seconds: int = 0, stop: threading.Event | None = None) -> list[RolloutRecord]:
        """Advance the rollouts whose next tick is due. No tick, however broken, raises out of here.

        Once ``stop`` is set (SIGTERM), the tick in hand is finished and the rest of the batch is
        handed back to the queue at once, for another task.
        """
        advanced = []
        response = self.sqs.receive_message(
            QueueUrl=self.rollouts.tick_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        for message in response.get("Messages", []):
            if stop is not None and stop.is_set():
                self._hide(message["ReceiptHandle"], 0, "could not hand an unstarted rollout tick back to the queue")
                continue
            record = self._tick(message)
            if record is not None:
                advanced.append(record)
        return advanced

    def sweep(self) -> list[str]:
        """Wake every active rollout whose wake-up is lost or missing (the polling fallback)."""
        wakes = self.wakes
        if wakes is None:
            return []
        return WakeWatchdog(self.rollouts.store, wakes).sweep(self.clock())

    def _tick(self, message: dict[str, Any]) -> RolloutRecord | None:
        receipt = message["ReceiptHandle"]
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
        try:
            tick = TickMessage.model_validate_json(message.get("Body", ""))
        except (ValidationError, ValueError, RecursionError) as exc:
            problem = self.redactor.scrub(str(exc))[:ERROR_TEXT_LIMIT]
            log.warning("rollout tick dropped: its body is not a tick", extra={"message_id": message.get("MessageId"), "problem": problem})
            self._delete_tick(receipt)
            return None
        wakes = self.wakes if tick.token else None
        record = None
        try:
            now = self.clock()
            if not tick.due_on_arrival(now):
                # SQS delays stop at 15 minutes; a longer wait is sent on for the rest of its delay.
                if wakes is None:
                    self.rollouts.controller.scheduler.schedule(tick.rollout_id, tick.not_before, now)
                elif wakes.is_current(tick.rollout_id, tick.token or ""):
                    wakes.send(tick.sent_on(), now)
                else:
                    self._stale(tick)
            elif wakes is not None and not (claim := wakes.claim(tick.rollout_id, tick.token or "", now, timedelta(seconds=self.timings.claim_lease_seconds))):
                if claim.leased_by_a_copy(tick.token or "") and claim.seen is not None:
                    # Another copy of this tick runs it (or waits for its retry): come back when its lease ends.
                    wait = max(1, min(MAX_VISIBILITY_SECONDS, math.ceil((claim.seen.at - now).total_seconds())))
                    log.info("rollout tick deferred: another copy of it holds the lease", extra={"rollout_id": tick.rollout_id, "until": claim.seen.at.isoformat()})
                    self._hide(receipt, wait, "could not defer a copy of a running rollout tick")
                    return None
                self._stale(tick)
            elif self.rollouts.store.find(tick.rollout_id) is None:
                log.warning("rollout tick dropped: no such rollout", extra={"rollout_id": tick.rollout_id})
            else:
                log.info("rollout tick", extra={"rollout_id": tick.rollout_id, "cause": tick.cause, "attempt": attempt})
                record = self.rollouts.controller.tick(tick.rollout_id)
                if wakes is not None and record.phase.terminal:
                    wakes.finish(tick.rollout_id, tick.token or "")
        except Exception as exc:  # noqa: BLE001 - one rollout's failure must not stop the others or the runtime
            self._tick_failed(tick, receipt, attempt, exc)
            return None
        self._delete_tick(receipt)
        return record

    @staticmethod
    def _stale(tick: TickMessage) -> None:
        log.info("rollout tick dropped: a newer wake-up replaced it", extra={"rollout_id": tick.rollout_id, "cause": tick.cause})

    def _hide(self, receipt: str, seconds: int, problem: str) -> None:
        try:
            self.sqs.change_message_visibility(QueueUrl=self.rollouts.tick_queue_url, ReceiptHandle=receipt, VisibilityTimeout=seconds)
        except Exception:  # noqa: BLE001 - the queue's own visibility timeout brings it back
            log.warning(problem, exc_info=True)

    def _delete_tick(self, receipt: str) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.rollouts.tick_queue_url, ReceiptHandle=receipt)
        except Exception:  # noqa: BLE001 - a tick delivered twice is harmless (tokens, conditional writes)
            log.warning("could not delete a rollout tick; it comes back and is handled again", exc_info=True)

    def _tick_failed(self, tick: TickMessage, receipt: str, attempt: int, exc: Exception) -> None:
        delay = self.timings.tick_retry.delay(attempt)
        last = attempt >= self.timings.tick_max_attempts
        log.error(
            "rollout tick failed; " + ("parking it in the tick DLQ" if last else f"retrying in {delay}s"),
            exc_info=exc, extra={"rollout_id": tick.rollout_id, "attempt": attempt, "max_attempts": self.timings.tick_max_attempts},
        )
        try:
            self.sqs.change_message_visibility(QueueUrl=self.rollouts.tick_queue_url, ReceiptHandle=receipt, VisibilityTimeout=delay)
        except Exception:  # noqa: BLE001 - the queue's own visibility timeout then spaces the retry
            log.warning("could not delay the failed rollout tick's retry", exc_info=True, extra={"rollout_id": tick.rollout_id})
        wakes = self.wakes if tick.token else None
        if wakes is not None:
            try:
                # The watchdog must not replace a tick that waits for its retry (its receive count is what parks it).
                comes_back = self.clock() + timedelta(seconds=delay)
                if last:
                    wakes.park(tick.rollout_id, tick.token or "", comes_back)
                else:
                    wakes.retry_at(tick.rollout_id, tick.token or "", comes_back)
            except Exception:  # noqa: BLE001 - at worst the watchdog wakes the rollout early
                log.warning("could not record the failed tick's retry on its wake-up", exc_info=True, extra={"rollout_id": tick.rollout_id})
        if last:
            self._park(tick.rollout_id, attempt, exc)

    def _park(self, rollout_id: str, attempts: int, exc: Exception) -> None:
        """The tick's last attempt failed: pause the rollout with the reason and notify once.

        The one notification is the pause, through the rollouts' one helper (the controller's
        ``on_transition``), as a ``rollout-tick-failed`` with the reason and attempts in its
        evidence. Only when no pause landed does the runtime publish the tick failure itself.
        """
        error = self.redactor.scrub(_error_text(exc))[:ERROR_TEXT_LIMIT]
        record = None
        try:
            record = self.rollouts.store.find(rollout_id)
            if record is not None and record.paused and TICK_FAILED_NOTE in (record.pause_reason or ""):
                return  # another copy of this tick already paused it and told people
            if record is not None and not record.phase.terminal:
                action = f"ecs-gitops rollout resume --environment {record.environment} --service {record.service} --by NAME"
                note = f"{TICK_FAILED_NOTE} {attempts} times ({error}); its tick is parked in the tick DLQ. Fix the cause, then run: {action}"
                commands.pause(
                    self.rollouts.store, rollout_id, by=TICKS_ACTOR, reason=note, now=self.clock(),
                    on_transition=self.rollouts.controller.on_transition,
                    evidence={"reason": Reason.TICK_FAILED.value, "attempts": attempts, "error": error},
                )
                return  # the pause went out through the helper
        except ReconcilerError as marked:
            log.warning("could not pause the rollout whose tick failed", extra={"rollout_id": rollout_id, "problem": str(marked)})
        except Exception:  # noqa: BLE001 - the notification below still tells people
            log.warning("could not pause the rollout whose tick failed", exc_info=True, extra={"rollout_id": rollout_id})
        if record is not None and record.phase.terminal:
            return
        environment = record.environment if record else "unknown"
        service = record.service if record else "unknown"
        body = self.redactor.scrub_value(
            {
                "rolloutId": rollout_id, "stack": record.stack if record else None, "service": service,
                "phase": record.phase.value if record else None, "attempts": attempts, "reason": Reason.TICK_FAILED.value,
                "error": error, "paused": bool(record and record.paused),
                "action": (record.pause_reason if record and record.paused else "fix the cause, then move the tick back from the tick DLQ"),
            }
        )
        if self.notifier is None:
            return
        try:
            self.notifier.publish(
                kind=EventKind.ROLLOUT_TICK_FAILED, severity=Severity.ERROR, environment=environment,
                subject=f"[{environment}] {service} {EventKind.ROLLOUT_TICK_FAILED.value}: {Reason.TICK_FAILED.value} after {attempts} attempts",
                body=body,
            )
        except Exception:  # noqa: BLE001 - the rollout is paused and the error logged; the runtime goes on
            log.error("could not notify the failed rollout tick", exc_info=True, extra={"rollout_id": rollout_id})
