"""Signed commits, verified with real GnuPG and OpenSSH keys: an environment trusts exactly the signers it names.

Keys and signed commits are made once per module (key generation is the slow part) in a
throwaway GNUPGHOME; every verification then runs through :meth:`GitSource.verify_signature`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.errors import SettingsError, SignatureError
from reconciler.settings import EnvironmentSettings, load_settings
from reconciler.source import GitSource, SignerTrust, trusted_gpg_signer

pytestmark = pytest.mark.skipif(
    shutil.which("gpg") is None or shutil.which("ssh-keygen") is None,
    reason="needs GnuPG (gpg) and OpenSSH (ssh-keygen) to make real signing keys and signed commits",
)

DAY = 86_400


def _run(*args: str, cwd: Path | None = None, input: bytes | None = None) -> str:
    result = subprocess.run(list(args), cwd=cwd, input=input, capture_output=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode(errors="replace")


def _primary_fingerprint(home: Path, uid: str) -> str:
    listing = _run("gpg", "--homedir", str(home), "--with-colons", "--list-keys", uid)
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))


@dataclass
class World:
    home: Path  # the signers' GnuPG home: every key, secret parts included
    repo: Path
    all_keys: Path  # armored public keys of every GPG signer (prod, dev, mallory, expired, revoked)
    prod_only_keys: Path
    allowed_signers: Path
    fpr: dict[str, str]
    commits: dict[str, str]


def _gpg_wrapper(directory: Path, home: Path, name: str, faked_time: int | None = None) -> Path:
    """A gpg.program for git that signs from ``home`` (optionally at a faked time: expired keys cannot sign now)."""
    script = directory / name
    faked = f"--faked-system-time {faked_time}! " if faked_time else ""
    script.write_text(f'#!/bin/sh\nexec gpg --homedir "{home}" {faked}"$@"\n')
    script.chmod(0o755)
    return script


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("signers")
    home = Path(tempfile.mkdtemp(prefix="gpgsig-"))  # short: gpg-agent's socket lives in the home
    home.chmod(0o700)
    gpg = ["gpg", "--batch", "--homedir", str(home), "--passphrase", ""]
    fpr: dict[str, str] = {}
    for name in ("prod", "dev"):
        uid = f"{name.title()} Release <{name}@example.com>"
        _run(*gpg, "--quick-gen-key", uid, "ed25519", "sign", "never")
        fpr[name] = _primary_fingerprint(home, f"{name}@example.com")
    # The attack: a user ID that carries the text of a VALIDSIG status line for prod's key.
    _run(*gpg, "--quick-gen-key", f"Mallory VALIDSIG {fpr['prod']} <mallory@example.com>", "ed25519", "sign", "never")
    fpr["mallory"] = _primary_fingerprint(home, "mallory@example.com")
    # Expired: made two years ago, valid for one year.
    made = int(time.time()) - 730 * DAY
    _run(*gpg, "--faked-system-time", f"{made}!", "--quick-gen-key", "Expired <expired@example.com>", "ed25519", "sign", "1y")
    fpr["expired"] = _primary_fingerprint(home, "expired@example.com")
    _run(*gpg, "--quick-gen-key", "Revoked <revoked@example.com>", "ed25519", "sign", "never")
    fpr["revoked"] = _primary_fingerprint(home, "revoked@example.com")
    # A certify-only primary key with a signing subkey, as keys kept offline are set up.
    _run(*gpg, "--quick-gen-key", "Offline <offline@example.com>", "ed25519", "cert", "never")
    fpr["offline"] = _primary_fingerprint(home, "offline@example.com")
    _run(*gpg, "--quick-add-key", fpr["offline"], "ed25519", "sign", "never")
    listing = _run("gpg", "--homedir", str(home), "--with-colons", "--list-keys", fpr["offline"]).splitlines()
    fpr["offline-subkey"] = next(listing[i + 1].split(":")[9] for i, line in enumerate(listing) if line.startswith("sub:"))

    ssh = root / "ssh"
    ssh.mkdir()
    for name in ("trusted", "stranger"):
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(ssh / name))
    allowed = root / "allowed_signers"
    allowed.write_text(f"release-bot@example.com {(ssh / 'trusted.pub').read_text().strip()}\n")

    repo = root / "repo"
    repo.mkdir()
    _run("git", "init", "-q", "-b", "main", cwd=repo)
    for key, value in {"user.name": "Signer", "user.email": "signer@example.com", "commit.gpgsign": "false"}.items():
        _run("git", "config", key, value, cwd=repo)
    now_signer = _gpg_wrapper(root, home, "gpg-now")
    past_signer = _gpg_wrapper(root, home, "gpg-past", made + DAY)
    commits: dict[str, str] = {}

    def commit(name: str, *config: str, sign: bool = True) -> None:
        (repo / "environments").mkdir(exist_ok=True)
        (repo / "environments" / "dev.yaml").write_text(f"signed by: {name}\n")
        _run("git", "add", "-A", cwd=repo)
        flags = ["-S"] if sign else ["--no-gpg-sign"]
        _run("git", *config, "commit", "-q", *flags, "-m", f"change by {name}", cwd=repo)
        commits[name] = _run("git", "rev-parse", "HEAD", cwd=repo).strip()

    commit("unsigned", sign=False)
    for name in ("prod", "dev", "mallory", "revoked", "offline"):
        commit(name, "-c", f"gpg.program={now_signer}", "-c", f"user.signingkey={fpr[name]}")
    commit("expired", "-c", f"gpg.program={past_signer}", "-c", f"user.signingkey={fpr['expired']}")
    for name in ("trusted", "stranger"):
        commit(f"ssh-{name}", "-c", "gpg.format=ssh", "-c", f"user.signingkey={ssh / name}")

    # Revoke after signing, as happens when a key is found compromised; the trusted key file then carries the revocation.
    revocation = (home / "openpgp-revocs.d" / f"{fpr['revoked']}.rev").read_text().replace(":-----BEGIN", "-----BEGIN")
    _run(*gpg, "--import", input=revocation.encode())
    all_keys = root / "all-signers.asc"
    all_keys.write_text(_run("gpg", "--homedir", str(home), "--armor", "--export"))
    prod_only = root / "prod-signer.asc"
    prod_only.write_text(_run("gpg", "--homedir", str(home), "--armor", "--export", fpr["prod"]))
    yield World(home, repo, all_keys, prod_only, allowed, fpr, commits)
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def source(world, tmp_path_factory) -> GitSource:
    return GitSource(str(world.repo), "main", tmp_path_factory.mktemp("work"))


@pytest.fixture
def gpg_scratch(tmp_path, monkeypatch) -> Path:
    """Where the per-check GNUPGHOME is made, so a test can see it is gone afterwards."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def prod_trust(world: World, **overrides) -> SignerTrust:
    fields = {"trusted_gpg_fingerprints": (world.fpr["prod"],), "trusted_gpg_keys_file": str(world.all_keys)}
    return SignerTrust(**{**fields, **overrides})


