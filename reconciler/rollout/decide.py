"""The next step of a rollout, decided from (record, observed AWS state, clock). Pure: no I/O.

Every action it returns is idempotent (set weights to X, scale colour to N, stage image I), and
each phase checks what AWS reports before moving on. That is what makes a rollout resumable
after a crash on either side of an AWS call: a worker that died after setting the weights but
before writing the record sees the same phase again and re-issues the same call; one that died
after writing the record sees the next phase and waits for AWS to show its effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from desired_state.schema import SCAN_SEVERITIES
from desired_state.traffic import ColourWeights
from reconciler.models import Record
from reconciler.rollout.model import RolloutPhase, RolloutRecord
from reconciler.events import Reason
from reconciler.settings import RolloutTimingSettings, VerifySettings

_DEFAULT_SETTINGS = RolloutTimingSettings()
_DEFAULT_VERIFY = VerifySettings()


def _seconds(value: int) -> timedelta:
    return timedelta(seconds=value)


@dataclass(frozen=True)
class RolloutTimings:
    """The rollout's waits; from the settings' ``rollout`` section
    (:class:`~reconciler.settings.RolloutTimingSettings`, where the defaults and their meaning live)."""

    poll: timedelta = _seconds(_DEFAULT_SETTINGS.poll_seconds)
    alarm_watch: timedelta = _seconds(_DEFAULT_SETTINGS.alarm_watch_seconds)
    paused_poll: timedelta = _seconds(_DEFAULT_SETTINGS.paused_poll_seconds)
    weights_retry: timedelta = _seconds(_DEFAULT_SETTINGS.weights_retry_seconds)
    weights_take_effect_within: timedelta = _seconds(_DEFAULT_SETTINGS.weights_take_effect_within_seconds)
    smoke_request_timeout: timedelta = _seconds(_DEFAULT_SETTINGS.smoke_request_timeout_seconds)
    # The promotion gate could not check: look again after gate_retry, backing off to gate_retry_max;
    # past gate_hold the rollout is paused (old colour still up) and a person is notified.
    gate_retry: timedelta = _seconds(_DEFAULT_VERIFY.gate_retry_seconds)
    gate_retry_max: timedelta = _seconds(_DEFAULT_VERIFY.gate_retry_max_seconds)
    gate_hold: timedelta = _seconds(_DEFAULT_VERIFY.gate_hold_seconds)

    @classmethod
    def from_settings(cls, rollout: RolloutTimingSettings, verify: VerifySettings | None = None) -> RolloutTimings:
        verify = verify or _DEFAULT_VERIFY
        return cls(
            gate_retry=_seconds(verify.gate_retry_seconds),
            gate_retry_max=_seconds(verify.gate_retry_max_seconds),
            gate_hold=_seconds(verify.gate_hold_seconds),
            poll=_seconds(rollout.poll_seconds),
            alarm_watch=_seconds(rollout.alarm_watch_seconds),
            paused_poll=_seconds(rollout.paused_poll_seconds),
            weights_retry=_seconds(rollout.weights_retry_seconds),
            weights_take_effect_within=_seconds(rollout.weights_take_effect_within_seconds),
            smoke_request_timeout=_seconds(rollout.smoke_request_timeout_seconds),
        )


DEFAULT_TIMINGS = RolloutTimings()


class ScanResult(Record):
    status: str  # COMPLETE, IN_PROGRESS, FAILED, ...
    finding_counts: dict[str, int] = {}


class DeploymentState(Record):
    image: str | None  # image of the idle colour's running task definition
    rollout_state: str | None  # ECS deployment rolloutState of the primary deployment
    running_count: int
    desired_count: int


class TargetHealthReport(Record):
    healthy: list[str] = []
    unhealthy: dict[str, str] = {}  # target id -> reason

    @property
    def all_healthy(self) -> bool:
        return bool(self.healthy) and not self.unhealthy


class SmokeResult(Record):
    passed: bool
    checks: list[dict[str, Any]] = []


GateStatus = Literal["passed", "failed", "could-not-check"]


class VerifyGate(Record):
    """The promotion's last gate: the traffic and service checks of the new live colour (reconciler.verify).

    ``status``: passed; failed (a check ran and found the new colour wrong: roll back); could-not-check
    (nothing judged: inputs unreadable, an API that did not answer, no check ran; the headline says
    why). Only passed lets the old colour be scaled down.
    """

    status: GateStatus
    headline: str
    failures: list[dict[str, Any]] = []


class Observed(Record):
    """What AWS (and the smoke checker) report right now, for this rollout."""

    scan: ScanResult | None = None
    deployment: DeploymentState | None = None
    targets: TargetHealthReport | None = None
    smoke: SmokeResult | None = None
    listener_weights: ColourWeights | None = None
    alarms_in_alarm: list[str] = []
    window_open: bool = True
    window_reason: str = ""
    # Read when the old colour's scale-down is due (None: no gate here, as before it existed).
    verify: VerifyGate | None = None


class ActionKind(StrEnum):
    STAGE_IMAGE = "stage-image"  # idle colour runs the new image at the live desired count
    SET_WEIGHTS = "set-weights"
    SCALE_COLOUR = "scale-colour"
    REVERT_IMAGE = "revert-image"
    MARK_LIVE = "mark-live"  # traffic state: the new colour is live with the new image
    RESTORE_LIVE = "restore-live"  # traffic state: the old colour is live with the old image again
    RECORD_WEIGHTS = "record-weights"  # traffic state only: the weights the listener was seen at


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    weights: ColourWeights | None = None
    colour: str | None = None
    count: int | None = None


@dataclass(frozen=True)
class Decision:
    phase: RolloutPhase
    reason: str
    actions: tuple[Action, ...] = ()
    wake_at: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    step_index: int | None = None
    bake_until: datetime | None = None
    pause_reason: str | None = None
    # A pause a deny window set lifts itself when the window opens; any other waits for a person.
    pause_by_window: bool = True
    resume: bool = False

    def changes_phase(self, record: RolloutRecord) -> bool:
        return self.phase != record.phase or self.step_index not in (None, record.step_index)


def blocking_findings(scan: ScanResult, threshold: str) -> dict[str, int]:
    """Findings at or above ``threshold`` severity."""
    floor = SCAN_SEVERITIES.index(threshold)
    return {sev: n for sev, n in scan.finding_counts.items() if sev in SCAN_SEVERITIES and SCAN_SEVERITIES.index(sev) >= floor and n > 0}


def _rollback_actions(record: RolloutRecord) -> tuple[Action, ...]:
    if record.mode == "rolling":
        # ECS's circuit breaker already put the old tasks back; what is left is the image update.
        return (Action(ActionKind.REVERT_IMAGE),)
    return (
        # One API call puts all traffic back on the old colour.
        Action(ActionKind.SET_WEIGHTS, weights=record.live_only),
        # Also after a promotion: the old colour is live again, so the next rollout targets the other one.
        Action(ActionKind.RESTORE_LIVE),
        Action(ActionKind.SCALE_COLOUR, colour=record.to_colour, count=0),
        Action(ActionKind.REVERT_IMAGE),
    )


def _rollback(record: RolloutRecord, reason: str, evidence: dict[str, Any]) -> Decision:
    return Decision(RolloutPhase.ROLLING_BACK, reason, actions=_rollback_actions(record), evidence=evidence)


def _wait(record: RolloutRecord, now: datetime, after: timedelta, reason: str, **extra: Any) -> Decision:
    return Decision(record.phase, reason, wake_at=now + after, **extra)


def decide(record: RolloutRecord, observed: Observed, now: datetime, timings: RolloutTimings = DEFAULT_TIMINGS) -> Decision:
    phase, spec = record.phase, record.spec
    poll, alarm_watch = timings.poll, timings.alarm_watch
    elapsed = now - record.phase_started_at

    if phase.terminal:
        return Decision(phase, "rollout finished")
    if phase == RolloutPhase.ROLLING_BACK:
        # The rollback actions run on every tick of this phase (they are idempotent), so an abort
        # that arrives before any traffic moved still scales the idle colour down and reverts the image.
        actions = _rollback_actions(record)
        if record.mode == "rolling" or observed.listener_weights == record.live_only:
            return Decision(RolloutPhase.ROLLED_BACK, f"rolled back: {record.rollback_reason}", actions=actions, evidence={"weights": record.live_only.model_dump()})
        return Decision(phase, "restoring all traffic to the old colour", actions=actions, wake_at=now + poll)
    if record.paused and phase == RolloutPhase.BAKING and observed.alarms_in_alarm:
        # A pause holds progress, never protection: a firing alarm still rolls back.
        return _rollback(record, f"alarm {', '.join(observed.alarms_in_alarm)} fired during the (paused) bake", {"gate": "alarms", "alarms": observed.alarms_in_alarm})
    if record.paused:
        if record.paused_by_window and observed.window_open:
            return Decision(phase, "the change window is open again; resuming", wake_at=now, resume=True)
        return _wait(record, now, timings.paused_poll, f"paused: {record.pause_reason or 'by an operator'}")

    if phase == RolloutPhase.SCANNING:
        scan = observed.scan
        if scan is None or scan.status != "COMPLETE":
            if elapsed > timedelta(seconds=spec.scan_timeout_seconds):
                return _rollback(record, f"no completed ECR scan within {spec.scan_timeout_seconds}s", {"gate": "scan", "status": scan.status if scan else None})
            return _wait(record, now, poll, "waiting for the ECR scan of the new image")
        blocking = blocking_findings(scan, spec.scan_severity_threshold)
        if blocking:
            return _rollback(
                record,
                f"ECR scan found {', '.join(f'{n} {sev}' for sev, n in sorted(blocking.items()))} (threshold {spec.scan_severity_threshold})",
                {"gate": "scan", "findings": scan.finding_counts},
            )
        if record.mode == "rolling":
            return Decision(
                RolloutPhase.DEPLOYING, "scan passed; deploying the new image (ECS rolling deployment, circuit breaker on)",
                actions=(Action(ActionKind.STAGE_IMAGE),), wake_at=now + poll, evidence={"gate": "scan", "findings": scan.finding_counts},
            )
        return Decision(
            RolloutPhase.DEPLOYING,
            "scan passed; staging the new image on the idle colour",
            actions=(Action(ActionKind.STAGE_IMAGE), Action(ActionKind.SCALE_COLOUR, colour=record.to_colour, count=record.live_desired_count)),
            wake_at=now + poll,
            evidence={"gate": "scan", "findings": scan.finding_counts},
        )

    if phase == RolloutPhase.DEPLOYING and record.mode == "rolling":
        deployment = observed.deployment
        if deployment is not None and deployment.rollout_state == "FAILED":
            return _rollback(record, "the ECS deployment failed and its circuit breaker rolled it back", {"gate": "deployment", "deployment": deployment.model_dump()})
        if (
            deployment is not None
            and deployment.image is not None
            and deployment.image.endswith(record.new_image.reference)
            and deployment.rollout_state == "COMPLETED"
            and deployment.running_count >= record.live_desired_count
        ):
            return Decision(RolloutPhase.COMPLETE, "deployed: the ECS deployment of the new image completed", evidence={"gate": "deployment", "deployment": deployment.model_dump()})
        if elapsed > timedelta(seconds=spec.deploy_timeout_seconds):
            return _rollback(
                record, f"the new image did not finish deploying within {spec.deploy_timeout_seconds}s",
                {"gate": "deployment", "deployment": deployment.model_dump() if deployment else None},
            )
        return _wait(record, now, poll, "waiting for the ECS deployment of the new image")

    if phase == RolloutPhase.DEPLOYING:
        deployment, targets = observed.deployment, observed.targets
        ready = (
            deployment is not None
            and deployment.image is not None
            and deployment.image.endswith(record.new_image.reference)
            and deployment.rollout_state == "COMPLETED"
            and deployment.running_count >= record.live_desired_count
            and targets is not None
            and targets.all_healthy
        )
        if ready:
            return Decision(RolloutPhase.SMOKE_TESTING, "idle colour deployed and every target healthy", wake_at=now, evidence={"gate": "targets", "healthy": targets.healthy if targets else []})
        if elapsed > timedelta(seconds=spec.deploy_timeout_seconds) or (deployment is not None and deployment.rollout_state == "FAILED"):
            return _rollback(
                record,
                "the idle colour did not become healthy" + (" (ECS deployment failed)" if deployment and deployment.rollout_state == "FAILED" else f" within {spec.deploy_timeout_seconds}s"),
                {
                    "gate": "targets",
                    "deployment": deployment.model_dump() if deployment else None,
                    "unhealthyTargets": targets.unhealthy if targets else {},
                },
            )
        return _wait(record, now, poll, "waiting for the idle colour's deployment and target health")

    if phase == RolloutPhase.SMOKE_TESTING:
        smoke = observed.smoke
        if smoke is not None and smoke.passed:
            return _shift_to(record, 0, now, "smoke checks passed", {"gate": "smoke", "checks": smoke.checks}, observed, timings)
        if elapsed > timedelta(seconds=spec.smoke_timeout_seconds):
            return _rollback(
                record,
                f"smoke checks did not pass within {spec.smoke_timeout_seconds}s",
                {"gate": "smoke", "checks": smoke.checks if smoke else []},
            )
        return _wait(record, now, poll, "smoke checks not passing yet", evidence={"checks": smoke.checks if smoke else []})

    target = record.target_weights(spec.steps[record.step_index])
    if phase == RolloutPhase.SHIFTING:
        if observed.listener_weights == target:
            bake_until = now if record.manual_promote else now + timedelta(seconds=spec.bake_seconds)
            return Decision(
                RolloutPhase.BAKING,
                f"listener shows {spec.steps[record.step_index]} % on {record.to_colour}; baking until {bake_until.isoformat()}",
                wake_at=min(bake_until, now + alarm_watch),
                bake_until=bake_until,
                evidence={"weights": target.model_dump()},
            )
        if elapsed > timings.weights_take_effect_within:
            return _rollback(
                record,
                "the listener never showed the new weights",
                {"gate": "weights", "expected": target.model_dump(), "observed": observed.listener_weights.model_dump() if observed.listener_weights else None},
            )
        return Decision(phase, "weights not visible on the listener yet; setting them again", actions=(Action(ActionKind.SET_WEIGHTS, weights=target),), wake_at=now + timings.weights_retry)

    if phase == RolloutPhase.BAKING:
        if observed.alarms_in_alarm:
            return _rollback(record, f"alarm {', '.join(observed.alarms_in_alarm)} fired during the bake", {"gate": "alarms", "alarms": observed.alarms_in_alarm})
        next_index = record.step_index + 1
        if (
            observed.listener_weights != target
            and record.bake_until is not None
            and now >= record.bake_until
            and next_index < len(spec.steps)
            and observed.listener_weights == record.target_weights(spec.steps[next_index])
        ):
            # A worker shifted to the next step after this bake and died before recording it:
            # carry on from there instead of moving customers back.
            return Decision(
                RolloutPhase.SHIFTING, f"the listener already shows step {next_index + 1}; continuing from it",
                wake_at=now, step_index=next_index, evidence={"observed": observed.listener_weights.model_dump()},
            )
        if observed.listener_weights != target:
            return Decision(
                RolloutPhase.SHIFTING, "listener weights changed during the bake; setting them again",
                actions=(Action(ActionKind.SET_WEIGHTS, weights=target),), wake_at=now + timings.weights_retry,
                evidence={"observed": observed.listener_weights.model_dump() if observed.listener_weights else None},
            )
        assert record.bake_until is not None
        if now < record.bake_until:
            return _wait(record, now, min(alarm_watch, record.bake_until - now), "baking")
        if record.step_index == len(spec.steps) - 1:
            return Decision(
                RolloutPhase.PROMOTED,
                f"{record.to_colour} is live at 100 %; {record.from_colour} is kept for {spec.scale_down_delay_seconds}s for a quick manual rollback",
                actions=(Action(ActionKind.MARK_LIVE),),
                wake_at=now + timedelta(seconds=spec.scale_down_delay_seconds),
            )
        return _shift_to(record, record.step_index + 1, now, "bake passed", {}, observed, timings)

    if phase == RolloutPhase.PROMOTED:
        assert record.promoted_at is not None
        done_at = record.promoted_at + timedelta(seconds=spec.scale_down_delay_seconds)
        if now < done_at:
            return _wait(record, now, done_at - now, "waiting to scale the old colour down")
        gate = observed.verify
        if gate is not None and gate.status == "failed":
            # The old colour still runs: all traffic goes back to it before anything is scaled down.
            names = ", ".join(str(f.get("name")) for f in gate.failures) or gate.headline
            return _rollback(record, f"the promotion gate failed: {names}", {"gate": "verify", "headline": gate.headline, "failures": gate.failures})
        if gate is not None and gate.status == "passed":
            return Decision(
                RolloutPhase.COMPLETE, f"scaled {record.from_colour} down",
                actions=(Action(ActionKind.SCALE_COLOUR, colour=record.from_colour, count=0),),
                evidence={"gate": "verify", "status": gate.status, "headline": gate.headline},
            )
        return _hold_for_gate(record, gate, now, done_at, timings)

    raise ValueError(f"unknown rollout phase {phase}")


def _shift_to(
    record: RolloutRecord, index: int, now: datetime, reason: str, evidence: dict[str, Any], observed: Observed, timings: RolloutTimings
) -> Decision:
    if not observed.window_open:
        # Never cross into a deny window mid-rollout: hold at the current step and say why.
        return Decision(record.phase, f"paused at step {record.step_index + 1}: {observed.window_reason}", wake_at=now + timings.paused_poll, pause_reason=observed.window_reason)
    weights = record.target_weights(record.spec.steps[index])
    return Decision(
        RolloutPhase.SHIFTING,
        f"{reason}; shifting {record.spec.steps[index]} % to {record.to_colour}",
        actions=(Action(ActionKind.SET_WEIGHTS, weights=weights),),
        wake_at=now + timings.weights_retry,
        evidence=evidence,
        step_index=index,
    )


NO_GATE = "no promotion gate result: this runtime has no gate wired, so nothing checked the new colour"


def _hold_for_gate(record: RolloutRecord, gate: VerifyGate | None, now: datetime, done_at: datetime, timings: RolloutTimings) -> Decision:
    """The gate could not check: the old colour stays up; look again on a bounded backoff, and past
    ``gate_hold`` pause for a person (never complete unchecked, never roll back a rollout nothing found wrong)."""
    # A person's resume starts a new hold: they asked for the gate to be tried again.
    resumed = [t.at for t in record.history if t.action == "resume" and t.at >= done_at]
    held_since = max([done_at, *resumed])
    held = now - held_since
    headline = gate.headline if gate is not None else NO_GATE
    evidence: dict[str, Any] = {
        "gate": "verify", "status": gate.status if gate is not None else "could-not-check", "headline": headline,
        "failures": gate.failures if gate is not None else [], "heldSeconds": int(held.total_seconds()),
    }
    if held >= timings.gate_hold:
        reason = (
            f"the promotion gate could not check {record.service} {record.to_colour} for {int(held.total_seconds())}s: {headline}; "
            f"{record.from_colour} is kept up; fix what the gate needs and resume, or abort to roll back"
        )
        return Decision(
            record.phase, reason, wake_at=now + timings.paused_poll, pause_reason=reason, pause_by_window=False,
            evidence={**evidence, "reason": Reason.VERIFY_UNCHECKED.value},
        )
    # Bounded backoff from the hold's own length (pure: no counter to keep): retry, 2x, 4x ... up to retry_max.
    wait = min(timings.gate_retry_max, max(timings.gate_retry, held), held_since + timings.gate_hold - now)
    return Decision(
        record.phase, f"holding {record.from_colour} up: the promotion gate could not check {record.service} {record.to_colour}: {headline}",
        wake_at=now + max(wait, timedelta(seconds=1)), evidence=evidence,
    )
