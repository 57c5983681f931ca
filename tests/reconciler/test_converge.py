"""Converger: the happy path, phases saved in order, commit ordering, refusals and failures."""

from __future__ import annotations

import json

import pytest

from desired_state.loader import load_environment
from desired_state.traffic import ServiceTraffic, TrafficState
from program.platform import PROGRAM_VERSION
from reconciler.adapters.audit import DynamoAuditLog
from reconciler.adapters.notify import SnsNotifier
from reconciler.adapters.stack_state import DynamoStackStateStore, StackStatus
from reconciler.errors import UnexpectedJobError
from reconciler.events import EventKind, Phase, Reason
from reconciler.models import PlanSummary, Trigger

AUTHOR = "Test User <test@example.com>"


def assert_one_attempt_reported(harness, environment: str = "dev") -> tuple:
    records, notes = harness.history(environment), harness.notifications()
    assert len(records) == 1, [r.reason for r in records]
    assert len(notes) == 1, notes
    return records[0], notes[0]


# --------------------------------------------------------------------------- happy path


def test_push_at_head_is_applied_with_validated_state_as_config(harness, git_repo, engine, clock):
    commit = git_repo.bump("dev")
    engine.on_call = lambda operation, request: clock.advance(seconds=20 if operation == "up" else 5)
    job = harness.job(commit)
    started = clock()

    outcome = harness.converger().converge(job)

    assert (outcome.outcome, outcome.reason, outcome.kind) == ("succeeded", Reason.APPLIED, EventKind.CONVERGE_SUCCEEDED)
    assert outcome.retry_after_seconds is None
    assert engine.operations == ["preview", "up"]
    expected_state = load_environment(git_repo.path, "dev")
    for _, request in engine.calls:
        assert request.stack == "dev"
        assert request.config["ecs-gitops:desiredState"] == expected_state.state.model_dump_json(by_alias=True)
        assert json.loads(request.config["ecs-gitops:desiredState"])["environmentSuffix"] == "dev"
        assert json.loads(request.config["ecs-gitops:trafficState"]) == json.loads(TrafficState().model_dump_json(by_alias=True))
        assert request.config["ecs-gitops:environment"] == "dev"
        assert commit[:12] in request.message and job.job_id in request.message

    status = harness.status()
    assert status.last_applied_commit == commit
    assert status.last_applied_at is not None
    assert status.lease is None and status.current_job_id is None
    assert status.phase == Phase.DONE
    assert (status.last_job_id, status.last_outcome) == (job.job_id, "succeeded")

    record, note = assert_one_attempt_reported(harness)
    assert record.stack == "dev" and record.environment == "dev" and record.job_id == job.job_id and record.attempt == 1
    assert record.trigger == Trigger.GIT_PUSH
    assert record.event_id == job.event_id
    assert record.commit == commit
    assert record.author == AUTHOR
    assert record.desired_state_digest == expected_state.digest
    assert record.plan == engine.summary
    assert (record.plan.create, record.plan.update, record.plan.replace, record.plan.delete) == (2, 1, 0, 0)
    assert record.policy is not None and record.policy.passed and record.policy.mandatory == 0
    assert record.outcome == "succeeded" and record.reason == Reason.APPLIED and record.kind == EventKind.CONVERGE_SUCCEEDED
    assert record.error is None
    assert record.last_phase == Phase.VERIFY
    assert record.started_at == started
    assert record.duration_ms == 25_000
    assert record.program_version == PROGRAM_VERSION
    assert record.engine_version == engine.version

    assert note["kind"] == "converge-succeeded"
    assert note["severity"] == "info"
    assert note["environment"] == "dev"
    assert note["commit"] == commit and note["jobId"] == job.job_id and note["trigger"] == "git-push"
    assert note["outcome"] == "succeeded" and note["reason"] == "Applied"
    assert note["plan"]["create"] == 2
    assert note["subject"].startswith("[dev] converge-succeeded: Applied (" + commit[:12])


