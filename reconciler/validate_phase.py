"""The converge's validate phase: schema, identity, image overrides, floors, traffic, then the policy gate.

What the settings say the desired state must be is :mod:`reconciler.identity` and
:mod:`reconciler.floors`; this module loads the commit's desired state, applies the images a
rollout staged, renders the traffic an active rollout holds, and runs the policy gate on the
offline render. A drift check is validated too, but not gated: it applies nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from desired_state.errors import DesiredStateError, FieldProblem
from desired_state.loader import LoadedEnvironment, load_environment
from desired_state.traffic import TrafficState
from reconciler.adapters.stack_state import StackStateStore
from reconciler.converge_run import ConvergeOutcome, ConvergeRun, StatusUpdate
from reconciler.drift.phases import is_drift_check
from reconciler.events import EventKind, Reason, Severity
from reconciler.floors import floor_problems
from reconciler.identity import identity_problems
from reconciler.models import PolicyResult

if TYPE_CHECKING:
    from reconciler.rollout.live import LiveTrafficSource


def validate(
    run: ConvergeRun, *, states: StackStateStore, update: StatusUpdate, max_file_bytes: int, live_traffic: LiveTrafficSource | None
) -> ConvergeOutcome | None:
    """Schema, identity (settings), overrides, floors (settings), then the policy gate on the offline render."""
    job, env = run.job, run.environment
    assert run.checkout is not None
    try:
        run.loaded = load_environment(run.checkout.path, job.environment, commit=run.checkout.commit, max_file_bytes=max_file_bytes)
    except DesiredStateError as exc:
        run.error = str(exc)
        return ConvergeOutcome("refused", EventKind.REFUSED_INVALID, Reason.INVALID_DESIRED_STATE, Severity.ERROR, str(exc))
    file, line_of = run.loaded.source_file, run.loaded.line_of
    identity = identity_problems(run.loaded.state, env, file, line_of)
    if identity:
        return refused_by_settings(run, identity, Reason.IDENTITY_MISMATCH)
    status = states.get(job.stack)
    if status.image_overrides:
        git_images = {svc: spec.image for svc, spec in run.loaded.state.services.items()}
        caught_up = sorted(svc for svc, image in status.image_overrides.items() if git_images.get(svc) == image)
        if caught_up:
            # Git now says the same: the override has done its job.
            update(run, lambda s: s.model_copy(update={"image_overrides": {k: v for k, v in s.image_overrides.items() if k not in caught_up}}))
        overrides = {svc: image for svc, image in status.image_overrides.items() if svc not in caught_up}
        if overrides:
            # A rollout staged these images without a git commit; they win over git until git catches up.
            run.details["imageOverrides"] = {svc: image.reference for svc, image in overrides.items()}
            run.loaded = replace(run.loaded, state=run.loaded.state.with_images(overrides))
    floors = floor_problems(run.loaded.state, env.floors, file, line_of)
    if floors:
        return refused_by_settings(run, floors, Reason.BELOW_FLOOR)
    run.traffic = rendered_traffic(run, status.traffic or TrafficState(), live_traffic)
    if is_drift_check(job):
        return None  # nothing is applied: the policy gates the converges (a remediation's too), not the comparison
    run.policy = policy_result(run.loaded, run.traffic)
    if not run.policy.passed:
        return ConvergeOutcome(
            "refused", EventKind.REFUSED_BY_POLICY, Reason.POLICY_VIOLATION, Severity.ERROR,
            f"{run.policy.mandatory} mandatory policy violation(s); nothing was applied",
        )
    return None


def rendered_traffic(run: ConvergeRun, recorded: TrafficState, live_traffic: LiveTrafficSource | None) -> TrafficState:
    """The traffic to render: the recorded state, with each active rollout's own in place of its service's.

    The traffic state can be behind the listener (a worker died between the two writes); a
    converge must never render weights older than the listener's while a rollout runs.
    """
    if live_traffic is None:
        return recorded
    rendered = live_traffic.render(run.job.stack, recorded)
    if rendered.rollouts:
        run.details["rolloutTraffic"] = {
            service: {"rolloutId": rollout_id, "weights": rendered.traffic.of(service).resolved_weights().model_dump()}
            for service, rollout_id in sorted(rendered.rollouts.items())
        }
    return rendered.traffic


def refused_by_settings(run: ConvergeRun, problems: list[FieldProblem], reason: Reason) -> ConvergeOutcome:
    """The desired state asks for what the settings do not allow; nothing is rendered."""
    assert run.loaded is not None
    run.error = str(run.loaded.refusal(problems))
    return ConvergeOutcome("refused", EventKind.REFUSED, reason, Severity.ERROR, run.error)


def policy_result(loaded: LoadedEnvironment, traffic: TrafficState) -> PolicyResult:
    """The policy gate on the offline render of ``loaded`` with ``traffic`` (secret config rendered as placeholders)."""
    from policies.offline import check_rendered
    from program.platform import StackInputs
    from program.render import render, thread_event_loop

    import pulumi

    thread_event_loop()  # a converge loop's thread: the secret outputs below need an asyncio loop
    secret_config = {
        spec.config_key: pulumi.Output.secret(f"<stack config {spec.config_key}>")
        for spec in loaded.state.secrets.values()
        if spec.kind == "config" and spec.config_key
    }
    report = check_rendered(render(StackInputs(loaded.state, traffic, secret_config)), loaded.state)
    return PolicyResult(
        passed=report.passed,
        mandatory=len(report.mandatory),
        advisory=len(report.violations) - len(report.mandatory),
        violations=[v.model_dump() for v in report.violations],
    )
