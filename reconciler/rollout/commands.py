"""Starting a rollout and the manual controls: status, promote, abort, pause, resume.

Every control is a conditional write on the record's version, retried on conflict, so it is
safe in the middle of any step; the next tick acts on it. Each control records who acted
(``by``) on the transition it writes and hands that transition, once the write has landed, to
``on_transition``: the same callable the controller notifies through
(:func:`reconciler.rollout.notify.rollout_notifier`), so a person's move is published like the
controller's. A new image for a service whose
rollout is still running supersedes it: the running one is aborted (traffic back on the live
colour in one call) and the new one starts from its scan gate. Queueing instead would finish
shifting customers onto an image that git no longer wants, only to replace it right after.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from desired_state.schema import ImageRef, RolloutSpec
from desired_state.traffic import ColourWeights, TrafficState, other_colour
from reconciler.errors import ConflictError, ReconcilerError
from reconciler.rollout.model import OperatorAction, RolloutPhase, RolloutRecord, RolloutResources, Transition
from reconciler.rollout.notify import OnTransition
from reconciler.rollout.store import RolloutStore


class RolloutBusyError(ReconcilerError):
    """The service's previous rollout is still rolling back; try the new one again shortly."""


def resources_from_outputs(outputs: Mapping[str, Any], service: str, health_path: str, test_port: int, suffix: str) -> RolloutResources:
    """The rollout's AWS resources from the stack outputs the program exports."""
    target_groups = outputs["targetGroupArns"][service]
    listeners = outputs["listenerArns"]
    live_listener = listeners.get("https") or listeners["http"]
    scheme = "https" if "https" in listeners else "http"
    return RolloutResources(
        cluster=outputs["clusterName"],
        ecs_services={colour: f"svc-{service}-{colour}-{suffix}" for colour in ("blue", "green")},
        target_groups=dict(target_groups),
        listener_arn=live_listener,
        rule_arn=outputs.get("listenerRuleArns", {}).get(f"{service}-live"),
        test_url=f"{scheme}://{outputs['albDnsName']}:{test_port}",
        health_path=health_path,
        repository=f"ecr-{service}-{suffix}",
        colour_alarms={colour: list(names) for colour, names in (outputs.get("alarmNames", {}).get(service) or {}).items()},
    )


def start_rollout(
    store: RolloutStore,
    *,
    stack: str,
    environment: str,
    service: str,
    new_image: ImageRef,
    traffic: TrafficState,
    desired_image: ImageRef,
    spec: RolloutSpec,
    resources: RolloutResources,
    live_desired_count: int,
    now: datetime,
    by: str,
    mode: str = "blue-green",
    on_transition: OnTransition | None = None,
) -> RolloutRecord:
    """Create the rollout record (scan gate first), superseding a running rollout of the same service.

    The superseded rollout's abort goes to ``on_transition``; the start itself is reported as the
    image job's outcome."""
    # The id follows from what is rolled out, so a retried start (same push) names the same rollout.
    rollout_id = hashlib.sha256(f"{stack}|{service}|{new_image.digest or new_image.tag}".encode()).hexdigest()[:32]
    earlier = store.find(rollout_id)
    if earlier is not None:
        return earlier  # this very image was already rolled out (or is being): nothing new to start
    running = store.active(stack, service)
    if running is not None and running.phase != RolloutPhase.ROLLING_BACK:
        abort(
            store, running.rollout_id, by=by, reason=f"superseded by rollout {rollout_id} of {new_image.reference}", now=now,
            superseded_by=rollout_id, on_transition=on_transition,
        )
    if mode == "rolling":
        # No colours: ECS replaces the tasks in place.
        from_colour = to_colour = "rolling"
        old_image, weights = desired_image, ColourWeights(blue=100, green=0)
    else:
        current = traffic.of(service)
        from_colour, to_colour = current.live_colour, other_colour(current.live_colour)
        old_image, weights = current.live_image or desired_image, current.resolved_weights()
    record = RolloutRecord(
        rollout_id=rollout_id,
        mode=mode,  # type: ignore[arg-type]
        stack=stack,
        environment=environment,
        service=service,
        phase=RolloutPhase.SCANNING,
        from_colour=from_colour,
        to_colour=to_colour,
        old_image=old_image,
        new_image=new_image,
        spec=spec,
        resources=resources,
        live_desired_count=live_desired_count,
        weights=weights,
        phase_started_at=now,
        created_at=now,
        updated_at=now,
        history=[Transition(at=now, from_phase=None, to_phase=RolloutPhase.SCANNING, reason=f"started by {by} for {new_image.reference}", by=by)],
    )
    for _ in range(5):
        try:
            return store.create(record)
        except ConflictError:
            # The aborted rollout still holds the active pointer until it finishes rolling back.
            running = store.active(stack, service)
            if running is None:
                continue
            raise RolloutBusyError(
                f"rollout {running.rollout_id} of {service} is still {running.phase.value}; the new rollout starts once it has rolled back"
            ) from None
    raise ReconcilerError(f"could not start a rollout of {service} on {stack}: the active rollout kept changing")


