"""template.yaml's DriftCheck schedule reaches the drift check, and the worker may write the check's metric."""

from __future__ import annotations

import json

import pytest

from reconciler.events import Reason
from reconciler.models import Trigger
from reconciler.settings import DriftCheckSettings
from reconciler.triggers import jobs_from_eventbridge
from tests.deploy.cfn import load_template
from tests.reconciler.drift.checking import make_world

@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


def schedule_input(template: dict, name: str) -> dict:
    for resource in template["Resources"].values():
        for event in (resource.get("Properties", {}).get("Events") or {}).values() if isinstance(resource, dict) else ():
            if event.get("Type") == "ScheduleV2" and event["Properties"]["Name"] == name:
                return json.loads(event["Properties"]["Input"])
    raise AssertionError(f"no schedule {name} in template.yaml")


def test_the_drift_check_schedule_becomes_drift_checks_the_worker_runs(template, make_harness, reconciler_aws, read_notifications, clock):
    world = make_world(make_harness, reconciler_aws, read_notifications)
    tick = schedule_input(template, "ecs-gitops-drift-check")
    tick["executionId"] = "c0ffee00-1111-2222-3333-444455556666"  # EventBridge Scheduler fills the placeholder

    jobs = jobs_from_eventbridge(world.harness.settings, tick, clock())
    assert {(job.environment, job.trigger) for job in jobs} == {("dev", Trigger.SCHEDULED_DRIFT_CHECK), ("prod", Trigger.SCHEDULED_DRIFT_CHECK)}
    for job in jobs:
        world.queue.send(job)
    outcomes = world.work() + world.work()

    # Only a drift check says "nothing applied yet": each job reached the check (no converge ran).
    assert sorted(o.reason for o in outcomes) == [Reason.NOTHING_APPLIED, Reason.NOTHING_APPLIED]
    assert world.engine.operations == []


def test_the_worker_may_put_the_drift_metric_in_its_namespace_only(template):
    statements = template["Resources"]["WorkerTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    [metric] = [s for s in statements if "cloudwatch:PutMetricData" in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert metric["Effect"] == "Allow" and metric["Resource"] == "*"
    assert metric["Condition"] == {"StringEquals": {"cloudwatch:namespace": DriftCheckSettings().metric_namespace}}
