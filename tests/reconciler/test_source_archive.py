"""Exporting a commit safely: links and special files, escaping paths, and the archive size cap."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from reconciler.errors import SourceError
from reconciler.source import GitSource, extract_archive


@pytest.fixture
def source(git_repo, tmp_path):
    return GitSource(str(git_repo.path), "main", tmp_path / "work")


def test_a_symlink_outside_environments_is_skipped_and_the_export_goes_on(source, git_repo):
    (git_repo.path / "docs").mkdir()
    (git_repo.path / "docs" / "guide.md").write_text("how to deploy\n")
    os.symlink("/etc/passwd", git_repo.path / "docs" / "README")
    os.symlink("../environments", git_repo.path / "docs" / "envs")
    commit = git_repo.commit_all("docs with links")

    checkout = source.fetch(commit)

    assert (checkout.path / "docs" / "guide.md").read_text() == "how to deploy\n"
    assert not os.path.lexists(checkout.path / "docs" / "README")
    assert not os.path.lexists(checkout.path / "docs" / "envs")
    assert (checkout.path / "environments" / "dev.yaml").read_bytes() == git_repo.file("dev").read_bytes()
    source.cleanup(checkout)


@pytest.mark.parametrize(
    ("link", "target", "kind"),
    [
        ("environments/prod.yaml", "dev.yaml", "a symbolic link (to dev.yaml)"),
        ("environments/prod.yaml", "/etc/passwd", "a symbolic link (to /etc/passwd)"),
        ("environments/shared/base.yaml", "../dev.yaml", "a symbolic link (to ../dev.yaml)"),
        ("environments", "docs", "a symbolic link (to docs)"),
    ],
)
def test_a_link_under_environments_is_refused_naming_the_path(source, git_repo, tmp_path, link, target, kind):
    path = git_repo.path / link
    if link == "environments":
        (git_repo.path / "docs").mkdir()
        git_repo.git("mv", "environments", "docs/environments-old")
    elif path.exists():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)
    commit = git_repo.commit_all(f"{link} -> {target}")
    before = set((tmp_path / "work").glob("desired-*")) if (tmp_path / "work").exists() else set()

    with pytest.raises(SourceError) as refused:
        source.fetch(commit)

    assert str(refused.value) == (
        f"{link} is {kind} (commit {commit[:7]}); environment files must be regular files: commit the file's content instead of the link"
    )
    assert set((tmp_path / "work").glob("desired-*")) == before  # the half-made export is removed
    assert not list((tmp_path / "work").glob("tmp*"))  # and so is the archive


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buffer.seek(0)
    return buffer


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", linkname: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (_member("environments/prod.yaml", tarfile.LNKTYPE, linkname="environments/dev.yaml"), "environments/prod.yaml is a hard link (to environments/dev.yaml)"),
        (_member("environments/prod.yaml", tarfile.CHRTYPE), "environments/prod.yaml is a character device"),
        (_member("environments/prod.yaml", tarfile.BLKTYPE), "environments/prod.yaml is a block device"),
        (_member("environments/prod.yaml", tarfile.FIFOTYPE), "environments/prod.yaml is a FIFO"),
        (_member("../outside.yaml", data=b"x"), "../outside.yaml escapes the checkout directory"),
        (_member("/etc/cron.d/evil", data=b"x"), "/etc/cron.d/evil escapes the checkout directory"),
        (_member("docs/../../outside", tarfile.SYMTYPE, linkname="x"), "docs/../../outside escapes the checkout directory"),
    ],
)
def test_special_members_under_environments_and_escaping_paths_are_refused(tmp_path, member, message):
    """Archives git cannot normally produce, built by hand: the extractor decides from the member, not from git."""
    target = tmp_path / "export"
    target.mkdir()
    with pytest.raises(SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        extract_archive(_tar(_member("environments/dev.yaml", data=b"dev\n"), member), target, "3f2a9c1" + "0" * 33)
    assert not (tmp_path / "outside.yaml").exists() and not (tmp_path / "outside").exists()


def test_special_members_elsewhere_are_never_created(tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    archive = _tar(
        _member("environments/dev.yaml", data=b"dev\n"),
        _member("docs/hard", tarfile.LNKTYPE, linkname="environments/dev.yaml"),
        _member("docs/fifo", tarfile.FIFOTYPE),
        _member("docs/dev", tarfile.CHRTYPE),
        _member("docs/abs", tarfile.SYMTYPE, linkname="/etc/passwd"),
    )
    extract_archive(archive, target, "0" * 40)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == ["environments", "environments/dev.yaml"]


def test_regular_files_keep_the_data_filter(tmp_path):
    """Modes are sanitised as tarfile's ``data`` filter does: no setuid, no group/other write."""
    target = tmp_path / "export"
    target.mkdir()
    info, data = _member("tools/run.sh", data=b"#!/bin/sh\n")
    info.mode = 0o6777
    extract_archive(_tar((info, data)), target, "0" * 40)
    assert (target / "tools" / "run.sh").stat().st_mode & 0o7777 == 0o755


def test_an_archive_over_the_cap_is_refused_naming_the_cap(git_repo, tmp_path):
    (git_repo.path / "blob.bin").write_bytes(os.urandom(300_000))
    commit = git_repo.commit_all("a large file")
    capped = GitSource(str(git_repo.path), "main", tmp_path / "work", max_archive_bytes=200_000)

    with pytest.raises(SourceError, match=r"larger than the archive cap of 200000 bytes \(GitSource max_archive_bytes\)"):
        capped.fetch(commit)

    assert not list((tmp_path / "work").glob("desired-*"))
    assert GitSource(str(git_repo.path), "main", tmp_path / "work2", max_archive_bytes=1_000_000).fetch(commit).commit == commit


def test_the_archive_is_streamed_to_disk_not_read_into_memory(source, git_repo, monkeypatch):
    """The export reads git's output in bounded chunks into a file, never all at once."""
    import reconciler.source as module

    reads: list[int] = []
    real_popen = module.subprocess.Popen

    class CountingPopen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if self.stdout is not None:
                inner = self.stdout

                class Reader:
                    def read(self, size: int = -1) -> bytes:
                        reads.append(size)
                        return inner.read(size)

                    def __getattr__(self, name: str):
                        return getattr(inner, name)

                self.stdout = Reader()

    monkeypatch.setattr(module.subprocess, "Popen", CountingPopen)
    (git_repo.path / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    commit = git_repo.commit_all("three MiB")
    checkout = source.fetch(commit)
    assert (checkout.path / "blob.bin").stat().st_size == 3 * 1024 * 1024
    assert reads and all(0 < size <= 1024 * 1024 for size in reads) and len(reads) >= 3
    # The archive file lived under work_dir and is gone with the export done.
    assert not [p for p in Path(source.work_dir).iterdir() if p.is_file()]


def test_a_job_goes_on_past_a_symlink_in_docs_and_stops_at_one_in_environments(harness, git_repo, engine):
    from reconciler.events import Reason

    (git_repo.path / "docs").mkdir()
    os.symlink("/etc/passwd", git_repo.path / "docs" / "README")
    commit = git_repo.commit_all("docs link")
    assert harness.run(harness.job(commit)).reason == Reason.APPLIED

    git_repo.file("prod").unlink()
    os.symlink("dev.yaml", git_repo.file("prod"))
    linked = git_repo.commit_all("prod is dev")
    outcome = harness.run(harness.job(linked, environment="prod"))
    assert outcome.outcome == "refused" and "environments/prod.yaml is a symbolic link (to dev.yaml)" in outcome.message
    assert harness.status("prod").last_applied_commit is None
