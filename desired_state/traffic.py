"""How traffic is split right now: runtime state owned by the rollout controller.

Git says which image *should* run; this says which colour is live, which image the live colour
runs and what the listener weights are. The program renders from both, so a converge never
fights a rollout in progress. With no traffic state, blue is live at 100 % running the desired
image.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from desired_state.errors import FieldProblem, TrafficStateError, validation_problems
from desired_state.naming import ALB_FACING_SERVICES
from desired_state.schema import DesiredState, ImageRef, Model

Colour = Literal["blue", "green"]


def other_colour(colour: Colour) -> Colour:
    return "green" if colour == "blue" else "blue"


class ColourWeights(Model):
    blue: int = Field(ge=0, le=100)
    green: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _sum_to_100(self) -> ColourWeights:
        if self.blue + self.green != 100:
            raise ValueError(f"blue ({self.blue}) and green ({self.green}) must add up to 100")
        return self

    def of(self, colour: Colour) -> int:
        return self.blue if colour == "blue" else self.green


class ServiceTraffic(Model):
    live_colour: Colour = "blue"
    live_image: ImageRef | None = None
    weights: ColourWeights | None = None
    # Set only while a rollout holds the idle colour (rendered for a converge, never recorded):
    # the image it runs and its desired count (0: held down). None: decided from the images and weights.
    idle_image: ImageRef | None = None
    idle_count: int | None = Field(default=None, ge=0)
    # Set only while a rollout is active for the service (rendered for a converge, never recorded): the
    # rollout owns the listener weights and the colours' counts, so the program leaves them to it. A
    # converge's `pulumi up` applies what it read minutes earlier; the rollout may have moved since.
    rollout_owns_traffic: bool = False

    def resolved_weights(self) -> ColourWeights:
        if self.weights is not None:
            return self.weights
        return ColourWeights(blue=100, green=0) if self.live_colour == "blue" else ColourWeights(blue=0, green=100)


class TrafficState(Model):
    """Per ALB-facing service; a service that is absent is blue-live at 100 %."""

    services: dict[Literal["frontend", "api-gateway"], ServiceTraffic] = Field(default_factory=dict)

    def of(self, service: str) -> ServiceTraffic:
        return self.services.get(service, ServiceTraffic())  # type: ignore[call-overload]


@dataclass(frozen=True)
class ColourPlan:
    """What one colour of one service should run after the next converge."""

    colour: Colour
    image: ImageRef
    live: bool
    weight: int
    desired_count: int
    min_capacity: int
    max_capacity: int
    # A rollout is active: the weight and the count/bounds above are what it set when the converge
    # prepared, and the program must not apply them (see ``ServiceTraffic.rollout_owns_traffic``).
    rollout_owned: bool = False


def colour_plans(state: DesiredState, traffic: TrafficState, service: str) -> tuple[ColourPlan, ColourPlan]:
    """Decide both colours of an ALB-facing service from desired and traffic state.

    The live colour runs the live image (the desired one when none is recorded) and scales within
    the desired bounds. The idle colour runs the desired image; when that differs from the live
    one it is staged (created at the live desired count, scaling within the same bounds) for a
    rollout to test, else held at zero (capacity 0..0). While a rollout holds the idle colour
    (``idle_image`` / ``idle_count``), it runs the rollout's image at the rollout's count instead.
    """
    if service not in ALB_FACING_SERVICES:
        raise ValueError(f"{service} has no colours; only {', '.join(ALB_FACING_SERVICES)} do")
    spec = state.services.get(service)
    service_traffic = traffic.of(service)
    live_colour = service_traffic.live_colour
    live_image = service_traffic.live_image or spec.image
    weights = service_traffic.resolved_weights()
    idle_colour = other_colour(live_colour)
    idle_image = service_traffic.idle_image or spec.image
    held = service_traffic.idle_count
    # A colour that still carries traffic is never scaled to zero, whatever the images say.
    if held is not None:
        staged = held > 0 or weights.of(idle_colour) > 0
    else:
        staged = live_image != idle_image or weights.of(idle_colour) > 0
    idle_count = held if held else spec.desired_count
    owned = service_traffic.rollout_owns_traffic
    live = ColourPlan(
        colour=live_colour,
        image=live_image,
        live=True,
        weight=weights.of(live_colour),
        desired_count=spec.desired_count,
        min_capacity=spec.scaling.min,
        max_capacity=spec.scaling.max,
        rollout_owned=owned,
    )
    idle = ColourPlan(
        colour=idle_colour,
        image=idle_image,
        live=False,
        weight=weights.of(idle_colour),
        desired_count=idle_count if staged else 0,
        min_capacity=spec.scaling.min if staged else 0,
        max_capacity=spec.scaling.max if staged else 0,
        rollout_owned=owned,
    )
    ordered = (live, idle) if live_colour == "blue" else (idle, live)
    return ordered


DEFAULT_MAX_TRAFFIC_STATE_BYTES = 1_048_576
TRAFFIC_STATE_SOURCE = "<traffic state>"


def parse_traffic_state(document: bytes | str, file: str | None = None) -> TrafficState:
    """Validate a traffic-state JSON document; refusals read like desired-state ones.

    Raises :class:`TrafficStateError` ("traffic state refused ...") naming ``file`` (or
    ``<traffic state>`` when it came from elsewhere), the field path as written
    (``services.frontend.weights``) and the reason, without pydantic's "Value error," prefix.
    """
    source = file or TRAFFIC_STATE_SOURCE
    try:
        return TrafficState.model_validate_json(document)
    except ValidationError as exc:
        problems = []
        for problem in validation_problems(exc.errors(include_url=False), source):
            if problem.field == "" and problem.reason.startswith("Invalid JSON"):
                problem = FieldProblem(source, "", None, "not valid JSON: " + problem.reason.removeprefix("Invalid JSON: "))
            problems.append(problem)
        raise TrafficStateError(problems) from None


def read_traffic_state(path: str | PathLike[str], max_file_bytes: int = DEFAULT_MAX_TRAFFIC_STATE_BYTES) -> TrafficState:
    """Read and validate a traffic-state file; every failure is a :class:`TrafficStateError` naming it."""
    file = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_file_bytes + 1)
    except OSError as exc:
        raise TrafficStateError([FieldProblem(file, "", None, f"cannot read traffic state: {exc.strerror}")]) from None
    if len(raw) > max_file_bytes:
        raise TrafficStateError([FieldProblem(file, "", None, f"the file is larger than {max_file_bytes} bytes")])
    return parse_traffic_state(raw, file)
