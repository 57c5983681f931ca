"""Only trusted, current, approved changes reach an environment (issue 8), driven through the converger.

Identity and floors come from the settings, the branch head is what is converged, and an approval
approves exactly the stack inputs that are applied. Every refusal is one audit record and one
notification, and the engine never sees the refused change.
"""

from __future__ import annotations

import json
import os

import pytest

from desired_state.schema import ImageRef
from desired_state.traffic import ServiceTraffic, TrafficState
from reconciler import approvals
from reconciler.events import EventKind, Phase, Reason
from reconciler.models import Trigger
from reconciler.settings import Floors


def one_record_and_note(harness, environment="dev"):
    records, notes = harness.history(environment), harness.notifications()
    assert len(records) == 1, [r.reason for r in records]
    assert len(notes) == 1, notes
    return records[0], notes[0]


def assert_refused_before_rendering(harness, engine, outcome, reason, environment="dev"):
    assert (outcome.outcome, outcome.kind, outcome.reason) == ("refused", EventKind.REFUSED, reason)
    assert engine.calls == []
    record, note = one_record_and_note(harness, environment)
    assert record.policy is None and record.plan is None  # nothing was rendered, let alone planned
    assert record.last_phase == Phase.VALIDATE and record.reason == reason
    assert note["kind"] == "refused" and note["reason"] == reason.value and note["error"] == record.error
    assert harness.status(environment).last_applied_commit is None
    return record


# --------------------------------------------------------------------------- identity from settings


def test_prod_file_claiming_the_dev_suffix_is_refused_naming_file_field_expected_found(harness, git_repo, engine):
    commit = git_repo.replace("prod", "environmentSuffix: prod", "environmentSuffix: dev")
    outcome = harness.run(harness.job(commit, environment="prod"))

    record = assert_refused_before_rendering(harness, engine, outcome, Reason.IDENTITY_MISMATCH, "prod")
    assert "environments/prod.yaml" in record.error and "environmentSuffix" in record.error
    assert "expected 'prod'" in record.error and "found 'dev'" in record.error
    assert str(harness.root) not in record.error  # the repo's path, not the temporary checkout


def test_prod_file_calling_itself_non_production_is_refused(harness, git_repo, engine):
    commit = git_repo.replace("prod", "environmentClass: production", "environmentClass: non-production")
    outcome = harness.run(harness.job(commit, environment="prod"))

    record = assert_refused_before_rendering(harness, engine, outcome, Reason.IDENTITY_MISMATCH, "prod")
    assert "environmentClass" in record.error and "expected 'production'" in record.error and "found 'non-production'" in record.error


def test_a_non_production_environment_cannot_claim_production_either(harness, git_repo, engine):
    commit = git_repo.replace("dev", "environmentSuffix: dev\n", "environmentSuffix: dev\nenvironmentClass: production\n")
    outcome = harness.run(harness.job(commit))
    record = assert_refused_before_rendering(harness, engine, outcome, Reason.IDENTITY_MISMATCH)
    assert "expected 'non-production'" in record.error and "found 'production'" in record.error


def test_a_suffix_and_class_both_wrong_are_both_named(harness, git_repo, engine):
    git_repo.replace("prod", "environmentSuffix: prod", "environmentSuffix: dev")
    commit = git_repo.replace("prod", "environmentClass: production", "environmentClass: non-production")
    outcome = harness.run(harness.job(commit, environment="prod"))
    record = assert_refused_before_rendering(harness, engine, outcome, Reason.IDENTITY_MISMATCH, "prod")
    assert "2 problems" in record.error and "environmentSuffix" in record.error and "environmentClass" in record.error


def test_prod_yaml_as_a_link_to_dev_yaml_builds_nothing(harness, git_repo, engine):
    prod = git_repo.file("prod")
    prod.unlink()
    os.symlink("dev.yaml", prod)
    commit = git_repo.commit_all("prod: follow dev")
    outcome = harness.run(harness.job(commit, environment="prod"))

    # Refused by the identity check (dev's suffix) or, where the source refuses links under environments/, as a source error.
    assert outcome.outcome == "refused" and outcome.reason in (Reason.IDENTITY_MISMATCH, Reason.SOURCE_MISSING)
    assert engine.calls == []
    one_record_and_note(harness, "prod")


