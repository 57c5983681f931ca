"""Poison never stops the worker: every queued message ends as an outcome, one audit record and one notification.

Everything runs through the real worker loop (``Worker.run_once``) on a moto SQS FIFO queue with
the template's redrive policy, the DynamoDB audit log and SNS, and the real rollout wiring
(``build_rollouts``). Messages that can never become a deployment (an image tagged ``latest``,
a malformed digest, an unknown repository, a body that is not a job, a job for an environment the
settings no longer manage) are refused, audited and deleted, so the stack's FIFO group moves on
instead of being redelivered for hours.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from reconciler.adapters.audit import DynamoAuditLog
from reconciler.adapters.notify import SnsNotifier
from reconciler.adapters.queue import JobQueue
from reconciler.adapters.stack_state import DynamoStackStateStore
from reconciler.events import EventKind, Reason
from reconciler.models import ImageEvent, Job, Trigger
from reconciler.settings import AwsResources
from reconciler.wiring import Components, build_rollouts
from reconciler.worker import Worker

DIGEST = "sha256:" + "ab" * 32
SECRET = "poison-secret-7c3e9a1f"


@pytest.fixture
def rig(make_harness, reconciler_aws):
    """A worker on moto wired as ``main`` wires it: job queue, audit, SNS, rollout table and tick queue."""
    aws = reconciler_aws
    aws.dynamodb.create_table(
        TableName="ecs-gitops-rollouts", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    tick_url = aws.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    harness = make_harness(
        states=DynamoStackStateStore(aws.dynamodb, aws.state_table),
        audit=DynamoAuditLog(aws.dynamodb, aws.audit_table),
        notifier=SnsNotifier(aws.sns, aws.topic_arn),
    )
    harness.redactor.add(SECRET)
    settings = harness.settings.model_copy(
        update={
            "aws": AwsResources(
                job_queue_url=aws.queue_url, state_table=aws.state_table, audit_table=aws.audit_table,
                topic_arn=aws.topic_arn, rollout_table="ecs-gitops-rollouts", tick_queue_url=tick_url,
            )
        }
    )
    components = Components(
        settings, harness.states, harness.audit, harness.notifier, harness.source, harness.engine,
        harness.redactor, JobQueue(aws.sqs, aws.queue_url), None, aws.session,
    )
    rollouts = build_rollouts(components)
    worker = Worker(components.queue, components.converger(), rollouts)
    return harness, worker, aws


def in_queue(aws) -> int:
    """Messages in the job queue, visible or in flight."""
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=aws.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def image_job(environment: str = "dev", stack: str | None = None, event_id: str = "ecr-evt-1", **image: object) -> Job:
    fields: dict[str, object] = {"repository": f"ecr-frontend-{environment}", "service": "frontend", "tag": "3.0.0", "digest": DIGEST}
    fields.update(image)
    return Job(
        job_id=Job.make_id(event_id, environment), environment=environment, stack=stack or environment,
        trigger=Trigger.ECR_IMAGE_PUSH, event_id=event_id, received_at=datetime.now(UTC), image=ImageEvent(**fields),
    )


def drain(worker: Worker, limit: int = 6) -> list:
    """Run the worker loop until the queue gives nothing more (bounded: a stuck message fails the test)."""
    outcomes = []
    for _ in range(limit):
        handled = worker.run_once(wait_seconds=0)
        if not handled:
            return outcomes
        outcomes.extend(handled)
    raise AssertionError(f"the queue was still giving messages after {limit} rounds: {outcomes}")


# --------------------------------------------------------------------------- image pushes that cannot be deployed

UNDEPLOYABLE = {
    "moving tag latest": {"tag": "latest"},
    "moving tag, any case": {"tag": "Stable"},
    "tag with a space": {"tag": "v1 beta"},
    "malformed digest": {"digest": "sha256:abc"},
    "no digest": {"digest": None},
    "unknown repository": {"repository": "ecr-billing-dev", "service": "billing"},
    "another environment's repository": {"repository": "ecr-frontend-prod"},
}


def test_an_undeployable_image_push_is_an_audited_refusal_and_its_message_is_deleted(rig, sns_inbox):
    """Every case queued in dev's FIFO group, in order: each is refused, audited, notified and deleted."""
    harness, worker, aws = rig
    jobs = {case: image_job(event_id=f"ecr-{n}", **image) for n, (case, image) in enumerate(UNDEPLOYABLE.items())}
    for job in jobs.values():
        worker.queue.send(job)

    outcomes = dict(zip(jobs, drain(worker, limit=len(jobs) + 2)))

    for case, job in jobs.items():
        outcome = outcomes[case]
        assert (outcome.outcome, outcome.kind, outcome.reason) == ("refused", EventKind.REFUSED, Reason.UNDEPLOYABLE_IMAGE), case
    assert in_queue(aws) == 0  # deleted, not redelivered for hours
    records = {r.job_id: r for r in harness.history("dev")}
    assert len(records) == len(jobs)
    for case, job in jobs.items():
        record = records[job.job_id]
        assert (record.outcome, record.kind, record.reason) == ("refused", EventKind.REFUSED, Reason.UNDEPLOYABLE_IMAGE), case
        assert record.error, case
    assert "'latest' is a moving tag" in records[jobs["moving tag latest"].job_id].error
    assert "ecr-frontend-dev" in records[jobs["another environment's repository"].job_id].error
    assert [n["attributes"]["kind"] for n in sns_inbox()] == ["refused"] * len(jobs)
    assert worker.rollouts.store.latest("dev", "frontend") is None
    assert harness.engine.calls == []


