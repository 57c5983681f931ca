"""The traffic a converge renders while a rollout runs, and what a tick re-records of it.

The stack status's traffic state is what the program renders, and the rollout keeps it following
the listener. It can still fall behind: a worker that dies between the ALB write and the
traffic-state write leaves the listener at 60 % and the traffic state at 20 %, and a converge of
that would move customers back. So while a rollout is active, a converge asks
:class:`RolloutTrafficSource` (the active record and the listener read back) and renders what
:func:`traffic_to_render` decides; and every tick re-records the weights it observed when the
traffic state says otherwise (:func:`weights_to_record`). Both decisions are pure.

The rendered traffic also says the rollout owns the service's traffic (``rollout_owns_traffic``):
the converge's ``pulumi up`` applies what was read here minutes later, and a rollback or a shift
the tick runtime makes meanwhile must survive it, so the program leaves the listener weights and
the colours' counts to the rollout (``ignore_changes``) while it is active.

The weights rendered are the listener's own (a converge moves no customer), except where the
rollout is moving them right now: towards its step while shifting, back to the old colour while
rolling back. A listener behind the record in any other phase is a rollback that died before it
was recorded (or a person's hand); rendering the record there would put customers back on a
colour that is being taken out of service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from desired_state.naming import ALB_FACING_SERVICES
from desired_state.traffic import ColourWeights, ServiceTraffic, TrafficState
from reconciler.rollout.decide import Action, ActionKind
from reconciler.rollout.model import ROLLED_BACK_PHASES, RolloutPhase, RolloutRecord, intended_weights
from reconciler.rollout.router import AlbWeightedRouter, TrafficRouter
from reconciler.rollout.store import RolloutStore

# The idle colour runs the new image at the live count from staging until the promotion.
STAGED_PHASES = (RolloutPhase.DEPLOYING, RolloutPhase.SMOKE_TESTING, RolloutPhase.SHIFTING, RolloutPhase.BAKING)


def rendered_weights(record: RolloutRecord, listener: ColourWeights | None, recorded: ColourWeights | None) -> ColourWeights:
    """The split a converge renders for ``record``'s service: never older than the listener's."""
    if record.phase in ROLLED_BACK_PHASES:
        return record.live_only
    intended = intended_weights(record)
    if listener is None:
        # The listener does not show a blue/green forward: keep what is recorded, as without a rollout.
        return recorded if recorded is not None else intended
    if record.phase == RolloutPhase.SHIFTING and intended.of(record.to_colour) > listener.of(record.to_colour):
        return intended  # the rollout set these and waits to see them
    return listener


def traffic_to_render(record: RolloutRecord, listener: ColourWeights | None, recorded: ServiceTraffic) -> ServiceTraffic:
    """What the program renders for a service whose rollout ``record`` is active.

    Live colour and image are the record's (the new colour's once promoted); the idle colour is
    held where the rollout put it: the new image at the live count while staged, the old colour
    at the live count until the scale-down after the promotion, zero while rolling back.
    """
    if record.mode != "blue-green" or record.phase.terminal:
        return recorded
    weights = rendered_weights(record, listener, recorded.weights)
    phase = record.phase
    # The up applies this minutes later; by then the rollout may have shifted or rolled back. The
    # program leaves the weights and the colours' counts to the rollout while it is active.
    owned = {"rollout_owns_traffic": True}
    if phase == RolloutPhase.PROMOTED:
        return ServiceTraffic(
            live_colour=record.to_colour, live_image=record.new_image, weights=weights,  # type: ignore[arg-type]
            idle_image=record.old_image, idle_count=record.live_desired_count, **owned,
        )
    live = {"live_colour": record.from_colour, "live_image": record.old_image, "weights": weights, **owned}
    if phase in STAGED_PHASES:
        return ServiceTraffic(**live, idle_image=record.new_image, idle_count=record.live_desired_count)
    if phase in ROLLED_BACK_PHASES:
        return ServiceTraffic(**live, idle_count=0)
    return ServiceTraffic(**live)  # scanning: nothing staged yet


def weights_to_record(
    record: RolloutRecord, listener: ColourWeights | None, actions: Iterable[Action], recorded: ServiceTraffic
) -> ColourWeights | None:
    """The weights a tick re-records in the traffic state, or None when it holds them already.

    A tick that sets weights records them itself; one that only observes the listener writes
    what it saw when the traffic state says otherwise (a worker died between the ALB write and
    the traffic-state write, and this tick resumes from the listener).
    """
    if record.mode != "blue-green" or record.phase.terminal or listener is None:
        return None
    if any(action.kind == ActionKind.SET_WEIGHTS for action in actions):
        return None
    weights = rendered_weights(record, listener, recorded.weights)
    return None if weights == recorded.resolved_weights() else weights


@dataclass(frozen=True)
class RenderedTraffic:
    traffic: TrafficState
    rollouts: dict[str, str] = field(default_factory=dict)  # service -> id of the active rollout it came from


class LiveTrafficSource(Protocol):
    def render(self, stack: str, recorded: TrafficState) -> RenderedTraffic: ...


class RolloutTrafficSource:
    """The traffic to render for each ALB-facing service with an active blue/green rollout."""

    def __init__(self, store: RolloutStore, router_for: Callable[[RolloutRecord], TrafficRouter]):
        self.store = store
        self.router_for = router_for

    @classmethod
    def over(cls, dynamodb_client: Any, rollout_table: str, elbv2_client: Any) -> RolloutTrafficSource:
        def router_for(record: RolloutRecord) -> AlbWeightedRouter:
            resources = record.resources
            return AlbWeightedRouter(elbv2_client, resources.listener_arn, resources.target_groups, resources.rule_arn)  # type: ignore[arg-type]

        return cls(RolloutStore(dynamodb_client, rollout_table), router_for)

    def render(self, stack: str, recorded: TrafficState) -> RenderedTraffic:
        services = dict(recorded.services)
        rollouts: dict[str, str] = {}
        for service in ALB_FACING_SERVICES:
            record = self.store.active(stack, service)
            if record is None or record.mode != "blue-green":
                continue
            listener = self.router_for(record).verify_weights()
            services[service] = traffic_to_render(record, listener, recorded.of(service))  # type: ignore[index]
            rollouts[service] = record.rollout_id
        return RenderedTraffic(TrafficState(services=services), rollouts)
