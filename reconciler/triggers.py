"""Turn incoming events into jobs. Pure: no I/O, no clock (the receive time is passed in).

Accepted events (shapes as AWS and GitHub document them):

* EventBridge ``aws.ecr`` / ``ECR Image Action`` (``action-type`` PUSH, ``result`` SUCCESS);
* EventBridge ``aws.ecr`` / ``ECR Image Scan`` (``scan-status`` COMPLETE);
* EventBridge ``aws.codecommit`` / ``CodeCommit Repository State Change`` on the desired-state branch;
* EventBridge Scheduler ticks whose input is ``{"source": "ecs-gitops.scheduler", "kind":
  "resync" | "drift-check", "environment": NAME | "*", "executionId": "<aws.scheduler.execution-id>"}``;
* GitHub ``push`` webhooks (the verified JSON body, see :mod:`reconciler.webhook`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from reconciler.errors import EventRejected, SettingsError
from reconciler.event_models import (
    CodeCommitStateChangeDetail,
    EcrImageActionDetail,
    EcrImageScanDetail,
    EventBridgeEvent,
    GitHubPush,
    SchedulerTick,
)
from reconciler.models import ImageEvent, Job, Trigger
from reconciler.settings import ReconcilerSettings

SCHEDULER_SOURCE = "ecs-gitops.scheduler"
ECR_REPOSITORY_NAME = re.compile(r"^ecr-(?P<service>frontend|api-gateway|processing-service)-(?P<suffix>[a-z0-9-]+)$")
ENVIRONMENT_FILE = re.compile(r"^environments/(?P<name>[^/]+)\.yaml$")
ZERO_COMMIT = "0" * 40


Model = TypeVar("Model", bound=BaseModel)


def _parse(model: type[Model], data: Any, where: str) -> Model:
    """``data`` as ``model``; a missing or mistyped field is refused with its path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        reason = "is missing" if first["type"] == "missing" else first["msg"]
        raise EventRejected(f"{where}: field '{field}' {reason}") from None


def _job(settings: ReconcilerSettings, environment: str, trigger: Trigger, event_id: str, received_at: datetime, **fields: Any) -> Job:
    try:
        env = settings.environment(environment)
    except SettingsError as exc:
        raise EventRejected(str(exc)) from None
    return Job(
        job_id=Job.make_id(event_id, environment),
        environment=environment,
        stack=env.stack,
        trigger=trigger,
        event_id=event_id,
        received_at=received_at,
        **fields,
    )


def _all_environments(settings: ReconcilerSettings, trigger: Trigger, event_id: str, received_at: datetime, **fields: Any) -> list[Job]:
    return [_job(settings, name, trigger, event_id, received_at, **fields) for name in sorted(settings.environments)]


def environment_for_repository(settings: ReconcilerSettings, repository: str) -> tuple[str, str] | None:
    """(environment, service) an ECR repository belongs to, from ``ecr-{service}-{suffix}``."""
    match = ECR_REPOSITORY_NAME.match(repository)
    if not match:
        return None
    for name, env in settings.environments.items():
        if env.suffix == match["suffix"]:
            return name, match["service"]
    return None


