"""The approval gate: a plan waits, only that plan can be approved, a changed plan waits again."""

from __future__ import annotations

import pytest

from reconciler import approvals
from reconciler.adapters.audit import DynamoAuditLog
from reconciler.adapters.notify import SnsNotifier
from reconciler.adapters.queue import JobQueue
from reconciler.adapters.stack_state import DynamoStackStateStore
from program.platform import PROGRAM_VERSION
from reconciler.approval_digest import plan_digest
from reconciler.cli import build_parser
from reconciler.errors import ApprovalError
from reconciler.events import EventKind, Reason
from reconciler.models import PlanSummary, Trigger
from reconciler.worker import Worker


def _wait_for_approval(harness, commit):
    harness.configure("dev", require_approval=True)
    outcome = harness.run(harness.job(commit))
    assert (outcome.outcome, outcome.reason, outcome.kind) == ("waiting", Reason.AWAITING_APPROVAL, EventKind.WAITING_FOR_APPROVAL)
    return outcome


def test_first_run_waits_with_the_plan_recorded(harness, git_repo, engine):
    parent = git_repo.head
    commit = git_repo.bump("dev")
    outcome = _wait_for_approval(harness, commit)

    assert f"ecs-gitops approve --environment dev --commit {commit}" in outcome.message
    assert engine.operations == ["preview"]
    pending = harness.status().pending_approval
    record = harness.last_record()
    assert pending is not None and pending.commit == commit and pending.approved_by is None
    assert pending.plan == engine.summary
    # The digest covers the exact stack inputs the engine previewed, the program version and the plan.
    assert pending.plan_digest == plan_digest(commit, engine.requests("preview")[0], PROGRAM_VERSION, engine.summary)
    assert pending.desired_state_digest == record.desired_state_digest
    assert harness.status().last_applied_commit is None and harness.status().lease is None
    note = harness.notifications()[0]
    assert note["kind"] == "waiting-for-approval" and note["severity"] == "warning"
    # The whole command, --by included (argparse requires it), so it runs as printed once the name is filled in.
    assert note["details"]["approveWith"] == f"ecs-gitops approve --environment dev --commit {commit} --by <NAME>"
    parsed = build_parser().parse_args(note["details"]["approveWith"].replace("<NAME>", "alice").split()[1:])
    assert (parsed.command, parsed.commit, parsed.by) == ("approve", commit, "alice")
    assert record.outcome == "waiting" and record.plan == engine.summary

    with pytest.raises(ApprovalError, match="older or different plan"):
        approvals.approve(harness.states, harness.settings, "dev", parent, "alice", harness.clock())
    with pytest.raises(ApprovalError):
        approvals.approve(harness.states, harness.settings, "dev", "f" * 40, "alice", harness.clock())
    assert harness.status().pending_approval.approved_by is None


def test_approved_plan_is_applied_on_rerun(harness, git_repo, engine):
    commit = git_repo.bump("dev")
    _wait_for_approval(harness, commit)

    approved = approvals.approve(harness.states, harness.settings, "dev", commit, "alice", harness.clock())
    assert approved.commit == commit and approved.approved_by == "alice" and approved.approved_at == harness.clock()
    with pytest.raises(ApprovalError, match="already approved by alice"):
        approvals.approve(harness.states, harness.settings, "dev", commit, "bob", harness.clock())

    outcome = harness.run(harness.job(commit, trigger=Trigger.MANUAL))

    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.APPLIED)
    assert engine.operations == ["preview", "preview", "up"]
    status = harness.status()
    assert status.last_applied_commit == commit and status.pending_approval is None
    assert harness.notifications()[-1]["details"]["approvedBy"] == "alice"
    assert len(harness.history()) == 2


def test_plan_changed_after_approval_waits_again_as_stale(harness, git_repo, engine):
    commit = git_repo.bump("dev")
    _wait_for_approval(harness, commit)
    approvals.approve(harness.states, harness.settings, "dev", commit, "alice", harness.clock())

    engine.summary = PlanSummary(create=2, update=1, delete=1, same=39, resources={"delete": ["svc-frontend-green-dev"]})
    outcome = harness.run(harness.job(commit, trigger=Trigger.MANUAL))

    assert (outcome.outcome, outcome.reason) == ("waiting", Reason.APPROVAL_STALE)
    assert "no longer matches" in outcome.message
    assert "up" not in engine.operations
    pending = harness.status().pending_approval
    assert pending.approved_by is None and pending.plan == engine.summary
    assert harness.status().last_applied_commit is None


