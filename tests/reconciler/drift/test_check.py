"""One drift check end to end through the worker: job queue, lease, status, audit, SNS, CloudWatch on moto.

The engine is the EngineDouble (it stands in for the Pulumi CLI, which cannot run here); its
``refresh_steps`` are SDK ``StepEventMetadata`` objects shaped as a refreshed preview reports them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from desired_state.loader import load_environment
from reconciler.errors import EngineError, EngineUnavailableError, StackLockedError
from reconciler.events import EventKind, Reason
from reconciler.models import PlanSummary, Trigger
from reconciler.rollout.model import RolloutPhase
from tests.reconciler.drift.checking import (
    make_world,
    retention_lowered,
    rollout,
    sg_ingress_opened,
    tag_changed,
)


@pytest.fixture
def world(make_harness, reconciler_aws, read_notifications):
    return make_world(make_harness, reconciler_aws, read_notifications)


def preview_state(world) -> dict:
    """The desired state the drift check's (first, refreshed) preview rendered."""
    request = world.engine.requests("preview")[0]
    assert request.refresh is True
    return json.loads(request.config["ecs-gitops:desiredState"])


# --------------------------------------------------------------------------- report mode: the notification


def test_drift_is_notified_once_with_the_headline_the_json_report_and_filterable_attributes(world, tmp_path):
    from reconciler.drift.report import headline

    applied = world.apply_head()
    world.engine.refresh_steps = (sg_ingress_opened(), retention_lowered())
    # The refreshed preview's own totals, as the engine reports them beside its steps.
    world.engine.summary = PlanSummary(update=2, same=41, resources={"update": ["lg-frontend-dev", "sg-api-gateway-dev"]})

    outcome = world.check()

    assert (outcome.kind, outcome.reason) == (EventKind.DRIFT_DETECTED, Reason.DRIFT)
    assert outcome.outcome == "dry-run"  # nothing applied
    report = outcome.drift_report
    assert {r.name for r in report.resources} == {"sg-api-gateway-dev", "lg-frontend-dev"}
    assert report.applied_commit == applied
    [note] = world.inbox()
    # Subject and first line: the report's headline, as a person reads it at a glance.
    assert note["subject"] == headline(report)[:100]
    assert note["subject"].startswith("dev: 2 resources drifted: ")
    assert "sg-api-gateway-dev" in note["subject"]
    body = note["message"]
    assert body["headline"] == headline(report)
    assert body["kind"] == "drift-detected" and body["severity"] == "error"  # a security group: high
    assert body["commit"] == applied
    assert body["report"]["appliedCommit"] == applied
    assert {r["name"]: r["severity"] for r in body["report"]["resources"]}["sg-api-gateway-dev"] == "high"
    assert all(isinstance(p["masked"], bool) for r in body["report"]["resources"] for p in r["properties"])
    assert body["drift"]["result"] == "drifted" and body["drift"]["drifted"] == 2
    assert note["attributes"]["environment"] == "dev"
    assert note["attributes"]["kind"] == "drift-detected"
    assert note["attributes"]["severity"] == "error"
    assert note["attributes"]["driftSeverity"] == "high"
    assert json.loads(note["attributes"]["resourceTypes"]) == ["aws:cloudwatch/logGroup:LogGroup", "aws:ec2/securityGroup:SecurityGroup"]
    # Report mode: nothing queued, nothing applied.
    assert world.queued() == [] and world.engine.operations == ["preview"]
    # The notification as delivered, for the README (ECS_GITOPS_DRIFT_NOTIFICATION_OUT names where else to keep it).
    saved = json.dumps(note, indent=2, sort_keys=True)
    (tmp_path / "drift-notification.json").write_text(saved)
    if os.environ.get("ECS_GITOPS_DRIFT_NOTIFICATION_OUT"):
        Path(os.environ["ECS_GITOPS_DRIFT_NOTIFICATION_OUT"]).write_text(saved)


