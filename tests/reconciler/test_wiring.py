"""`build` hands the same redactor to every adapter and the settings' caps to the source."""

from __future__ import annotations

from reconciler.settings import ReconcilerSettings, RepositorySettings
from reconciler.source import GitSource
from reconciler.wiring import build

LATE_SECRET = "whsec-registered-after-build-9f3c1"


def _settings(git_repo, tmp_path, **extra):
    return ReconcilerSettings(
        repository=RepositorySettings(url=str(git_repo.path), branch="main"),
        environments={"dev": {"stack": "dev", "suffix": "dev"}},
        backend_url=f"file://{tmp_path / 'state' / 'backend'}",
        work_dir=str(tmp_path / "state" / "work"),
        **extra,
    )


def test_a_secret_registered_after_build_is_masked_by_the_audit_adapter_itself(git_repo, tmp_path, audit_record):
    components = build(_settings(git_repo, tmp_path), state_dir=tmp_path / "state")
    components.redactor.add(LATE_SECRET)

    # Written straight to the adapter, past the converger's own scrubbing: the adapter is the last line.
    components.audit.append(audit_record("dev", "k" * 32, error=f"engine said {LATE_SECRET}"))

    written = "".join(p.read_text() for p in (tmp_path / "state" / "audit").rglob("*") if p.is_file())
    assert written and LATE_SECRET not in written


def test_the_archive_cap_comes_from_the_settings(git_repo, tmp_path):
    components = build(_settings(git_repo, tmp_path, max_desired_state_archive_bytes=2 * 1024 * 1024), state_dir=tmp_path / "state")

    assert isinstance(components.source, GitSource)
    assert components.source.max_archive_bytes == 2 * 1024 * 1024
