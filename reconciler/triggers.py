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
from typing import Any

from reconciler.errors import EventRejected, SettingsError
from reconciler.models import ImageEvent, Job, Trigger
from reconciler.settings import ReconcilerSettings

SCHEDULER_SOURCE = "ecs-gitops.scheduler"
ECR_REPOSITORY_NAME = re.compile(r"^ecr-(?P<service>frontend|api-gateway|processing-service)-(?P<suffix>[a-z0-9-]+)$")
ENVIRONMENT_FILE = re.compile(r"^environments/(?P<name>[^/]+)\.yaml$")
ZERO_COMMIT = "0" * 40


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    value = mapping.get(key)
    if value in (None, ""):
        raise EventRejected(f"{where}: field '{key}' is missing")
    return value


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
    source = event.get("source")
    detail_type = event.get("detail-type")
    detail = event.get("detail") or {}

    if source == SCHEDULER_SOURCE:
        return _scheduler_jobs(settings, event, received_at)

    event_id = _require(event, "id", f"{source} event")
    if source == "aws.ecr" and detail_type == "ECR Image Action":
        if detail.get("action-type") != "PUSH" or detail.get("result") != "SUCCESS":
            return []
        repository = _require(detail, "repository-name", "ECR Image Action detail")
        owner = environment_for_repository(settings, repository)
        if owner is None:
            return []
        environment, service = owner
        image = ImageEvent(repository=repository, service=service, tag=detail.get("image-tag"), digest=detail.get("image-digest"))
        return [_job(settings, environment, Trigger.ECR_IMAGE_PUSH, event_id, received_at, image=image)]

    if source == "aws.ecr" and detail_type == "ECR Image Scan":
        if detail.get("scan-status") != "COMPLETE":
            return []
        repository = _require(detail, "repository-name", "ECR Image Scan detail")
        owner = environment_for_repository(settings, repository)
        if owner is None:
            return []
        environment, service = owner
        tags = detail.get("image-tags") or []
        image = ImageEvent(
            repository=repository,
            service=service,
            tag=tags[0] if tags else None,
            digest=detail.get("image-digest"),
            scan_status="COMPLETE",
            finding_counts={k: int(v) for k, v in (detail.get("finding-severity-counts") or {}).items()},
        )
        return [_job(settings, environment, Trigger.ECR_IMAGE_SCAN, event_id, received_at, image=image)]

    if source == "aws.codecommit" and detail_type == "CodeCommit Repository State Change":
        repo = settings.repository
        if repo.codecommit_repository and detail.get("repositoryName") != repo.codecommit_repository:
            return []
        if detail.get("referenceType") != "branch" or detail.get("referenceName") != repo.branch:
            return []
        if detail.get("event") not in ("referenceCreated", "referenceUpdated"):
            return []
        commit = _require(detail, "commitId", "CodeCommit detail")
        author = str(detail.get("callerUserArn", "")).rsplit("/", 1)[-1] or None
        return _all_environments(settings, Trigger.CODECOMMIT_PUSH, event_id, received_at, commit=commit, author=author)

    raise EventRejected(f"unsupported event: source={source!r} detail-type={detail_type!r}")


def _scheduler_jobs(settings: ReconcilerSettings, event: Mapping[str, Any], received_at: datetime) -> list[Job]:
    kind = event.get("kind")
    trigger = {"resync": Trigger.SCHEDULED_RESYNC, "drift-check": Trigger.SCHEDULED_DRIFT_CHECK}.get(str(kind))
    if trigger is None:
        raise EventRejected(f"scheduler tick: kind must be 'resync' or 'drift-check', not {kind!r}")
    execution = _require(event, "executionId", "scheduler tick")
    target = event.get("environment", "*")
    if target == "*":
        return _all_environments(settings, trigger, f"scheduler:{execution}", received_at)
    return [_job(settings, str(target), trigger, f"scheduler:{execution}", received_at)]


def jobs_from_github_push(settings: ReconcilerSettings, delivery_id: str, payload: Mapping[str, Any], received_at: datetime) -> list[Job]:
    """Jobs for a verified GitHub push; only the desired-state branch counts."""
    ref = payload.get("ref")
    if ref != f"refs/heads/{settings.repository.branch}":
        raise EventRejected(f"push to {ref!r} ignored: the desired state lives on refs/heads/{settings.repository.branch}", 422)
    commit = payload.get("after")
    if not isinstance(commit, str) or not re.match(r"^[0-9a-f]{40}$", commit):
        raise EventRejected("push payload: 'after' is not a commit id")
    if commit == ZERO_COMMIT:
        return []  # branch deleted: nothing to converge
    head = payload.get("head_commit") or {}
    author = ((head.get("author") or {}).get("username") or (head.get("author") or {}).get("name")) if head else None

    # Only environments whose file changed, when GitHub lists the files; all of them otherwise.
    touched: set[str] = set()
    listed = False
    for commit_info in payload.get("commits") or []:
        for key in ("added", "modified", "removed"):
            for path in commit_info.get(key) or []:
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