@pytest.mark.parametrize(
    ("steps", "severity", "drift_severity"),
    [((retention_lowered(),), "warning", "medium"), ((tag_changed(),), "info", "low")],
)
def test_notification_severity_is_the_highest_drift_severity(world, steps, severity, drift_severity):
    world.apply_head()
    world.engine.refresh_steps = steps

    world.check()

    [note] = world.inbox()
    assert (note["attributes"]["severity"], note["attributes"]["driftSeverity"]) == (severity, drift_severity)


def test_status_audit_and_metric_keep_a_drifted_check(world, clock):
    applied = world.apply_head()
    world.engine.refresh_steps = (sg_ingress_opened(),)
    checked_at = clock()

    outcome = world.check()

    last = world.harness.status().last_drift_check
    assert (last.result, last.drifted, last.applied_commit) == ("drifted", 1, applied)
    assert last.counts == {"low": 0, "medium": 0, "high": 1}
    assert last.checked_at == checked_at and last.remediation_job_id is None
    record = world.harness.last_record()
    assert record.trigger == Trigger.SCHEDULED_DRIFT_CHECK and record.kind == EventKind.DRIFT_DETECTED
    assert record.commit == applied and record.drift == last
    assert world.metric("DriftedResources") == [1.0]
    assert world.metric("DriftCheckFailed") == [0.0]
    assert world.harness.status().lease is None and outcome.outcome == "dry-run"


# --------------------------------------------------------------------------- applied commit, not the branch head


def test_a_pushed_unapplied_change_is_pending_not_drift(world, git_repo):
    applied = world.apply_head()
    applied_state = json.loads(load_environment(git_repo.path, "dev").state.model_dump_json(by_alias=True))
    pending = git_repo.bump("dev")  # pushed, never converged
    head_state = json.loads(load_environment(git_repo.path, "dev").state.model_dump_json(by_alias=True))

    outcome = world.check()

    assert (outcome.kind, outcome.reason) == (EventKind.NO_DRIFT, Reason.IN_SYNC)
    # The preview rendered the applied commit's desired state, not the head's.
    assert preview_state(world) == applied_state != head_state
    record = world.harness.last_record()
    assert record.commit == applied and record.drift.result == "no-drift" and record.drift.applied_commit == applied
    # No message when nothing drifted; the audit record and the metric either way.
    assert world.inbox() == []
    assert world.metric("DriftedResources") == [0.0]
    assert world.harness.status().last_drift_check.result == "no-drift"
    assert world.harness.status().last_applied_commit == applied != pending


def test_no_applied_commit_is_nothing_to_compare_not_no_drift(world):
    outcome = world.check()

    assert (outcome.outcome, outcome.reason) == ("skipped", Reason.NOTHING_APPLIED)
    assert "not 'no drift'" in outcome.message
    assert world.engine.operations == []
    assert world.harness.status().last_drift_check is None
    assert world.harness.last_record().reason == Reason.NOTHING_APPLIED


def test_a_check_runs_outside_the_change_window(world, clock):
    """A check applies nothing: the window holds converges (a remediation's too), not checks."""
    from datetime import time

    from reconciler.settings import ChangeWindow

    world.apply_head()
    world.harness.configure("dev", windows=(ChangeWindow(kind="deny", start=time(0, 0), end=time(23, 59), timezone="UTC"),))
    world.engine.fail("preview", EngineError("pulumi preview failed: boom"))  # any result shows the check ran past the guard

    outcome = world.check()

    assert outcome.kind == EventKind.DRIFT_CHECK_FAILED and world.engine.operations == ["preview"]


