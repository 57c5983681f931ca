"""``reconcile --commit`` and ``approve --commit`` take only a commit the branch holds, named by its SHA.

The command line checks the syntax itself (empty, not hex, shorter than 7, longer than 40) before
it asks anything; which commit a prefix names and whether the branch holds it is the real
``GitSource.resolve_on_branch``, over a real repository the CLI opens through its normal wiring
(``--desired-state`` or the settings' repository url).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters.stack_state import FileStackStateStore, PendingApproval
from reconciler.cli import EXIT_INVALID, EXIT_OK, check_commit_ref
from reconciler.cli import ArgumentError
from reconciler.models import PlanSummary
from reconciler.source import GitSource
from tests.reconciler.cli_run import run


@pytest.fixture
def resolutions(monkeypatch) -> list[str]:
    """Every ref the CLI asks the real ``GitSource.resolve_on_branch`` about; the spy delegates unchanged."""
    asked: list[str] = []
    real = GitSource.resolve_on_branch

    def spy(self: GitSource, ref: str) -> str:
        asked.append(ref)
        return real(self, ref)

    monkeypatch.setattr(GitSource, "resolve_on_branch", spy)
    return asked


def off_branch_commit(git_repo) -> str:
    """A commit kept on branch ``side`` only: made on main, then main is reset past it and moves on."""
    base = git_repo.head
    dropped = git_repo.bump("dev")
    git_repo.git("branch", "side")
    git_repo.git("reset", "-q", "--hard", base)
    git_repo.bump("dev")
    return dropped


def ambiguous_pair(git_repo, prefix_twins) -> tuple[str, str]:
    """Two real commits sharing a 7-hex prefix: the first on main, the second on branch ``other``."""
    on_main, elsewhere = prefix_twins.twin_commits(git_repo)
    git_repo.git("merge", "-q", "--ff-only", on_main)
    git_repo.git("branch", "other", elsewhere)
    return on_main, elsewhere



# --------------------------------------------------------------------------- the syntax, checked by the CLI


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("", "is empty"),
        ("main", "is not a commit SHA"),
        ("HEAD~1", "is not a commit SHA"),
        ("v1.2.3", "is not a commit SHA"),
        ("3f2a9c1 ", "is not a commit SHA"),
        ("3f2a9c", "is too short"),
        ("a" * 41, "is longer than a commit SHA"),
    ],
)
def test_refs_that_cannot_name_one_commit_are_refused(ref, reason):
    with pytest.raises(ArgumentError, match=reason):
        check_commit_ref(ref)


def test_a_prefix_of_seven_and_a_full_sha_pass_lower_cased():
    assert check_commit_ref("3F2A9C1") == "3f2a9c1"
    assert check_commit_ref("ab" * 20) == "ab" * 20


# --------------------------------------------------------------------------- reconcile


def _audit_records(state: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((state / "audit").rglob("*.json"))] if (state / "audit").exists() else []


def _reconcile(git_repo, state: Path, ref: str) -> tuple[int, str, str]:
    return run("reconcile", "--desired-state", str(git_repo.path), "--environment", "dev", "--dry-run",
               "--commit", ref, "--state-dir", str(state))


@pytest.mark.parametrize("ref", ["", "main", "deadbe", "HEAD~1"])
def test_reconcile_refuses_a_bad_ref_before_asking_git(git_repo, tmp_path, resolutions, ref):
    state = tmp_path / "state"
    code, out, err = _reconcile(git_repo, state, ref)
    assert (code, out) == (EXIT_INVALID, "")
    assert err.startswith("error: --commit ")
    assert resolutions == []
    assert _audit_records(state) == []


def test_reconcile_converges_the_full_commit_a_prefix_resolves_to(git_repo, tmp_path, resolutions, monkeypatch):
    from reconciler.engine import AutomationEngine

    monkeypatch.setattr(AutomationEngine, "available", lambda self: False)
    newer = git_repo.bump("dev")
    state = tmp_path / "state"
    code, out, err = _reconcile(git_repo, state, newer[:7].upper())
    assert code == EXIT_OK, err
    assert out.startswith("dry-run: DryRun:")
    assert resolutions == [newer[:7]]
    assert [record["commit"] for record in _audit_records(state)] == [newer]


@pytest.mark.parametrize("case", ["off-branch", "ambiguous", "unknown"])
def test_reconcile_refuses_what_the_source_will_not_resolve(git_repo, tmp_path, prefix_twins, case):
    if case == "off-branch":
        ref = off_branch_commit(git_repo)
        expected = f"commit {ref[:12]} is not on branch main (not reachable from its head {git_repo.head[:12]})"
    elif case == "ambiguous":
        ref = ambiguous_pair(git_repo, prefix_twins)[0][:7]
        expected = f"commit prefix {ref} is ambiguous: it matches 2 commits"
    else:
        ref = next(p for p in ("1234567", "7654321") if not git_repo.git("rev-parse", f"--disambiguate={p}"))
        expected = f"commit {ref} is not in {git_repo.path.resolve()}; check the SHA"
    state = tmp_path / "state"
    code, out, err = _reconcile(git_repo, state, ref)
    assert (code, out) == (EXIT_INVALID, "")
    assert err.startswith(f"error: {expected}"), err
    assert _audit_records(state) == []


# --------------------------------------------------------------------------- approve


class Waiting:
    """A plan waiting for approval on dev, in the local status store the CLI reads; settings point at ``git_repo``."""

    def __init__(self, git_repo, root: Path):
        self.repo = git_repo
        self.root = root
        self.settings = root / "settings.yaml"
        self.settings.write_text(
            f"repository: {{url: {git_repo.path}, branch: main}}\n"
            "environments:\n  dev: {stack: dev, suffix: dev, requireApproval: true}\n"
            f"backendUrl: file://{root / 'state' / 'backend'}\nworkDir: {root / 'state' / 'work'}\n"
        )
        self.states = FileStackStateStore(root / "state" / "status")
        self.commit = ""
        self.wait_at(git_repo.bump("dev"))

    def wait_at(self, commit: str) -> None:
        """The waiting plan is for ``commit`` (a real commit of the repository)."""
        self.commit = commit
        pending = PendingApproval(
            commit=commit, job_id="j" * 32, desired_state_digest="sha256:" + "0" * 64, plan_digest="sha256:" + "1" * 64,
            plan=PlanSummary(create=1), requested_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
        self.states.update("dev", lambda status: status.model_copy(update={"pending_approval": pending}))

    def approve(self, ref: str) -> tuple[int, str, str]:
        return run("approve", "--environment", "dev", "--commit", ref, "--by", "alice",
                   "--settings", str(self.settings), "--state-dir", str(self.root / "state"))

    def approved_by(self) -> str | None:
        return self.states.get("dev").pending_approval.approved_by


@pytest.fixture
def waiting(git_repo, tmp_path) -> Waiting:
    return Waiting(git_repo, tmp_path)


@pytest.mark.parametrize("ref", ["", "main", "abc12"])
def test_approve_refuses_an_empty_or_unusable_ref(waiting, resolutions, ref):
    """``approve --commit ''`` approved whatever waited: every SHA starts with the empty string."""
    code, out, err = waiting.approve(ref)
    assert (code, out) == (EXIT_INVALID, "")
    assert err.startswith("error: --commit ")
    assert resolutions == []
    assert waiting.approved_by() is None


def test_approve_resolves_a_prefix_to_the_waiting_commit(waiting, resolutions):
    code, out, err = waiting.approve(waiting.commit[:7])
    assert code == EXIT_OK, err
    assert f"at {waiting.commit[:12]} by alice" in out
    assert resolutions == [waiting.commit[:7]]
    assert waiting.approved_by() == "alice"


@pytest.mark.parametrize("case", ["off-branch", "ambiguous", "other-commit"])
def test_approve_refuses_a_ref_that_is_not_exactly_the_waiting_commit(waiting, git_repo, prefix_twins, case):
    if case == "off-branch":
        waiting.wait_at(off_branch_commit(git_repo))
        ref = waiting.commit[:7]
        expected = f"commit {waiting.commit[:12]} is not on branch main (not reachable from its head {git_repo.head[:12]})"
    elif case == "ambiguous":
        waiting.wait_at(ambiguous_pair(git_repo, prefix_twins)[0])
        ref = waiting.commit[:7]
        expected = f"commit prefix {ref} is ambiguous: it matches 2 commits"
    else:
        ref = git_repo.git("rev-parse", "HEAD~1")  # on the branch, but an older commit than the waiting plan's
        expected = f"approval for {ref[:12]} rejected: the plan waiting on dev is for {waiting.commit[:12]}; an older or different plan cannot be approved"
    code, _, err = waiting.approve(ref)
    assert code == EXIT_INVALID
    assert err.startswith(f"error: {expected}"), err
    assert waiting.approved_by() is None