def test_a_file_that_agrees_with_the_settings_is_applied(harness, git_repo, engine):
    outcome = harness.run(harness.job(git_repo.head, environment="prod"))
    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.APPLIED)


# --------------------------------------------------------------------------- floors


def test_a_rollout_below_the_floors_is_refused_naming_file_field_floor_found(harness, git_repo, engine):
    harness.configure("prod", floors=Floors(min_rollout_steps=3, min_bake_seconds=300, max_scan_severity_threshold="HIGH"))
    text = git_repo.file("prod").read_text()
    frontend = text.index("  frontend:\n")
    git_repo.file("prod").write_text(
        text[:frontend] + "  frontend:\n    rollout: {steps: [100], bakeSeconds: 60, scanSeverityThreshold: CRITICAL}\n" + text[frontend + len("  frontend:\n"):]
    )
    commit = git_repo.commit_all("prod: straight to 100 % without a bake")
    outcome = harness.run(harness.job(commit, environment="prod"))

    record = assert_refused_before_rendering(harness, engine, outcome, Reason.BELOW_FLOOR, "prod")
    assert "3 problems" in record.error
    assert "environments/prod.yaml" in record.error
    assert "services.frontend.rollout.steps" in record.error and "at least 3 steps" in record.error and "found 1" in record.error
    assert "services.frontend.rollout.bakeSeconds" in record.error and "at least 300" in record.error and "found 60" in record.error
    assert "services.frontend.rollout.scanSeverityThreshold" in record.error and "HIGH or stricter" in record.error and "found CRITICAL" in record.error


def test_the_default_rollout_meets_floors_at_the_defaults_and_is_applied(harness, git_repo, engine):
    harness.configure("prod", floors=Floors(min_rollout_steps=3, min_bake_seconds=300, max_scan_severity_threshold="HIGH"))
    outcome = harness.run(harness.job(git_repo.head, environment="prod"))
    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.APPLIED)


def test_the_default_bake_below_a_floor_is_refused_too(harness, git_repo, engine):
    """A field left out of the file takes the schema's default, and the default is held to the floor as well."""
    harness.configure("dev", floors=Floors(min_bake_seconds=301))
    outcome = harness.run(harness.job(git_repo.head))
    record = assert_refused_before_rendering(harness, engine, outcome, Reason.BELOW_FLOOR)
    assert record.error.count("rollout.bakeSeconds") == 3  # every service


# --------------------------------------------------------------------------- only what the branch says now


def _force_push(git_repo, to: str) -> None:
    git_repo.git("reset", "-q", "--hard", to)


def test_a_replayed_webhook_after_a_force_push_is_refused_not_on_branch(harness, git_repo, engine):
    base = git_repo.head
    dropped = git_repo.bump("dev")
    assert harness.run(harness.job(dropped)).reason == Reason.APPLIED
    _force_push(git_repo, base)
    current = git_repo.bump("dev")
    assert harness.run(harness.job(current)).reason == Reason.APPLIED
    engine.calls.clear()

    replay = harness.job(dropped, event_id="delivery-replayed")  # same body, new delivery id: a new job
    outcome = harness.run(replay)

    assert (outcome.outcome, outcome.kind, outcome.reason) == ("refused", EventKind.REFUSED, Reason.NOT_ON_BRANCH)
    assert "not on branch main" in outcome.message and dropped[:12] in outcome.message
    assert engine.calls == []
    assert harness.status().last_applied_commit == current
    record = harness.last_record()
    assert record.job_id == replay.job_id and record.commit == dropped and record.reason == Reason.NOT_ON_BRANCH
    assert record.last_phase == Phase.FETCH
    assert harness.notifications()[-1]["reason"] == "NotOnBranch"


def test_a_job_queued_before_a_force_push_never_deploys_its_commit(harness, git_repo, engine):
    base = git_repo.head
    queued = harness.job(git_repo.bump("dev"))  # queued, not yet handled
    _force_push(git_repo, base)
    newer = git_repo.bump("dev")

    outcome = harness.run(queued)

    assert (outcome.outcome, outcome.reason) == ("refused", Reason.NOT_ON_BRANCH)
    assert engine.calls == []
    assert harness.run(harness.job(newer)).reason == Reason.APPLIED
    desired = json.loads(engine.requests("up")[0].config["ecs-gitops:desiredState"])
    assert desired["services"]["frontend"]["image"]["tag"] == "1.5.2"
    assert harness.status().last_applied_commit == newer