# --------------------------------------------------------------------------- a check that cannot run


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (EngineUnavailableError("the Pulumi CLI is not installed: install it"), Reason.ENGINE_UNAVAILABLE),
        (EngineError("pulumi preview failed for dev: error: no valid credential sources for AWS Provider found"), Reason.ENGINE_FAILED),
        # Locked past the engine's own retries (a lock found stuck is reported as StackLocked, as for converges).
        (StackLockedError("stack dev is locked by another update after 5 attempts; it was not forced"), Reason.ENGINE_FAILED),
    ],
    ids=["engine-unavailable", "engine-error-credentials", "stack-locked"],
)
def test_a_check_that_cannot_compare_is_a_failed_check_never_no_drift(world, failure, reason):
    applied = world.apply_head()
    world.engine.fail("preview", failure)

    outcome = world.check()

    assert (outcome.outcome, outcome.kind, outcome.reason) == ("failed", EventKind.DRIFT_CHECK_FAILED, reason)
    [note] = world.inbox()
    assert note["attributes"]["kind"] == "drift-check-failed" and note["attributes"]["severity"] == "error"
    assert note["message"]["drift"]["result"] == "failed"
    last = world.harness.status().last_drift_check
    assert (last.result, last.applied_commit) == ("failed", applied) and str(failure) in last.message
    record = world.harness.last_record()
    assert record.kind == EventKind.DRIFT_CHECK_FAILED and record.drift == last
    assert world.metric("DriftCheckFailed") == [1.0]
    assert world.metric("DriftedResources") == []
    assert world.queued() == []  # done with: the next scheduled check runs again


def test_an_applied_commit_gone_from_the_source_is_a_failed_check(world):
    world.apply_head()
    gone = "0123456789abcdef0123456789abcdef01234567"
    world.harness.states.update("dev", lambda s: s.model_copy(update={"last_applied_commit": gone}))

    outcome = world.check()

    assert (outcome.kind, outcome.reason) == (EventKind.DRIFT_CHECK_FAILED, Reason.SOURCE_MISSING)
    assert gone[:12] in outcome.message and world.engine.operations == []
    assert world.harness.status().last_drift_check.result == "failed"


# --------------------------------------------------------------------------- deferred during a traffic shift


@pytest.mark.parametrize("phase", [RolloutPhase.SHIFTING, RolloutPhase.BAKING, RolloutPhase.ROLLING_BACK])
def test_a_check_during_a_traffic_shift_is_deferred_and_says_so(world, phase):
    applied = world.apply_head()
    world.rollouts.create(rollout(phase))

    outcome = world.check()

    assert (outcome.outcome, outcome.kind, outcome.reason) == ("skipped", EventKind.DRIFT_CHECK_DEFERRED, Reason.ROLLOUT_SHIFTING_TRAFFIC)
    assert "frontend (rollout r-frontend-1" in outcome.message and "next scheduled drift check" in outcome.message
    assert world.engine.operations == []  # nothing compared against a moving target
    [note] = world.inbox()
    assert note["attributes"]["kind"] == "drift-check-deferred" and note["attributes"]["severity"] == "info"
    last = world.harness.status().last_drift_check
    assert (last.result, last.drifted) == ("deferred", 0)
    assert world.harness.last_record().drift == last
    # Deferred to the next schedule, not re-queued (a bake can outlast the queue's redrive limit).
    assert world.queued() == []
    assert world.metric("DriftedResources") == [] and world.metric("DriftCheckFailed") == []
    assert applied == world.harness.status().last_applied_commit


@pytest.mark.parametrize("phase", [RolloutPhase.DEPLOYING, RolloutPhase.COMPLETE])
def test_a_rollout_not_shifting_traffic_does_not_defer_the_check(world, phase):
    world.apply_head()
    world.rollouts.create(rollout(phase))

    outcome = world.check()

    assert outcome.kind == EventKind.NO_DRIFT and world.engine.operations == ["preview"]


# --------------------------------------------------------------------------- remediation


