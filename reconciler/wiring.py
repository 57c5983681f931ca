"""Build the converger from settings: AWS adapters when the settings name AWS resources, local files otherwise."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.adapters.audit import AuditLog, DynamoAuditLog, FileAuditLog
from reconciler.adapters.notify import Notifier, SnsNotifier, StreamNotifier
from reconciler.adapters.queue import JobQueue
from reconciler.adapters.secrets import SecretReader
from reconciler.adapters.stack_state import DynamoStackStateStore, FileStackStateStore, StackStateStore
from reconciler.audit.archive import AuditArchive
from reconciler.clock import Clock, Monotonic, utc_now
from reconciler.converge import Converger
from reconciler.drift.check import DriftChecker
from reconciler.engine import AutomationEngine, Engine
from reconciler.lease import LeaseObserver
from reconciler.locks import LockStore, lock_store_for
from reconciler.errors import SettingsError
from reconciler.models import Job, Trigger
from reconciler.redact import Redactor
from reconciler.rollout.controller import RolloutController
from reconciler.rollout.decide import RolloutTimings
from reconciler.rollout.execute import ImageUpdater, RolloutExecutor, StatusImageUpdater
from reconciler.rollout.live import RolloutTrafficSource
from reconciler.rollout.model import RolloutRecord
from reconciler.rollout.notify import rollout_notifier
from reconciler.rollout.observe import RolloutObserver
from reconciler.rollout.router import AlbWeightedRouter
from reconciler.rollout.starter import RolloutStarter
from reconciler.rollout.store import RolloutStore
from reconciler.rollout.wake import StackRolloutWaker
from reconciler.rollout.writeback import GitImageWriteBack
from reconciler.windows import decide as decide_window
from reconciler.settings import ReconcilerSettings
from reconciler.ticks.schedule import CoalescingTickScheduler
from reconciler.source import DesiredStateSource, open_source
from reconciler.verify.gate import AppliedInputs, PromotionVerifier, applied_inputs
from reconciler.verify.phase import EnvironmentVerifier

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
    session: Any | None = None
    # What this process saw of other workers' stack leases; shared by every converger it builds.
    # None: a new observer on ``monotonic``.
    lease_observer: LeaseObserver | None = None
    # THE clock: converges, audit records, refusals, rollouts and the command line all stamp with it.
    clock: Clock = utc_now
    # This process's own clock for how long it has watched a lease or held a message, and its wait.
    monotonic: Monotonic = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if self.lease_observer is None:
            self.lease_observer = LeaseObserver(self.monotonic)

    def converger(self, worker_id: str | None = None) -> Converger:
        """A converger over these components; ``worker_id`` names its lease holder (one per converge loop)."""
        return Converger(
            settings=self.settings,
            states=self.states,
            source=self.source,
            engine=self.engine,
            audit=self.audit,
            notifier=self.notifier,
            redactor=self.redactor,
            locks=self.locks,
            clock=self.clock,
            monotonic=self.monotonic,
            lease_observer=self.lease_observer,
            live_traffic=self.live_traffic(),
            wake_rollouts=self.rollout_waker(),
            worker_id=worker_id,
            drift=self.drift_checker(),
            verifier=self.verifier(),
        )

    def drift_checker(self) -> DriftChecker:
        """Drift checks see the active rollouts, queue remediations on the job queue and write their metric to CloudWatch."""
        from reconciler.drift.check import rollouts_in

        aws = self.settings.aws
        rollouts = rollouts_in(RolloutStore(self.session.client("dynamodb"), aws.rollout_table)) if self.session is not None and aws.rollout_table else None
        return DriftChecker(
            self.settings, clock=self.clock, rollouts=rollouts, enqueue=self.queue.send if self.queue is not None else None,
            cloudwatch=self.session.client("cloudwatch") if self.session is not None else None,
            # What a refresh cannot see (console-added rules, role policies) is read with the worker's own credentials,
            # in the region of the environment checked (the desired state's), not the worker's: one ec2 client per region.
            ec2=regional_clients(self.session, "ec2") if self.session is not None else None,
            iam=self.session.client("iam") if self.session is not None else None,
        )

    def verifier(self) -> EnvironmentVerifier | None:
        """With an AWS session and the Pulumi engine, the converge's verify phase runs every check after `up`.

        None (the checks are recorded as skipped, with the reason): no session, or an engine that
        creates nothing in AWS (a stand-in for the Pulumi CLI), whose outputs name no live resources.
        """
        if self.session is None or not getattr(self.engine, "creates_aws_resources", False):
            return None
        from reconciler.verify import wiring as verify_wiring

        session = self.session
        return EnvironmentVerifier(
            lambda region: verify_wiring.clients_for(session, region), verify_wiring.timing_from(self.settings, self), verify_wiring.http_probe()
        )

    def live_traffic(self) -> RolloutTrafficSource | None:
        """With rollouts configured, a converge renders each active rollout's traffic (never older than its listener)."""
        if self.session is None or not self.settings.aws.rollout_table:
            return None
        return RolloutTrafficSource.over(self.session.client("dynamodb"), self.settings.aws.rollout_table, self.session.client("elbv2"))

    def rollout_waker(self) -> StackRolloutWaker | None:
        """With rollouts configured, a finished converge wakes its stack's active rollouts (they re-assert their weights)."""
        aws = self.settings.aws
        if self.session is None or not (aws.rollout_table and aws.tick_queue_url):
            return None
        store = RolloutStore(self.session.client("dynamodb"), aws.rollout_table)
        return StackRolloutWaker(store, _tick_scheduler(self.settings, self.session), self.clock)


