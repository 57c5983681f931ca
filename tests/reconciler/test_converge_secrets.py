"""A planted secret never leaves the worker: not in the audit record, the notification or the logs."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

from reconciler.adapters.notify import StreamNotifier
from reconciler.events import Reason
from reconciler.models import Job, Trigger
from reconciler.redact import MASK, RedactingFilter
from reconciler.settings import ReconcilerSettings, RepositorySettings
from reconciler.wiring import build

PASSPHRASE = "pp-Zq81x-correct-horse-battery"
REGISTERED = "tok_live_51HxQ9aRk0s3cr3t"


def _components(git_repo, tmp_path, monkeypatch, make_engine):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    settings = ReconcilerSettings(
        repository=RepositorySettings(url=str(git_repo.path), branch="main"),
        environments={"dev": {"stack": "dev", "suffix": "dev"}},
        backend_url=f"file://{tmp_path / 'state' / 'backend'}",
        work_dir=str(tmp_path / "state" / "work"),
    )
    components = build(settings, state_dir=tmp_path / "state")
    components.redactor.add(REGISTERED)
    stream = io.StringIO()
    components.notifier = StreamNotifier(stream)
    components.engine = make_engine()
    return components, stream


def _install_filter(redactor):
    """What the worker does: a RedactingFilter on every root handler (caplog's included)."""
    installed = []
    for handler in logging.getLogger().handlers:
        redacting = RedactingFilter(redactor)
        handler.addFilter(redacting)
        installed.append((handler, redacting))
    return installed


def test_planted_secret_never_leaks_from_a_failed_converge(git_repo, tmp_path, monkeypatch, make_engine, caplog):
    components, stream = _components(git_repo, tmp_path, monkeypatch, make_engine)
    components.engine.fail_with_engine_error(
        "up", f"provider rejected passphrase {PASSPHRASE} and token {REGISTERED} at https://bob:{REGISTERED}@example.com"
    )
    caplog.set_level(logging.INFO)  # the worker logs at INFO (logging.basicConfig(level=logging.INFO))
    installed = _install_filter(components.redactor)
    try:
        job_commit = git_repo.bump("dev")
        job = Job(
            job_id=Job.make_id("evt-secret", "dev"), environment="dev", stack="dev", trigger=Trigger.GIT_PUSH,
            event_id="evt-secret", commit=job_commit, author="Test User", received_at=datetime.now(UTC),
        )
        outcome = components.converger().converge(job)
        logging.getLogger("ecs_gitops.test").error("engine said: %s", outcome.message)
    finally:
        for handler, redacting in installed:
            handler.removeFilter(redacting)

    assert (outcome.outcome, outcome.reason) == ("failed", Reason.ENGINE_FAILED)
    records = components.audit.history("dev")
    assert len(records) == 1
    audit_json = records[0].model_dump_json(by_alias=True)
    notification = stream.getvalue()
    assert json.loads(notification)["kind"] == "converge-failed"
    log_text = caplog.text + "\n".join(repr(vars(r)) for r in caplog.records)

    # The failure itself was recorded, with the secrets masked.
    assert MASK in records[0].error and "provider rejected passphrase" in records[0].error
    assert MASK in notification
    assert "job finished" in caplog.text
    for secret in (PASSPHRASE, REGISTERED):
        assert secret not in audit_json
        assert secret not in notification
        assert secret not in log_text


def test_converge_works_with_info_logging_as_the_worker_configures(harness, git_repo, caplog):
    """The worker runs with logging at INFO; a converge must still write its audit record and notification."""
    caplog.set_level(logging.INFO)
    outcome = harness.run(harness.job(git_repo.head))
    assert outcome.outcome == "succeeded"
    assert len(harness.history()) == 1
    assert len(harness.notifications()) == 1
    finished = [r for r in caplog.records if r.getMessage() == "job finished"]
    assert len(finished) == 1
    phases = [getattr(r, "phase", None) for r in caplog.records if r.getMessage() == "phase"]
    assert phases == ["fetch", "validate", "plan", "apply", "verify"]
