"""A controller-decided rollback carries its reason into what it does: the revert commit and the
notifications name the gate and its evidence (the actions run with the record as decided)."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path


from reconciler.adapters.notify import StreamNotifier
from reconciler.redact import Redactor
from reconciler.rollout.controller import rollback_reason
from reconciler.rollout.model import RolloutPhase
from reconciler.rollout.writeback import GitImageWriteBack
from reconciler.rollout.notify import rollout_notifier


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()



def test_a_controller_decided_rollback_reverts_with_the_gate_and_its_evidence(world, kit, origin, tmp_path):
    stream = io.StringIO()
    controller = world.controller(
        images=GitImageWriteBack(str(origin), "main", world.states, work_dir=tmp_path),
        on_transition=rollout_notifier(StreamNotifier(stream), Redactor()),
    )
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    record, _ = world.tick(record.rollout_id, controller)
    assert record.phase == RolloutPhase.DEPLOYING
    # What the converge of the write-back commit does to the idle colour.
    world.point_colour_at("frontend", "green", image)
    world.register_targets("frontend", "green")
    record, _ = world.run(record.rollout_id, controller=controller, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 1)
    alarm = world.colour_alarm("frontend", "green", "5xx")
    world.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="5xx above 0 for 2 minutes")

    record, _ = world.run(record.rollout_id, controller=controller)

    assert record.phase == RolloutPhase.ROLLED_BACK
    why = f'alarm {alarm} fired during the bake (gate alarms; alarms: ["{alarm}"])'
    revert = git("log", "-1", "--format=%B", "main", cwd=origin)
    assert revert.startswith(f"ecs-gitops: revert frontend to {record.old_image.reference}")
    assert "None" not in revert
    assert f"rolled back: {why}." in revert
    assert record.rollback_reason == why
    # The revert committed the old image back, once.
    subjects = git("log", "--format=%s", "main", cwd=origin).splitlines()
    assert sum(s.startswith("ecs-gitops: revert frontend") for s in subjects) == 1

    published = [json.loads(line) for line in stream.getvalue().splitlines()]
    rolling_back, rolled_back = published[-2:]
    assert (rolling_back["phase"], rolled_back["phase"]) == ("rolling-back", "rolled-back")
    assert rolling_back["evidence"] == {"gate": "alarms", "alarms": [alarm]}
    assert rolling_back["reason"] == f"alarm {alarm} fired during the bake"
    assert rolled_back["reason"] == f"rolled back: {why}"


def test_the_rollback_reason_names_the_gate_and_evidence_without_url_credentials():
    evidence = {"gate": "smoke", "checks": [{"url": "http://smoke:Pw@alb.example:8443/healthz?token=abc", "status": 500}]}
    text = rollback_reason("smoke checks did not pass within 30s", evidence)
    assert text == 'smoke checks did not pass within 30s (gate smoke; checks: [{"status": 500, "url": "http://alb.example:8443/healthz"}])'
    assert rollback_reason("aborted", {}) == "aborted"
    assert rollback_reason("x", {"gate": "targets", "deployment": None, "unhealthyTargets": {}}) == "x (gate targets)"
    long = rollback_reason("x", {"gate": "deployment", "deployment": {"image": "i" * 2000}})
    assert len(long) < 700 and long.endswith("...)")
