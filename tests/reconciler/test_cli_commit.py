"""``reconcile --commit`` and ``approve --commit`` take only a commit the branch holds, named by its SHA.

The command line checks the syntax itself (empty, not hex, shorter than 7, longer than 40) before
it asks anything; which commit a prefix names and whether the branch holds it is the source's
``resolve_on_branch``, stood in for here by :class:`ResolvingSourceDouble`.
"""

from __future__ import annotations

import io
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler import wiring
from reconciler.adapters.stack_state import FileStackStateStore, PendingApproval
from reconciler.cli import EXIT_INVALID, EXIT_OK, check_commit_ref, main
from reconciler.cli import ArgumentError
from reconciler.errors import SourceError
from reconciler.models import PlanSummary


class ResolvingSourceDouble:
    """TEST DOUBLE for ``GitSource.resolve_on_branch``, which lands from helper ``sign``'s branch.

    The contract (full SHA or a unique prefix of 7+ hex characters, resolved only if reachable from
    the branch head; SourceError otherwise) is not on this branch's GitSource yet, so this double
    answers it from a list of the branch's commits and of commits that exist off the branch.
    Everything else (fetch, signatures, cleanup) is the real source's, delegated unchanged.
    """

    def __init__(self, real: Any, branch_commits: list[str], off_branch: list[str] = ()):
        self._real = real
        self.branch_commits = list(branch_commits)
        self.off_branch = list(off_branch)
        self.asked: list[str] = []

    def resolve_on_branch(self, ref: str) -> str:
        self.asked.append(ref)
        matches = [c for c in self.branch_commits + self.off_branch if c.startswith(ref)]
        if len(matches) > 1:
            raise SourceError(f"commit prefix {ref} is ambiguous ({len(matches)} commits); give more characters")
        if not matches:
            raise SourceError(f"commit {ref} is not in the desired-state repository")
        if matches[0] not in self.branch_commits:
            raise SourceError(f"commit {ref} is not on branch main; only commits reachable from its head can be converged")
        return matches[0]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.fixture
def resolving_source(monkeypatch):
    """Install a ResolvingSourceDouble over whatever source the CLI opens; returns a setter for its commits."""
    doubles: list[ResolvingSourceDouble] = []
    config: dict[str, list[str]] = {"branch": [], "off": []}
    real_open = wiring.open_source

    def open_source(location, branch, work_dir, **options):
        double = ResolvingSourceDouble(real_open(location, branch, work_dir, **options), config["branch"], config["off"])
        doubles.append(double)
        return double

    monkeypatch.setattr(wiring, "open_source", open_source)

    def configure(branch_commits: list[str], off_branch: list[str] = ()) -> list[ResolvingSourceDouble]:
        config["branch"], config["off"] = list(branch_commits), list(off_branch)
        return doubles

    return configure


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


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


@pytest.mark.parametrize("ref", ["", "main", "deadbe", "HEAD~1"])
def test_reconcile_refuses_a_bad_ref_before_asking_git(git_repo, tmp_path, resolving_source, ref):
    doubles = resolving_source([git_repo.head])
    state = tmp_path / "state"
    code, out, err = run("reconcile", "--desired-state", str(git_repo.path), "--environment", "dev", "--dry-run",
                         "--commit", ref, "--state-dir", str(state))
    assert (code, out) == (EXIT_INVALID, "")
    assert err.startswith("error: --commit ")
    assert all(double.asked == [] for double in doubles)
    assert _audit_records(state) == []


def test_reconcile_converges_the_full_commit_a_prefix_resolves_to(git_repo, tmp_path, resolving_source, monkeypatch):
    from reconciler.engine import AutomationEngine

    monkeypatch.setattr(AutomationEngine, "available", lambda self: False)
    older = git_repo.head
    newer = git_repo.bump("dev")
    doubles = resolving_source([older, newer])
    state = tmp_path / "state"
    code, out, err = run("reconcile", "--desired-state", str(git_repo.path), "--environment", "dev", "--dry-run",
                         "--commit", newer[:7].upper(), "--state-dir", str(state))
    assert code == EXIT_OK, err
    assert out.startswith("dry-run: DryRun:")
    assert doubles[-1].asked == [newer[:7]]
    assert [record["commit"] for record in _audit_records(state)] == [newer]