def test_push_is_applied_with_dynamodb_stores_and_sns(make_harness, git_repo, reconciler_aws, sns_inbox):
    harness = make_harness(
        states=DynamoStackStateStore(reconciler_aws.dynamodb, reconciler_aws.state_table),
        audit=DynamoAuditLog(reconciler_aws.dynamodb, reconciler_aws.audit_table),
        notifier=SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn),
    )
    commit = git_repo.bump("dev")
    job = harness.job(commit)

    outcome = harness.converger().converge(job)

    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.APPLIED)
    assert harness.engine.operations == ["preview", "up"]
    status = harness.status()
    assert status.last_applied_commit == commit and status.lease is None and status.phase == Phase.DONE
    records = harness.history()
    assert len(records) == 1
    assert (records[0].commit, records[0].event_id, records[0].outcome) == (commit, job.event_id, "succeeded")
    assert records[0].policy.passed
    delivered = sns_inbox()
    assert len(delivered) == 1
    assert delivered[0]["attributes"] == {"environment": "dev", "kind": "converge-succeeded", "severity": "info"}
    assert delivered[0]["message"]["commit"] == commit
    assert delivered[0]["message"]["reason"] == "Applied"
    assert delivered[0]["subject"].startswith("[dev] converge-succeeded")


def test_the_settings_permissions_boundary_reaches_the_program_as_stack_config(harness, git_repo, engine):
    """template.yaml's deploy policy refuses a role without PlatformRoleBoundary: the worker's settings
    (aws.permissionsBoundaryArn) hand it to the program; git cannot set or drop it."""
    from reconciler.settings import AwsResources

    boundary = "arn:aws:iam::123456789012:policy/ecs-gitops-PlatformRoleBoundary-ABC"
    harness.settings_overrides["aws"] = AwsResources(permissions_boundary_arn=boundary)

    outcome = harness.converger().converge(harness.job(git_repo.bump("dev")))

    assert outcome.outcome == "succeeded"
    assert [request.config["ecs-gitops:permissionsBoundaryArn"] for _, request in engine.calls] == [boundary, boundary]


def test_without_a_boundary_in_the_settings_the_stack_config_has_none(harness, git_repo, engine):
    harness.converger().converge(harness.job(git_repo.bump("dev")))

    assert engine.calls and all("ecs-gitops:permissionsBoundaryArn" not in request.config for _, request in engine.calls)


def test_no_changes_is_reported_as_such(harness, git_repo, engine):
    engine.summary = PlanSummary(same=43)
    outcome = harness.run(harness.job(git_repo.head))
    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.NO_CHANGES)
    assert harness.status().last_applied_commit == git_repo.head


def test_status_is_saved_after_every_phase_in_order(harness, git_repo):
    harness.run(harness.job(git_repo.bump("dev")))
    assert harness.states.phases() == ["guards", "fetch", "validate", "plan", "apply", "verify", "done"]
    # The lease is held while the phases run and gone once done.
    during = [s for s in harness.states.written if s.phase in (Phase.FETCH, Phase.PLAN, Phase.APPLY)]
    assert during and all(s.lease is not None and s.lease.holder == harness.worker_id for s in during)
    assert harness.states.written[-1].lease is None


def test_traffic_state_is_passed_and_verified(harness, git_repo, engine):
    traffic = TrafficState(services={"frontend": ServiceTraffic(live_colour="green")})
    harness.states.put(StackStatus(stack="dev"), StackStatus(stack="dev", traffic=traffic))
    outcome = harness.run(harness.job(git_repo.head))
    assert outcome.outcome == "succeeded"
    sent = json.loads(engine.requests("up")[0].config["ecs-gitops:trafficState"])
    assert sent["services"]["frontend"]["liveColour"] == "green"
    assert harness.status().traffic == traffic


