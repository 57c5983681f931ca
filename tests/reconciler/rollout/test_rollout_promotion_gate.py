"""The promotion's last gate: the traffic and service checks of the new colour, before the old one is scaled down."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

from desired_state.traffic import ColourWeights
from reconciler.rollout.decide import ActionKind, Observed, VerifyGate, decide
from reconciler.rollout.model import RolloutPhase

# The decide tests' record builder (tests/ has no packages: loaded from its file).
_spec = importlib.util.spec_from_file_location("rollout_decide_cases", Path(__file__).with_name("test_rollout_decide.py"))
_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cases)  # type: ignore[union-attr]
make, NOW = _cases.make, _cases.NOW


def promoted(delay_passed: bool = True):
    at = NOW - timedelta(seconds=900 if delay_passed else 10)
    return make(RolloutPhase.PROMOTED, step_index=2, weights=ColourWeights(blue=0, green=100), promoted_at=at)


FAILED = VerifyGate(
    status="failed",
    headline="dev: 1 of 9 checks failed: traffic.frontend-green.target-health: 1 of 2 target(s) not healthy",
    failures=[{"name": "traffic.frontend-green.target-health", "detail": "1 of 2 target(s) not healthy", "evidence": {"unhealthy": {"10.0.0.7:8080": "unhealthy"}}}],
)


def test_a_failing_gate_rolls_back_with_the_failing_check_as_evidence():
    decision = decide(promoted(), Observed(verify=FAILED), NOW)

    assert decision.phase == RolloutPhase.ROLLING_BACK
    assert "traffic.frontend-green.target-health" in decision.reason
    assert decision.evidence == {"gate": "verify", "headline": FAILED.headline, "failures": FAILED.failures}
    kinds = [a.kind for a in decision.actions]
    assert kinds[:2] == [ActionKind.SET_WEIGHTS, ActionKind.RESTORE_LIVE]
    assert ActionKind.SCALE_COLOUR in kinds  # the new colour goes down; the old one was never scaled down
    assert all(not (a.kind == ActionKind.SCALE_COLOUR and a.colour == "blue") for a in decision.actions)


def test_a_passing_gate_scales_the_old_colour_down_and_says_what_it_checked():
    gate = VerifyGate(status="passed", headline="dev: all 9 checks passed (0 skipped)")
    decision = decide(promoted(), Observed(verify=gate), NOW)

    assert decision.phase == RolloutPhase.COMPLETE
    assert [(a.kind, a.colour, a.count) for a in decision.actions] == [(ActionKind.SCALE_COLOUR, "blue", 0)]
    assert decision.evidence == {"gate": "verify", "status": "passed", "headline": gate.headline}


def test_a_gate_that_could_not_check_holds_the_promotion_and_is_on_record():
    """Changed by issue 12's review (V2): this was ``test_a_skipped_gate_does_not_hold_the_promotion_...`` (COMPLETE)."""
    gate = VerifyGate(status="could-not-check", headline="dev: verify could not run: no AWS clients")
    decision = decide(promoted(), Observed(verify=gate), NOW)
    assert decision.phase == RolloutPhase.PROMOTED and decision.actions == ()
    assert decision.evidence["status"] == "could-not-check" and decision.evidence["headline"] == gate.headline


def test_the_gate_is_read_only_when_the_scale_down_is_due():
    decision = decide(promoted(delay_passed=False), Observed(verify=FAILED), NOW)
    assert decision.phase == RolloutPhase.PROMOTED  # still waiting: a result read early decides nothing


def test_the_observer_runs_the_gate_only_when_the_scale_down_is_due():
    from reconciler.rollout.observe import RolloutObserver

    calls = []

    def gate(record, now):
        calls.append((record.rollout_id, now))
        return FAILED

    observer = RolloutObserver(None, None, None, None, lambda record: None, promotion_verify=gate)
    early = observer.observe(promoted(delay_passed=False), NOW)
    assert early.verify is None and calls == []
    due = observer.observe(promoted(), NOW)
    assert due.verify == FAILED and calls == [("r1", NOW)]