@pytest.mark.parametrize("typed", ["", "prefix7", "prefix12", "upper"])
def test_an_approval_names_the_full_commit_never_a_prefix(harness, git_repo, typed):
    """An empty ref is a prefix of every SHA; a short one may name another commit. Both are refused."""
    commit = git_repo.bump("dev")
    _wait_for_approval(harness, commit)
    ref = {"": "", "prefix7": commit[:7], "prefix12": commit[:12], "upper": commit.upper()}[typed]

    with pytest.raises(ApprovalError, match="full 40-character commit SHA"):
        approvals.approve(harness.states, harness.settings, "dev", ref, "alice", harness.clock())
    assert harness.status().pending_approval.approved_by is None


def test_the_waiting_plan_is_read_or_refused_with_what_to_do(harness, git_repo):
    with pytest.raises(ApprovalError, match="nothing waits for approval on dev; a plan appears after a converge"):
        approvals.waiting_plan(harness.states, harness.settings, "dev")
    commit = git_repo.bump("dev")
    _wait_for_approval(harness, commit)
    assert approvals.waiting_plan(harness.states, harness.settings, "dev").commit == commit


def test_approval_with_nothing_pending_is_refused(harness, git_repo):
    with pytest.raises(ApprovalError, match="nothing waits for approval on dev"):
        approvals.approve(harness.states, harness.settings, "dev", git_repo.head, "alice", harness.clock())


def test_approval_queues_one_manual_job_that_the_worker_applies(make_harness, git_repo, reconciler_aws, sns_inbox):
    harness = make_harness(
        states=DynamoStackStateStore(reconciler_aws.dynamodb, reconciler_aws.state_table),
        audit=DynamoAuditLog(reconciler_aws.dynamodb, reconciler_aws.audit_table),
        notifier=SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn),
    )
    commit = git_repo.bump("dev")
    _wait_for_approval(harness, commit)
    assert [n["attributes"]["kind"] for n in sns_inbox()] == ["waiting-for-approval"]
    queue = JobQueue(reconciler_aws.sqs, reconciler_aws.queue_url)

    approved = approvals.approve(harness.states, harness.settings, "dev", commit, "alice", harness.clock(), queue=queue)

    received = queue.receive(max_messages=10)
    assert len(received) == 1
    job = received[0].job
    assert (job.trigger, job.commit, job.environment, job.stack, job.author) == (Trigger.MANUAL, commit, "dev", "dev", "alice")
    assert job.event_id == f"approval:{approved.plan_digest}"
    reconciler_aws.sqs.change_message_visibility(QueueUrl=reconciler_aws.queue_url, ReceiptHandle=received[0].receipt_handle, VisibilityTimeout=0)

    outcomes = Worker(queue, harness.converger()).run_once(wait_seconds=0)
    assert [(o.outcome, o.reason) for o in outcomes] == [("succeeded", Reason.APPLIED)]
    assert harness.status().last_applied_commit == commit
    assert [n["attributes"]["kind"] for n in sns_inbox()] == ["converge-succeeded"]


def test_an_older_commits_job_does_not_displace_the_newer_plan_waiting_for_approval(make_harness, git_repo):
    """A approved and queued; B pushed and waiting; A's late job must leave B's plan waiting."""
    from reconciler.approvals import approve
    from reconciler.events import Reason

    harness = make_harness()
    harness.configure("dev", require_approval=True)
    commit_a = git_repo.bump("dev")
    first = harness.run(harness.job(commit_a))
    assert first.reason == Reason.AWAITING_APPROVAL
    approve(harness.states, harness.settings, "dev", commit_a, "alice", harness.clock())

    commit_b = git_repo.bump("dev")
    harness.run(harness.job(commit_b))
    assert harness.status().pending_approval.commit == commit_b

    late = harness.run(harness.job(commit_a, trigger=Trigger.MANUAL))
    assert (late.outcome, late.reason) == ("skipped", Reason.SUPERSEDED)
    assert harness.status().pending_approval.commit == commit_b
    approved = approve(harness.states, harness.settings, "dev", commit_b, "bob", harness.clock())
    assert approved.commit == commit_b and approved.approved_by == "bob"
