"""Rollout notifications: every transition goes out through the one helper here, scrubbed.

The controller's decisions and a person's controls (``promote``, ``abort``, ``pause``,
``resume``, and the abort of a rollout superseded by a newer image) all call the same
callable once for the transition they wrote, so a person watching the topic sees each move,
who made it (``by``) and why (``reason``). A notification that cannot be published is logged
and dropped: the record and its history already hold the transition, and a notification
outage must never stop a rollout's safety loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from reconciler.adapters.notify import Notifier
from reconciler.events import EventKind, Reason, Severity
from reconciler.redact import Redactor
from reconciler.rollout.model import RolloutPhase, RolloutRecord, Transition

log = logging.getLogger("ecs_gitops.rollout")

OnTransition = Callable[[RolloutRecord, Transition], None]
CONTROLLER_ACTOR = "ecs-gitops rollout controller"

ROLLOUT_KINDS = {
    RolloutPhase.SCANNING: EventKind.ROLLOUT_STARTED,
    RolloutPhase.PROMOTED: EventKind.ROLLOUT_PROMOTED,
    RolloutPhase.COMPLETE: EventKind.ROLLOUT_COMPLETE,
    RolloutPhase.ROLLING_BACK: EventKind.ROLLOUT_ROLLING_BACK,
    RolloutPhase.ROLLED_BACK: EventKind.ROLLOUT_ROLLED_BACK,
}
ROLLBACK_PHASES = (RolloutPhase.ROLLING_BACK, RolloutPhase.ROLLED_BACK)


def transition_kind(record: RolloutRecord, transition: Transition) -> EventKind:
    """The notification kind (SNS ``kind`` attribute) of ``transition``, which ``record`` holds last."""
    if transition.action == "pause":
        # The tick runtime pauses a rollout whose tick failed its last attempt: that is the news.
        return EventKind.ROLLOUT_TICK_FAILED if transition.evidence.get("reason") == Reason.TICK_FAILED.value else EventKind.ROLLOUT_PAUSED
    if transition.action == "resume":
        return EventKind.ROLLOUT_RESUMED
    if transition.action is None and transition.evidence.get("reason") == Reason.VERIFY_UNCHECKED.value:
        return EventKind.ROLLOUT_VERIFY_UNCHECKED
    if transition.action is None and transition.from_phase == transition.to_phase:
        # The controller writes a same-phase entry only to hold for a deny window or let go of it.
        return EventKind.ROLLOUT_PAUSED if record.paused else EventKind.ROLLOUT_RESUMED
    return ROLLOUT_KINDS.get(transition.to_phase, EventKind.ROLLOUT_PROGRESS)


def _severity(kind: EventKind, transition: Transition) -> Severity:
    if transition.to_phase in ROLLBACK_PHASES or kind in (EventKind.ROLLOUT_TICK_FAILED, EventKind.ROLLOUT_VERIFY_UNCHECKED):
        return Severity.ERROR
    return Severity.WARNING if kind == EventKind.ROLLOUT_PAUSED else Severity.INFO


def _subject(record: RolloutRecord, transition: Transition, kind: EventKind) -> str:
    subject = f"[{record.environment}] {record.service} {kind.value}: {transition.to_phase.value}"
    if transition.action == "abort" and record.superseded_by:
        return f"{subject}, superseded by a newer image"
    return f"{subject}, by {transition.by}" if transition.by else subject


def rollout_notifier(notifier: Notifier | None, redactor: Redactor) -> OnTransition:
    """The one callable every rollout transition goes out through: logged, and published when there is a notifier."""

    def notify(record: RolloutRecord, transition: Transition) -> None:
        kind = transition_kind(record, transition)
        body = redactor.scrub_value(
            {
                "stack": record.stack,
                "service": record.service,
                "rolloutId": record.rollout_id,
                "phase": transition.to_phase.value,
                "from": transition.from_phase.value if transition.from_phase else None,
                "by": transition.by or CONTROLLER_ACTOR,
                "action": transition.action,
                "reason": transition.reason,
                "at": transition.at.isoformat(),
                "evidence": transition.evidence,
                "paused": record.paused,
                "supersededBy": record.superseded_by if transition.action == "abort" else None,
                "weights": record.weights.model_dump(),
                "newImage": record.new_image.reference,
                "oldImage": record.old_image.reference,
            }
        )
        log.info("rollout transition", extra=body)
        if notifier is None:
            return
        try:
            notifier.publish(
                kind=kind, severity=_severity(kind, transition), environment=record.environment,
                subject=redactor.scrub(_subject(record, transition, kind)), body=body,
            )
        except Exception:  # noqa: BLE001 - the history holds the transition; the rollout must go on
            log.error(
                "could not publish the rollout notification; the transition is in the rollout's history",
                exc_info=True, extra={"rollout_id": record.rollout_id, "kind": kind.value},
            )

    return notify
