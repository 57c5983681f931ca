"""Where rollouts run, the promotion gate is wired: with any engine (it reads the outputs the converge recorded)."""

from __future__ import annotations

import pytest

from reconciler.errors import SettingsError


def _components(world, kit, tmp_path, engine, session):
    from reconciler.adapters.audit import FileAuditLog
    from reconciler.adapters.notify import StreamNotifier
    from reconciler.redact import Redactor
    from reconciler.settings import AwsResources, ReconcilerSettings
    from reconciler.wiring import Components

    tick_url = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    settings = ReconcilerSettings.model_validate({"repository": {"url": "file:///r"}, "environments": {}}).model_copy(
        update={"aws": AwsResources(rollout_table=kit.ROLLOUT_TABLE, tick_queue_url=tick_url)}
    )
    return Components(settings, world.states, FileAuditLog(tmp_path / "audit"), StreamNotifier(), None, engine, Redactor(), None, None, session)


def test_build_rollouts_wires_the_gate_even_with_an_engine_that_creates_nothing(world, kit, tmp_path, make_engine):
    """Before: an engine without AWS resources (a local engine, the double) left no gate, and promotions passed unchecked."""
    from reconciler.verify.gate import PromotionVerifier
    from reconciler.wiring import build_rollouts

    rollouts = build_rollouts(_components(world, kit, tmp_path, make_engine(), world.session), world.clock)
    gate = rollouts.controller.observer.promotion_verify
    assert isinstance(gate, PromotionVerifier)
    assert gate.timing.run_timeout_seconds == 120  # verify.gateTimeoutSeconds, its own bound


def test_without_an_aws_session_rollouts_are_refused_at_start_up(world, kit, tmp_path, make_engine):
    from reconciler.wiring import build_rollouts

    with pytest.raises(SettingsError):
        build_rollouts(_components(world, kit, tmp_path, make_engine(), None), world.clock)