def test_remediate_queues_a_converge_to_the_applied_commit_that_the_worker_applies(world, git_repo):
    applied = world.apply_head()
    pending = git_repo.bump("dev")  # the head moved on: remediation must not apply it
    world.harness.configure("dev", drift={"mode": "remediate"})
    world.engine.refresh_steps = (sg_ingress_opened(),)

    check = world.check()

    [job] = world.queued()
    assert (job.trigger, job.commit, job.environment) == (Trigger.DRIFT_REMEDIATION, applied, "dev")
    assert check.drift.remediation_job_id == job.job_id
    assert job.job_id in check.message
    [note] = world.inbox()
    assert note["message"]["drift"]["remediationJobId"] == job.job_id and note["message"]["report"]["resources"]

    remediated = world.work()  # the same queue, lease, policy gate and audit as any converge

    assert [(o.outcome, o.reason) for o in remediated] == [("succeeded", Reason.APPLIED)]
    [request] = world.engine.requests("up")
    assert json.loads(request.config["ecs-gitops:desiredState"]) == preview_state(world)
    # Refreshed, plan and up (pulumi up --refresh): the check's refreshed preview wrote nothing to the
    # state, so without it the up diffs against the state's stale copy and puts nothing back.
    assert request.refresh and all(r.refresh for r in world.engine.requests("preview"))
    record = world.harness.last_record()
    assert (record.trigger, record.commit) == (Trigger.DRIFT_REMEDIATION, applied)
    assert record.policy is not None and record.policy.passed
    assert world.harness.status().last_applied_commit == applied != pending
    [applied_note] = world.inbox()
    assert applied_note["attributes"]["kind"] == "converge-succeeded"


def test_a_remediation_waits_for_approval_where_converges_do_and_its_approval_applies_the_applied_commit(world, git_repo):
    from reconciler.approvals import approve

    applied = world.apply_head()
    pending = git_repo.bump("dev")
    world.harness.configure("dev", drift={"mode": "remediate"}, require_approval=True)
    world.engine.refresh_steps = (sg_ingress_opened(),)
    world.check()
    world.inbox()

    [waiting] = world.work()

    assert (waiting.outcome, waiting.reason) == ("waiting", Reason.AWAITING_APPROVAL)
    assert world.harness.status().pending_approval.commit == applied
    assert world.engine.operations.count("up") == 0

    approve(world.harness.states, world.harness.settings, "dev", applied, "alice", world.harness.clock(), world.queue)
    [approved] = world.queued()
    assert (approved.trigger, approved.commit) == (Trigger.DRIFT_REMEDIATION, applied)
    [outcome] = world.work()

    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.APPLIED)
    record = world.harness.last_record()
    assert (record.trigger, record.commit, record.approved_by) == (Trigger.DRIFT_REMEDIATION, applied, "alice")
    assert world.harness.status().last_applied_commit == applied != pending


def test_a_remediation_after_another_commit_was_applied_is_skipped(world, git_repo):
    first = world.apply_head()
    world.harness.configure("dev", drift={"mode": "remediate"})
    from reconciler.drift.check import remediation_job

    stale = remediation_job(world.harness.job(None, trigger=Trigger.SCHEDULED_DRIFT_CHECK), first, world.harness.clock())
    world.queue.send(world.harness.job(git_repo.bump("dev")))
    world.work()  # a newer commit is applied
    world.queue.send(stale)

    [outcome] = world.work()

    assert (outcome.outcome, outcome.reason) == ("skipped", Reason.SUPERSEDED)
    assert world.engine.operations.count("up") == 1


@pytest.mark.parametrize(
    ("limits", "steps", "remediated"),
    [
        ({"remediateSeverities": ["low", "medium"]}, (tag_changed(), retention_lowered()), True),
        ({"remediateSeverities": ["low", "medium"]}, (tag_changed(), sg_ingress_opened()), False),
        ({"remediateTypes": ["aws:ec2/securityGroup:SecurityGroup"]}, (sg_ingress_opened(),), True),
        ({"remediateTypes": ["aws:ec2/securityGroup:SecurityGroup"]}, (sg_ingress_opened(), tag_changed()), False),
    ],
    ids=["all-allowed-severities", "one-high-outside", "allowed-type", "one-type-outside"],
)
def test_limited_remediation_only_when_every_drifted_resource_is_allowed(world, limits, steps, remediated):
    world.apply_head()
    world.harness.configure("dev", drift={"mode": "remediate", **limits})
    world.engine.refresh_steps = steps

    outcome = world.check()

    queued = world.queued()
    assert bool(queued) is remediated
    assert (outcome.drift.remediation_job_id is not None) is remediated
    if not remediated:
        assert "outside drift.remediateTypes/remediateSeverities" in outcome.message
        assert "a converge would put back every drifted resource" in outcome.message
