"""Coalesced rollout wake-ups: one pending wake-up per rollout, kept in the rollout table.

Every wake-up of a rollout (its own next poll, a CLI action, an alarm or deployment event, the
watchdog) goes through :meth:`CoalescingTickScheduler.schedule`. The rollout table holds one item
``pk = wake#<rolloutId>`` naming the one tick that may run next: its ``token`` and due time ``at``.
Each tick on the queue carries the token it was sent with; a tick whose token is no longer the
item's is stale and is dropped by the tick runtime with one conditional write, before it reads
the rollout or calls AWS. So whatever is sent, at most one chain of ticks is live per rollout.

- A wake-up due no later than the pending one (and that one not overdue) adds nothing: coalesced.
- An earlier wake-up (an event: ``at = now``) replaces a later pending poll: new token, new message.
- The tick runtime *claims* its tick (conditional on the token) before it runs it, so the
  controller's own next wake-up, or one a person or an event asked for meanwhile, replaces a
  claimed item; a pending one asked for meanwhile is kept (the running tick decided before it).
- The item moves only by conditional writes on the token it was read with; a lost race is re-read.
- Nothing gets stuck: the record is written before the message is sent, so a crash in between
  leaves a pending item with no message. A pending item overdue by more than the grace is taken as
  lost and replaced by the next wake-up, and the tick runtime's :class:`WakeWatchdog` wakes every
  active rollout whose wake-up is overdue, or that has none (the polling fallback).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from reconciler.rollout.controller import SQS_MAX_DELAY_SECONDS
from reconciler.rollout.store import RolloutStore

log = logging.getLogger("ecs_gitops.ticks")

WAKE_PREFIX = "wake#"
CAUSE_LIMIT = 200


class TickMessage(BaseModel):
    """A rollout tick on the tick queue. ``token`` names the wake-up it was sent for (absent on ticks
    from :class:`~reconciler.rollout.controller.SqsTickScheduler`); ``cause`` is for the logs."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    rollout_id: str = Field(min_length=1, max_length=200)
    not_before: AwareDatetime
    token: str | None = Field(default=None, min_length=1, max_length=100)
    cause: str | None = Field(default=None, max_length=CAUSE_LIMIT)

    def body(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


class WakeState(StrEnum):
    PENDING = "pending"  # its tick is on the queue (or due to be)
    CLAIMED = "claimed"  # the tick runtime is running its tick (or waits to retry it)
    PARKED = "parked"  # its tick failed its last attempt and sits in the tick DLQ


@dataclass(frozen=True)
class Wake:
    """The ``wake#<rolloutId>`` item: which tick may run next, and when."""

    rollout_id: str
    token: str
    at: datetime
    state: WakeState


def coalesces(pending: Wake | None, at: datetime, now: datetime, grace: timedelta) -> bool:
    """Whether a wake-up at ``at`` adds nothing to ``pending``: that one is queued, due no later, and not lost."""
    return pending is not None and pending.state == WakeState.PENDING and pending.at <= at and now <= pending.at + grace


def needs_rescue(wake: Wake | None, now: datetime, grace: timedelta) -> bool:
    """Whether an active rollout with this wake-up may never tick again unless woken: none, or overdue."""
    if wake is None:
        return True
    return wake.state != WakeState.PARKED and wake.at + grace < now


class WakeMoved(Exception):
    """The wake item changed between the read and the conditional write."""


class CoalescingTickScheduler:
    """A :class:`~reconciler.rollout.controller.TickScheduler` that keeps one pending wake-up per rollout."""

    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        sqs_client: Any,
        queue_url: str,
        *,
        overdue_grace_seconds: int = 120,
        new_token: Callable[[], str] = lambda: uuid.uuid4().hex,
        max_races: int = 5,
    ):
        self._ddb = dynamodb_client
        self._table = table_name
        self._sqs = sqs_client
        self._url = queue_url
        self.grace = timedelta(seconds=overdue_grace_seconds)
        self._new_token = new_token
        self._max_races = max_races

    # ------------------------------------------------------------------ the TickScheduler protocol

    def schedule(self, rollout_id: str, at: datetime, now: datetime, cause: str | None = None) -> None:
        for _ in range(self._max_races):
            current = self.wake(rollout_id)
            if current is not None and coalesces(current, at, now, self.grace):
                log.debug("wake-up coalesced", extra={"rollout_id": rollout_id, "at": at.isoformat(), "pending_at": current.at.isoformat()})
                return
            token = self._new_token()
            try:
                self._put(Wake(rollout_id, token, at, WakeState.PENDING), current)
            except WakeMoved:
                continue
            self.send(TickMessage(rollout_id=rollout_id, not_before=at, token=token, cause=cause[:CAUSE_LIMIT] if cause else None), now)
            return
        # Others kept moving the item: each of them wrote a wake-up of their own, and that one stands.
        log.warning("the wake-up of rollout %s kept moving while scheduling; the newest one stands", rollout_id, extra={"rollout_id": rollout_id})

    # ------------------------------------------------------------------ what the tick runtime uses

    def wake(self, rollout_id: str) -> Wake | None:
        item = self._ddb.get_item(TableName=self._table, Key=self._key(rollout_id), ConsistentRead=True).get("Item")
        if not item:
            return None
        return Wake(rollout_id, item["token"]["S"], datetime.fromisoformat(item["at"]["S"]), WakeState(item["state"]["S"]))

    def is_current(self, rollout_id: str, token: str) -> bool:
        wake = self.wake(rollout_id)
        return wake is not None and wake.token == token

    def send(self, tick: TickMessage, now: datetime) -> None:
        """Put ``tick`` on the queue, delayed until its ``notBefore`` (SQS delays stop at 15 minutes)."""
        delay = max(0, min(SQS_MAX_DELAY_SECONDS, int((tick.not_before - now).total_seconds())))
        self._sqs.send_message(QueueUrl=self._url, MessageBody=tick.body(), DelaySeconds=delay)

    def claim(self, rollout_id: str, token: str, now: datetime) -> bool:
        """Mark the wake-up ``token`` as running (due time: now); False when it was superseded."""
        return self._update(rollout_id, token, WakeState.CLAIMED, now)

    def retry_at(self, rollout_id: str, token: str, at: datetime) -> bool:
        """The claimed tick failed and comes back at ``at``: the watchdog leaves it alone until then."""
        return self._update(rollout_id, token, WakeState.CLAIMED, at)

    def park(self, rollout_id: str, token: str, at: datetime) -> bool:
        """The tick failed its last attempt and sits in the DLQ: the watchdog no longer wakes the rollout."""
        return self._update(rollout_id, token, WakeState.PARKED, at)

    def finish(self, rollout_id: str, token: str) -> None:
        """The rollout ended: drop its wake item, unless a newer wake-up replaced it."""
        try:
            self._ddb.delete_item(
                TableName=self._table, Key=self._key(rollout_id), ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"}, ExpressionAttributeValues={":token": {"S": token}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # ------------------------------------------------------------------ conditional writes

    def _put(self, wake: Wake, seen: Wake | None) -> None:
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if seen is None
            else {
                "ConditionExpression": "#token = :seen",
                "ExpressionAttributeNames": {"#token": "token"},
                "ExpressionAttributeValues": {":seen": {"S": seen.token}},
            }
        )
        try:
            self._ddb.put_item(TableName=self._table, Item=self._item(wake), **condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise WakeMoved() from None
            raise

    def _update(self, rollout_id: str, token: str, state: WakeState, at: datetime) -> bool:
        try:
            self._ddb.update_item(
                TableName=self._table, Key=self._key(rollout_id),
                UpdateExpression="SET #state = :state, #at = :at",
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#state": "state", "#at": "at", "#token": "token"},
                ExpressionAttributeValues={":state": {"S": state.value}, ":at": {"S": at.isoformat()}, ":token": {"S": token}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    @staticmethod
    def _key(rollout_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"{WAKE_PREFIX}{rollout_id}"}}

    @classmethod
    def _item(cls, wake: Wake) -> dict[str, Any]:
        return {**cls._key(wake.rollout_id), "token": {"S": wake.token}, "at": {"S": wake.at.isoformat()}, "state": {"S": wake.state.value}}


class WakeWatchdog:
    """Wakes every active rollout whose wake-up is lost (overdue by more than the grace) or missing.

    This is the polling fallback behind the event wake-ups and the guard against a crash between
    writing a wake item and sending its message. A parked rollout (its tick in the DLQ, the rollout
    paused for a person) is left alone, as is a pointer that names a finished rollout.
    """

    def __init__(self, store: RolloutStore, scheduler: CoalescingTickScheduler):
        self.store = store
        self.scheduler = scheduler

    def sweep(self, now: datetime, active: Iterable[str] | None = None) -> list[str]:
        """The rollouts woken; one rollout that cannot be looked at does not stop the others."""
        woken = []
        for rollout_id in self.store.active_ids() if active is None else active:
            try:
                wake = self.scheduler.wake(rollout_id)
                if not needs_rescue(wake, now, self.scheduler.grace):
                    continue
                record = self.store.find(rollout_id)
                if record is None or record.phase.terminal:
                    continue
                cause = "watchdog: no wake-up pending" if wake is None else f"watchdog: wake-up due {wake.at.isoformat()} is overdue"
                log.warning("rollout had no live wake-up; waking it", extra={"rollout_id": rollout_id, "cause": cause})
                self.scheduler.schedule(rollout_id, now, now, cause=cause)
                woken.append(rollout_id)
            except Exception:  # noqa: BLE001 - the next sweep tries again; the others go on
                log.warning("could not check the wake-up of a rollout", exc_info=True, extra={"rollout_id": rollout_id})
        return woken

