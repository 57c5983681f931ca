"""The converge's verify phase: checks after `up`, the result on the audit record, a failure notified."""

from __future__ import annotations

from reconciler.events import EventKind, Reason
from reconciler.verify.phase import EnvironmentVerifier
from reconciler.verify.seams import Timing
from verify_layout import AlbHttpDouble


def _verifier(layout, fake_time):
    return EnvironmentVerifier(
        lambda region: layout.clients(),
        Timing(target_health_timeout_seconds=30, poll_seconds=10, monotonic=fake_time.monotonic, sleep=fake_time.sleep),
        AlbHttpDouble(layout.client("elbv2"), layout.outputs),
    )


def _converge(harness, verifier=None):
    harness.source.refresh()
    converger = harness.converger()
    converger.verifier = verifier
    return converger.converge(harness.job())


def test_without_aws_clients_the_checks_are_skipped_and_the_record_says_so(harness):
    """The engine double creates nothing in AWS: there is nothing to check, and that is not a pass."""
    outcome = _converge(harness)

    assert outcome.outcome == "succeeded"
    record = harness.last_record()
    assert record.verify is not None
    assert record.verify.status == "skipped" and not record.verify.passed
    assert "no AWS clients in this process" in record.verify.skipped_reason
    assert "ecs-gitops verify --environment dev" in record.verify.skipped_reason
    assert record.model_dump(by_alias=True, mode="json")["verify"]["status"] == "skipped"


def test_the_checks_pass_after_up_and_the_record_carries_them(harness, layout, fake_time):
    harness.engine.output_overrides = dict(layout.outputs)

    outcome = _converge(harness, _verifier(layout, fake_time))

    assert (outcome.outcome, outcome.kind, outcome.reason) == ("succeeded", EventKind.CONVERGE_SUCCEEDED, Reason.APPLIED)
    record = harness.last_record()
    assert record.verify.status == "passed"
    assert record.verify.counts["failed"] == 0 and record.verify.counts["passed"] > 40
    assert harness.status().last_applied_commit == harness.repo.head


def test_a_failing_check_fails_the_converge_is_notified_and_recorded(harness, layout, fake_time, undo):
    logs = layout.client("logs")
    logs.put_retention_policy(logGroupName="/ecs-gitops/dev/processing-service", retentionInDays=7)
    undo(lambda: logs.put_retention_policy(logGroupName="/ecs-gitops/dev/processing-service", retentionInDays=30))
    harness.engine.output_overrides = dict(layout.outputs)

    outcome = _converge(harness, _verifier(layout, fake_time))

    assert (outcome.outcome, outcome.kind, outcome.reason) == ("failed", EventKind.VERIFY_FAILED, Reason.VERIFY_FAILED)
    assert "logs.processing-service.retention" in outcome.message
    record = harness.last_record()
    assert record.kind == EventKind.VERIFY_FAILED
    assert [f.name for f in record.verify.failures] == ["logs.processing-service.retention"]
    assert record.verify.failures[0].evidence["retentionInDays"] == 7
    # It was applied all the same: the stack is at the commit, only not healthy.
    assert harness.status().last_applied_commit == harness.repo.head
    [notification] = harness.notifications()
    assert notification["kind"] == "verify-failed"
    assert notification["details"]["verifyFailures"][0]["name"] == "logs.processing-service.retention"


def test_outputs_the_program_does_not_export_fail_the_phase(harness, layout, fake_time):
    """An older program's stack without the outputs verify reads: failed with what to do, never passed."""
    outputs = dict(layout.outputs)
    del outputs["securityGroupIds"]
    harness.engine.output_overrides = outputs

    outcome = _converge(harness, _verifier(layout, fake_time))

    assert outcome.kind == EventKind.VERIFY_FAILED
    failure = next(f for f in harness.last_record().verify.failures if f.name == "isolation.outputs")
    assert failure.evidence == {"missingOutput": "securityGroupIds"}


def test_an_output_of_the_wrong_shape_fails_its_group_not_the_worker(harness, layout, fake_time):
    outputs = dict(layout.outputs)
    outputs["securityGroupIds"] = {"alb": outputs["securityGroupIds"]["alb"]}  # the tiers' groups missing
    harness.engine.output_overrides = outputs

    outcome = _converge(harness, _verifier(layout, fake_time))

    assert outcome.kind == EventKind.VERIFY_FAILED
    failure = next(f for f in harness.last_record().verify.failures if f.name == "isolation.outputs")
    assert failure.evidence["unreadableOutput"] in ("'api-gateway'", "'frontend'", "'processing-service'")
