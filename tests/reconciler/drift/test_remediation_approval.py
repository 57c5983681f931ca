"""A drift remediation in an approval environment never displaces another commit's plan waiting for approval."""

from __future__ import annotations

import pytest

from reconciler.approvals import approve
from reconciler.events import Reason
from tests.reconciler.drift.checking import make_world, sg_ingress_opened


@pytest.fixture
def world(make_harness, reconciler_aws, read_notifications):
    return make_world(make_harness, reconciler_aws, read_notifications)


def test_a_remediation_leaves_a_pushed_changes_waiting_plan_in_place_and_says_so(world, git_repo):
    applied = world.apply_head()
    world.harness.configure("dev", drift={"mode": "remediate"}, require_approval=True)
    head = git_repo.bump("dev")
    world.queue.send(world.harness.job(head))
    [waiting] = world.work()
    assert (waiting.outcome, waiting.reason) == ("waiting", Reason.AWAITING_APPROVAL)
    before = world.harness.status().pending_approval
    assert before.commit == head

    world.engine.refresh_steps = (sg_ingress_opened(),)
    world.check()  # drift: the remediation of the applied commit is queued
    [remediation] = world.work()

    assert (remediation.outcome, remediation.reason) == ("skipped", Reason.ANOTHER_PLAN_AWAITS_APPROVAL)
    assert head[:12] in remediation.message and f"ecs-gitops approve --environment dev --commit {head}" in remediation.message
    assert world.harness.status().pending_approval == before
    assert world.engine.operations.count("up") == 0
    # The person's approval still applies their change.
    approve(world.harness.states, world.harness.settings, "dev", head, "alice", world.harness.clock(), world.queue)
    [outcome] = world.work()
    assert (outcome.outcome, outcome.reason, world.harness.status().last_applied_commit) == ("succeeded", Reason.APPLIED, head)
    assert applied != head
