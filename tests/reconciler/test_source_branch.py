"""Only what the branch says now: resolving a commit given by a person, and reachability from the branch head."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.errors import SourceError
from reconciler.source import GitSource, choose_commit


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.decode()}")
    return result.stdout.decode().strip()


@pytest.fixture
def origin(git_repo, tmp_path):
    """A bare origin the working repo pushes to, as a hosted repository is."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(git_repo.path), str(bare))
    git_repo.git("remote", "add", "origin", str(bare))
    return bare


@pytest.fixture
def source(origin, tmp_path):
    return GitSource(str(origin), "main", tmp_path / "work")


def push(git_repo, *flags: str) -> None:
    git_repo.git("push", "-q", *flags, "origin", "main")


def test_a_full_sha_or_a_unique_prefix_resolves_to_the_full_sha(source, git_repo):
    first = git_repo.head
    second = git_repo.bump("dev")
    push(git_repo)
    assert source.resolve_on_branch(second) == second
    assert source.resolve_on_branch(first) == first  # an ancestor of the head is on the branch
    assert source.resolve_on_branch(second[:7]) == second
    assert source.resolve_on_branch(second[:7].upper()) == second
    assert source.on_branch(second) and source.on_branch(first)


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("", "no commit given"),
        ("main", "'main' is not a commit SHA"),
        ("HEAD~1", "'HEAD~1' is not a commit SHA"),
        (" 1234567", "is not a commit SHA"),
        ("a" * 41, "is not a commit SHA"),
        ("deadbe", "shorter than 7 characters"),
        ("dead", "shorter than 7 characters"),
        ("1" * 40, "commit 1111111111111111111111111111111111111111 is not in"),
        ("1234567", "commit 1234567 is not in"),
    ],
)
def test_anything_else_is_refused_with_what_to_give(source, git_repo, ref, reason):
    with pytest.raises(SourceError, match=reason) as refused:
        source.resolve_on_branch(ref)
    assert "full 40-character commit SHA or a unique prefix of at least 7" in str(refused.value) or "is not in" in reason


def test_an_ambiguous_prefix_is_refused_naming_the_candidates(source, git_repo, prefix_twins):
    a, b = prefix_twins.twin_commits(git_repo)
    git_repo.git("merge", "-q", "--ff-only", a)  # one of them on the branch; the other is in the repo too
    git_repo.git("push", "-q", "origin", "main", f"{b}:refs/heads/other")
    with pytest.raises(SourceError, match=f"commit prefix {a[:7]} is ambiguous: it matches 2 commits") as refused:
        source.resolve_on_branch(a[:7])
    assert a[:12] in str(refused.value) and b[:12] in str(refused.value)
    assert source.resolve_on_branch(a[:12] if a[:12] != b[:12] else a) == a


def test_the_ambiguity_decision():
    assert choose_commit("abcdef1", ["abcdef1" + "0" * 33], "repo") == "abcdef1" + "0" * 33
    with pytest.raises(SourceError, match="is ambiguous: it matches 2 commits"):
        choose_commit("abcdef1", ["abcdef1" + "0" * 33, "abcdef1" + "1" * 33], "repo")
    with pytest.raises(SourceError, match="commit abcdef1 is not in repo"):
        choose_commit("abcdef1", [], "repo")


def test_a_prefix_shared_with_a_blob_still_names_the_one_commit(source, git_repo, prefix_twins):
    """Only commits count: ``rev-parse --disambiguate`` lists blobs and trees too."""
    head = git_repo.head
    tree = git_repo.git("rev-parse", "HEAD^{tree}")
    commit, blob = prefix_twins.shared_prefix(lambda n: ("commit", prefix_twins.commit_body(tree, head, n)), lambda n: ("blob", f"filler {n}\n".encode()))
    c = git(git_repo.path, "hash-object", "-t", "commit", "-w", "--stdin", input=commit)
    b = git(git_repo.path, "hash-object", "-w", "--stdin", input=blob)
    assert c[:7] == b[:7]
    assert len(git(git_repo.path, "rev-parse", f"--disambiguate={c[:7]}").split()) == 2
    git_repo.git("merge", "-q", "--ff-only", c)
    git_repo.git("tag", "filler", b)  # so the blob travels to the origin and the mirror
    git_repo.git("push", "-q", "origin", "main", "refs/tags/filler")
    assert source.resolve_on_branch(c[:7]) == c


def test_a_commit_force_pushed_away_is_not_on_the_branch(source, git_repo):
    base = git_repo.head
    dropped = git_repo.bump("dev")
    push(git_repo)
    assert source.resolve_on_branch(dropped) == dropped

    git_repo.git("reset", "-q", "--hard", base)
    rewritten = git_repo.bump("dev")
    push(git_repo, "--force")
    source.refresh()

    assert source.on_branch(dropped) is False
    with pytest.raises(SourceError, match=f"commit {dropped[:12]} is not on branch main .*head {rewritten[:12]}"):
        source.resolve_on_branch(dropped)
    with pytest.raises(SourceError, match="is not on branch main"):
        source.resolve_on_branch(dropped[:7])
    assert source.resolve_on_branch(rewritten) == rewritten
    assert source.on_branch(base) is True
    # A deliberate reset to an older commit: that commit is the head, on the branch.
    git_repo.git("reset", "-q", "--hard", base)
    push(git_repo, "--force")
    source.refresh()
    assert source.resolve_on_branch(base) == base and source.on_branch(rewritten) is False


def test_on_branch_wants_a_full_sha_and_says_no_for_an_unknown_one(source, git_repo):
    push(git_repo)
    assert source.on_branch("1" * 40) is False
    with pytest.raises(SourceError, match="is not a full commit SHA"):
        source.on_branch(git_repo.head[:7])
    with pytest.raises(SourceError, match="is not a full commit SHA"):
        source.on_branch("main")


def test_credentials_in_the_url_never_appear_in_branch_errors(tmp_path):
    source = GitSource("https://deploy-bot:ghp_s3cr3tT0ken@127.0.0.1:9/org/desired-state.git", "main", tmp_path / "work")
    for attempt in (lambda: source.resolve_on_branch("abcdef1"), lambda: source.on_branch("a" * 40)):
        with pytest.raises(SourceError) as raised:
            attempt()
        assert "ghp_s3cr3tT0ken" not in str(raised.value) and "git clone failed" in str(raised.value)
