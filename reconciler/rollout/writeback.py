"""Write a new image back to the desired-state repo as a commit (the default image update).

Git stays the record of what runs: the commit names the service, tag, digest and the event that
triggered it, and it triggers the converge like any other push. Before the commit lands, the
live colour is pinned to its current image in the traffic state, so the converge stages only
the idle colour. A push that loses a race (another service's image, pushed at the same moment)
is retried: fetch, re-apply the edit on the new head, push; bounded.

The file is edited in place (:func:`~desired_state.editing.set_service_image`): the commit's diff
is exactly the changed values, in the file's own style and line endings. An image already equal
by value to the one written back is no change, and no change is no commit: a commit would
trigger a converge for nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from desired_state.editing import set_service_image
from desired_state.loader import DEFAULT_MAX_FILE_BYTES, InputLimits, decode_text, environment_file, read_environment_bytes, source_file_of
from desired_state.schema import ImageRef
from reconciler.adapters.stack_state import StackStateStore
from reconciler.errors import SourceError
from reconciler.redact import strip_url_credentials
from reconciler.rollout.execute import pin_live_colour
from reconciler.rollout.model import RolloutRecord
from reconciler.source import _git

PUSH_ATTEMPTS = 5


class GitImageWriteBack:
    def __init__(
        self,
        url: str,
        branch: str,
        states: StackStateStore,
        author_name: str = "ecs-gitops",
        author_email: str = "ecs-gitops@localhost",
        work_dir: str | Path | None = None,
        signing_key: str | None = None,
        attempts: int = PUSH_ATTEMPTS,
        before_push: Callable[[Path, int], None] = lambda clone, attempt: None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ):
        self.url = url
        self.branch = branch
        self.states = states
        self.author = {"GIT_AUTHOR_NAME": author_name, "GIT_AUTHOR_EMAIL": author_email, "GIT_COMMITTER_NAME": author_name, "GIT_COMMITTER_EMAIL": author_email}
        self.work_dir = Path(work_dir).expanduser() if work_dir else None
        # Environments that require signed commits must be able to converge the reconciler's own commits.
        self._sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={Path(signing_key).expanduser()}"] if signing_key else []
        self.attempts = attempts
        self._before_push = before_push  # a seam for tests to race another writer
        self.max_file_bytes = max_file_bytes

    def stage(self, record: RolloutRecord) -> str:
        # Pin first: once the commit lands, a converge must move only the idle colour.
        self.states.update(record.stack, lambda status: pin_live_colour(status, record))
        return self.commit_image(
            record.environment, record.service, record.new_image,
            f"ecs-gitops: roll out {record.service} {record.new_image.tag or ''} ({record.new_image.digest or 'no digest'})\n\n"
            f"Rollout {record.rollout_id} on {record.stack}; triggered by {record.history[0].reason if record.history else 'an image push'}.",
        )

    def revert(self, record: RolloutRecord) -> str:
        return self.commit_image(
            record.environment, record.service, record.old_image,
            f"ecs-gitops: revert {record.service} to {record.old_image.reference}\n\nRollout {record.rollout_id} rolled back: {record.rollback_reason}.",
        )

    def commit_image(self, environment: str, service: str, image: ImageRef, message: str) -> str:
        """Commit ``image`` for ``service`` and push; returns the pushed commit (or the head if nothing changed)."""
        clone = Path(tempfile.mkdtemp(prefix="ecs-gitops-writeback-", dir=self.work_dir))
        try:
            _git(["clone", "--quiet", "--branch", self.branch, self.url, str(clone)])
            for attempt in range(1, self.attempts + 1):
                file, name = environment_file(clone, environment), source_file_of(environment)
                # Bytes, not text mode: text mode would turn CRLF into LF and rewrite every line.
                raw = read_environment_bytes(file, name, None, self.max_file_bytes)
                text = decode_text(raw, name, None)
                edited = set_service_image(text, service, image, name, InputLimits(max_file_bytes=self.max_file_bytes))
                if edited == text:  # the image there already equals this one by value
                    return _git(["rev-parse", "HEAD"], cwd=clone).stdout.decode().strip()
                bom = b"\xef\xbb\xbf" if raw.startswith(b"\xef\xbb\xbf") else b""
                file.write_bytes(bom + edited.encode("utf-8"))
                _git([*self._sign, "commit", "--quiet", *(["-S"] if self._sign else []), "-am", message], cwd=clone, env=self.author)
                self._before_push(clone, attempt)
                pushed = _git(["push", "--quiet", "origin", f"HEAD:refs/heads/{self.branch}"], cwd=clone, check=False)
                if pushed.returncode == 0:
                    return _git(["rev-parse", "HEAD"], cwd=clone).stdout.decode().strip()
                # Lost the race: take the new head and apply the edit again on top of it.
                _git(["fetch", "--quiet", "origin", self.branch], cwd=clone)
                _git(["reset", "--quiet", "--hard", f"origin/{self.branch}"], cwd=clone)
            raise SourceError(
                f"could not push {service}'s new image to {strip_url_credentials(self.url)} after {self.attempts} attempts; the branch keeps moving"
            )
        finally:
            shutil.rmtree(clone, ignore_errors=True)