def dev_trust(world: World) -> SignerTrust:
    return SignerTrust(trusted_gpg_fingerprints=(world.fpr["dev"],), trusted_gpg_keys_file=str(world.all_keys))


def refused(source: GitSource, commit: str, trust: SignerTrust) -> str:
    with pytest.raises(SignatureError) as raised:
        source.verify_signature(commit, trust)
    message = str(raised.value)
    assert message.startswith(f"commit {commit[:12]} is not signed by a key trusted for this environment: ")
    return message


# --------------------------------------------------------------------------- GPG


def test_a_commit_signed_by_a_listed_key_is_accepted_with_its_full_fingerprint(world, source, gpg_scratch):
    assert source.verify_signature(world.commits["prod"], prod_trust(world)) == f"gpg:{world.fpr['prod']}"
    assert list(gpg_scratch.iterdir()) == []  # the GNUPGHOME built for the check is removed


def test_a_crafted_user_id_naming_the_trusted_fingerprint_is_refused(world, source, gpg_scratch):
    commit = world.commits["mallory"]
    message = refused(source, commit, prod_trust(world))
    assert world.fpr["prod"] not in message.replace(f"VALIDSIG {world.fpr['prod']}", "")
    # The same with the attacker's key in the keyring git verifies against: the status text
    # then holds "VALIDSIG <prod fingerprint>" inside the GOODSIG line, which the old search matched.
    status = subprocess.run(
        ["git", "verify-commit", "--raw", commit], cwd=world.repo, capture_output=True, env={"GNUPGHOME": str(world.home), "PATH": "/usr/bin:/bin"}
    ).stderr.decode()
    goodsig = next(line for line in status.splitlines() if line.startswith("[GNUPG:] GOODSIG"))
    assert f"VALIDSIG {world.fpr['prod']}" in goodsig
    assert re.search(r"VALIDSIG ([0-9A-F]{40})", status).group(1) == world.fpr["prod"]
    with pytest.raises(SignatureError, match=f"signed by GPG key {world.fpr['mallory']}, which is not listed"):
        trusted_gpg_signer(status, (world.fpr["prod"],))
    assert trusted_gpg_signer(status, (world.fpr["mallory"],)) == world.fpr["mallory"]


