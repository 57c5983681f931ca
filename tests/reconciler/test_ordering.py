"""ordering.decide: the branch head is converged; only a push at an applied head is skipped."""

from __future__ import annotations

from reconciler.events import Reason
from reconciler.models import Trigger
from reconciler.ordering import Converge, Skip, decide, not_on_branch_message

A, B = "a" * 40, "b" * 40


def test_a_push_at_the_head_converges_it_even_when_older_than_what_was_applied():
    assert decide(Trigger.GIT_PUSH, A, A, B) == Converge(head=A)  # a reset of the branch to A


def test_a_push_for_an_older_commit_converges_the_head_in_its_place():
    assert decide(Trigger.CODECOMMIT_PUSH, A, B, None) == Converge(head=B, superseded=A)


def test_a_push_at_an_applied_head_is_skipped():
    assert decide(Trigger.GIT_PUSH, B, B, B) == Skip(Reason.ALREADY_APPLIED, f"commit {B[:12]} is already applied")
    assert decide(Trigger.GIT_PUSH, A, B, B).reason == Reason.OLDER_THAN_APPLIED


def test_resyncs_drift_checks_and_manual_jobs_always_converge_the_head():
    for trigger in (Trigger.SCHEDULED_RESYNC, Trigger.SCHEDULED_DRIFT_CHECK, Trigger.MANUAL):
        assert decide(trigger, None, B, B) == Converge(head=B)
    assert decide(Trigger.MANUAL, A, B, B) == Converge(head=B, superseded=A)


def test_the_refusal_names_the_commit_and_branch():
    assert "commit aaaaaaaaaaaa is not on branch main" in not_on_branch_message(A, "main")