def test_verify_fails_when_outputs_are_missing(harness, git_repo, engine):
    engine.drop_outputs = {"liveColours", "clusterArn"}
    outcome = harness.run(harness.job(git_repo.head))
    assert (outcome.outcome, outcome.reason) == ("failed", Reason.ENGINE_FAILED)
    record, _ = assert_one_attempt_reported(harness)
    assert "clusterArn" in record.error and "liveColours" in record.error
    assert record.last_phase == Phase.VERIFY
    assert harness.status().last_applied_commit is None


def test_verify_fails_when_the_live_colour_disagrees_with_traffic_state(harness, git_repo, engine):
    engine.output_overrides = {"liveColours": {"frontend": "green", "api-gateway": "blue"}}
    outcome = harness.run(harness.job(git_repo.head))
    assert outcome.outcome == "failed"
    assert "frontend is live on green, not blue" in outcome.message
    assert harness.status().last_applied_commit is None


# --------------------------------------------------------------------------- ordering


def test_older_commit_after_a_newer_one_is_skipped_and_same_commit_again_too(harness, git_repo, engine):
    commit_a = git_repo.bump("dev")
    commit_b = git_repo.bump("dev")
    assert harness.run(harness.job(commit_b)).reason == Reason.APPLIED
    assert engine.operations == ["preview", "up"]

    older = harness.run(harness.job(commit_a))
    assert (older.outcome, older.reason) == ("skipped", Reason.OLDER_THAN_APPLIED)
    assert engine.operations == ["preview", "up"]  # the engine never saw the old commit
    assert harness.status().last_applied_commit == commit_b

    again = harness.run(harness.job(commit_b))
    assert (again.outcome, again.reason) == ("skipped", Reason.ALREADY_APPLIED)
    assert engine.operations == ["preview", "up"]

    reasons = [r.reason for r in harness.history()]
    assert sorted(reasons) == sorted([Reason.APPLIED, Reason.OLDER_THAN_APPLIED, Reason.ALREADY_APPLIED])
    assert len(harness.notifications()) == 3
    skipped = next(r for r in harness.history() if r.reason == Reason.OLDER_THAN_APPLIED)
    assert skipped.commit == commit_a and skipped.last_phase == Phase.FETCH


def test_superseded_push_converges_the_newest_commit_and_the_newer_job_is_then_a_no_op(harness, git_repo, engine):
    """Only the newest commit is converged: the older job does it, recording what it superseded.

    Skipping the older job instead would lose its change whenever the newer push queued no job for
    this environment (it touched only other environments' files).
    """
    commit_a = git_repo.bump("dev")
    commit_b = git_repo.bump("dev")
    job_a, job_b = harness.job(commit_a), harness.job(commit_b)

    outcome_a = harness.run(job_a)
    assert (outcome_a.outcome, outcome_a.reason) == ("succeeded", Reason.APPLIED)
    status = harness.status()
    assert job_a.job_id in status.superseded_job_ids
    assert status.last_applied_commit == commit_b
    assert engine.operations == ["preview", "up"]
    record = harness.last_record()
    assert record.commit == commit_b

    outcome_b = harness.run(job_b)
    assert (outcome_b.outcome, outcome_b.reason) == ("skipped", Reason.ALREADY_APPLIED)
    assert engine.operations == ["preview", "up"]


def test_unknown_commit_is_refused_as_missing_source(harness, engine):
    outcome = harness.run(harness.job("0" * 40))
    assert (outcome.outcome, outcome.reason) == ("refused", Reason.SOURCE_MISSING)
    assert engine.calls == []
    record, _ = assert_one_attempt_reported(harness)
    assert "0000000000000000000000000000000000000000" in record.error


# --------------------------------------------------------------------------- refusals