def _control(
    store: RolloutStore,
    rollout_id: str,
    change: Callable[[RolloutRecord], RolloutRecord],
    on_transition: OnTransition | None,
    attempts: int = 5,
) -> RolloutRecord:
    for _ in range(attempts):
        record = store.get(rollout_id)
        if record.phase.terminal:
            raise ReconcilerError(f"rollout {rollout_id} already finished ({record.phase.value})")
        try:
            written = store.put(record, change(record))
        except ConflictError:
            continue
        # Only a write that landed is news, and exactly once: a retried conflict wrote nothing.
        if on_transition is not None:
            on_transition(written, written.history[-1])
        return written
    raise ReconcilerError(f"rollout {rollout_id} kept changing; try again")


def _note(
    record: RolloutRecord, now: datetime, reason: str, *, by: str, action: OperatorAction, to_phase: RolloutPhase | None = None,
    evidence: dict[str, Any] | None = None,
) -> list[Transition]:
    transition = Transition(
        at=now, from_phase=record.phase, to_phase=to_phase or record.phase, reason=reason, by=by, action=action, evidence=evidence or {},
    )
    return [*record.history, transition]


def pause(
    store: RolloutStore, rollout_id: str, *, by: str, reason: str, now: datetime, on_transition: OnTransition | None = None,
    evidence: dict[str, Any] | None = None,
) -> RolloutRecord:
    """``evidence``: what the pause is based on, kept in the history (the tick runtime's: a tick failure)."""
    # An operator's pause is theirs to lift: it must not resume when a change window opens.
    return _control(
        store, rollout_id,
        lambda r: r.model_copy(update={
            "paused": True, "paused_by_window": False, "pause_reason": f"{reason} ({by})", "updated_at": now,
            "history": _note(r, now, f"paused by {by}: {reason}", by=by, action="pause", evidence=evidence),
        }),
        on_transition,
    )


def resume(store: RolloutStore, rollout_id: str, *, by: str, now: datetime, on_transition: OnTransition | None = None) -> RolloutRecord:
    return _control(
        store, rollout_id,
        lambda r: r.model_copy(update={
            "paused": False, "pause_reason": None, "paused_by_window": False, "updated_at": now,
            "history": _note(r, now, f"resumed by {by}", by=by, action="resume"),
        }),
        on_transition,
    )


def abort(
    store: RolloutStore,
    rollout_id: str,
    *,
    by: str,
    reason: str,
    now: datetime,
    superseded_by: str | None = None,
    on_transition: OnTransition | None = None,
) -> RolloutRecord:
    def change(r: RolloutRecord) -> RolloutRecord:
        text = f"aborted by {by}: {reason}"
        return r.model_copy(
            update={
                "phase": RolloutPhase.ROLLING_BACK,
                "phase_started_at": now,
                "rollback_reason": text,
                "paused": False,
                "superseded_by": superseded_by,
                "updated_at": now,
                "history": _note(r, now, text, by=by, action="abort", to_phase=RolloutPhase.ROLLING_BACK),
            }
        )

    return _control(store, rollout_id, change, on_transition)


def promote(store: RolloutStore, rollout_id: str, *, by: str, now: datetime, on_transition: OnTransition | None = None) -> RolloutRecord:
    def change(r: RolloutRecord) -> RolloutRecord:
        if r.phase in (RolloutPhase.SCANNING, RolloutPhase.DEPLOYING, RolloutPhase.SMOKE_TESTING):
            raise ReconcilerError(f"rollout {r.rollout_id} is {r.phase.value}: the new colour has not passed its gates, so it cannot take traffic yet")
        if r.phase in (RolloutPhase.PROMOTED, RolloutPhase.ROLLING_BACK):
            raise ReconcilerError(f"rollout {r.rollout_id} is {r.phase.value}; nothing to promote")
        last = len(r.spec.steps) - 1
        return r.model_copy(
            update={
                "phase": RolloutPhase.SHIFTING,
                "phase_started_at": now,
                "step_index": last,
                "weights": r.target_weights(100),
                "manual_promote": True,
                "paused": False,
                "updated_at": now,
                "history": _note(
                    r, now, f"promoted by {by}: all traffic to {r.to_colour} without further bakes", by=by, action="promote", to_phase=RolloutPhase.SHIFTING
                ),
            }
        )

    return _control(store, rollout_id, change, on_transition)


def describe(record: RolloutRecord) -> str:
    """The progress a person watching the rollout wants: phase, step, weights, gate evidence."""
    step = f"step {record.step_index + 1}/{len(record.spec.steps)} ({record.current_step} %)" if record.step_index >= 0 else "before the first shift"
    lines = [f"rollout {record.rollout_id} of {record.service} on {record.stack}: {record.phase.value}{' (PAUSED: ' + str(record.pause_reason) + ')' if record.paused else ''}"]
    if record.mode == "rolling":
        lines.append(f"  rolling deployment (ECS, circuit breaker on): {record.old_image.reference} -> {record.new_image.reference}")
    else:
        lines += [
            f"  {record.from_colour} ({record.old_image.reference}) -> {record.to_colour} ({record.new_image.reference}); {step}",
            f"  weights: blue {record.weights.blue} % / green {record.weights.green} %",
        ]
    if record.bake_until and record.phase == RolloutPhase.BAKING:
        lines.append(f"  baking until {record.bake_until.isoformat()}")
    if record.rollback_reason:
        lines.append(f"  rollback: {record.rollback_reason}")
    lines.append("  history:")
    for transition in record.history:
        evidence = f" {transition.evidence}" if transition.evidence else ""
        lines.append(f"    {transition.at.isoformat()} {transition.from_phase.value if transition.from_phase else '-'} -> {transition.to_phase.value}: {transition.reason}{evidence}")
    return "\n".join(lines)
