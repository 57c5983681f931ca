"""What the stack was applied from, and the rollout promotion's last gate over it.

:func:`applied_inputs` reads a stack's outputs, the desired state of the stack status's last
applied commit (with the images a rollout staged over it) and the traffic state: what both
``ecs-gitops verify`` and the promotion gate check the account against.

:class:`PromotionVerifier` runs the traffic and service checks of the rollout's new live colour
(and, for frontend, the ALB's HTTP answers) when the old colour's scale-down is due; the rollout's
``decide`` rolls back on a failure, with the failing checks as evidence, and holds the old colour
up while the gate could not check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from desired_state.schema import DesiredState
from desired_state.traffic import TrafficState
from reconciler.errors import ReconcilerError
from reconciler.rollout.decide import VerifyGate
from reconciler.rollout.model import RolloutRecord
from reconciler.verify.model import CheckResult
from reconciler.verify.run import PROMOTION_GROUPS, verify_environment
from reconciler.verify.seams import AwsClients, HttpProbe, Timing

log = logging.getLogger("ecs_gitops.verify")


@dataclass(frozen=True)
class AppliedInputs:
    outputs: dict[str, Any]
    desired: DesiredState
    traffic: TrafficState
    commit: str


def unwrap_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The Automation API answers ``{key: OutputValue(value, secret)}``; the checks read plain values."""
    return {key: value.value if hasattr(value, "value") and not isinstance(value, dict) else value for key, value in outputs.items()}


def applied_inputs(
    *, states: Any, source: Any, engine: Any | None, stack: str, environment: str, max_file_bytes: int, outputs: Mapping[str, Any] | None = None
) -> AppliedInputs:
    """``outputs`` when given; else the outputs the converge recorded in the stack status (``engine`` None: the
    promotion gate, which needs no Pulumi backend); else the engine's."""
    from desired_state.loader import load_environment

    status = states.get(stack)
    if not status.last_applied_commit:
        raise ReconcilerError(
            f"{environment}: the stack {stack} records no applied commit, so there is no desired state to verify against; "
            f"converge it first: ecs-gitops reconcile --environment {environment}"
        )
    if outputs is None and engine is None:
        if not status.applied_outputs:
            raise ReconcilerError(
                f"{environment}: the stack {stack} records no applied outputs (its last converge predates them), so the promotion gate "
                f"has nothing to check against; converge it again: ecs-gitops reconcile --environment {environment}"
            )
        outputs = status.applied_outputs
    checkout = source.fetch(status.last_applied_commit)
    try:
        loaded = load_environment(checkout.path, environment, commit=checkout.commit, max_file_bytes=max_file_bytes)
    finally:
        if hasattr(source, "cleanup"):
            source.cleanup(checkout)
    desired = loaded.state.with_images(dict(status.image_overrides)) if status.image_overrides else loaded.state
    return AppliedInputs(
        outputs=dict(outputs) if outputs is not None else unwrap_outputs(engine.outputs(stack)),
        desired=desired,
        traffic=status.traffic or TrafficState(),
        commit=status.last_applied_commit,
    )


def concerns_new_colour(result: CheckResult, record: RolloutRecord) -> bool:
    """The gate's checks: the new live colour's service and target health, the service's weights, frontend's HTTP."""
    svc, colour = record.service, record.to_colour
    if result.name.startswith((f"services.{svc}-{colour}.", f"traffic.{svc}-{colour}.", f"traffic.{svc}.")):
        return True
    if svc == "frontend" and result.name in ("traffic.alb-answers", "traffic.frontend-health"):
        return True
    # A group that could not run (an API error, an output missing or of the wrong shape, a raise) concerns every service.
    return result.could_not_check