def test_a_refused_image_does_not_block_the_next_job_of_its_stack(rig, git_repo):
    """FIFO: the stack's group moves on to the job queued after the poison."""
    harness, worker, aws = rig
    worker.queue.send(image_job(tag="latest"))
    follow_up = harness.job(git_repo.head, event_id="push-after-latest")
    worker.queue.send(follow_up)

    outcomes = drain(worker)

    assert [(o.outcome, o.reason) for o in outcomes] == [("refused", Reason.UNDEPLOYABLE_IMAGE), ("succeeded", Reason.APPLIED)]
    assert in_queue(aws) == 0
    assert [r.reason for r in harness.history("dev")] == [Reason.APPLIED, Reason.UNDEPLOYABLE_IMAGE]


# --------------------------------------------------------------------------- messages that are not jobs

def _job_document(**changes: object) -> str:
    document = json.loads(image_job().model_dump_json(by_alias=True))
    document.update(changes)
    return json.dumps({k: v for k, v in document.items() if v is not ...})


UNREADABLE = {
    "not JSON": ("{this is not json", Reason.MALFORMED_JOB),
    "a JSON list": ("[1, 2, 3]", Reason.MALFORMED_JOB),
    "an empty object": ("{}", Reason.MALFORMED_JOB),
    "a JSON string": ('"dev"', Reason.MALFORMED_JOB),
    "unknown trigger": (_job_document(trigger="ftp-push", image=None), Reason.MALFORMED_JOB),
    "missing stack": (_job_document(stack=..., trigger="git-push", image=None), Reason.MALFORMED_JOB),
    "commit is a branch name": (_job_document(trigger="git-push", image=None, commit="main"), Reason.MALFORMED_JOB),
    "unexpected field": (_job_document(trigger="git-push", image=None, force=True), Reason.MALFORMED_JOB),
    "image event with an unknown field": (_job_document(image={"repository": "ecr-frontend-dev", "service": "frontend", "tag": "latest", "pin": 1}), Reason.UNDEPLOYABLE_IMAGE),
    "image event without a service": (_job_document(image={"repository": "ecr-frontend-dev", "tag": "3.0.0"}), Reason.UNDEPLOYABLE_IMAGE),
    "deeply nested": ("[" * 100_000 + "]" * 100_000, Reason.MALFORMED_JOB),
    "a secret in the body": (json.dumps({"stack": "dev", "token": SECRET, "trigger": 7}), Reason.MALFORMED_JOB),
    "the audit-only trigger": (_job_document(trigger="unreadable-message", image=None), Reason.MALFORMED_JOB),
}


