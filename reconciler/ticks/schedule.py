"""Coalesced rollout wake-ups: one pending wake-up per rollout, kept in the rollout table.

Every wake-up of a rollout (its own next poll, a CLI action, an alarm or deployment event, the
watchdog) goes through :meth:`CoalescingTickScheduler.schedule`. The rollout table holds one item
``pk = wake#<rolloutId>`` naming the one tick that may run next: its ``token`` and due time ``at``.
Each tick on the queue carries the token it was sent with; a tick whose token is no longer the
item's is stale and is dropped by the tick runtime with one conditional write, before it reads
the rollout or calls AWS. So whatever is sent, at most one chain of ticks is live per rollout.

- A wake-up due no later than the pending one (and that one not overdue) adds nothing: coalesced.
- An earlier wake-up (an event: ``at = now``) replaces a later pending poll: new token, new message.
- The tick runtime *claims* its tick before it runs it: a lease, ``state = claimed, at = now +
  lease``, conditional on the token and on the item being pending or its lease run out. So two
  copies of one tick (SQS delivers at least once, and again after the visibility timeout of a slow
  tick) never run the rollout at once: the second finds the lease held and waits for it to end.
  The lease is at least the tick queue's visibility timeout, so a copy that comes back because the
  first one crashed finds the lease ended and runs. The controller's own next wake-up, or one a
  person or an event asked for meanwhile, replaces a claimed item; a pending one asked for
  meanwhile is kept (the running tick decided before it).
- Clocks: the sender's clock (an operator's laptop runs the CLI) may be off. Only differences of
  one clock are trusted: a tick carries the delay it was asked for (``delaySeconds``), which SQS
  applies, so the tick runtime never re-queues a due-now tick by the sender's skew; the wake item
  keeps that delay too, and a pending wake-up further ahead of the runtime's clock than its own
  delay plus the grace is taken as skewed and rescued.
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
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from reconciler.rollout.controller import SQS_MAX_DELAY_SECONDS
from reconciler.rollout.store import RolloutStore
from reconciler.settings import TickSettings

log = logging.getLogger("ecs_gitops.ticks")

WAKE_PREFIX = "wake#"
CAUSE_LIMIT = 200
# The longest wait one tick may ask for (the rollout spec's longest wait, a day, with room).
DELAY_LIMIT_SECONDS = 7 * 24 * 3600
_TICK_DEFAULTS = TickSettings()


class TickMessage(BaseModel):
    """A rollout tick on the tick queue. ``token`` names the wake-up it was sent for (absent on ticks
    from :class:`~reconciler.rollout.controller.SqsTickScheduler`); ``cause`` is for the logs.

    ``delaySeconds``: how long after it was sent the tick is due, measured on the sender's clock
    alone (``at - now``), so the sender's skew is not in it. SQS holds a message for at most 900 s:
    a tick asking for no more is due when it arrives; a longer one is sent on for the rest.
    ``notBefore`` is the sender's absolute time, for the logs (and for ticks without a delay).
    """

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    rollout_id: str = Field(min_length=1, max_length=200)
    not_before: AwareDatetime
    token: str | None = Field(default=None, min_length=1, max_length=100)
    cause: str | None = Field(default=None, max_length=CAUSE_LIMIT)
    delay_seconds: int | None = Field(default=None, ge=0, le=DELAY_LIMIT_SECONDS)

    def body(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)

    def queue_delay(self, now: datetime) -> int:
        """The ``DelaySeconds`` to send this tick with."""
        wanted = self.delay_seconds if self.delay_seconds is not None else int((self.not_before - now).total_seconds())
        return max(0, min(SQS_MAX_DELAY_SECONDS, wanted))

    def due_on_arrival(self, now: datetime) -> bool:
        """Whether the tick is due now that it arrived: SQS held it for all of its delay (or, for a tick
        without one, its ``notBefore`` has passed on this clock)."""
        if self.delay_seconds is not None:
            return self.delay_seconds <= SQS_MAX_DELAY_SECONDS
        return self.not_before <= now

    def sent_on(self) -> TickMessage:
        """The same tick for the next leg of a wait longer than SQS holds a message."""
        if self.delay_seconds is None:
            return self
        return self.model_copy(update={"delay_seconds": max(0, self.delay_seconds - SQS_MAX_DELAY_SECONDS)})


class WakeState(StrEnum):
    PENDING = "pending"  # its tick is on the queue (or due to be)
    CLAIMED = "claimed"  # the tick runtime is running its tick (or waits to retry it)
    PARKED = "parked"  # its tick failed its last attempt and sits in the tick DLQ


@dataclass(frozen=True)
class Wake:
    """The ``wake#<rolloutId>`` item: which tick may run next, and when (for a claimed one: until
    when its lease runs). ``delay_seconds``: the delay the pending wake-up was asked for (None on
    items written before it was kept, and on claimed ones)."""

    rollout_id: str
    token: str
    at: datetime
    state: WakeState
    delay_seconds: int | None = None


@dataclass(frozen=True)
class Claim:
    """What :meth:`CoalescingTickScheduler.claim` found: won, or lost to ``seen`` (the item as it stood; None: gone).

    True when won, so ``if scheduler.claim(...)`` reads as it should.
    """

    won: bool
    seen: Wake | None = None

    def __bool__(self) -> bool:
        return self.won

    def leased_by_a_copy(self, token: str) -> bool:
        """Lost to another copy of the same tick, which holds its lease (or waits for its retry)."""
        return not self.won and self.seen is not None and self.seen.token == token


def coalesces(pending: Wake | None, at: datetime, now: datetime, grace: timedelta) -> bool:
    """Whether a wake-up at ``at`` adds nothing to ``pending``: that one is queued, due no later, and not lost."""
    return pending is not None and pending.state == WakeState.PENDING and pending.at <= at and now <= pending.at + grace


def needs_rescue(wake: Wake | None, now: datetime, grace: timedelta) -> bool:
    """Whether an active rollout with this wake-up may never tick again unless woken: none, overdue
    (a claimed one: its lease ran out long ago), or a pending one further ahead than it can be.

    A pending wake-up asked for ``d`` seconds ahead is due at most ``d`` after now on any clock that
    agrees with the sender's; one further ahead than that plus the grace was written on a clock that
    runs ahead (an operator's laptop), and its tick, if lost, would not be missed until the sender's
    time. Without a known delay the bound is SQS's longest delay.
    """
    if wake is None:
        return True
    if wake.state == WakeState.PARKED:
        return False
    if wake.at + grace < now:
        return True
    if wake.state != WakeState.PENDING:
        return False
    ahead = wake.delay_seconds if wake.delay_seconds is not None else SQS_MAX_DELAY_SECONDS
    return wake.at > now + timedelta(seconds=ahead) + grace


def _stamp(at: datetime) -> str:
    """``at`` as the item keeps it: UTC, microseconds always, so stamps compare as strings in a condition."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


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
        overdue_grace_seconds: int = _TICK_DEFAULTS.overdue_grace_seconds,
        claim_lease_seconds: int = _TICK_DEFAULTS.claim_lease_seconds,
        new_token: Callable[[], str] = lambda: uuid.uuid4().hex,
        max_races: int = 5,
    ):
        self._ddb = dynamodb_client
        self._table = table_name
        self._sqs = sqs_client
        self._url = queue_url
        self.grace = timedelta(seconds=overdue_grace_seconds)
        self.lease = timedelta(seconds=claim_lease_seconds)
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
            # at - now: both on the sender's clock, so its skew cancels out (see the module's docstring).
            delay = max(0, min(DELAY_LIMIT_SECONDS, int((at - now).total_seconds())))
            try:
                self._put(Wake(rollout_id, token, at, WakeState.PENDING, delay), current)
            except WakeMoved:
                continue
            tick = TickMessage(rollout_id=rollout_id, not_before=at, token=token, cause=cause[:CAUSE_LIMIT] if cause else None, delay_seconds=delay)
            self.send(tick, now)
            return
        # Others kept moving the item: each of them wrote a wake-up of their own, and that one stands.
        log.warning("the wake-up of rollout %s kept moving while scheduling; the newest one stands", rollout_id, extra={"rollout_id": rollout_id})

    # ------------------------------------------------------------------ what the tick runtime uses

    def wake(self, rollout_id: str) -> Wake | None:
        item = self._ddb.get_item(TableName=self._table, Key=self._key(rollout_id), ConsistentRead=True).get("Item")
        return self._wake_of(rollout_id, item) if item else None

    @staticmethod
    def _wake_of(rollout_id: str, item: dict[str, Any]) -> Wake:
        delay = int(item["delay"]["N"]) if "delay" in item else None
        return Wake(rollout_id, item["token"]["S"], datetime.fromisoformat(item["at"]["S"]), WakeState(item["state"]["S"]), delay)

    def is_current(self, rollout_id: str, token: str) -> bool:
        wake = self.wake(rollout_id)
        return wake is not None and wake.token == token

    def send(self, tick: TickMessage, now: datetime) -> None:
        """Put ``tick`` on the queue, delayed by its ``delaySeconds`` (SQS delays stop at 15 minutes)."""
        self._sqs.send_message(QueueUrl=self._url, MessageBody=tick.body(), DelaySeconds=tick.queue_delay(now))

    def claim(self, rollout_id: str, token: str, now: datetime, lease: timedelta | None = None) -> Claim:
        """Take the lease on the wake-up ``token`` until ``now + lease`` to run its tick.

        Lost when it was superseded, or when another copy of the tick holds an unexpired lease (the
        :class:`Claim` tells them apart, from the item the failed condition returns: one write, no
        read). A tick waiting for its retry (:meth:`retry_at`) or parked is claimed again once its
        time has come.
        """
        try:
            self._ddb.update_item(
                TableName=self._table, Key=self._key(rollout_id),
                UpdateExpression="SET #state = :claimed, #at = :until REMOVE #delay",
                ConditionExpression="#token = :token AND (#state = :pending OR #at <= :now)",
                ExpressionAttributeNames={"#state": "state", "#at": "at", "#token": "token", "#delay": "delay"},
                ExpressionAttributeValues={
                    ":claimed": {"S": WakeState.CLAIMED.value}, ":pending": {"S": WakeState.PENDING.value},
                    ":until": {"S": _stamp(now + (self.lease if lease is None else lease))},
                    ":now": {"S": _stamp(now)}, ":token": {"S": token},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                item = exc.response.get("Item")
                return Claim(False, self._wake_of(rollout_id, item) if item else None)
            raise
        return Claim(True)

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
                ExpressionAttributeValues={":state": {"S": state.value}, ":at": {"S": _stamp(at)}, ":token": {"S": token}},
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
        item = {**cls._key(wake.rollout_id), "token": {"S": wake.token}, "at": {"S": _stamp(wake.at)}, "state": {"S": wake.state.value}}
        if wake.delay_seconds is not None:
            item["delay"] = {"N": str(wake.delay_seconds)}
        return item


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
                cause = "watchdog: no wake-up pending" if wake is None else f"watchdog: wake-up due {wake.at.isoformat()} is overdue or further ahead than asked"
                log.warning("rollout had no live wake-up; waking it", extra={"rollout_id": rollout_id, "cause": cause})
                self.scheduler.schedule(rollout_id, now, now, cause=cause)
                woken.append(rollout_id)
            except Exception:  # noqa: BLE001 - the next sweep tries again; the others go on
                log.warning("could not check the wake-up of a rollout", exc_info=True, extra={"rollout_id": rollout_id})
        return woken

