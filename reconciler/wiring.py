"""Build the converger from settings: AWS adapters when the settings name AWS resources, local files otherwise."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.adapters.audit import AuditLog, DynamoAuditLog, FileAuditLog
from reconciler.adapters.notify import Notifier, SnsNotifier, StreamNotifier
from reconciler.adapters.queue import JobQueue
from reconciler.adapters.secrets import SecretReader
from reconciler.adapters.stack_state import DynamoStackStateStore, FileStackStateStore, StackStateStore
from reconciler.converge import Converger
from reconciler.engine import AutomationEngine, Engine
from reconciler.locks import LockStore, lock_store_for
from reconciler.redact import Redactor
from reconciler.settings import ReconcilerSettings
from reconciler.source import DesiredStateSource, open_source

DEFAULT_STATE_DIR = "~/.ecs-gitops"


@dataclass
class Components:
    settings: ReconcilerSettings
    states: StackStateStore
    audit: AuditLog
    notifier: Notifier
    source: DesiredStateSource
    engine: Engine
    redactor: Redactor
    queue: JobQueue | None
    locks: LockStore | None

    def converger(self) -> Converger:
        return Converger(
            settings=self.settings,
            states=self.states,
            source=self.source,
            engine=self.engine,
            audit=self.audit,
            notifier=self.notifier,
            redactor=self.redactor,
            locks=self.locks,
        )


def build(settings: ReconcilerSettings, state_dir: str | Path = DEFAULT_STATE_DIR, boto3_session: Any | None = None) -> Components:
    aws = settings.aws
    redactor = Redactor()
    redactor.add_environment(dict(os.environ))
    session = boto3_session
    if session is None and (aws.state_table or aws.audit_table or aws.topic_arn or aws.job_queue_url):
        import boto3

        session = boto3.session.Session()
    base = Path(state_dir).expanduser()
    states: StackStateStore = DynamoStackStateStore(session.client("dynamodb"), aws.state_table) if aws.state_table else FileStackStateStore(base / "status")
    audit: AuditLog = DynamoAuditLog(session.client("dynamodb"), aws.audit_table) if aws.audit_table else FileAuditLog(base / "audit")
    notifier: Notifier = SnsNotifier(session.client("sns"), aws.topic_arn) if aws.topic_arn else StreamNotifier()
    queue = JobQueue(session.client("sqs"), aws.job_queue_url) if aws.job_queue_url else None
    if settings.repository.webhook_secret_id and session is not None:
        redactor.add(SecretReader(session.client("secretsmanager")).read(settings.repository.webhook_secret_id))
    engine = AutomationEngine(project=settings.project, backend_url=settings.backend_url, secrets_provider=settings.secrets_provider)
    source = open_source(settings.repository.url, settings.repository.branch, settings.work_dir)
    locks = lock_store_for(settings.backend_url, session.client("s3") if session is not None and settings.backend_url.startswith("s3://") else None)
    return Components(settings, states, audit, notifier, source, engine, redactor, queue, locks)
