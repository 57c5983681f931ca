"""Signed desired state: with requireSignedCommits only commits signed by an allowed key apply."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from reconciler.events import EventKind, Reason

pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (OpenSSH) to create an ed25519 signing key for git's SSH signing"
)

SIGNER = "release-bot@example.com"


def _keypair(directory, name):
    key = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True, capture_output=True)
    return key, (directory / f"{name}.pub").read_text().strip()


@pytest.fixture
def signing(tmp_path, git_repo, harness):
    keys = tmp_path / "keys"
    keys.mkdir()
    trusted_key, trusted_pub = _keypair(keys, "trusted")
    untrusted_key, _ = _keypair(keys, "untrusted")
    allowed = keys / "allowed_signers"
    allowed.write_text(f"{SIGNER} {trusted_pub}\n")
    git_repo.git("config", "gpg.format", "ssh")
    git_repo.git("config", "user.email", SIGNER)
    git_repo.git("config", "user.signingkey", str(trusted_key))
    harness.configure("dev", require_signed_commits=True, allowed_signers_file=str(allowed))

    def use_key(which: str) -> None:
        git_repo.git("config", "user.signingkey", str(trusted_key if which == "trusted" else untrusted_key))

    return use_key


def test_commit_signed_by_an_allowed_key_applies(signing, harness, git_repo, engine):
    commit = git_repo.bump("dev", sign=True)
    assert git_repo.git("cat-file", "commit", commit).count("BEGIN SSH SIGNATURE") == 1
    outcome = harness.run(harness.job(commit))

    assert (outcome.outcome, outcome.reason) == ("succeeded", Reason.APPLIED)
    assert engine.operations == ["preview", "up"]
    note = harness.notifications()[0]
    assert note["details"]["signedBy"] == f"ssh:{SIGNER}"
    assert harness.status().last_applied_commit == commit


def test_unsigned_commit_is_refused(signing, harness, git_repo, engine):
    commit = git_repo.bump("dev", sign=False)
    outcome = harness.run(harness.job(commit))

    assert (outcome.outcome, outcome.reason, outcome.kind) == ("refused", Reason.UNSIGNED_COMMIT, EventKind.REFUSED_UNSIGNED)
    assert engine.calls == []
    record = harness.last_record()
    assert record.commit == commit and commit[:12] in record.error
    assert harness.notifications()[0]["kind"] == "refused-unsigned-commit"
    assert harness.status().last_applied_commit is None


def test_commit_signed_by_an_untrusted_key_is_refused(signing, harness, git_repo, engine):
    signing("untrusted")
    commit = git_repo.bump("dev", sign=True)
    assert git_repo.git("cat-file", "commit", commit).count("BEGIN SSH SIGNATURE") == 1
    outcome = harness.run(harness.job(commit))

    assert (outcome.outcome, outcome.reason) == ("refused", Reason.UNSIGNED_COMMIT)
    assert engine.calls == []
    assert "is not signed by a key trusted for this environment" in harness.last_record().error
    assert harness.status().last_applied_commit is None
