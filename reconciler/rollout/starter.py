"""Turn an ECR image push into a rollout.

frontend and api-gateway get a blue/green rollout (scan gate, idle colour, smoke, weighted
shift, promote). processing-service, which has no ALB, gets the same scan gate and then an ECS
rolling deployment with the circuit breaker: its new image is staged as the desired image and a
converge is requested. A rollout starts only inside the environment's change window.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from desired_state.naming import ALB_FACING_SERVICES
from desired_state.schema import TAG_PATTERN, DesiredState, ImageRef
from desired_state.traffic import TrafficState
from reconciler.adapters.stack_state import StackStateStore, StackStatus
from reconciler.models import Job
from reconciler.rollout import commands
from reconciler.rollout.decide import blocking_findings
from reconciler.rollout.model import RolloutRecord
from reconciler.rollout.observe import RolloutObserver
from reconciler.rollout.store import RolloutStore
from reconciler.settings import EnvironmentSettings
from reconciler.windows import decide as window_decision


@dataclass(frozen=True)
class StartResult:
    started: RolloutRecord | None
    message: str
    retry_after_seconds: int | None = None


class RolloutStarter:
    def __init__(
        self,
        store: RolloutStore,
        states: StackStateStore,
        observer: RolloutObserver,
        outputs_of: Callable[[str], Mapping[str, Any]],
        schedule_tick: Callable[[RolloutRecord], None],
        request_converge: Callable[[str], None],
        write_back: Callable[[str, str, ImageRef, str], object] | None = None,
    ):
        self.store = store
        self.states = states
        self.observer = observer
        self.outputs_of = outputs_of
        self.schedule_tick = schedule_tick
        self.request_converge = request_converge
        self.write_back = write_back  # (environment, service, image, message): commit the image to git

    def on_image_push(self, job: Job, env: EnvironmentSettings, desired: DesiredState, now: datetime) -> StartResult:
        image = job.image
        if image is None or not image.digest:
            return StartResult(None, "image push without a digest; nothing to roll out")
        if image.tag is not None and not TAG_PATTERN.match(image.tag):
            return StartResult(None, f"tag {image.tag!r} is not a valid immutable tag; not rolled out")
        window = window_decision(env.windows, now)
        if not window.open:
            wait = int((window.reopens_at - now).total_seconds()) if window.reopens_at else 3600
            return StartResult(None, f"not starting a rollout of {image.service}: {window.reason}", retry_after_seconds=max(60, wait))
        new_image = ImageRef(repository=image.service, tag=image.tag, digest=image.digest)
        spec = desired.services.get(image.service)
        if image.service in ALB_FACING_SERVICES:
            return self._blue_green(job, desired, new_image, now)
        return self._rolling(job, spec.rollout.scan_severity_threshold, image.repository, new_image, now)

    def _blue_green(self, job: Job, desired: DesiredState, new_image: ImageRef, now: datetime) -> StartResult:
        service = job.image.service  # type: ignore[union-attr]
        spec = desired.services.get(service)
        status = self.states.get(job.stack)
        traffic = status.traffic or TrafficState()
        if (traffic.of(service).live_image or spec.image) == new_image:
            return StartResult(None, f"{service} already runs {new_image.reference}")
        resources = commands.resources_from_outputs(
            self.outputs_of(job.stack), service, spec.health_check.path, desired.edge.test_listener_port, desired.environment_suffix
        ).model_copy(update={"min_capacity": spec.scaling.min, "max_capacity": spec.scaling.max})
        try:
            record = commands.start_rollout(
                self.store,
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
            )
        except commands.RolloutBusyError as exc:
            return StartResult(None, str(exc), retry_after_seconds=30)
        if record.phase.terminal:
            return StartResult(None, f"{new_image.reference} was already rolled out to {service} (rollout {record.rollout_id}: {record.phase.value})")
        self.schedule_tick(record)
        return StartResult(record, f"rollout {record.rollout_id} of {service} to {new_image.reference} started")

    def _rolling(self, job: Job, threshold: str, repository: str, new_image: ImageRef, now: datetime) -> StartResult:
        """processing-service: the scan gate, then an ECS rolling deployment guarded by the circuit breaker."""
        service = job.image.service  # type: ignore[union-attr]
        scan = self.observer.scan_of(repository, new_image)
        if scan is None or scan.status != "COMPLETE":
            # No waiting here: that would hold every job of this stack (one FIFO group). The scan's
            # own completion event brings the image back through this gate.
            return StartResult(None, f"{service} {new_image.reference}: waiting for its ECR scan; the scan-complete event continues it")
        blocking = blocking_findings(scan, threshold)
        if blocking:
            return StartResult(None, f"ECR scan of {new_image.reference} found {blocking} (threshold {threshold}); {service} not updated")
        if self.write_back is not None:
            self.write_back(
                job.environment, service, new_image,
                f"ecs-gitops: deploy {service} {new_image.tag or ''} ({new_image.digest})\n\nScan passed; triggered by {job.trigger.value}:{job.event_id}.",
            )
            return StartResult(None, f"{service} {new_image.reference} committed to the desired state; its push converges it (circuit breaker on)")

        def stage(status: StackStatus) -> StackStatus:
            return status.model_copy(update={"image_overrides": {**status.image_overrides, service: new_image}})

        self.states.update(job.stack, stage)
        self.request_converge(job.stack)
        return StartResult(None, f"{service} staged at {new_image.reference}; the converge deploys it with the circuit breaker on")