def jobs_from_eventbridge(settings: ReconcilerSettings, event: Mapping[str, Any], received_at: datetime) -> list[Job]:
    """Jobs for one EventBridge event; an empty list means the event is valid but needs no work."""
    if event.get("source") == SCHEDULER_SOURCE:
        return _scheduler_jobs(settings, event, received_at)
    envelope = _parse(EventBridgeEvent, event, f"{event.get('source')} event")
    source, detail_type, event_id = envelope.source, envelope.detail_type, envelope.id

    if source == "aws.ecr" and detail_type == "ECR Image Action":
        action = _parse(EcrImageActionDetail, envelope.detail, "ECR Image Action detail")
        if action.action_type != "PUSH" or action.result != "SUCCESS":
            return []
        owner = environment_for_repository(settings, action.repository_name)
        if owner is None:
            return []
        environment, service = owner
        image = ImageEvent(repository=action.repository_name, service=service, tag=action.image_tag, digest=action.image_digest)
        return [_job(settings, environment, Trigger.ECR_IMAGE_PUSH, event_id, received_at, image=image)]

    if source == "aws.ecr" and detail_type == "ECR Image Scan":
        scan = _parse(EcrImageScanDetail, envelope.detail, "ECR Image Scan detail")
        if scan.scan_status != "COMPLETE":
            return []
        owner = environment_for_repository(settings, scan.repository_name)
        if owner is None:
            return []
        environment, service = owner
        image = ImageEvent(
            repository=scan.repository_name,
            service=service,
            tag=scan.image_tags[0] if scan.image_tags else None,
            digest=scan.image_digest,
            scan_status="COMPLETE",
            finding_counts=scan.finding_severity_counts,
        )
        return [_job(settings, environment, Trigger.ECR_IMAGE_SCAN, event_id, received_at, image=image)]

    if source == "aws.codecommit" and detail_type == "CodeCommit Repository State Change":
        change = _parse(CodeCommitStateChangeDetail, envelope.detail, "CodeCommit detail")
        repo = settings.repository
        if repo.codecommit_repository and change.repository_name != repo.codecommit_repository:
            return []
        if change.reference_type != "branch" or change.reference_name != repo.branch:
            return []
        if change.event not in ("referenceCreated", "referenceUpdated"):
            return []
        if not change.commit_id:
            raise EventRejected("CodeCommit detail: field 'commitId' is missing")
        author = (change.caller_user_arn or "").rsplit("/", 1)[-1] or None
        return _all_environments(settings, Trigger.CODECOMMIT_PUSH, event_id, received_at, commit=change.commit_id, author=author)

    raise EventRejected(f"unsupported event: source={source!r} detail-type={detail_type!r}")


def _scheduler_jobs(settings: ReconcilerSettings, event: Mapping[str, Any], received_at: datetime) -> list[Job]:
    tick = _parse(SchedulerTick, event, "scheduler tick")
    trigger = {"resync": Trigger.SCHEDULED_RESYNC, "drift-check": Trigger.SCHEDULED_DRIFT_CHECK}.get(tick.kind)
    if trigger is None:
        raise EventRejected(f"scheduler tick: kind must be 'resync' or 'drift-check', not {tick.kind!r}")
    event_id = f"scheduler:{tick.execution_id}"
    if tick.environment == "*":
        return _all_environments(settings, trigger, event_id, received_at)
    return [_job(settings, tick.environment, trigger, event_id, received_at)]


def jobs_from_github_push(settings: ReconcilerSettings, delivery_id: str, payload: Mapping[str, Any], received_at: datetime) -> list[Job]:
    """Jobs for a verified GitHub push; only the desired-state branch counts."""
    push = _parse(GitHubPush, payload, "push payload")
    if push.ref != f"refs/heads/{settings.repository.branch}":
        raise EventRejected(f"push to {push.ref!r} ignored: the desired state lives on refs/heads/{settings.repository.branch}", 422)
    commit = push.after
    if not re.match(r"^[0-9a-f]{40}$", commit):
        raise EventRejected("push payload: 'after' is not a commit id")
    if commit == ZERO_COMMIT:
        return []  # branch deleted: nothing to converge
    author_info = push.head_commit.author if push.head_commit else None
    author = (author_info.username or author_info.name) if author_info else None

    # Only environments whose file changed, when GitHub lists the files; all of them otherwise.
    touched: set[str] = set()
    listed = False
    for commit_info in push.commits:
        for path in (*commit_info.added, *commit_info.modified, *commit_info.removed):
            listed = True
            match = ENVIRONMENT_FILE.match(path)
            if match:
                touched.add(match["name"])
            else:
                touched.update(settings.environments)  # a shared file may affect every environment
    environments = sorted(touched & set(settings.environments)) if listed else sorted(settings.environments)
    return [
        _job(settings, name, Trigger.GIT_PUSH, f"github:{delivery_id}", received_at, commit=commit, author=author)
        for name in environments
    ]