def test_desired_state_failing_the_schema_is_refused_with_file_line_field(harness, git_repo, engine):
    applied = git_repo.head
    assert harness.run(harness.job(applied)).outcome == "succeeded"
    engine.calls.clear()
    harness.stream.truncate(0), harness.stream.seek(0)

    broken = git_repo.replace("dev", "cpu: 512", 'cpu: "512"')
    line = git_repo.line_of("dev", 'cpu: "512"')
    outcome = harness.run(harness.job(broken))

    assert (outcome.outcome, outcome.reason, outcome.kind) == ("refused", Reason.INVALID_DESIRED_STATE, EventKind.REFUSED_INVALID)
    assert engine.calls == []
    assert harness.status().last_applied_commit == applied
    record = harness.last_record()
    assert record.commit == broken
    assert record.kind == EventKind.REFUSED_INVALID
    assert f"environments/dev.yaml:{line} at {broken[:7]}: services.frontend.cpu" in record.error
    assert "valid integer" in record.error
    assert record.desired_state_digest is None and record.plan is None
    assert record.last_phase == Phase.VALIDATE
    notes = harness.notifications()
    assert len(notes) == 1
    assert notes[0]["kind"] == "refused-invalid-desired-state" and notes[0]["severity"] == "error"
    assert f"environments/dev.yaml:{line} at {broken[:7]}: services.frontend.cpu" in notes[0]["error"]


def test_policy_violation_in_prod_is_refused_and_nothing_applied(harness, git_repo, engine):
    commit = git_repo.replace("prod", "natGateways: per-az", "natGateways: single")
    outcome = harness.run(harness.job(commit, environment="prod"))

    assert (outcome.outcome, outcome.reason, outcome.kind) == ("refused", Reason.POLICY_VIOLATION, EventKind.REFUSED_BY_POLICY)
    assert engine.calls == []
    assert harness.status("prod").last_applied_commit is None
    record, note = assert_one_attempt_reported(harness, "prod")
    assert record.policy is not None and not record.policy.passed and record.policy.mandatory == 1
    net005 = [v for v in record.policy.violations if v["policy"] == "NET-005"]
    assert len(net005) == 1 and net005[0]["severity"] == "mandatory"
    assert "per-az" in net005[0]["message"]
    assert record.desired_state_digest is not None
    assert note["kind"] == "refused-by-policy"
    assert [v["policy"] for v in note["policyViolations"] if v["severity"] == "mandatory"] == ["NET-005"]


# --------------------------------------------------------------------------- failures


def test_engine_failure_on_up_leaves_the_applied_commit_and_releases_the_lease(harness, git_repo, engine):
    commit_a = git_repo.head
    assert harness.run(harness.job(commit_a)).outcome == "succeeded"
    commit_b = git_repo.bump("dev")
    engine.fail_with_engine_error("up", "aws:ecs/service:Service svc-frontend-blue-dev: ResourceInUse")

    outcome = harness.run(harness.job(commit_b))

    assert (outcome.outcome, outcome.reason, outcome.kind) == ("failed", Reason.ENGINE_FAILED, EventKind.CONVERGE_FAILED)
    status = harness.status()
    assert status.last_applied_commit == commit_a
    assert status.lease is None and status.phase == Phase.DONE and status.last_outcome == "failed"
    record = harness.last_record()
    assert record.commit == commit_b and record.outcome == "failed"
    assert "ResourceInUse" in record.error
    assert record.last_phase == Phase.APPLY
    note = harness.notifications()[-1]
    assert note["kind"] == "converge-failed" and "ResourceInUse" in note["error"]


def test_stack_lock_from_the_engine_is_a_failure_not_a_force(harness, git_repo, engine):
    engine.fail_with_lock("preview")
    outcome = harness.run(harness.job(git_repo.head))
    assert (outcome.outcome, outcome.reason) == ("failed", Reason.ENGINE_FAILED)
    assert "not forced" in harness.last_record().error
    assert engine.operations == ["preview"]