def test_a_key_trusted_by_another_environment_is_refused(world, source, gpg_scratch):
    commit = world.commits["dev"]
    assert source.verify_signature(commit, dev_trust(world)) == f"gpg:{world.fpr['dev']}"
    assert "not among this environment's trusted keys" in refused(source, commit, prod_trust(world))
    assert "not among this environment's trusted keys" in refused(source, world.commits["prod"], dev_trust(world))


def test_an_environment_naming_only_an_allowed_signers_file_refuses_every_gpg_signature(world, source, gpg_scratch, monkeypatch):
    monkeypatch.setenv("GNUPGHOME", str(world.home))  # the worker's own keyring holds the signer
    ssh_only = SignerTrust(allowed_signers_file=str(world.allowed_signers))
    for name in ("prod", "dev", "mallory"):
        assert "trusts no GPG key" in refused(source, world.commits[name], ssh_only)


def test_a_key_only_in_the_workers_keyring_is_refused(world, source, gpg_scratch, monkeypatch):
    monkeypatch.setenv("GNUPGHOME", str(world.home))
    only_prod_key = prod_trust(world, trusted_gpg_keys_file=str(world.prod_only_keys))
    assert "not among this environment's trusted keys" in refused(source, world.commits["dev"], only_prod_key)
    assert "not among this environment's trusted keys" in refused(source, world.commits["mallory"], only_prod_key)
    # Listed, but its public key is not in the trusted key file: the ambient keyring does not fill the gap.
    listed_not_shipped = prod_trust(world, trusted_gpg_fingerprints=(world.fpr["prod"], world.fpr["dev"]), trusted_gpg_keys_file=str(world.prod_only_keys))
    assert "not among this environment's trusted keys" in refused(source, world.commits["dev"], listed_not_shipped)
    assert source.verify_signature(world.commits["prod"], only_prod_key) == f"gpg:{world.fpr['prod']}"


def test_a_subkey_signature_is_matched_by_its_primary_key_fingerprint(world, source, gpg_scratch):
    by_primary = SignerTrust(trusted_gpg_fingerprints=(world.fpr["offline"],), trusted_gpg_keys_file=str(world.all_keys))
    assert source.verify_signature(world.commits["offline"], by_primary) == f"gpg:{world.fpr['offline']}"
    by_subkey = SignerTrust(trusted_gpg_fingerprints=(world.fpr["offline-subkey"],), trusted_gpg_keys_file=str(world.all_keys))
    assert world.fpr["offline"] in refused(source, world.commits["offline"], by_subkey)


def test_expired_and_revoked_keys_are_refused_even_when_listed(world, source, gpg_scratch):
    listed = SignerTrust(trusted_gpg_fingerprints=(world.fpr["expired"], world.fpr["revoked"]), trusted_gpg_keys_file=str(world.all_keys))
    assert "the signing key has expired (EXPKEYSIG)" in refused(source, world.commits["expired"], listed)
    assert "the signing key has been revoked (REVKEYSIG)" in refused(source, world.commits["revoked"], listed)


def test_an_unsigned_commit_is_refused(world, source, gpg_scratch):
    assert "carries no signature" in refused(source, world.commits["unsigned"], prod_trust(world, allowed_signers_file=str(world.allowed_signers)))


