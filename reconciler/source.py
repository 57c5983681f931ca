"""Fetch the desired state at an exact commit.

:class:`GitSource` keeps a bare mirror of the desired-state repo (any git URL: HTTPS with a
credential helper, SSH, CodeCommit over HTTPS or ``codecommit::``, or a local path) and exports
one commit at a time into a fresh directory with ``git archive``, so what is validated is
byte-for-byte what that commit holds. The archive is streamed to disk under a size cap and
extracted member by member: no link or special file is ever created. Signatures are checked per
environment against exactly the signers it names (:class:`SignerTrust`).
:class:`DirectorySource` serves a plain local directory (no git) for local use; it has no
commits, so ordering checks do not apply to it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Protocol

from reconciler.errors import SignatureError, SourceError
from reconciler.redact import strip_url_credentials

if TYPE_CHECKING:
    from reconciler.settings import EnvironmentSettings

GIT_TIMEOUT_SECONDS = 300
DEFAULT_MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
# The loader reads environment files from here; anything under it must be a plain file or directory.
ENVIRONMENTS_DIR = "environments"
# A commit named by SHA: hex, at least MIN_SHA_PREFIX and at most SHA_LENGTH characters. The CLI
# checks the same rule (with its own wording) before it asks git.
MIN_SHA_PREFIX = 7
SHA_LENGTH = 40
SHA_HEX = re.compile(r"[0-9a-fA-F]+")
_STREAM_CHUNK = 1024 * 1024
_FULL_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Checkout:
    """The desired state of one commit, exported to ``path``."""

    path: Path
    commit: str | None
    author: str | None
    branch_head: str | None


def normalise_fingerprint(fingerprint: str) -> str:
    """A GPG fingerprint as GnuPG prints it in status lines: 40 upper-case hex digits, no spaces."""
    return "".join(fingerprint.split()).upper()


@dataclass(frozen=True)
class SignerTrust:
    """Exactly the signers one environment trusts, by signature type.

    SSH signatures are trusted only through ``allowed_signers_file``; GPG signatures only when the
    signing key's primary fingerprint is in ``trusted_gpg_fingerprints`` and its public key is in
    ``trusted_gpg_keys_file``. Nothing else (the worker's own keyring, another environment's
    list) counts.
    """

    allowed_signers_file: str | None = None
    trusted_gpg_fingerprints: tuple[str, ...] = ()
    trusted_gpg_keys_file: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "trusted_gpg_fingerprints", tuple(normalise_fingerprint(f) for f in self.trusted_gpg_fingerprints))

    @classmethod
    def for_environment(cls, env: EnvironmentSettings) -> SignerTrust:
        return cls(
            allowed_signers_file=env.allowed_signers_file,
            trusted_gpg_fingerprints=tuple(env.trusted_gpg_fingerprints),
            trusted_gpg_keys_file=env.trusted_gpg_keys_file,
        )


class DesiredStateSource(Protocol):
    def fetch(self, commit: str | None) -> Checkout: ...

    def is_ancestor(self, older: str, newer: str) -> bool: ...

    def on_branch(self, commit: str) -> bool: ...

    def resolve_on_branch(self, ref: str) -> str: ...

    def verify_signature(self, commit: str, trust: SignerTrust) -> str: ...


def _git_env(env: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}


def _git(
    args: list[str], cwd: Path | None = None, check: bool = True, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, timeout=GIT_TIMEOUT_SECONDS, env=_git_env(env))
    except FileNotFoundError:
        raise SourceError("git is not installed; install git to fetch the desired state") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {args[0]} took longer than {GIT_TIMEOUT_SECONDS}s; check the network and the repository URL") from None
    if check and result.returncode != 0:
        raise SourceError(f"git {args[0]} failed: {strip_url_credentials(result.stderr.decode(errors='replace').strip())}")
    return result


def _git_to_file(args: list[str], cwd: Path, out: IO[bytes], max_bytes: int, too_large: str) -> None:
    """Stream git's stdout into ``out`` and stop it once more than ``max_bytes`` arrive."""
    with tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(["git", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=stderr, env=_git_env(None))
        except FileNotFoundError:
            raise SourceError("git is not installed; install git to fetch the desired state") from None
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(GIT_TIMEOUT_SECONDS, stop)
        timer.start()
        written = 0
        stdout = process.stdout
        if stdout is None:  # cannot happen with stdout=PIPE; keeps the type checker honest
            raise SourceError(f"git {args[0]} gave no output stream")
        try:
            while chunk := stdout.read(_STREAM_CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    process.kill()
                    raise SourceError(too_large)
                out.write(chunk)
            returncode = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
            process.wait()
            stdout.close()
        if timed_out.is_set():
            raise SourceError(f"git {args[0]} took longer than {GIT_TIMEOUT_SECONDS}s; check the disk and the repository size")
        if returncode != 0:
            stderr.seek(0)
            raise SourceError(f"git {args[0]} failed: {strip_url_credentials(stderr.read().decode(errors='replace').strip())}")


# --------------------------------------------------------------------------- archive extraction

_KINDS = (
    (tarfile.TarInfo.issym, "a symbolic link"),
    (tarfile.TarInfo.islnk, "a hard link"),
    (tarfile.TarInfo.ischr, "a character device"),
    (tarfile.TarInfo.isblk, "a block device"),
    (tarfile.TarInfo.isfifo, "a FIFO"),
)


def _special_kind(member: tarfile.TarInfo) -> str:
    for test, kind in _KINDS:
        if test(member):
            return f"{kind} (to {member.linkname})" if member.issym() or member.islnk() else kind
    return "a special file"


def _under_environments(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and parts[0] == ENVIRONMENTS_DIR


def extract_archive(archive: IO[bytes], target: Path, commit: str) -> None:
    """Extract a ``git archive`` tar into ``target`` one member at a time.

    Regular files and directories are written with tarfile's ``data`` filter. Links, devices
    and FIFOs are never created: under ``environments/`` they are refused (an environment file
    that is a link to another one would give one environment another's identity), elsewhere
    (docs, tooling) they are skipped, so they cannot stop every environment's jobs.
    """
    at = f" (commit {commit[:7]})"
    try:
        with tarfile.open(fileobj=archive, mode="r:") as tar:
            for member in tar:
                name = member.name
                path = PurePosixPath(name)
                if path.is_absolute() or ".." in path.parts:
                    raise SourceError(f"{name} escapes the checkout directory{at}; the repository holds a path git should never produce")
                if member.isreg() or member.isdir():
                    try:
                        tar.extract(member, target, filter="data")
                    except tarfile.FilterError as exc:
                        raise SourceError(f"{name} cannot be exported safely{at}: {exc}") from None
                    continue
                if _under_environments(name):
                    raise SourceError(
                        f"{name} is {_special_kind(member)}{at}; environment files must be regular files: "
                        "commit the file's content instead of the link"
                    )
                # Outside environments/ nothing reads these; not creating them is the whole defence.
    except tarfile.TarError as exc:
        raise SourceError(f"the archive of commit {commit[:12]} cannot be read: {exc}") from None


# --------------------------------------------------------------------------- signatures

_SIGNATURE_HEADERS = ("gpgsig", "gpgsig-sha256")
_GPG_REFUSALS = {  # the most specific first: NO_PUBKEY comes with an ERRSIG
    "NO_PUBKEY": "the signing key is not among this environment's trusted keys (NO_PUBKEY)",
    "BADSIG": "the signature does not match the commit (BADSIG)",
    "EXPSIG": "the signature has expired (EXPSIG)",
    "EXPKEYSIG": "the signing key has expired (EXPKEYSIG)",
    "REVKEYSIG": "the signing key has been revoked (REVKEYSIG)",
    "ERRSIG": "the signature could not be checked (ERRSIG)",
}


def signature_of(commit_object: str) -> str | None:
    """The signature block in a raw commit object (``git cat-file commit``), or None if unsigned."""
    lines = commit_object.split("\n")
    for index, line in enumerate(lines):
        if line == "":
            return None  # end of the headers: the message follows
        key, _, value = line.partition(" ")
        if key in _SIGNATURE_HEADERS:
            block = [value]
            for continuation in lines[index + 1 :]:
                if not continuation.startswith(" "):
                    break
                block.append(continuation[1:])
            return "\n".join(block)
    return None


def signature_type(signature: str) -> str:
    """``gpg``, ``ssh`` or ``x509``, decided from the armor as git itself decides it."""
    if signature.startswith(("-----BEGIN PGP SIGNATURE-----", "-----BEGIN PGP MESSAGE-----")):
        return "gpg"
    if signature.startswith("-----BEGIN SSH SIGNATURE-----"):
        return "ssh"
    if signature.startswith("-----BEGIN SIGNED MESSAGE-----"):
        return "x509"
    return "unknown"


def trusted_gpg_signer(status: str, trusted_fingerprints: Sequence[str]) -> str:
    """The primary-key fingerprint of a good signature by a trusted key, from GnuPG status lines.

    Only whole lines that start with ``[GNUPG:] `` are read, as GnuPG's doc/DETAILS defines them;
    a user ID is text inside a GOODSIG line and can say anything. Raises ``SignatureError`` with
    the reason otherwise.
    """
    records: list[list[str]] = []
    for line in status.splitlines():
        if line.startswith("[GNUPG:] "):
            records.append(line[len("[GNUPG:] ") :].split(" "))
    keywords = {record[0] for record in records}
    for keyword, reason in _GPG_REFUSALS.items():
        if keyword in keywords:
            raise SignatureError(reason)
    if "GOODSIG" not in keywords:
        raise SignatureError("gpg reported no good signature (no GOODSIG)")
    valid = [record for record in records if record[0] == "VALIDSIG"]
    if len(valid) != 1 or sum(record[0] == "GOODSIG" for record in records) != 1:
        raise SignatureError("gpg reported not exactly one valid signature")
    # VALIDSIG <fpr> <date> <ts> <expire> <version> <reserved> <pk-algo> <hash-algo> <class> [<primary-fpr>]
    fields = valid[0][1:]
    good_key = next(record for record in records if record[0] == "GOODSIG")[1:2]
    if not fields or not good_key or not normalise_fingerprint(fields[0]).endswith(normalise_fingerprint(good_key[0])):
        raise SignatureError("gpg's GOODSIG and VALIDSIG lines name different keys")
    primary = fields[9] if len(fields) >= 10 else fields[0] if fields else ""
    primary = normalise_fingerprint(primary)
    if not re.fullmatch(r"[0-9A-F]{40}", primary):
        raise SignatureError("gpg's VALIDSIG line carries no primary-key fingerprint")
    if primary not in {normalise_fingerprint(f) for f in trusted_fingerprints}:
        raise SignatureError(f"it is signed by GPG key {primary}, which is not listed in trustedGpgFingerprints here")
    return primary


def _gpg(args: list[str], home: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        # --no-autostart: public-key work needs no agent, and none is left behind in the temp home.
        return subprocess.run(
            ["gpg", "--batch", "--no-tty", "--no-autostart", "--homedir", str(home), *args],
            input=stdin, capture_output=True, timeout=GIT_TIMEOUT_SECONDS, check=False,
        )
    except FileNotFoundError:
        raise SignatureError("gpg is not installed; install GnuPG to verify GPG-signed commits") from None
    except subprocess.TimeoutExpired:
        raise SignatureError(f"gpg took longer than {GIT_TIMEOUT_SECONDS}s to prepare the trusted keys") from None


def build_trusted_keyring(home: Path, keys_file: Path, fingerprints: Sequence[str]) -> Path:
    """A GnuPG home under the scratch directory ``home`` holding only the listed keys of ``keys_file``.

    gpg cannot import selectively, so the file goes into a staging home first and only the listed
    fingerprints are exported from there into the keyring git verifies against.
    """
    try:
        armored = keys_file.read_bytes()
    except OSError as exc:
        raise SignatureError(f"trustedGpgKeysFile {keys_file} cannot be read ({exc.strerror}); fix the path in the reconciler settings") from None
    staging = home / "staging"
    staging.mkdir(mode=0o700)
    _gpg(["--import"], staging, armored)
    exported = _gpg(["--export", *fingerprints], staging)
    if not exported.stdout:
        raise SignatureError(
            f"trustedGpgKeysFile {keys_file} holds none of the keys listed in trustedGpgFingerprints; "
            "add them with gpg --armor --export <fingerprint>"
        )
    keyring = home / "keyring"
    keyring.mkdir(mode=0o700)
    _gpg(["--import"], keyring, exported.stdout)
    return keyring


class GitSource:
    def __init__(self, url: str, branch: str, work_dir: str | Path, max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES):
        self.url = url
        self.branch = branch
        self.max_archive_bytes = max_archive_bytes
        key = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.work_dir = Path(work_dir).expanduser()
        self.mirror = self.work_dir / f"mirror-{key}.git"
        self._fetched = False

    @property
    def _where(self) -> str:
        return strip_url_credentials(self.url)

    def _sync(self) -> None:
        if self._fetched:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # The worker's converge loops share this mirror (threads), and local runs may share the work
        # dir (processes): a clone or fetch while another one is under way fails ("not a git repository",
        # ref locks), so they take turns on the mirror's lock file. Reads (rev-parse, archive) need no
        # turn: git updates refs and packs atomically.
        locks = self.work_dir / "locks"
        locks.mkdir(exist_ok=True)
        with open(locks / f"{self.mirror.name}.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self._fetched:
                return  # another loop fetched while this one waited
            if not (self.mirror / "HEAD").exists():
                shutil.rmtree(self.mirror, ignore_errors=True)  # what an interrupted clone left behind
                _git(["clone", "--mirror", "--quiet", self.url, str(self.mirror)])
            else:
                _git(["fetch", "--prune", "--quiet", "origin"], cwd=self.mirror)
            self._fetched = True

    def refresh(self) -> None:
        """Forget the last fetch so the next call sees new pushes."""
        self._fetched = False

    def head(self) -> str:
        self._sync()
        result = _git(["rev-parse", "--verify", f"refs/heads/{self.branch}^{{commit}}"], cwd=self.mirror, check=False)
        if result.returncode != 0:
            raise SourceError(f"branch '{self.branch}' does not exist in {self._where}")
        return result.stdout.decode().strip()

    def _resolve(self, commit: str) -> str:
        # --end-of-options: a commit given by an event or a person is never read as a git option.
        result = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{commit}^{{commit}}"], cwd=self.mirror, check=False)
        if result.returncode != 0:
            raise SourceError(f"commit {commit} is not in {self._where} (was it force-pushed away?)")
        return result.stdout.decode().strip()

    def fetch(self, commit: str | None) -> Checkout:
        self._sync()
        head = self.head()
        resolved = self._resolve(commit) if commit else head
        author = _git(["log", "-1", "--format=%an <%ae>", resolved], cwd=self.mirror).stdout.decode().strip()
        target = Path(tempfile.mkdtemp(prefix=f"desired-{resolved[:12]}-", dir=self.work_dir))
        too_large = (
            f"the desired state at {resolved[:12]} is larger than the archive cap of {self.max_archive_bytes} bytes "
            "(GitSource max_archive_bytes); keep large files out of the desired-state repository"
        )
        try:
            with tempfile.TemporaryFile(dir=self.work_dir) as archive:
                _git_to_file(["archive", "--format=tar", resolved], self.mirror, archive, self.max_archive_bytes, too_large)
                archive.seek(0)
                extract_archive(archive, target, resolved)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return Checkout(path=target, commit=resolved, author=author, branch_head=head)

    def is_ancestor(self, older: str, newer: str) -> bool:
        self._sync()
        result = _git(["merge-base", "--is-ancestor", "--end-of-options", older, newer], cwd=self.mirror, check=False)
        if result.returncode not in (0, 1):
            raise SourceError(f"cannot compare commits {older[:12]} and {newer[:12]}: {strip_url_credentials(result.stderr.decode(errors='replace').strip())}")
        return result.returncode == 0

    # ----------------------------------------------------------------------- branch reachability

    def on_branch(self, commit: str) -> bool:
        """True iff the full SHA ``commit`` is the branch head or reachable from it (an unknown commit is not)."""
        if not _FULL_SHA.fullmatch(commit.lower()):
            raise SourceError(f"'{commit}' is not a full commit SHA; resolve it with resolve_on_branch first")
        head = self.head()
        known = _git(["cat-file", "-e", f"{commit}^{{commit}}"], cwd=self.mirror, check=False)
        if known.returncode != 0:
            return False
        result = _git(["merge-base", "--is-ancestor", commit, head], cwd=self.mirror, check=False)
        if result.returncode not in (0, 1):
            raise SourceError(f"cannot tell whether {commit[:12]} is on branch {self.branch}: {strip_url_credentials(result.stderr.decode(errors='replace').strip())}")
        return result.returncode == 0

    def _commits_with_prefix(self, prefix: str) -> list[str]:
        listed = _git(["rev-parse", f"--disambiguate={prefix}"], cwd=self.mirror, check=False)
        candidates = listed.stdout.decode().split()
        if not candidates:
            return []
        checked = _git(
            ["cat-file", "--batch-check=%(objectname) %(objecttype)"], cwd=self.mirror, stdin="\n".join(candidates).encode() + b"\n"
        )
        return commits_among(checked.stdout.decode())

    def resolve_on_branch(self, ref: str) -> str:
        """The full SHA of ``ref`` (a full SHA or a unique prefix of at least 7 hex digits) if it is on the branch."""
        prefix = check_commit_ref(ref)
        self._sync()
        commits = self._commits_with_prefix(prefix)
        full = choose_commit(prefix, commits, self._where)
        if not self.on_branch(full):
            raise SourceError(
                f"commit {full[:12]} is not on branch {self.branch} (not reachable from its head {self.head()[:12]}); "
                "only commits on the branch can be applied or approved"
            )
        return full

    # ----------------------------------------------------------------------- signatures

    def verify_signature(self, commit: str, trust: SignerTrust) -> str:
        """The signer (``gpg:<fingerprint>`` or ``ssh:<principal>``) if ``commit`` is signed by a signer ``trust`` names, else raise."""
        self._sync()
        try:
            commit = self._resolve(commit)
            raw = _git(["cat-file", "commit", commit], cwd=self.mirror).stdout.decode(errors="replace")
            signature = signature_of(raw)
            if signature is None:
                raise SignatureError("the commit carries no signature")
            kind = signature_type(signature)
            if kind == "gpg":
                return f"gpg:{self._verify_gpg(commit, trust)}"
            if kind == "ssh":
                return f"ssh:{self._verify_ssh(commit, trust)}"
            raise SignatureError(f"it carries an {kind} signature; only GPG and SSH signatures can be trusted")
        except (SignatureError, SourceError) as exc:
            raise SignatureError(f"commit {commit[:12]} is not signed by a key trusted for this environment: {exc}") from None

    def _verify_gpg(self, commit: str, trust: SignerTrust) -> str:
        if not trust.trusted_gpg_fingerprints:
            raise SignatureError("it is GPG-signed and this environment trusts no GPG key (set trustedGpgFingerprints and trustedGpgKeysFile)")
        if not trust.trusted_gpg_keys_file:
            raise SignatureError("it is GPG-signed and this environment names no trustedGpgKeysFile holding its trusted public keys")
        # A short path: gpg derives socket paths from its home, and AF_UNIX paths are short.
        home = Path(tempfile.mkdtemp(prefix="ecs-gitops-gnupg-"))
        try:
            keyring = build_trusted_keyring(home, Path(trust.trusted_gpg_keys_file).expanduser(), trust.trusted_gpg_fingerprints)
            result = _git(
                # The environment's fingerprint list is the trust decision; GnuPG's web of trust has no say.
                ["-c", "gpg.program=gpg", "-c", "gpg.openpgp.program=gpg", "-c", "gpg.minTrustLevel=undefined", "verify-commit", "--raw", commit],
                cwd=self.mirror, check=False, env={"GNUPGHOME": str(keyring)},
            )
            status = result.stderr.decode(errors="replace")
            fingerprint = trusted_gpg_signer(status, trust.trusted_gpg_fingerprints)
            if result.returncode != 0:
                raise SignatureError("git verify-commit refused the signature")
            return fingerprint
        finally:
            shutil.rmtree(home, ignore_errors=True)

    def _verify_ssh(self, commit: str, trust: SignerTrust) -> str:
        if not trust.allowed_signers_file:
            raise SignatureError("it is SSH-signed and this environment names no allowedSignersFile")
        allowed = Path(trust.allowed_signers_file).expanduser()
        if not allowed.is_file():
            raise SignatureError(f"allowedSignersFile {allowed} does not exist; fix the path in the reconciler settings")
        result = _git(
            ["-c", f"gpg.ssh.allowedSignersFile={allowed}", "-c", "gpg.ssh.program=ssh-keygen", "verify-commit", "--raw", commit],
            cwd=self.mirror, check=False,
        )
        output = result.stderr.decode(errors="replace")
        good = [m.group(1) for line in output.splitlines() if (m := re.fullmatch(r'Good "git" signature for (\S+) with \S+ key \S+', line.strip()))]
        if result.returncode != 0 or len(good) != 1:
            first = next((line for line in output.strip().splitlines() if line.strip()), "no output")
            raise SignatureError(f"the SSH signer is not in allowedSignersFile {allowed} (git verify-commit: {first.strip()})")
        return good[0]

    def cleanup(self, checkout: Checkout) -> None:
        if checkout.path.is_relative_to(self.work_dir):
            shutil.rmtree(checkout.path, ignore_errors=True)


def check_commit_ref(ref: str) -> str:
    """``ref`` lower-cased if it can name a commit by SHA (7 to 40 hex digits), else an actionable SourceError."""
    how = f"give the full 40-character commit SHA or a unique prefix of at least {MIN_SHA_PREFIX} hex characters"
    if not ref:
        raise SourceError(f"no commit given; {how}")
    if not SHA_HEX.fullmatch(ref) or len(ref) > SHA_LENGTH:
        raise SourceError(f"'{ref}' is not a commit SHA (branch names and expressions such as HEAD~1 are not accepted); {how}")
    if len(ref) < MIN_SHA_PREFIX:
        raise SourceError(f"commit prefix '{ref}' is shorter than {MIN_SHA_PREFIX} characters; {how}")
    return ref.lower()


def commits_among(batch_check: str) -> list[str]:
    """The commit names in ``git cat-file --batch-check='%(objectname) %(objecttype)'`` output."""
    return [name for name, _, kind in (line.partition(" ") for line in batch_check.splitlines()) if kind == "commit"]


def choose_commit(prefix: str, commits: Sequence[str], where: str) -> str:
    if not commits:
        raise SourceError(f"commit {prefix} is not in {where}; check the SHA (was it force-pushed away?)")
    if len(commits) > 1:
        names = ", ".join(sorted(commit[:12] for commit in commits))
        raise SourceError(f"commit prefix {prefix} is ambiguous: it matches {len(commits)} commits ({names}); give more characters")
    return commits[0]


class DirectorySource:
    """A plain directory of desired state (no git): local use only."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    def fetch(self, commit: str | None) -> Checkout:
        if commit:
            raise SourceError(f"{self.path} is not a git repository; it has no commit {commit}")
        if not self.path.is_dir():
            raise SourceError(f"desired-state directory {self.path} does not exist")
        return Checkout(path=self.path, commit=None, author=None, branch_head=None)

    def is_ancestor(self, older: str, newer: str) -> bool:
        raise SourceError(f"{self.path} is not a git repository; commits cannot be compared")

    def on_branch(self, commit: str) -> bool:
        raise SourceError(f"{self.path} is not a git repository; it has no branch for commit {commit[:12]} to be on")

    def resolve_on_branch(self, ref: str) -> str:
        raise SourceError(f"{self.path} is not a git repository; commit '{ref}' cannot be resolved")

    def verify_signature(self, commit: str, trust: SignerTrust) -> str:
        raise SignatureError(f"{self.path} is not a git repository; there is no signed commit to verify")

    def cleanup(self, checkout: Checkout) -> None:
        """Nothing to remove: the directory belongs to the user."""


def open_source(
    location: str, branch: str, work_dir: str | Path, max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
) -> GitSource | DirectorySource:
    """A git source for URLs and git repositories, a directory source for plain directories."""
    path = Path(location).expanduser()
    if path.is_dir() and not (path / ".git").exists() and not (path / "HEAD").exists():
        return DirectorySource(path)
    return GitSource(str(path.resolve()) if path.exists() else location, branch, work_dir, max_archive_bytes=max_archive_bytes)
