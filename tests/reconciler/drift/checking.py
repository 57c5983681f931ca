"""Helpers for the drift-check tests: SDK step events as a refreshed preview reports them, a rollout record, the world on moto.

Imported by name (``from tests.reconciler.drift.checking import ...``): a module, not a conftest, so the
drift-report branch's own conftest/steps in this directory stay theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pulumi.automation.events import DiffKind, OpType, PropertyDiff, StepEventMetadata, StepEventStateMetadata

from desired_state.schema import ImageRef, RolloutSpec
from desired_state.traffic import ColourWeights
from reconciler.adapters.audit import DynamoAuditLog
from reconciler.adapters.notify import SnsNotifier
from reconciler.adapters.queue import JobQueue
from reconciler.adapters.stack_state import DynamoStackStateStore
from reconciler.converge import Converger
from reconciler.drift.check import DriftChecker, rollouts_in
from reconciler.lease import LeaseObserver
from reconciler.models import Job, Trigger
from reconciler.rollout.model import RolloutPhase, RolloutRecord, RolloutResources
from reconciler.rollout.store import RolloutStore
from reconciler.worker import Worker

PROVIDER = "urn:pulumi:dev::ecs-gitops::pulumi:providers:aws::default::04da6b54-80e4-46f7-96ec-b56ff0331ba9"
ROLLOUT_TABLE = "ecs-gitops-rollouts"
NAMESPACE = "ecs-gitops-test"

# The mapping from steps to a report is drift-report's (reconciler/drift/report.py); on this branch alone it may be absent.

def urn(type_: str, name: str, stack: str = "dev") -> str:
    return f"urn:pulumi:{stack}::ecs-gitops::{type_}::{name}"


def _state(type_: str, name: str, outputs: dict[str, Any], stack: str) -> StepEventStateMetadata:
    return StepEventStateMetadata(
        type=type_, urn=urn(type_, name, stack), id=f"{name}-id", parent=f"urn:pulumi:{stack}::ecs-gitops::pulumi:pulumi:Stack::ecs-gitops-{stack}",
        provider=PROVIDER, custom=True, inputs=outputs, outputs=outputs,
    )


def update_step(type_: str, name: str, desired: dict[str, Any], real: dict[str, Any], paths: dict[str, DiffKind], stack: str = "dev") -> StepEventMetadata:
    """A refreshed preview's update: ``old`` is the real resource (refreshed), ``new`` the applied desired state."""
    return StepEventMetadata(
        op=OpType.UPDATE, urn=urn(type_, name, stack), type=type_, provider=PROVIDER,
        old=_state(type_, name, real, stack), new=_state(type_, name, desired, stack),
        diffs=sorted({path.split(".")[0].split("[")[0] for path in paths}),
        detailed_diff={path: PropertyDiff(diff_kind=kind, input_diff=False) for path, kind in paths.items()},
    )


