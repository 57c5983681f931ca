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


def test_an_unsigned_merge_commit_on_a_signed_branch_is_refused(signing, harness, git_repo, engine):
    """Signed parents do not vouch for the merge: the commit applied is the one that must be signed."""
    git_repo.git("checkout", "-q", "-b", "feature")
    signed = git_repo.bump("dev", sign=True)
    git_repo.git("checkout", "-q", "main")
    git_repo.bump("prod", sign=True)
    git_repo.git("merge", "-q", "--no-ff", "--no-gpg-sign", "-m", "merge feature", "feature")
    merge = git_repo.head
    assert git_repo.git("rev-list", "--parents", "-n", "1", merge).count(" ") == 2 and signed != merge

    outcome = harness.run(harness.job(merge))

    assert (outcome.outcome, outcome.reason) == ("refused", Reason.UNSIGNED_COMMIT)
    assert "carries no signature" in harness.last_record().error
    assert engine.calls == [] and harness.status().last_applied_commit is None


# --------------------------------------------------------------------------- GPG, per environment


def _gpg_key(home, uid):
    subprocess.run(["gpg", "--batch", "--homedir", str(home), "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never"],
                   check=True, capture_output=True)
    listing = subprocess.run(["gpg", "--homedir", str(home), "--with-colons", "--list-keys", uid], check=True, capture_output=True, text=True).stdout
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))


@pytest.fixture
def gpg_signers(tmp_path, git_repo):
    if shutil.which("gpg") is None:
        pytest.skip("needs GnuPG (gpg) to make GPG signing keys")
    import tempfile

    home = tempfile.mkdtemp(prefix="gpgconv-")  # short: gpg-agent's socket lives in the home
    fingerprints = {name: _gpg_key(home, f"{name} <{name}@example.com>") for name in ("prod-release", "dev-release")}
    keys = tmp_path / "release-keys.asc"
    keys.write_bytes(subprocess.run(["gpg", "--homedir", home, "--armor", "--export"], check=True, capture_output=True).stdout)
    wrapper = tmp_path / "gpg-signer"
    wrapper.write_text(f'#!/bin/sh\nexec gpg --homedir "{home}" "$@"\n')
    wrapper.chmod(0o755)
    git_repo.git("config", "gpg.program", str(wrapper))

    def sign_with(name):
        git_repo.git("config", "user.signingkey", fingerprints[name])

    yield fingerprints, keys, sign_with, home
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True, check=False)
    shutil.rmtree(home, ignore_errors=True)


def test_a_gpg_key_trusted_by_dev_only_cannot_converge_prod(gpg_signers, harness, git_repo, engine):
    fingerprints, keys, sign_with, _ = gpg_signers
    harness.configure("dev", require_signed_commits=True, trusted_gpg_fingerprints=(fingerprints["dev-release"],), trusted_gpg_keys_file=str(keys))
    harness.configure("prod", require_signed_commits=True, trusted_gpg_fingerprints=(fingerprints["prod-release"],), trusted_gpg_keys_file=str(keys))
    sign_with("dev-release")
    commit = git_repo.bump("prod", sign=True)

    assert harness.run(harness.job(commit, environment="dev")).reason == Reason.APPLIED
    assert harness.notifications()[0]["details"]["signedBy"] == f"gpg:{fingerprints['dev-release']}"
    prod = harness.run(harness.job(commit, environment="prod"))

    assert (prod.outcome, prod.reason) == ("refused", Reason.UNSIGNED_COMMIT)
    assert "not among this environment's trusted keys" in harness.last_record("prod").error
    assert harness.status("prod").last_applied_commit is None
    assert [request.stack for _, request in engine.calls] == ["dev", "dev"]


def test_an_environment_naming_only_allowed_signers_refuses_gpg_signed_commits(signing, gpg_signers, harness, git_repo, engine, monkeypatch):
    fingerprints, keys, sign_with, home = gpg_signers
    monkeypatch.setenv("GNUPGHOME", home)  # the worker's own keyring holds the signer: it must not count
    git_repo.git("config", "gpg.format", "openpgp")
    sign_with("prod-release")
    commit = git_repo.bump("dev", sign=True)
    assert "BEGIN PGP SIGNATURE" in git_repo.git("cat-file", "commit", commit)

    outcome = harness.run(harness.job(commit))

    assert (outcome.outcome, outcome.reason) == ("refused", Reason.UNSIGNED_COMMIT)
    assert "trusts no GPG key" in harness.last_record().error
    assert engine.calls == []
