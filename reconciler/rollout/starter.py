"""Turn an ECR image push into a rollout.

frontend and api-gateway get a blue/green rollout (scan gate, idle colour, smoke, weighted
shift, promote). processing-service, which has no ALB, gets the same scan gate and then an ECS
rolling deployment with the circuit breaker: its new image is staged as the desired image and a
converge is requested. A rollout starts only inside the environment's change window, and never
while the environment is suspended: checked first (before the stack's outputs are read), then again
in the start itself, under :meth:`~reconciler.adapters.stack_state.StackStateStore.hold_suspension`,
whose condition the start's own transaction carries. A suspend written after that check fails the
start; one written after the start finds a running rollout, which keeps its ticks and rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from desired_state.naming import ALB_FACING_SERVICES, SERVICE_NAMES, name
from desired_state.schema import DesiredState, ImageRef
from desired_state.traffic import TrafficState
from reconciler.adapters.stack_state import StackStateStore
from reconciler.errors import StartConditionFailedError
from reconciler.models import ImageEvent, Job
from reconciler.operations.suspend import suspension_refusal
from reconciler.rollout import commands
from reconciler.rollout.model import RolloutRecord, RolloutResources
from reconciler.rollout.notify import OnTransition
from reconciler.rollout.observe import RolloutObserver
from reconciler.rollout.store import RolloutStore
from reconciler.settings import EnvironmentSettings
from reconciler.windows import decide as window_decision


@dataclass(frozen=True)
class StartResult:
    started: RolloutRecord | None
    message: str
    retry_after_seconds: int | None = None
    # The pushed image can never be rolled out (moving tag, malformed digest, unknown repository): a refusal, not a wait.
    undeployable: bool = False
    # The environment is suspended (settings or `ecs-gitops suspend`): refused; ``message`` names who and why.
    suspended: bool = False


def undeployable_image(image: ImageEvent | None, suffix: str) -> str | None:
    """Why this pushed image can never be rolled out to the environment with ``suffix``, or None if it can.

    Only an image pinned by a well-formed digest, with an immutable tag (if any), from the
    environment's own repository of one of the platform's services is deployable.
    """
    if image is None:
        return "the image event carries no image; nothing to roll out"
    if image.service not in SERVICE_NAMES:
        return f"repository {image.repository!r} is not one of the platform's services ({', '.join(SERVICE_NAMES)}); nothing to roll out"
    expected = name("ecr", suffix, image.service)
    if image.repository != expected:
        return f"repository {image.repository!r} is not {image.service}'s repository in this environment ({expected}); not rolled out"
    if not image.digest:
        return f"the push of {image.repository} carries no image digest; a rollout pins the image by digest"
    try:
        ImageRef(repository=image.service, tag=image.tag, digest=image.digest)
    except ValidationError as exc:
        reasons = "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors(include_url=False))
        return f"{image.repository}: {reasons}; not rolled out"
    return None


class RolloutStarter:
    def __init__(
        self,
        store: RolloutStore,
        states: StackStateStore,
        observer: RolloutObserver,
        outputs_of: Callable[[str], Mapping[str, Any]],
        schedule_tick: Callable[[RolloutRecord], None],
        request_converge: Callable[[str], None],
        on_transition: OnTransition | None = None,
    ):
        self.store = store
        self.states = states
        self.observer = observer
        self.outputs_of = outputs_of
        self.schedule_tick = schedule_tick
        self.request_converge = request_converge
        # A newer image aborts the running rollout: that abort is notified like every transition.
        self.on_transition = on_transition

    def on_image_push(self, job: Job, env: EnvironmentSettings, desired: DesiredState, now: datetime) -> StartResult:
        image = job.image
        refusal = undeployable_image(image, env.suffix)
        if refusal is not None or image is None or image.digest is None:
            return StartResult(None, refusal or "nothing to roll out", undeployable=True)
        # Only new rollouts stop: a running rollout's ticks (gates, rollback) are the controller's and go on.
        suspended = suspension_refusal(job.environment, env, None if env.suspended else self.states.get(job.stack).suspension)
        if suspended is not None:
            return StartResult(None, f"not starting a rollout of {image.service}: {suspended}", suspended=True)
        window = window_decision(env.windows, now)
        if not window.open:
            wait = int((window.reopens_at - now).total_seconds()) if window.reopens_at else 3600
            return StartResult(None, f"not starting a rollout of {image.service}: {window.reason}", retry_after_seconds=max(60, wait))
        new_image = ImageRef(repository=image.service, tag=image.tag, digest=image.digest)
        if image.service in ALB_FACING_SERVICES:
            return self._blue_green(job, env, desired, new_image, now)
        return self._rolling(job, env, desired, new_image, now)

    def _start(self, job: Job, env: EnvironmentSettings, start: Callable[[RolloutStore], RolloutRecord]) -> RolloutRecord | StartResult:
        """Run ``start`` (which creates the rollout in the store it is given) only while the environment is not
        suspended: re-read under the status's hold, and made a condition of the create's own transaction."""
        service = job.image.service  # type: ignore[union-attr]
        try:
            with self.states.hold_suspension(job.stack) as hold:
                suspended = suspension_refusal(job.environment, env, hold.status.suspension)
                if suspended is None:
                    return start(self.store.with_start_conditions(hold.condition_checks))
        except StartConditionFailedError:
            suspended = suspension_refusal(job.environment, env, self.states.get(job.stack).suspension) or (
                f"environment {job.environment} was suspended while the rollout was being started"
            )
        return StartResult(None, f"not starting a rollout of {service}: {suspended}", suspended=True)

    def _blue_green(self, job: Job, env: EnvironmentSettings, desired: DesiredState, new_image: ImageRef, now: datetime) -> StartResult:
        service = job.image.service  # type: ignore[union-attr]
        spec = desired.services.get(service)
        status = self.states.get(job.stack)
        traffic = status.traffic or TrafficState()
        if (traffic.of(service).live_image or spec.image) == new_image:
            return StartResult(None, f"{service} already runs {new_image.reference}")
        resources = commands.resources_from_outputs(
            self.outputs_of(job.stack), service, spec.health_check.path, desired.edge.test_listener_port, desired.environment_suffix
        ).model_copy(update={
            "min_capacity": spec.scaling.min, "max_capacity": spec.scaling.max,
            "public_host": desired.edge.public_hostname if desired.edge.certificate_arn else None,
        })
        try:
            started = self._start(job, env, lambda store: commands.start_rollout(
                store,
                stack=job.stack,
                environment=job.environment,
                service=service,
                new_image=new_image,
                traffic=traffic,
                desired_image=spec.image,
                spec=spec.rollout,
                resources=resources,
                live_desired_count=spec.desired_count,
                now=now,
                by=f"{job.trigger.value}:{job.event_id}",
                on_transition=self.on_transition,
            ))
        except commands.RolloutBusyError as exc:
            return StartResult(None, str(exc), retry_after_seconds=30)
        if isinstance(started, StartResult):
            return started
        record = started
        if record.phase.terminal:
            return StartResult(None, f"{new_image.reference} was already rolled out to {service} (rollout {record.rollout_id}: {record.phase.value})")
        self.schedule_tick(record)
        return StartResult(record, f"rollout {record.rollout_id} of {service} to {new_image.reference} started")

    def _rolling(self, job: Job, env: EnvironmentSettings, desired: DesiredState, new_image: ImageRef, now: datetime) -> StartResult:
        """processing-service: the scan gate, then an ECS rolling deployment gated on its completion."""
        service = job.image.service  # type: ignore[union-attr]
        spec = desired.services.get(service)
        if spec.image == new_image:
            return StartResult(None, f"{service} already runs {new_image.reference}")
        suffix = desired.environment_suffix
        resources = RolloutResources(
            cluster=self.outputs_of(job.stack)["clusterName"],
            ecs_services={"rolling": f"svc-{service}-{suffix}"},
            target_groups={},
            repository=f"ecr-{service}-{suffix}",
            min_capacity=spec.scaling.min,
            max_capacity=spec.scaling.max,
        )
        try:
            started = self._start(job, env, lambda store: commands.start_rollout(
                store, stack=job.stack, environment=job.environment, service=service, new_image=new_image,
                traffic=TrafficState(), desired_image=spec.image, spec=spec.rollout, resources=resources,
                live_desired_count=spec.desired_count, now=now, by=f"{job.trigger.value}:{job.event_id}", mode="rolling",
                on_transition=self.on_transition,
            ))
        except commands.RolloutBusyError as exc:
            return StartResult(None, str(exc), retry_after_seconds=30)
        if isinstance(started, StartResult):
            return started
        record = started
        if record.phase.terminal:
            return StartResult(None, f"{new_image.reference} was already rolled out to {service} (rollout {record.rollout_id}: {record.phase.value})")
        self.schedule_tick(record)
        return StartResult(record, f"rolling deployment {record.rollout_id} of {service} to {new_image.reference} started (scan gate first)")