def _promotion_verifier(components: Components) -> PromotionVerifier | None:
    """The promotion's last gate: its checks run with the session's clients against the outputs the converge
    recorded in the stack status (no Pulumi backend needed, so the tick runtime can run it). None: no session."""
    if components.session is None:
        return None
    from reconciler.verify import wiring as verify_wiring

    settings, session = components.settings, components.session

    def load(record: RolloutRecord) -> AppliedInputs:
        return applied_inputs(
            states=components.states, source=components.source, engine=None, stack=record.stack,
            environment=record.environment, max_file_bytes=settings.max_desired_state_file_bytes,
        )

    return PromotionVerifier(
        load, lambda region: verify_wiring.clients_for(session, region), verify_wiring.gate_timing_from(settings, components), verify_wiring.http_probe()
    )


def regional_clients(session: Any, service: str) -> Callable[[str], Any]:
    """A factory of ``session``'s clients of ``service`` by region, each built once (a client costs ~0.5 s; boto3 clients are thread-safe)."""
    import threading

    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def client_for(region: str) -> Any:
        with lock:  # a boto3 session is not thread-safe while it builds a client
            if region not in clients:
                clients[region] = session.client(service, region_name=region)
            return clients[region]

    return client_for


def _tick_scheduler(settings: ReconcilerSettings, session: Any) -> CoalescingTickScheduler:
    """One pending wake-up per rollout (SqsTickScheduler, which sends every wake-up, stays for tests and tools)."""
    return CoalescingTickScheduler(
        session.client("dynamodb"), settings.aws.rollout_table, session.client("sqs"), settings.aws.tick_queue_url,
        overdue_grace_seconds=settings.ticks.overdue_grace_seconds,
    )