def test_a_message_that_is_not_a_job_is_refused_audited_and_deleted(rig, sns_inbox):
    """Every case queued in dev's FIFO group, in order, then a real job: each poison is refused, audited,
    notified and deleted, and the group moves on to the job behind them."""
    harness, worker, aws = rig
    for n, (body, _) in enumerate(UNREADABLE.values()):
        aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=body, MessageGroupId="dev", MessageDeduplicationId=f"poison-{n}")
    # The next job of the same group (a scan event: handled without a render, to keep this fast).
    worker.queue.send(image_job(event_id="scan-after-poison").model_copy(update={"trigger": Trigger.ECR_IMAGE_SCAN}))

    outcomes = drain(worker, limit=len(UNREADABLE) + 3)

    assert len(outcomes) == len(UNREADABLE) + 1
    for (case, (_, reason)), outcome in zip(UNREADABLE.items(), outcomes):
        assert (outcome.outcome, outcome.kind, outcome.reason) == ("refused", EventKind.REFUSED, reason), case
        assert "cannot be read as a job" in outcome.message, case
    assert (outcomes[-1].outcome, outcomes[-1].reason) == ("skipped", Reason.SKIPPED_ROLLOUT)  # the group moved on
    assert in_queue(aws) == 0
    history = harness.history("dev")
    refused = sorted((r for r in history if r.outcome == "refused"), key=lambda r: r.finished_at)
    assert [r.reason for r in refused] == [reason for _, reason in UNREADABLE.values()]
    assert all(r.kind == EventKind.REFUSED and "cannot be read as a job" in (r.error or "") for r in refused)
    unknown = refused[list(UNREADABLE).index("unknown trigger")]
    assert "trigger" in unknown.error
    # The record says what it was (not a made-up "manual"), so an auditor can tell it from a person's job.
    assert unknown.trigger == Trigger.UNREADABLE_MESSAGE
    notifications = sns_inbox()
    assert [n["attributes"]["kind"] for n in notifications] == ["refused"] * len(UNREADABLE) + ["skipped"]
    everything = json.dumps([r.model_dump(mode="json") for r in history]) + json.dumps(notifications)
    assert SECRET not in everything


# --------------------------------------------------------------------------- environments the settings do not manage

def test_a_job_for_an_environment_removed_from_settings_is_an_audited_refusal(rig, sns_inbox):
    harness, worker, aws = rig
    triggers = [Trigger.ECR_IMAGE_PUSH, Trigger.ECR_IMAGE_SCAN, Trigger.GIT_PUSH, Trigger.SCHEDULED_RESYNC]
    for trigger in triggers:
        job = image_job(environment="staging", event_id=f"evt-{trigger.value}").model_copy(update={"trigger": trigger})
        worker.queue.send(job if trigger in (Trigger.ECR_IMAGE_PUSH, Trigger.ECR_IMAGE_SCAN) else job.model_copy(update={"image": None}))

    outcomes = drain(worker)

    assert [(o.outcome, o.kind, o.reason) for o in outcomes] == [("refused", EventKind.REFUSED, Reason.UNKNOWN_ENVIRONMENT)] * len(triggers)
    assert all("'staging'" in o.message and "dev, prod" in o.message for o in outcomes)
    assert in_queue(aws) == 0
    records = sorted(harness.history("staging"), key=lambda r: r.finished_at)
    assert [(r.environment, r.reason, r.trigger) for r in records] == [("staging", Reason.UNKNOWN_ENVIRONMENT, t) for t in triggers]
    assert [n["attributes"]["kind"] for n in sns_inbox()] == ["refused"] * len(triggers)
    assert harness.engine.calls == []


def test_a_job_whose_stack_is_not_its_environments_stack_is_refused(rig, sns_inbox, git_repo):
    """A job for dev that names prod's stack would converge dev's desired state onto prod."""
    harness, worker, aws = rig
    job = harness.job(git_repo.head).model_copy(update={"stack": "prod"})
    worker.queue.send(job)

    outcomes = drain(worker)

    assert [(o.outcome, o.reason) for o in outcomes] == [("refused", Reason.IDENTITY_MISMATCH)]
    assert in_queue(aws) == 0
    assert [r.reason for r in harness.history("prod")] == [Reason.IDENTITY_MISMATCH]
    assert harness.engine.calls == []
    assert [n["attributes"]["kind"] for n in sns_inbox()] == ["refused"]


def test_a_refusal_that_cannot_be_audited_keeps_its_message_for_a_retry(rig):
    """Deleting an unaudited message would lose the only trace of it: it comes back after the backoff instead."""
    from botocore.exceptions import ClientError

    harness, worker, aws = rig

    class AuditFaultDouble:
        """Stands for DynamoDB refusing the write (throttled), which moto cannot be made to do."""

        def append(self, record):
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem")

    worker.converger.audit = AuditFaultDouble()
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody="{not json", MessageGroupId="dev", MessageDeduplicationId="poison-x")

    outcomes = worker.run_once(wait_seconds=0)

    assert [(o.outcome, o.reason, o.retry_after_seconds) for o in outcomes] == [("failed", Reason.UNEXPECTED_ERROR, 60)]
    assert in_queue(aws) == 1  # in flight until the backoff ends, then redelivered