@pytest.mark.parametrize("case", ["off-branch", "ambiguous", "unknown"])
def test_reconcile_refuses_what_the_source_will_not_resolve(git_repo, tmp_path, resolving_source, case):
    off = "f" * 40
    twins = ["abcdef1" + "0" * 33, "abcdef1" + "1" * 33]
    resolving_source([git_repo.head, *twins], [off])
    ref = {"off-branch": off, "ambiguous": "abcdef1", "unknown": "1234567"}[case]
    state = tmp_path / "state"
    code, out, err = run("reconcile", "--desired-state", str(git_repo.path), "--environment", "dev", "--dry-run",
                         "--commit", ref, "--state-dir", str(state))
    assert (code, out) == (EXIT_INVALID, "")
    expected = {"off-branch": "is not on branch main", "ambiguous": "is ambiguous", "unknown": "is not in the desired-state repository"}[case]
    assert err.startswith("error: commit ") and expected in err
    assert _audit_records(state) == []


# --------------------------------------------------------------------------- approve


@pytest.fixture
def waiting(tmp_path):
    """A plan waiting for approval on dev at a commit, in the local status store the CLI reads."""
    commit = subprocess.run(["git", "hash-object", "--stdin"], input=b"waiting plan", capture_output=True, check=True).stdout.decode().strip()
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        f"repository: {{url: {tmp_path / 'repo'}}}\n"
        "environments:\n  dev: {stack: dev, suffix: dev, requireApproval: true}\n"
        f"backendUrl: file://{tmp_path / 'state' / 'backend'}\nworkDir: {tmp_path / 'state' / 'work'}\n"
    )
    states = FileStackStateStore(tmp_path / "state" / "status")
    pending = PendingApproval(
        commit=commit, job_id="j" * 32, desired_state_digest="sha256:" + "0" * 64, plan_digest="sha256:" + "1" * 64,
        plan=PlanSummary(create=1), requested_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    states.update("dev", lambda status: status.model_copy(update={"pending_approval": pending}))

    def approve(ref: str) -> tuple[int, str, str]:
        return run("approve", "--environment", "dev", "--commit", ref, "--by", "alice",
                   "--settings", str(settings), "--state-dir", str(tmp_path / "state"))

    def approved_by() -> str | None:
        return states.get("dev").pending_approval.approved_by

    return commit, approve, approved_by


@pytest.mark.parametrize("ref", ["", "main", "abc12"])
def test_approve_refuses_an_empty_or_unusable_ref(waiting, resolving_source, ref):
    """``approve --commit ''`` approved whatever waited: every SHA starts with the empty string."""
    commit, approve, approved_by = waiting
    resolving_source([commit])
    code, out, err = approve(ref)
    assert (code, out) == (EXIT_INVALID, "")
    assert err.startswith("error: --commit ")
    assert approved_by() is None


def test_approve_resolves_a_prefix_to_the_waiting_commit(waiting, resolving_source):
    commit, approve, approved_by = waiting
    resolving_source([commit])
    code, out, err = approve(commit[:7])
    assert code == EXIT_OK, err
    assert f"at {commit[:12]} by alice" in out
    assert approved_by() == "alice"


@pytest.mark.parametrize("case", ["off-branch", "ambiguous", "other-commit"])
def test_approve_refuses_a_ref_that_is_not_exactly_the_waiting_commit(waiting, resolving_source, case):
    commit, approve, approved_by = waiting
    other = "e" * 40
    twin = commit[:7] + ("0" if commit[7] != "0" else "1") * 33
    if case == "off-branch":
        resolving_source([], [commit])
    elif case == "ambiguous":
        resolving_source([commit, twin])
    else:
        resolving_source([commit, other])
    code, _, err = approve(other if case == "other-commit" else commit[:7])
    assert code == EXIT_INVALID
    expected = {"off-branch": "is not on branch main", "ambiguous": "is ambiguous", "other-commit": "an older or different plan cannot be approved"}[case]
    assert expected in err and err.startswith("error: ")
    assert approved_by() is None