class PromotionVerifier:
    """The promotion's last gate: passed, failed (a check ran and found the new colour wrong) or could-not-check.

    Nothing raised inside it escapes: what was applied being unreadable (git, the stack status, the
    engine), an output of the wrong shape, an API that did not answer, anything a check raised, is
    a could-not-check result naming the exception's type. The rollout holds on it; it never passes.
    """

    def __init__(
        self, load: Callable[[RolloutRecord], AppliedInputs], clients_for: Callable[[str], AwsClients], timing: Timing, http: HttpProbe | None = None
    ):
        self.load, self.clients_for, self.timing, self.http = load, clients_for, timing, http

    def __call__(self, record: RolloutRecord, now: datetime) -> VerifyGate:
        try:
            return self._run(record)
        except Exception as exc:  # noqa: BLE001 - a gate that cannot run is could-not-check, never a crashed tick
            log.warning("promotion gate of %s raised %s: %s", record.rollout_id, type(exc).__name__, exc)
            return VerifyGate(status="could-not-check", headline=f"the promotion gate of {record.service} {record.to_colour} raised {type(exc).__name__}: {exc}")

    def _run(self, record: RolloutRecord) -> VerifyGate:
        try:
            inputs = self.load(record)
        except Exception as exc:  # noqa: BLE001 - git, the stack status or the engine not answering says nothing about the new colour
            log.warning("promotion gate of %s could not read what was applied: %s: %s", record.rollout_id, type(exc).__name__, exc)
            return VerifyGate(status="could-not-check", headline=f"the promotion gate could not read what was applied ({type(exc).__name__}): {exc}")
        report = verify_environment(
            environment=inputs.desired.environment_suffix, outputs=inputs.outputs, desired=inputs.desired, traffic=inputs.traffic,
            clients=self.clients_for(inputs.desired.region), http=self.http, timing=self.timing, groups=PROMOTION_GROUPS,
        )
        clients = self.clients_for(inputs.desired.region)
        results = [r for r in report.results if concerns_new_colour(r, record)]
        if not any(r.could_not_check for r in results):
            results.append(rollout_image_check(clients, inputs.outputs, record))
        failures = [r for r in results if r.status == "fail" and not r.could_not_check]
        unchecked = [r for r in results if r.could_not_check]
        passed = sum(1 for r in results if r.status == "pass")
        of = f"{record.service} {record.to_colour}"
        if failures:
            shown = "; ".join(f"{r.name}: {r.detail}" for r in failures[:5])
            return VerifyGate(status="failed", headline=f"{len(failures)} of {len(results)} checks of {of} failed: {shown}", failures=_listed(failures))
        if unchecked:
            shown = "; ".join(f"{r.name}: {r.detail}" for r in unchecked[:5])
            return VerifyGate(status="could-not-check", headline=f"{len(unchecked)} check group(s) of {of} could not run: {shown}", failures=_listed(unchecked))
        if not passed:
            return VerifyGate(status="could-not-check", headline=f"no check of {of} ran")
        return VerifyGate(status="passed", headline=f"all {passed} checks of {of} passed")


def rollout_image_check(clients: AwsClients, outputs: Mapping[str, Any], record: RolloutRecord) -> CheckResult:
    """The new colour runs the image this rollout is promoting (``record.new_image``), not only what git says:
    its service's task definition and every running task's container."""
    svc, colour = record.service, record.to_colour
    name = f"services.{svc}-{colour}.rollout-image"
    reference = record.new_image.reference
    expected = f"{(outputs.get('ecrRepositoryUrls') or {}).get(svc, '')}{reference}"
    arn = (outputs.get("serviceArns") or {}).get(f"{svc}-{colour}")
    if not arn:
        return CheckResult(name="services.outputs", group="services", status="fail", evidence={"missingOutput": f"serviceArns.{svc}-{colour}"},
                           detail=f"the stack has no output serviceArns.{svc}-{colour}; re-run the converge")
    cluster = outputs.get("clusterArn")
    services = clients.ecs.describe_services(cluster=cluster, services=[arn]).get("services", [])
    service = next((s for s in services if s.get("status") != "INACTIVE"), None)
    if service is None:
        return CheckResult(name=name, group="services", status="fail", evidence={"service": arn}, detail=f"the {svc} {colour} ECS service does not exist")
    containers = clients.ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]["containerDefinitions"]
    defined = next((c.get("image") for c in containers if c.get("name") == svc), containers[0].get("image") if containers else None)
    arns = clients.ecs.list_tasks(cluster=cluster, serviceName=service["serviceName"], desiredStatus="RUNNING").get("taskArns", [])
    tasks = clients.ecs.describe_tasks(cluster=cluster, tasks=arns).get("tasks", []) if arns else []
    running = sorted({c.get("image") for t in tasks for c in t.get("containers", []) if c.get("name") == svc and c.get("image")})
    wrong = sorted(i for i in {defined, *running} if not (i or "").endswith(reference))
    ok = not wrong and bool(running)
    detail = (f"{svc} {colour} runs {reference} (the rollout's new image)" if ok else
              f"{svc} {colour} runs no task" if not running and not wrong else
              f"{svc} {colour} runs {', '.join(str(w) for w in wrong)}, not the rollout's new image {reference}")
    return CheckResult(name=name, group="services", status="pass" if ok else "fail", detail=detail,
                       evidence={"expected": expected, "taskDefinitionImage": defined, "runningImages": running, "rolloutId": record.rollout_id})


def _listed(results: list[CheckResult]) -> list[dict[str, Any]]:
    return [{"name": r.name, "detail": r.detail, "evidence": r.evidence} for r in results]
