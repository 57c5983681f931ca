"""Fetching the desired state at an exact commit: GitSource (git archive of a mirror) and DirectorySource."""

from __future__ import annotations

import pytest

from reconciler.errors import SignatureError, SourceError
from reconciler.source import DirectorySource, GitSource, SignerTrust, open_source


@pytest.fixture
def source(git_repo, tmp_path):
    return GitSource(str(git_repo.path), "main", tmp_path / "work")


def test_fetch_head_exports_exactly_that_commit(source, git_repo):
    first = git_repo.head
    second = git_repo.bump("dev")

    checkout = source.fetch(None)

    assert checkout.commit == second and checkout.branch_head == second
    assert checkout.author == "Test User <test@example.com>"
    assert (checkout.path / "environments" / "dev.yaml").read_bytes() == git_repo.file("dev").read_bytes()
    assert not (checkout.path / ".git").exists()
    assert checkout.path.is_relative_to(source.work_dir)

    old = source.fetch(first)
    assert old.commit == first and old.branch_head == second
    assert (old.path / "environments" / "dev.yaml").read_bytes() == git_repo.git("show", f"{first}:environments/dev.yaml").encode() + b"\n"
    assert old.path != checkout.path


def test_a_short_sha_resolves_to_the_full_commit(source, git_repo):
    assert source.fetch(git_repo.head[:10]).commit == git_repo.head


def test_an_unknown_commit_is_a_source_error(source):
    with pytest.raises(SourceError, match="commit 1111111111111111111111111111111111111111 is not in"):
        source.fetch("1" * 40)


def test_a_missing_branch_is_a_source_error(git_repo, tmp_path):
    with pytest.raises(SourceError, match="branch 'release' does not exist"):
        GitSource(str(git_repo.path), "release", tmp_path / "work").fetch(None)


def test_ancestry(source, git_repo):
    a = git_repo.head
    b = git_repo.bump("dev")
    assert source.is_ancestor(a, b) is True
    assert source.is_ancestor(b, a) is False
    with pytest.raises(SourceError, match="cannot compare commits"):
        source.is_ancestor("2" * 40, b)


def test_new_pushes_are_seen_after_refresh(source, git_repo):
    source.fetch(None)
    newer = git_repo.bump("dev")
    source.refresh()
    assert source.head() == newer
    assert source.fetch(newer).commit == newer


def test_cleanup_removes_the_export_but_never_the_users_directory(source, example_dir):
    checkout = source.fetch(None)
    source.cleanup(checkout)
    assert not checkout.path.exists()

    directory = DirectorySource(example_dir)
    plain = directory.fetch(None)
    directory.cleanup(plain)
    assert (example_dir / "environments" / "dev.yaml").exists()


def test_verify_signature_of_an_unsigned_commit_is_refused(source, git_repo, tmp_path):
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("")
    with pytest.raises(SignatureError, match="is not signed by a key trusted for this environment"):
        source.verify_signature(git_repo.head, SignerTrust(allowed_signers_file=str(allowed)))


def test_credentials_in_a_url_never_appear_in_errors(tmp_path):
    source = GitSource("https://deploy-bot:ghp_s3cr3tT0ken@127.0.0.1:9/org/desired-state.git", "main", tmp_path / "work")
    with pytest.raises(SourceError) as raised:
        source.fetch(None)
    assert "ghp_s3cr3tT0ken" not in str(raised.value)
    assert "git clone failed" in str(raised.value)


def test_directory_source(example_dir, tmp_path):
    source = DirectorySource(example_dir)
    checkout = source.fetch(None)
    assert checkout.path == example_dir and checkout.commit is None and checkout.author is None and checkout.branch_head is None
    with pytest.raises(SourceError, match="is not a git repository; it has no commit"):
        source.fetch("a" * 40)
    with pytest.raises(SourceError, match="commits cannot be compared"):
        source.is_ancestor("a" * 40, "b" * 40)
    with pytest.raises(SignatureError):
        source.verify_signature("a" * 40, SignerTrust())
    with pytest.raises(SourceError, match="is not a git repository"):
        source.on_branch("a" * 40)
    with pytest.raises(SourceError, match="is not a git repository"):
        source.resolve_on_branch("a" * 7)
    with pytest.raises(SourceError, match="does not exist"):
        DirectorySource(tmp_path / "missing").fetch(None)


def test_open_source_picks_git_for_repositories_and_urls(git_repo, example_dir, tmp_path):
    assert isinstance(open_source(str(example_dir), "main", tmp_path), DirectorySource)
    repo = open_source(str(git_repo.path), "main", tmp_path)
    assert isinstance(repo, GitSource) and repo.url == str(git_repo.path.resolve())
    url = open_source("https://github.com/org/desired-state.git", "main", tmp_path)
    assert isinstance(url, GitSource) and url.url == "https://github.com/org/desired-state.git"
