"""The rollout record: one per (stack, service) rollout attempt, persisted and moved by versioned writes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from desired_state.schema import ImageRef, RolloutSpec
from desired_state.traffic import ColourWeights
from reconciler.models import Record


class RolloutPhase(StrEnum):
    SCANNING = "scanning"  # waiting for the ECR scan of the new digest
    DEPLOYING = "deploying"  # idle colour converging to the new image; waiting for healthy targets
    SMOKE_TESTING = "smoke-testing"  # HTTP checks through the internal test listener
    SHIFTING = "shifting"  # weights moved to the current step; waiting to see them on the listener
    BAKING = "baking"  # step in effect; alarms watched until the bake ends
    PROMOTED = "promoted"  # new colour live at 100 %; old colour kept until the scale-down delay
    COMPLETE = "complete"
    ROLLING_BACK = "rolling-back"
    ROLLED_BACK = "rolled-back"

    @property
    def terminal(self) -> bool:
        return self in (RolloutPhase.COMPLETE, RolloutPhase.ROLLED_BACK)


OperatorAction = Literal["promote", "abort", "pause", "resume"]


class Transition(Record):
    at: datetime
    from_phase: RolloutPhase | None
    to_phase: RolloutPhase
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    # Who wrote it: a person (``--by``), the image push that started or superseded the rollout, the
    # worker; ``None`` for the controller's own decisions (and for entries older than this field).
    by: str | None = None
    # The control that wrote it (``None`` for the controller's decisions and a rollout's start).
    action: OperatorAction | None = None


class RolloutResources(Record):
    """The AWS resources one rollout acts on, taken from the stack's outputs when it starts."""

    cluster: str
    ecs_services: dict[str, str]  # colour -> ECS service name
    target_groups: dict[str, str]  # colour -> target group ARN
    listener_arn: str | None = None  # None for a rolling (unrouted) service
    rule_arn: str | None = None  # api-gateway is routed by a listener rule, frontend by the default action
    test_url: str | None = None  # the internal test listener, for smoke checks
    # edge.publicHostname where a certificate is set: the smoke check asks as it (TLS name, Host), since the
    # test listener serves the ACM certificate, which cannot name the ALB's own DNS name.
    public_host: str | None = None
    health_path: str = "/"
    repository: str  # ECR repository name
    # The program's alarms on each colour's target group (5xx, latency, unhealthy hosts).
    colour_alarms: dict[str, list[str]] = {}
    min_capacity: int = 2
    max_capacity: int = 10


class RolloutRecord(Record):
    rollout_id: str
    # blue-green: idle colour, smoke, weighted shift. rolling: processing-service, which has no ALB:
    # the new image is deployed in place by ECS (circuit breaker on) and gated on that deployment.
    mode: Literal["blue-green", "rolling"] = "blue-green"
    stack: str
    environment: str
    service: str
    version: int = 0
    phase: RolloutPhase
    paused: bool = False
    pause_reason: str | None = None
    # Paused by a deny window rather than a person: it resumes on its own when the window opens.
    paused_by_window: bool = False
    from_colour: str  # live before the rollout
    to_colour: str  # the idle colour receiving the new image
    old_image: ImageRef
    new_image: ImageRef
    spec: RolloutSpec
    resources: RolloutResources
    live_desired_count: int
    step_index: int = -1  # index into spec.steps of the weight in effect; -1 before the first shift
    weights: ColourWeights
    phase_started_at: datetime
    created_at: datetime
    updated_at: datetime
    bake_until: datetime | None = None
    promoted_at: datetime | None = None
    rollback_reason: str | None = None
    superseded_by: str | None = None
    # An operator promoted by hand: the last step takes effect without a bake.
    manual_promote: bool = False
    history: list[Transition] = Field(default_factory=list)

    def target_weights(self, percent_to_new: int) -> ColourWeights:
        if self.to_colour == "blue":
            return ColourWeights(blue=percent_to_new, green=100 - percent_to_new)
        return ColourWeights(blue=100 - percent_to_new, green=percent_to_new)

    @property
    def current_step(self) -> int | None:
        return self.spec.steps[self.step_index] if self.step_index >= 0 else None

    @property
    def live_only(self) -> ColourWeights:
        """All traffic back on the colour that was live before the rollout."""
        return self.target_weights(0)


ROLLED_BACK_PHASES = (RolloutPhase.ROLLING_BACK, RolloutPhase.ROLLED_BACK)
PROMOTED_PHASES = (RolloutPhase.PROMOTED, RolloutPhase.COMPLETE)


def intended_weights(record: RolloutRecord) -> ColourWeights:
    """The listener split ``record`` stands for."""
    if record.phase in ROLLED_BACK_PHASES or record.step_index < 0:
        return record.live_only
    if record.phase in PROMOTED_PHASES:
        return record.target_weights(100)
    return record.target_weights(record.spec.steps[record.step_index])