def test_after_a_force_push_last_applied_commit_keeps_moving(harness, git_repo, engine):
    base = git_repo.head
    first = git_repo.bump("dev")
    assert harness.run(harness.job(first)).reason == Reason.APPLIED
    _force_push(git_repo, base)
    rewritten = git_repo.bump("dev")

    outcome = harness.run(harness.job(rewritten))

    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.APPLIED)
    assert harness.status().last_applied_commit == rewritten
    assert harness.last_record().commit == rewritten


def test_a_deliberate_reset_to_an_older_commit_is_converged(harness, git_repo, engine):
    older = git_repo.bump("dev")
    newer = git_repo.bump("dev")
    assert harness.run(harness.job(newer)).reason == Reason.APPLIED
    _force_push(git_repo, older)
    engine.calls.clear()

    outcome = harness.run(harness.job(older))

    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.APPLIED)
    assert engine.operations == ["preview", "up"]
    desired = json.loads(engine.requests("up")[0].config["ecs-gitops:desiredState"])
    assert desired["services"]["frontend"]["image"]["tag"] == "1.5.1"
    assert harness.status().last_applied_commit == older


def test_a_manual_job_must_name_a_commit_on_the_branch(harness, git_repo, engine):
    base = git_repo.head
    off_branch = git_repo.bump("dev")
    _force_push(git_repo, base)
    outcome = harness.run(harness.job(off_branch, trigger=Trigger.MANUAL))
    assert (outcome.outcome, outcome.reason) == ("refused", Reason.NOT_ON_BRANCH)
    assert engine.calls == []


def test_an_event_commit_is_only_a_wake_up_the_branch_head_is_converged(harness, git_repo, engine):
    older = git_repo.bump("dev")
    head = git_repo.bump("dev")
    outcome = harness.run(harness.job(older, trigger=Trigger.MANUAL))
    assert outcome.reason == Reason.APPLIED
    record = harness.last_record()
    assert (record.commit, record.superseded_commit) == (head, older)
    assert harness.status().last_applied_commit == head


# --------------------------------------------------------------------------- approval approves what is applied


def _approved(harness, git_repo, commit):
    harness.configure("dev", require_approval=True)
    assert harness.run(harness.job(commit)).reason == Reason.AWAITING_APPROVAL
    approvals.approve(harness.states, harness.settings, "dev", commit, "alice", harness.clock())


def test_image_override_staged_after_the_approval_invalidates_it(harness, git_repo, engine):
    commit = git_repo.bump("dev")
    _approved(harness, git_repo, commit)
    staged = ImageRef(repository="frontend", tag="6.6.6")
    harness.states.update("dev", lambda s: s.model_copy(update={"image_overrides": {"frontend": staged}}))

    outcome = harness.run(harness.job(commit, trigger=Trigger.MANUAL))

    assert (outcome.outcome, outcome.reason) == ("waiting", Reason.APPROVAL_STALE)
    assert "up" not in engine.operations
    pending = harness.status().pending_approval
    assert pending.approved_by is None and pending.commit == commit
    assert harness.status().last_applied_commit is None
    # Approving the new plan applies exactly it: the override included.
    approvals.approve(harness.states, harness.settings, "dev", commit, "bob", harness.clock())
    assert harness.run(harness.job(commit, trigger=Trigger.MANUAL)).reason == Reason.APPLIED
    desired = json.loads(engine.requests("up")[0].config["ecs-gitops:desiredState"])
    assert desired["services"]["frontend"]["image"]["tag"] == "6.6.6"


def test_a_traffic_state_moved_after_the_approval_invalidates_it(harness, git_repo, engine):
    commit = git_repo.bump("dev")
    _approved(harness, git_repo, commit)
    moved = TrafficState(services={"frontend": ServiceTraffic(live_colour="green")})
    harness.states.update("dev", lambda s: s.model_copy(update={"traffic": moved}))

    outcome = harness.run(harness.job(commit, trigger=Trigger.MANUAL))
    assert (outcome.outcome, outcome.reason) == ("waiting", Reason.APPROVAL_STALE)
    assert "up" not in engine.operations


