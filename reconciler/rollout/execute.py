"""Carry out a rollout decision's actions against AWS and the stack status. Every action is idempotent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from desired_state.traffic import ColourWeights, ServiceTraffic, TrafficState
from reconciler.adapters.stack_state import StackStateStore, StackStatus
from reconciler.rollout.decide import Action, ActionKind
from reconciler.rollout.model import RolloutRecord
from reconciler.rollout.router import TrafficRouter


class ImageUpdater(Protocol):
    """Makes the new image the service's desired one (and takes it back on rollback)."""

    def stage(self, record: RolloutRecord) -> None: ...

    def revert(self, record: RolloutRecord) -> None: ...


def _with_service_traffic(status: StackStatus, service: str, change: Callable[[ServiceTraffic], ServiceTraffic]) -> StackStatus:
    traffic = status.traffic or TrafficState()
    services = dict(traffic.services)
    services[service] = change(traffic.of(service))  # type: ignore[index]
    return status.model_copy(update={"traffic": TrafficState(services=services)})


def pin_live_colour(status: StackStatus, record: RolloutRecord) -> StackStatus:
    """Before the new image becomes desired: the live colour keeps the old one (blue/green only)."""
    if record.mode != "blue-green":
        return status
    return _with_service_traffic(
        status, record.service, lambda t: t.model_copy(update={"live_colour": record.from_colour, "live_image": record.old_image})
    )


class StatusImageUpdater:
    """For repositories the reconciler may not write: the staged image lives in the stack status.

    The live colour is pinned to the old image in the traffic state, the new image becomes an
    override of git's desired image, and a converge job is requested so the program stages the
    idle colour.
    """

    def __init__(self, states: StackStateStore, request_converge: Callable[[RolloutRecord], None]):
        self.states = states
        self.request_converge = request_converge

    def stage(self, record: RolloutRecord) -> None:
        def change(status: StackStatus) -> StackStatus:
            pinned = pin_live_colour(status, record)
            return pinned.model_copy(update={"image_overrides": {**pinned.image_overrides, record.service: record.new_image}})

        self.states.update(record.stack, change)
        self.request_converge(record)

    def revert(self, record: RolloutRecord) -> None:
        def change(status: StackStatus) -> StackStatus:
            overrides = {k: v for k, v in status.image_overrides.items() if k != record.service}
            return status.model_copy(update={"image_overrides": overrides})

        self.states.update(record.stack, change)


class RolloutExecutor:
    def __init__(self, ecs: Any, autoscaling: Any, states: StackStateStore, router_for: Callable[[RolloutRecord], TrafficRouter], images: ImageUpdater):
        self.ecs = ecs
        self.autoscaling = autoscaling
        self.states = states
        self.router_for = router_for
        self.images = images

    def apply(self, record: RolloutRecord, action: Action) -> None:
        if action.kind == ActionKind.SET_WEIGHTS:
            assert action.weights is not None
            self.router_for(record).set_weights(action.weights)
            self._record_weights(record, action.weights)
        elif action.kind == ActionKind.RECORD_WEIGHTS:
            assert action.weights is not None
            self._record_weights(record, action.weights)
        elif action.kind == ActionKind.SCALE_COLOUR:
            assert action.colour is not None and action.count is not None
            self._scale(record, action.colour, action.count)
        elif action.kind == ActionKind.STAGE_IMAGE:
            self.images.stage(record)
        elif action.kind == ActionKind.REVERT_IMAGE:
            self.images.revert(record)
        elif action.kind == ActionKind.MARK_LIVE:
            self._mark_live(record)
        elif action.kind == ActionKind.RESTORE_LIVE:
            self._restore_live(record)
        else:
            raise ValueError(f"unknown action {action.kind}")

    def recorded_traffic(self, record: RolloutRecord) -> ServiceTraffic:
        """What the stack status's traffic state says of ``record``'s service now."""
        return (self.states.get(record.stack).traffic or TrafficState()).of(record.service)

    def _record_weights(self, record: RolloutRecord, weights: ColourWeights) -> None:
        """The traffic state follows the listener, so a converge renders the split the rollout set.

        A conditional write, and only of a difference."""

        def change(status: StackStatus) -> StackStatus | None:
            if (status.traffic or TrafficState()).of(record.service).weights == weights:
                return None
            return _with_service_traffic(status, record.service, lambda t: t.model_copy(update={"weights": weights}))

        self.states.update(record.stack, change)

    def _mark_live(self, record: RolloutRecord) -> None:
        # A staged image override stays: it is the desired image until git says the same, and the
        # converge drops it then. Clearing it here would make git's older image look new again.
        self.states.update(
            record.stack,
            lambda status: _with_service_traffic(
                status, record.service,
                lambda t: ServiceTraffic(live_colour=record.to_colour, live_image=record.new_image, weights=record.target_weights(100)),  # type: ignore[arg-type]
            ),
        )

    def _restore_live(self, record: RolloutRecord) -> None:
        self.states.update(
            record.stack,
            lambda status: _with_service_traffic(
                status, record.service,
                lambda t: ServiceTraffic(live_colour=record.from_colour, live_image=record.old_image, weights=record.live_only),  # type: ignore[arg-type]
            ),
        )

    def _scale(self, record: RolloutRecord, colour: str, count: int) -> None:
        resources = record.resources
        service = resources.ecs_services[colour]
        minimum, maximum = (0, 0) if count == 0 else (resources.min_capacity, resources.max_capacity)
        # Bounds first: auto-scaling would otherwise pull the count straight back.
        self.autoscaling.register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=f"service/{resources.cluster}/{service}",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=minimum,
            MaxCapacity=maximum,
        )
        self.ecs.update_service(cluster=resources.cluster, service=service, desiredCount=count)
