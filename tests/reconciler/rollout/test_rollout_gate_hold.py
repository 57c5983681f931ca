"""The promotion gate's three answers: passed scales the old colour down, failed rolls back, could-not-check holds.

Holding keeps the old colour up and looks again on a bounded backoff; past ``verify.gateHoldSeconds``
the rollout is paused and a person notified. A rollout is never completed unchecked.
"""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

import pytest

from desired_state.traffic import ColourWeights
from reconciler.adapters.notify import SnsNotifier
from reconciler.events import EventKind, Reason
from reconciler.redact import Redactor
from reconciler.rollout import commands
from reconciler.rollout.controller import apply_decision
from reconciler.rollout.decide import DEFAULT_TIMINGS, Observed, RolloutTimings, VerifyGate, decide
from reconciler.rollout.model import RolloutPhase, Transition
from reconciler.rollout.notify import rollout_notifier, transition_kind
from reconciler.settings import RolloutTimingSettings, VerifySettings

_spec = importlib.util.spec_from_file_location("rollout_decide_cases", Path(__file__).with_name("test_rollout_decide.py"))
_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cases)  # type: ignore[union-attr]
make, NOW = _cases.make, _cases.NOW

DELAY = 900  # the decide cases' spec: scale_down_delay_seconds
UNCHECKED = VerifyGate(status="could-not-check", headline="the promotion gate could not read what was applied (ReconcilerError): no applied commit")


def promoted(held: timedelta = timedelta(0), **fields):
    """Promoted, its scale-down due ``held`` ago."""
    return make(RolloutPhase.PROMOTED, step_index=2, weights=ColourWeights(blue=0, green=100),
                promoted_at=NOW - timedelta(seconds=DELAY) - held, **fields)


@pytest.mark.parametrize("gate", [UNCHECKED, None], ids=["could-not-check", "no-gate-result"])
def test_a_gate_that_could_not_check_holds_the_old_colour_up_and_looks_again(gate):
    decision = decide(promoted(), Observed(verify=gate), NOW)

    assert decision.phase == RolloutPhase.PROMOTED
    assert decision.actions == ()  # nothing scaled down, nothing rolled back
    assert decision.pause_reason is None
    assert decision.wake_at == NOW + DEFAULT_TIMINGS.gate_retry
    assert decision.evidence["status"] == "could-not-check"
    assert "could not check" in decision.reason and "blue" in decision.reason  # blue: the old colour, kept up


def test_the_hold_backs_off_up_to_its_bound():
    timings = RolloutTimings(gate_retry=timedelta(seconds=30), gate_retry_max=timedelta(seconds=300), gate_hold=timedelta(seconds=3600))
    waits = []
    held = timedelta(0)
    for _ in range(12):
        decision = decide(promoted(held), Observed(verify=UNCHECKED), NOW, timings)
        assert decision.phase == RolloutPhase.PROMOTED and decision.pause_reason is None
        wait = decision.wake_at - NOW
        waits.append(int(wait.total_seconds()))
        held += wait
    assert waits[:5] == [30, 30, 60, 120, 240]
    assert max(waits) == 300 and waits[-1] == 300


def test_the_hold_never_sleeps_past_its_deadline():
    timings = RolloutTimings(gate_retry=timedelta(seconds=30), gate_retry_max=timedelta(seconds=300), gate_hold=timedelta(seconds=1000))
    decision = decide(promoted(timedelta(seconds=950)), Observed(verify=UNCHECKED), NOW, timings)
    assert decision.wake_at == NOW + timedelta(seconds=50)


def test_past_the_deadline_the_rollout_is_paused_for_a_person_not_completed():
    record = promoted(DEFAULT_TIMINGS.gate_hold)
    decision = decide(record, Observed(verify=UNCHECKED), NOW)

    assert decision.phase == RolloutPhase.PROMOTED and decision.actions == ()
    assert decision.pause_reason and not decision.pause_by_window
    assert decision.evidence["reason"] == Reason.VERIFY_UNCHECKED.value
    assert "resume" in decision.reason and "abort" in decision.reason

    paused = apply_decision(record, decision, NOW)
    assert paused.paused and not paused.paused_by_window and paused.pause_reason == decision.pause_reason
    assert paused.history[-1].evidence["reason"] == Reason.VERIFY_UNCHECKED.value
    assert transition_kind(paused, paused.history[-1]) == EventKind.ROLLOUT_VERIFY_UNCHECKED
    # A paused rollout waits for a person: the open window does not lift this pause.
    later = decide(paused, Observed(verify=UNCHECKED, window_open=True), NOW + timedelta(hours=5))
    assert later.phase == RolloutPhase.PROMOTED and not later.resume and later.actions == ()


