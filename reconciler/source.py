"""Fetch the desired state at an exact commit.

:class:`GitSource` keeps a bare mirror of the desired-state repo (any git URL: HTTPS with a
credential helper, SSH, CodeCommit over HTTPS or ``codecommit::``, or a local path) and exports
one commit at a time into a fresh directory with ``git archive``, so what is validated is
byte-for-byte what that commit holds. :class:`DirectorySource` serves a plain local directory
(no git) for local use; it has no commits, so ordering checks do not apply to it.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.errors import SignatureError, SourceError
from reconciler.redact import strip_url_credentials

GIT_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Checkout:
    """The desired state of one commit, exported to ``path``."""

    path: Path
    commit: str | None
    author: str | None
    branch_head: str | None


class DesiredStateSource(Protocol):
    def fetch(self, commit: str | None) -> Checkout: ...

    def is_ancestor(self, older: str, newer: str) -> bool: ...

    def verify_signature(self, commit: str, allowed_signers_file: str | None, trusted_gpg_fingerprints: tuple[str, ...]) -> str: ...


def _git(args: list[str], cwd: Path | None = None, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
        )
    except FileNotFoundError:
        raise SourceError("git is not installed; install git to fetch the desired state") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {args[0]} took longer than {GIT_TIMEOUT_SECONDS}s; check the network and the repository URL") from None
    if check and result.returncode != 0:
        raise SourceError(f"git {args[0]} failed: {strip_url_credentials(result.stderr.decode(errors='replace').strip())}")
    return result


class GitSource:
    def __init__(self, url: str, branch: str, work_dir: str | Path):
        self.url = url
        self.branch = branch
        key = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.work_dir = Path(work_dir).expanduser()
        self.mirror = self.work_dir / f"mirror-{key}.git"
        self._fetched = False

    def _sync(self) -> None:
        if self._fetched:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if not self.mirror.exists():
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
            raise SourceError(f"branch '{self.branch}' does not exist in {strip_url_credentials(self.url)}")
        return result.stdout.decode().strip()

    def _resolve(self, commit: str) -> str:
        result = _git(["rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], cwd=self.mirror, check=False)
        if result.returncode != 0:
            raise SourceError(f"commit {commit} is not in {strip_url_credentials(self.url)} (was it force-pushed away?)")
        return result.stdout.decode().strip()

    def fetch(self, commit: str | None) -> Checkout:
        self._sync()
        head = self.head()
        resolved = self._resolve(commit) if commit else head
        author = _git(["log", "-1", "--format=%an <%ae>", resolved], cwd=self.mirror).stdout.decode().strip()
        archive = _git(["archive", "--format=tar", resolved], cwd=self.mirror).stdout
        target = Path(tempfile.mkdtemp(prefix=f"desired-{resolved[:12]}-", dir=self.work_dir))
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
        return Checkout(path=target, commit=resolved, author=author, branch_head=head)

    def is_ancestor(self, older: str, newer: str) -> bool:
        self._sync()
        result = _git(["merge-base", "--is-ancestor", older, newer], cwd=self.mirror, check=False)
        if result.returncode not in (0, 1):
            raise SourceError(f"cannot compare commits {older[:12]} and {newer[:12]}: {result.stderr.decode().strip()}")
        return result.returncode == 0

    def verify_signature(self, commit: str, allowed_signers_file: str | None, trusted_gpg_fingerprints: tuple[str, ...]) -> str:
        """Return the signing key's identity if ``commit`` is signed by a trusted key, else raise."""
        self._sync()
        config: list[str] = []
        if allowed_signers_file:
            config += ["-c", f"gpg.ssh.allowedSignersFile={Path(allowed_signers_file).expanduser()}"]
        result = _git([*config, "verify-commit", "--raw", commit], cwd=self.mirror, check=False)
        status = result.stderr.decode(errors="replace")
        if result.returncode != 0:
            first_line = status.strip().splitlines()[0] if status.strip() else "the commit carries no signature"
            raise SignatureError(
                f"commit {commit[:12]} is not signed by a key trusted for this environment (git verify-commit: {first_line})"
            )
        fingerprint = re.search(r"VALIDSIG ([0-9A-F]{40})", status)
        if fingerprint:
            if trusted_gpg_fingerprints and fingerprint.group(1) not in trusted_gpg_fingerprints:
                raise SignatureError(f"commit {commit[:12]} is signed by GPG key {fingerprint.group(1)}, which is not trusted here")
            return f"gpg:{fingerprint.group(1)}"
        principal = re.search(r'Good "git" signature for (\S+)', status)
        if principal and allowed_signers_file:
            return f"ssh:{principal.group(1)}"
        raise SignatureError(f"commit {commit[:12]}: signature accepted by git but not by a trusted key list configured for this environment")

    def cleanup(self, checkout: Checkout) -> None:
        if checkout.path.is_relative_to(self.work_dir):
            shutil.rmtree(checkout.path, ignore_errors=True)


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

    def verify_signature(self, commit: str, allowed_signers_file: str | None, trusted_gpg_fingerprints: tuple[str, ...]) -> str:
        raise SignatureError(f"{self.path} is not a git repository; there is no signed commit to verify")

    def cleanup(self, checkout: Checkout) -> None:
        """Nothing to remove: the directory belongs to the user."""


def open_source(location: str, branch: str, work_dir: str | Path) -> GitSource | DirectorySource:
    """A git source for URLs and git repositories, a directory source for plain directories."""
    path = Path(location).expanduser()
    if path.is_dir() and not (path / ".git").exists() and not (path / "HEAD").exists():
        return DirectorySource(path)
    return GitSource(str(path.resolve()) if path.exists() else location, branch, work_dir)