def test_a_new_program_version_after_the_approval_invalidates_it(harness, git_repo, engine, monkeypatch):
    import program.platform

    commit = git_repo.bump("dev")
    _approved(harness, git_repo, commit)
    monkeypatch.setattr(program.platform, "PROGRAM_VERSION", program.platform.PROGRAM_VERSION + "-next")

    outcome = harness.run(harness.job(commit, trigger=Trigger.MANUAL))
    assert (outcome.outcome, outcome.reason) == ("waiting", Reason.APPROVAL_STALE)
    assert "up" not in engine.operations


def test_the_approved_inputs_unchanged_apply(harness, git_repo, engine):
    commit = git_repo.bump("dev")
    _approved(harness, git_repo, commit)
    assert harness.run(harness.job(commit, trigger=Trigger.MANUAL)).reason == Reason.APPLIED
    assert engine.requests("up")[0].config == engine.requests("preview")[0].config


# --------------------------------------------------------------------------- unknown environment


def test_a_job_for_an_environment_removed_from_settings_is_an_audited_refusal(harness, git_repo, engine):
    job = harness.job(git_repo.head, environment="staging")

    outcome = harness.run(job)

    assert (outcome.outcome, outcome.kind, outcome.reason) == ("refused", EventKind.REFUSED, Reason.UNKNOWN_ENVIRONMENT)
    assert outcome.retry_after_seconds is None  # the worker deletes the message
    assert "'staging' is not managed by this reconciler (managed: dev, prod)" in outcome.message
    assert engine.calls == []
    record, note = one_record_and_note(harness, "staging")
    assert record.reason == Reason.UNKNOWN_ENVIRONMENT and record.last_phase == Phase.GUARDS
    assert note["kind"] == "refused" and note["environment"] == "staging"
    assert harness.states.written == []  # no status for a stack nobody manages


def test_record_job_for_an_unknown_environment_records_that_refusal(harness, git_repo):
    from reconciler.converge import ConvergeOutcome
    from reconciler.events import Severity

    job = harness.job(None, environment="staging", trigger=Trigger.ECR_IMAGE_PUSH)
    given = ConvergeOutcome("failed", EventKind.ROLLOUT_NOT_STARTED, Reason.SKIPPED_ROLLOUT, Severity.ERROR, "no such environment")

    recorded = harness.converger().record_job(job, given)

    assert (recorded.outcome, recorded.kind, recorded.reason) == ("refused", EventKind.REFUSED, Reason.UNKNOWN_ENVIRONMENT)
    record, note = one_record_and_note(harness, "staging")
    assert record.reason == Reason.UNKNOWN_ENVIRONMENT and note["kind"] == "refused"


def test_an_unknown_environment_job_through_the_worker_is_deleted_not_retried(make_harness, git_repo, reconciler_aws):
    from reconciler.adapters.queue import JobQueue
    from reconciler.worker import Worker

    harness = make_harness()
    queue = JobQueue(reconciler_aws.sqs, reconciler_aws.queue_url)
    queue.send(harness.job(git_repo.head, environment="staging"))

    outcomes = Worker(queue, harness.converger()).run_once(wait_seconds=0)

    assert [o.reason for o in outcomes] == [Reason.UNKNOWN_ENVIRONMENT]
    attributes = reconciler_aws.sqs.get_queue_attributes(
        QueueUrl=reconciler_aws.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    assert len(harness.history("staging")) == 1


# --------------------------------------------------------------------------- unexpected errors


def test_an_unexpected_error_is_recorded_once_and_raised_scrubbed(harness, git_repo, engine):
    from reconciler.errors import UnexpectedJobError

    harness.redactor.add("hunter2-very-secret")
    engine.fail("preview", KeyError("hunter2-very-secret"))

    with pytest.raises(UnexpectedJobError) as raised:
        harness.run(harness.job(git_repo.head))

    assert "hunter2-very-secret" not in str(raised.value)
    assert isinstance(raised.value.__cause__, KeyError)
    record, note = one_record_and_note(harness)
    assert (record.outcome, record.reason, record.last_phase) == ("failed", Reason.UNEXPECTED_ERROR, Phase.PLAN)
    assert "hunter2-very-secret" not in json.dumps(note) and "hunter2-very-secret" not in record.model_dump_json()
    assert harness.status().lease is None and harness.status().last_outcome == "failed"