def build(
    settings: ReconcilerSettings,
    state_dir: str | Path = DEFAULT_STATE_DIR,
    boto3_session: Any | None = None,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    monotonic: Monotonic | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Components:
    """The components the settings name. ``engine``: use this one instead of the Pulumi automation engine
    (tests: the engine double); ``clock`` / ``monotonic`` / ``sleep``: the wall clock, the monotonic clock and the
    wait that goes with it (default: the real ones)."""
    aws = settings.aws
    monotonic = monotonic or time.monotonic
    redactor = Redactor()
    redactor.add_environment(dict(os.environ))
    session = boto3_session
    if session is None and (
        aws.state_table or aws.audit_table or aws.topic_arn or aws.job_queue_url or aws.rollout_table or aws.tick_queue_url or aws.audit_archive_bucket
    ):
        import boto3

        session = boto3.session.Session()
    base = Path(state_dir).expanduser()
    states: StackStateStore = DynamoStackStateStore(session.client("dynamodb"), aws.state_table) if aws.state_table else FileStackStateStore(base / "status")
    # The adapters scrub with the same redactor as the converger, so a secret registered later
    # (the webhook key below) is masked at the last step before a record or message leaves too.
    # The WORM copy of every chained record, when the template made the Object Lock bucket.
    archive = (
        AuditArchive(session.client("s3"), aws.audit_archive_bucket, retention_days=aws.audit_archive_retention_days, clock=clock or utc_now)
        if aws.audit_archive_bucket
        else None
    )
    audit: AuditLog = (
        DynamoAuditLog(session.client("dynamodb"), aws.audit_table, redactor=redactor, archive=archive)
        if aws.audit_table
        else FileAuditLog(base / "audit", redactor=redactor, archive=archive)
    )
    notifier: Notifier = (
        SnsNotifier(
            session.client("sns"), aws.topic_arn, redactor=redactor,
            chatbot=settings.notifications.chatbot, email_max_chars=settings.notifications.email_max_chars,
        )
        if aws.topic_arn else StreamNotifier(redactor=redactor)
    )
    queue = JobQueue(session.client("sqs"), aws.job_queue_url, monotonic=monotonic) if aws.job_queue_url else None
    if settings.repository.webhook_secret_id and session is not None:
        redactor.add(SecretReader(session.client("secretsmanager")).read(settings.repository.webhook_secret_id))
    if engine is None:
        engine = AutomationEngine(project=settings.project, backend_url=settings.backend_url, secrets_provider=settings.secrets_provider)
    source = open_source(
        settings.repository.url, settings.repository.branch, settings.work_dir, max_archive_bytes=settings.max_desired_state_archive_bytes
    )
    locks = lock_store_for(settings.backend_url, session.client("s3") if session is not None and settings.backend_url.startswith("s3://") else None)
    return Components(
        settings, states, audit, notifier, source, engine, redactor, queue, locks, session, clock=clock or utc_now, monotonic=monotonic,
        sleep=sleep or time.sleep,
    )


def _author(text: str) -> tuple[str, str]:
    """("name", "email") from "name <email>"."""
    name, _, email = text.partition("<")
    return name.strip() or "ecs-gitops", email.rstrip(">").strip() or "ecs-gitops@localhost"


@dataclass
class RolloutComponents:
    store: RolloutStore
    controller: RolloutController
    starter: RolloutStarter
    tick_queue_url: str


def build_rollouts(components: Components, clock: Clock | None = None) -> RolloutComponents:
    """The rollout controller over the AWS clients of ``components`` (rollouts need AWS: ALB, ECS, ECR),
    on ``components.clock`` unless another ``clock`` is given."""
    settings, session = components.settings, components.session
    if session is None or not (settings.aws.rollout_table and settings.aws.tick_queue_url):
        raise SettingsError("rollouts need aws.rolloutTable and aws.tickQueueUrl (ECS_GITOPS_ROLLOUT_TABLE, ECS_GITOPS_TICK_QUEUE_URL)")
    now = clock or components.clock
    elbv2 = session.client("elbv2")
    store = RolloutStore(session.client("dynamodb"), settings.aws.rollout_table)
    scheduler = _tick_scheduler(settings, session)

    def router_for(record: RolloutRecord) -> AlbWeightedRouter:
        return AlbWeightedRouter(elbv2, record.resources.listener_arn, record.resources.target_groups, record.resources.rule_arn)

    def window_check(record: RolloutRecord, at: datetime) -> tuple[bool, str]:
        decision = decide_window(settings.environment(record.environment).windows, at)
        return decision.open, decision.reason

    def request_converge(stack: str) -> None:
        if components.queue is None:
            raise SettingsError("staging an image needs the job queue (aws.jobQueueUrl) to request a converge")
        environment = next(name for name, env in settings.environments.items() if env.stack == stack)
        event_id = f"rollout:{uuid.uuid4()}"
        components.queue.send(
            Job(job_id=Job.make_id(event_id, environment), environment=environment, stack=stack, trigger=Trigger.MANUAL, event_id=event_id, received_at=now())
        )

    timings = RolloutTimings.from_settings(settings.rollout, settings.verify)
    gate = _promotion_verifier(components)
    if gate is None:
        # Without it a promotion could never pass (it would hold, then pause): refuse here, not at the first promotion.
        raise SettingsError("rollouts need the promotion gate, which needs an AWS session to run its checks (none is configured)")
    observer = RolloutObserver(
        session.client("ecr"), session.client("ecs"), elbv2, session.client("cloudwatch"), router_for, window_check, timings=timings,
        promotion_verify=gate,
    )
    repo = settings.repository
    # With write-back the commit's own push event requests the converge.
    writer = (
        GitImageWriteBack(
            repo.url, repo.branch, components.states, *_author(repo.write_back_author),
            work_dir=settings.work_dir, signing_key=repo.write_back_signing_key, max_file_bytes=settings.max_desired_state_file_bytes,
        )
        if repo.image_write_back
        else None
    )
    images: ImageUpdater = writer or StatusImageUpdater(components.states, lambda record: request_converge(record.stack))
    executor = RolloutExecutor(session.client("ecs"), session.client("application-autoscaling"), components.states, router_for, images)
    controller = RolloutController(store, observer, executor, scheduler, now, timings=timings)
    starter = RolloutStarter(
        store, components.states, observer, components.engine.outputs,
        lambda record: scheduler.schedule(record.rollout_id, now(), now()), request_converge,
    )
    # Every transition, the controller's and a superseding push's abort, goes out through the one helper.
    controller.on_transition = starter.on_transition = rollout_notifier(components.notifier, components.redactor)
    return RolloutComponents(store, controller, starter, settings.aws.tick_queue_url)