def sg_ingress_opened(name: str = "sg-api-gateway-dev", stack: str = "dev") -> StepEventMetadata:
    """Someone opened tcp/22 to 0.0.0.0/0 on the security group by hand."""
    https = {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.0.0/16"], "securityGroups": [], "self": False}
    ssh = {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"], "securityGroups": [], "self": False}
    base = {"name": name, "vpcId": "vpc-0abc", "egress": [], "tags": {"Name": name}}
    return update_step(
        "aws:ec2/securityGroup:SecurityGroup", name, {**base, "ingress": [https]}, {**base, "ingress": [https, ssh]}, {"ingress[1]": DiffKind.DELETE}, stack,
    )


def tag_changed(name: str = "ecr-frontend-dev", stack: str = "dev") -> StepEventMetadata:
    desired = {"name": name, "tags": {"Name": name, "team": "platform"}}
    real = {"name": name, "tags": {"Name": name, "team": "someone-else"}}
    return update_step("aws:ecr/repository:Repository", name, desired, real, {"tags.team": DiffKind.UPDATE}, stack)


def retention_lowered(name: str = "lg-frontend-dev", stack: str = "dev") -> StepEventMetadata:
    desired = {"name": f"/ecs/{name}", "retentionInDays": 30}
    real = {"name": f"/ecs/{name}", "retentionInDays": 1}
    return update_step("aws:cloudwatch/logGroup:LogGroup", name, desired, real, {"retentionInDays": DiffKind.UPDATE}, stack)


def rollout(phase: RolloutPhase, service: str = "frontend", stack: str = "dev", at: datetime | None = None) -> RolloutRecord:
    at = at or datetime.fromisoformat("2025-03-05T11:00:00+00:00")
    return RolloutRecord(
        rollout_id=f"r-{service}-1", stack=stack, environment=stack, service=service, phase=phase, from_colour="blue", to_colour="green",
        old_image=ImageRef(repository=service, tag="1.4.2"), new_image=ImageRef(repository=service, tag="3.0.0", digest="sha256:" + "ab" * 32),
        spec=RolloutSpec(steps=(20, 60, 100)), live_desired_count=2, step_index=0 if phase != RolloutPhase.DEPLOYING else -1,
        resources=RolloutResources(cluster=f"ecs-cluster-{stack}", ecs_services={}, target_groups={}, listener_arn="arn:listener", repository=f"ecr-{service}-{stack}"),
        weights=ColourWeights(blue=80, green=20), phase_started_at=at, created_at=at, updated_at=at,
    )


@dataclass
class DriftWorld:
    """A worker over the real adapters on moto (job queue, status, audit, SNS->SQS inbox, CloudWatch, rollout table) and the engine double."""

    harness: Any
    aws: Any
    read_notifications: Any
    queue: JobQueue = field(init=False)
    rollouts: RolloutStore = field(init=False)

    def __post_init__(self) -> None:
        self.queue = JobQueue(self.aws.sqs, self.aws.queue_url)
        self.aws.dynamodb.create_table(
            TableName=ROLLOUT_TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )
        self.rollouts = RolloutStore(self.aws.dynamodb, ROLLOUT_TABLE)
        self.cloudwatch = self.aws.session.client("cloudwatch")

    @property
    def engine(self) -> Any:
        return self.harness.engine

    def converger(self) -> Converger:
        h = self.harness
        settings = h.settings.model_copy(update={"drift_check": h.settings.drift_check.model_copy(update={"metric_namespace": NAMESPACE})})
        return Converger(
            settings=settings, states=h.states, source=h.source, engine=h.engine, audit=h.audit, notifier=h.notifier, redactor=h.redactor,
            clock=h.clock, worker_id=h.worker_id, monotonic=h.monotonic(), lease_observer=h.lease_observers.setdefault(h.worker_id, LeaseObserver(h.monotonic())),
            drift=DriftChecker(settings, clock=h.clock, rollouts=rollouts_in(self.rollouts), enqueue=self.queue.send, cloudwatch=self.cloudwatch),
        )

    def work(self) -> list[Any]:
        """The worker handles what is queued now (one message per call)."""
        self.harness.source.refresh()
        try:
            return Worker(self.queue, self.converger()).run_once(wait_seconds=0)
        finally:
            self.harness.clock.advance(minutes=1)

    def apply_head(self) -> str:
        """Converge the branch head (so the stack has an applied commit); notifications of it are consumed."""
        head = self.harness.repo.head
        self.queue.send(self.harness.job(head))
        [outcome] = self.work()
        assert outcome.outcome == "succeeded", outcome
        self.inbox()
        self.engine.calls.clear()
        return head

    def check(self, environment: str = "dev") -> Any:
        job = self.harness.job(None, environment=environment, trigger=Trigger.SCHEDULED_DRIFT_CHECK)
        self.queue.send(job)
        [outcome] = self.work()
        return outcome

    def inbox(self) -> list[dict[str, Any]]:
        return self.read_notifications(self.aws.sqs, self.aws.inbox_url)

    def queued(self) -> list[Job]:
        found = []
        for message in self.aws.sqs.receive_message(QueueUrl=self.aws.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", []):
            found.append(Job.model_validate_json(message["Body"]))
        return found

    def metric(self, name: str, environment: str = "dev") -> list[float]:
        data = self.cloudwatch.get_metric_data(
            MetricDataQueries=[{
                "Id": "m", "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": [{"Name": "Environment", "Value": environment}]},
                    "Period": 60, "Stat": "Sum",
                },
            }],
            StartTime=datetime.fromisoformat("2025-03-05T00:00:00+00:00"), EndTime=datetime.fromisoformat("2025-03-06T00:00:00+00:00"),
        )["MetricDataResults"][0]
        return list(data["Values"])


def make_world(make_harness: Any, reconciler_aws: Any, read_notifications: Any) -> DriftWorld:
    harness = make_harness(
        states=DynamoStackStateStore(reconciler_aws.dynamodb, reconciler_aws.state_table),
        audit=DynamoAuditLog(reconciler_aws.dynamodb, reconciler_aws.audit_table),
        notifier=SnsNotifier(reconciler_aws.sns, reconciler_aws.topic_arn),
    )
    return DriftWorld(harness, reconciler_aws, read_notifications)