def test_unexpected_exception_is_recorded_and_reraised(harness, git_repo, engine):
    engine.fail("up", RuntimeError("disk full while writing the checkpoint"))
    job = harness.job(git_repo.head)

    with pytest.raises(UnexpectedJobError, match="disk full") as raised:
        harness.run(job)

    # One clear type for the worker loop to catch; the original is its cause, the outcome is recorded.
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert (raised.value.outcome.outcome, raised.value.outcome.reason) == ("failed", Reason.UNEXPECTED_ERROR)
    record, note = assert_one_attempt_reported(harness)
    assert record.outcome == "failed" and record.reason == Reason.UNEXPECTED_ERROR
    assert record.error == "RuntimeError: disk full while writing the checkpoint"
    assert record.last_phase == Phase.APPLY
    assert note["kind"] == "converge-failed" and note["error"] == record.error
    status = harness.status()
    assert status.lease is None and status.last_outcome == "failed" and status.last_applied_commit is None


# --------------------------------------------------------------------------- plan-only jobs


def test_dry_run_job_previews_and_applies_nothing(harness, git_repo, engine):
    outcome = harness.run(harness.job(git_repo.head, trigger=Trigger.MANUAL, dry_run=True))
    assert (outcome.outcome, outcome.reason, outcome.kind) == ("dry-run", Reason.DRY_RUN, EventKind.DRY_RUN_COMPLETE)
    assert outcome.message == "plan only: 2 to create, 1 to update, 0 to replace, 0 to delete"
    assert engine.operations == ["preview"]
    assert engine.requests("preview")[0].refresh is False
    assert harness.status().last_applied_commit is None and harness.status().lease is None
    record, note = assert_one_attempt_reported(harness)
    assert record.plan == engine.summary and note["kind"] == "dry-run-complete"


def test_drift_check_before_any_apply_says_there_is_nothing_to_compare(harness, git_repo, engine):
    # Was: a drift check previewed the branch head and named the plan's resources as drift. It now compares
    # against the last applied commit only (tests/reconciler/drift/test_check*.py); before any apply there is none.
    outcome = harness.run(harness.job(None, trigger=Trigger.SCHEDULED_DRIFT_CHECK))

    assert (outcome.outcome, outcome.reason, outcome.kind) == ("skipped", Reason.NOTHING_APPLIED, EventKind.SKIPPED)
    assert "nothing to compare" in outcome.message and "not 'no drift'" in outcome.message
    assert engine.operations == []
    [record] = harness.history()
    assert record.reason == Reason.NOTHING_APPLIED and record.drift is None
    assert harness.notifications() == []
    assert harness.status().last_drift_check is None and harness.status().lease is None


def test_plain_directory_source_converges_without_commit_checks(harness, example_dir, engine):
    from reconciler.source import DirectorySource

    harness._source = DirectorySource(example_dir)
    harness.source.refresh = lambda: None
    outcome = harness.run(harness.job(None, trigger=Trigger.MANUAL))
    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.APPLIED)
    assert example_dir.joinpath("environments", "dev.yaml").exists()
    record, _ = assert_one_attempt_reported(harness)
    assert record.commit is None and record.author == "Test User"
    assert harness.status().last_applied_commit is None and harness.status().last_applied_at is not None


def test_a_staged_image_override_applies_until_git_says_the_same_then_is_dropped(harness, git_repo, engine):
    from desired_state.schema import ImageRef

    staged = ImageRef(repository="frontend", tag="7.7.7")
    harness.states.update("dev", lambda s: s.model_copy(update={"image_overrides": {"frontend": staged}}))
    harness.run(harness.job(trigger=Trigger.SCHEDULED_RESYNC))
    desired = json.loads(engine.requests("up")[-1].config["ecs-gitops:desiredState"])
    assert desired["services"]["frontend"]["image"]["tag"] == "7.7.7"
    assert harness.last_record().image_overrides == {"frontend": ":7.7.7"}

    git_repo.replace("dev", 'image: {repository: frontend, tag: "1.4.2"}', 'image: {repository: frontend, tag: "7.7.7"}')
    harness.run(harness.job(trigger=Trigger.SCHEDULED_RESYNC))
    assert harness.status().image_overrides == {}
    assert harness.last_record().image_overrides == {}