def test_a_missing_or_unfit_trusted_key_file_is_named(world, source, gpg_scratch, tmp_path):
    missing = tmp_path / "nowhere.asc"
    assert f"trustedGpgKeysFile {missing} cannot be read" in refused(source, world.commits["prod"], prod_trust(world, trusted_gpg_keys_file=str(missing)))
    garbage = tmp_path / "garbage.asc"
    garbage.write_text("not a key\n")
    message = refused(source, world.commits["prod"], prod_trust(world, trusted_gpg_keys_file=str(garbage)))
    assert f"trustedGpgKeysFile {garbage} holds none of the keys listed in trustedGpgFingerprints" in message
    other_keys = refused(source, world.commits["dev"], SignerTrust(trusted_gpg_fingerprints=(world.fpr["dev"],), trusted_gpg_keys_file=str(world.prod_only_keys)))
    assert "holds none of the keys listed" in other_keys


# --------------------------------------------------------------------------- SSH


def test_ssh_signatures_are_trusted_only_through_the_allowed_signers_file(world, source, gpg_scratch):
    both = prod_trust(world, allowed_signers_file=str(world.allowed_signers))
    assert source.verify_signature(world.commits["ssh-trusted"], both) == "ssh:release-bot@example.com"
    assert "the SSH signer is not in allowedSignersFile" in refused(source, world.commits["ssh-stranger"], both)
    assert "names no allowedSignersFile" in refused(source, world.commits["ssh-trusted"], prod_trust(world))


# --------------------------------------------------------------------------- status lines (GnuPG doc/DETAILS)

PROD = "A" * 40
VALIDSIG = f"[GNUPG:] VALIDSIG {'B' * 24}0123456789ABCDEF 2026-12-01 1796111947 0 4 0 22 8 00 {PROD}"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (f"[GNUPG:] BADSIG 0123456789ABCDEF Prod\n{VALIDSIG}", "does not match the commit (BADSIG)"),
        (f"[GNUPG:] EXPSIG 0123456789ABCDEF Prod\n{VALIDSIG}", "signature has expired (EXPSIG)"),
        (f"[GNUPG:] ERRSIG 0123456789ABCDEF 22 8 00 1796111947 9 -\n[GNUPG:] NO_PUBKEY 0123456789ABCDEF", "not among this environment's trusted keys"),
        (f"[GNUPG:] ERRSIG 0123456789ABCDEF 22 8 00 1796111947 4 -\n[GNUPG:] GOODSIG 0123456789ABCDEF Prod\n{VALIDSIG}", "(ERRSIG)"),
        (f"[GNUPG:] REVKEYSIG 0123456789ABCDEF Prod\n{VALIDSIG}", "revoked (REVKEYSIG)"),
        (VALIDSIG, "no good signature (no GOODSIG)"),
        ("[GNUPG:] GOODSIG 0123456789ABCDEF Prod", "not exactly one valid signature"),
        (f"[GNUPG:] GOODSIG 0123456789ABCDEF x [GNUPG:] VALIDSIG {PROD}", "not exactly one valid signature"),
        (f"[GNUPG:] GOODSIG 0123456789ABCDEF Prod\n{VALIDSIG}\n[GNUPG:] GOODSIG 0123456789ABCDEF Prod\n{VALIDSIG}", "not exactly one"),
        (f"[GNUPG:] GOODSIG 0123456789ABCDEF Prod\n {VALIDSIG}", "not exactly one valid signature"),
        (f"[GNUPG:] GOODSIG 0123456789ABCDEF Prod\n{VALIDSIG.replace(PROD, 'C' * 40)}", f"GPG key {'C' * 40}, which is not listed"),
        (f"[GNUPG:] GOODSIG FEDCBA9876543210 Prod\n{VALIDSIG}", "GOODSIG and VALIDSIG lines name different keys"),
    ],
)
def test_only_whole_status_lines_count(status, reason):
    with pytest.raises(SignatureError, match=re.escape(reason)):
        trusted_gpg_signer(status, (PROD,))


def test_the_primary_key_fingerprint_is_what_is_compared():
    # Signed by a subkey (first field B...0123456789ABCDEF), primary key A...: the primary is what the list names.
    status = f"[GNUPG:] GOODSIG 0123456789ABCDEF Prod\n{VALIDSIG}"
    assert trusted_gpg_signer(status, ("aaaa " * 10,)) == PROD
    with pytest.raises(SignatureError, match="not listed"):
        trusted_gpg_signer(status, ("B" * 24 + "0123456789ABCDEF",))