def test_a_resume_gives_the_gate_a_new_hold():
    resumed_at = NOW - timedelta(seconds=10)
    history = [Transition(at=NOW - timedelta(hours=1), from_phase=None, to_phase=RolloutPhase.SCANNING, reason="started"),
               Transition(at=resumed_at, from_phase=RolloutPhase.PROMOTED, to_phase=RolloutPhase.PROMOTED, reason="resumed by dave", by="dave", action="resume")]
    record = promoted(DEFAULT_TIMINGS.gate_hold * 3, history=history)
    decision = decide(record, Observed(verify=UNCHECKED), NOW)
    assert decision.pause_reason is None and decision.phase == RolloutPhase.PROMOTED
    assert decision.evidence["heldSeconds"] == 10


def test_only_a_passing_gate_scales_the_old_colour_down():
    for status in ("could-not-check", "failed"):
        assert decide(promoted(), Observed(verify=VerifyGate(status=status, headline="x")), NOW).phase != RolloutPhase.COMPLETE
    assert decide(promoted(), Observed(verify=VerifyGate(status="passed", headline="x")), NOW).phase == RolloutPhase.COMPLETE


def test_the_gate_status_has_three_values_and_skipped_is_not_one():
    with pytest.raises(ValueError):
        VerifyGate(status="skipped", headline="x")


def test_the_hold_timings_come_from_the_verify_settings():
    timings = RolloutTimings.from_settings(RolloutTimingSettings(), VerifySettings(gate_retry_seconds=5, gate_retry_max_seconds=50, gate_hold_seconds=600))
    assert (timings.gate_retry, timings.gate_retry_max, timings.gate_hold) == (timedelta(seconds=5), timedelta(seconds=50), timedelta(seconds=600))
    with pytest.raises(ValueError, match="gateRetryMaxSeconds"):
        VerifySettings(gate_retry_seconds=60, gate_retry_max_seconds=30)


def test_over_the_controller_a_gate_that_cannot_check_holds_then_pauses_and_notifies(world, sns_topic):
    """The real controller over moto: the old colour keeps its tasks throughout; the pause is published."""
    world.gate.verdict = UNCHECKED
    notify = rollout_notifier(SnsNotifier(sns_topic.sns, sns_topic.arn, redactor=Redactor()), Redactor())
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    controller = world.controller(on_transition=notify)
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.PROMOTED, controller=controller)
    old = record.from_colour
    sns_topic.read()

    record, snapshots = world.run(record.rollout_id, until=lambda r: r.paused, controller=controller)

    assert record.phase == RolloutPhase.PROMOTED and record.paused and not record.paused_by_window
    assert all(s.counts[old] == 2 for s in snapshots), "the old colour was scaled down while the gate could not check"
    assert len(world.gate.calls) >= 3  # looked again before giving up
    published = [n for n in sns_topic.read() if n["attributes"]["kind"] == EventKind.ROLLOUT_VERIFY_UNCHECKED.value]
    assert len(published) == 1
    assert published[0]["attributes"]["severity"] == "error"
    assert "could not read what was applied" in published[0]["message"]["reason"]

    # Held while paused: more ticks scale nothing down and do not run the gate again.
    calls = len(world.gate.calls)
    for _ in range(3):
        world.clock.advance(3600)
        record, _ = world.tick(record.rollout_id, controller)
    assert record.phase == RolloutPhase.PROMOTED and world.desired_counts("frontend")[old] == 2 and len(world.gate.calls) == calls

    # A person resumes once the gate can check: it passes, and only then is the old colour scaled down.
    commands.resume(world.store, record.rollout_id, by="dave", now=world.clock(), on_transition=notify)
    world.gate.verdict = VerifyGate(status="passed", headline="all 9 checks passed")
    record, _ = world.run(record.rollout_id, controller=controller)
    assert record.phase == RolloutPhase.COMPLETE and world.desired_counts("frontend")[old] == 0