# --------------------------------------------------------------------------- settings


def test_signer_trust_comes_from_the_environment_settings(tmp_path):
    env = EnvironmentSettings(
        stack="prod", suffix="prod", production=True, allowed_signers_file="/etc/ecs-gitops/allowed_signers",
        trusted_gpg_fingerprints=("a1a3 8a1d a452 a77b fd53  412a f9ad e08e bfec ce20",), trusted_gpg_keys_file="/etc/ecs-gitops/prod.asc",
    )
    assert env.trusted_gpg_fingerprints == ("A1A38A1DA452A77BFD53412AF9ADE08EBFECCE20",)
    assert SignerTrust.for_environment(env) == SignerTrust(
        allowed_signers_file="/etc/ecs-gitops/allowed_signers",
        trusted_gpg_fingerprints=("A1A38A1DA452A77BFD53412AF9ADE08EBFECCE20",),
        trusted_gpg_keys_file="/etc/ecs-gitops/prod.asc",
    )


@pytest.mark.parametrize(
    ("signing", "message"),
    [
        ("trustedGpgFingerprints: [A1A38A1DA452A77BFD53412AF9ADE08EBFECCE20]", "trustedGpgFingerprints are listed but trustedGpgKeysFile is not set; set trustedGpgKeysFile"),
        ("trustedGpgFingerprints: [F9ADE08EBFECCE20]\n    trustedGpgKeysFile: /k.asc", "'F9ADE08EBFECCE20' is not a full GPG fingerprint"),
        ("trustedGpgKeysFile: /k.asc\n    allowedSignersFile: /a", "trustedGpgKeysFile is set but trustedGpgFingerprints lists no key"),
    ],
)
def test_incomplete_gpg_trust_is_a_settings_error(tmp_path, signing, message):
    file = tmp_path / "settings.yaml"
    file.write_text(
        "repository: {url: x, imageWriteBack: false}\n"
        f"environments:\n  prod:\n    stack: prod\n    suffix: prod\n    production: true\n    {signing}\n"
    )
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(file)


# --------------------------------------------------------------------------- what counts as the signature


def _crafted_commit(git_repo, headers: str, message: str) -> str:
    tree = git_repo.git("rev-parse", "HEAD^{tree}")
    body = f"tree {tree}\nparent {git_repo.head}\nauthor A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\n{headers}\n{message}"
    commit = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=git_repo.path, input=body.encode(), capture_output=True, check=True).stdout.decode().strip()
    git_repo.git("update-ref", "refs/heads/main", commit)
    return commit


@pytest.mark.parametrize(
    ("headers", "message", "reason"),
    [
        ("gpgsig -----BEGIN SIGNED MESSAGE-----\n MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAKCAMIID\n -----END SIGNED MESSAGE-----\n", "x509\n",
         "it carries an x509 signature; only GPG and SSH signatures can be trusted"),
        ("gpgsig -----BEGIN FOO-----\n bar\n -----END FOO-----\n", "odd\n", "it carries an unknown signature"),
        ("", "gpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lH\n-----END SSH SIGNATURE-----\n", "carries no signature"),
        ("gpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lH\n -----END SSH SIGNATURE-----\n", "forged\n", "the SSH signer is not in allowedSignersFile"),
    ],
)
def test_only_the_signature_header_counts_and_only_gpg_or_ssh(git_repo, tmp_path, world, headers, message, reason):
    commit = _crafted_commit(git_repo, headers, message)
    source = GitSource(str(git_repo.path), "main", tmp_path / "work")
    trust = prod_trust(world, allowed_signers_file=str(world.allowed_signers))
    assert reason in refused(source, commit, trust)


def test_a_commit_that_looks_like_an_option_is_not_one(git_repo, tmp_path, world):
    source = GitSource(str(git_repo.path), "main", tmp_path / "work")
    with pytest.raises(SignatureError, match="is not in"):
        source.verify_signature("--output=/tmp/owned", prod_trust(world))
    from reconciler.errors import SourceError

    with pytest.raises(SourceError, match="is not in"):
        source.fetch("--output=/tmp/owned")
    assert not Path("/tmp/owned").exists()
