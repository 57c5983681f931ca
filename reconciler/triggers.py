"""Turn incoming events into jobs. Pure: no I/O, no clock (the receive time is passed in).

Accepted events (shapes as AWS and GitHub document them):

* EventBridge ``aws.ecr`` / ``ECR Image Action`` (``action-type`` PUSH, ``result`` SUCCESS);
* EventBridge ``aws.codecommit`` / ``CodeCommit Repository State Change`` on the desired-state branch;
* EventBridge Scheduler ticks whose input is ``{"source": "ecs-gitops.scheduler", "kind":
  "resync" | "drift-check", "environment": NAME | "*", "executionId": "<aws.scheduler.execution-id>"}``;
* GitHub ``push`` webhooks (the verified JSON body, see :mod:`reconciler.webhook`).

Events that wake a running rollout instead of queueing a job (alarm state changes, ECS deployment
and service events, ECR scan completion) are :mod:`reconciler.wakeups`'.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from desired_state.naming import SERVICE_NAMES, name
from reconciler.errors import EventRefused, EventRejected, SettingsError
from reconciler.event_models import (
    CodeCommitStateChangeDetail,
    EcrImageActionDetail,
    EventBridgeEvent,
    GitHubPush,
    SchedulerTick,
)
from reconciler.events import Reason
from reconciler.models import ImageEvent, Job, Trigger
from reconciler.settings import ReconcilerSettings
from reconciler.webhook import shown

if TYPE_CHECKING:
    from desired_state.schema import ImageRef

SCHEDULER_SOURCE = "ecs-gitops.scheduler"
ENVIRONMENT_FILE = re.compile(r"^environments/(?P<name>[^/]+)\.yaml$")
ZERO_COMMIT = "0" * 40


Model = TypeVar("Model", bound=BaseModel)


def _problem(error: Mapping[str, Any]) -> str:
    """One pydantic error as 'field 'x' reason', without pydantic's "Value error, " prefix or the input."""
    field = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        reason = "is missing"
    elif error["type"] == "value_error" and "error" in error.get("ctx", {}):
        reason = str(error["ctx"]["error"])
    else:
        reason = error["msg"]
    return f"field '{field}' {reason}" if field else reason


def _parse(model: type[Model], data: Any, where: str) -> Model:
    """``data`` as ``model``; a missing or mistyped field is refused with its path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise EventRejected(f"{where}: {_problem(exc.errors(include_url=False)[0])}") from None


def _job(settings: ReconcilerSettings, environment: str, trigger: Trigger, event_id: str, received_at: datetime, **fields: Any) -> Job:
    try:
        env = settings.environment(environment)
    except SettingsError as exc:
        raise EventRefused(str(exc), Reason.UNKNOWN_ENVIRONMENT) from None
    try:
        return Job(
            job_id=Job.make_id(event_id, environment),
            environment=environment,
            stack=env.stack,
            trigger=trigger,
            event_id=event_id,
            received_at=received_at,
            **fields,
        )
    except ValidationError as exc:
        # The event models accept more than a job carries (a SHA-256 commit id): refuse, never queue half a job.
        raise EventRejected(f"{trigger.value} event {shown(event_id)} cannot become a job: {_problem(exc.errors(include_url=False)[0])}") from None


def _all_environments(settings: ReconcilerSettings, trigger: Trigger, event_id: str, received_at: datetime, **fields: Any) -> list[Job]:
    return [_job(settings, name, trigger, event_id, received_at, **fields) for name in sorted(settings.environments)]


def managed_repositories(settings: ReconcilerSettings) -> dict[str, tuple[str, str]]:
    """Every ECR repository the platform creates for a managed environment -> (environment, service).

    Built with the program's own naming (``ecr-{service}-{environmentSuffix}``), so the intake
    accepts exactly the repositories a stack owns.
    """
    repositories: dict[str, tuple[str, str]] = {}
    for environment in sorted(settings.environments):
        for service in SERVICE_NAMES:
            repositories.setdefault(name("ecr", settings.environments[environment].suffix, service), (environment, service))
    return repositories


def environment_for_repository(settings: ReconcilerSettings, repository: str) -> tuple[str, str] | None:
    """(environment, service) an ECR repository belongs to, or None when no managed environment owns it."""
    return managed_repositories(settings).get(repository)


def _owner(settings: ReconcilerSettings, repository: str) -> tuple[str, str]:
    repositories = managed_repositories(settings)
    owner = repositories.get(repository)
    if owner is None:
        known = sorted(repositories)
        listed = ", ".join(known[:6]) + (f" and {len(known) - 6} more" if len(known) > 6 else "") if known else "none"
        raise EventRefused(
            f"ECR repository {shown(repository)} belongs to no managed environment; the platform's repositories are "
            f"ecr-<service>-<environmentSuffix> ({listed})",
            Reason.UNDEPLOYABLE_IMAGE,
        )
    return owner


def _deployable(repository: str, service: str, tag: str | None, digest: str | None) -> ImageRef:
    """The image as the desired-state schema would pin it; refused with the schema's own reason when it cannot be."""
    if digest is None:
        raise EventRefused(f"image event for {shown(repository)} carries no image-digest; nothing can be pinned", Reason.UNDEPLOYABLE_IMAGE)
    # Imported on the first image event, not with the intake: a webhook never pays for the whole schema.
    from desired_state.schema import ImageRef

    try:
        return ImageRef(repository=service, tag=tag, digest=digest)
    except ValidationError as exc:
        raise EventRefused(
            f"image in {shown(repository)} cannot be deployed: {_problem(exc.errors(include_url=False)[0])}", Reason.UNDEPLOYABLE_IMAGE
        ) from None


def jobs_from_eventbridge(settings: ReconcilerSettings, event: Any, received_at: datetime) -> list[Job]:
    """Jobs for one EventBridge event; an empty list means the event is valid but needs no work.

    Anything else raises :class:`EventRejected` (:class:`EventRefused` with a reason for a
    well-formed event that must not be queued), and nothing but that.
    """
    if not isinstance(event, Mapping):
        raise EventRejected(f"event is a {type(event).__name__}, not a JSON object")
    if event.get("source") == SCHEDULER_SOURCE:
        return _scheduler_jobs(settings, event, received_at)
    envelope = _parse(EventBridgeEvent, event, f"{shown(event.get('source'))} event")
    source, detail_type, event_id = envelope.source, envelope.detail_type, envelope.id

    if source == "aws.ecr" and detail_type == "ECR Image Action":
        action = _parse(EcrImageActionDetail, envelope.detail, "ECR Image Action detail")
        if action.action_type != "PUSH" or action.result != "SUCCESS":
            return []
        environment, service = _owner(settings, action.repository_name)
        pinned = _deployable(action.repository_name, service, action.image_tag, action.image_digest)
        image = ImageEvent(repository=action.repository_name, service=service, tag=pinned.tag, digest=pinned.digest)
        return [_job(settings, environment, Trigger.ECR_IMAGE_PUSH, event_id, received_at, image=image)]

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

    raise EventRejected(f"unsupported event: source={shown(source)} detail-type={shown(detail_type)}")


def _scheduler_jobs(settings: ReconcilerSettings, event: Mapping[str, Any], received_at: datetime) -> list[Job]:
    tick = _parse(SchedulerTick, event, "scheduler tick")
    trigger = {"resync": Trigger.SCHEDULED_RESYNC, "drift-check": Trigger.SCHEDULED_DRIFT_CHECK}.get(tick.kind or "")
    if trigger is None:
        raise EventRejected(f"scheduler tick: kind must be 'resync' or 'drift-check', not {shown(tick.kind)}")
    event_id = f"scheduler:{tick.execution_id}"
    if tick.environment == "*":
        return _all_environments(settings, trigger, event_id, received_at)
    return [_job(settings, tick.environment, trigger, event_id, received_at)]


def jobs_from_github_push(settings: ReconcilerSettings, delivery_id: str, payload: Any, received_at: datetime) -> list[Job]:
    """Jobs for a verified GitHub push; only the desired-state branch counts."""
    push = _parse(GitHubPush, payload, "push payload")
    if push.ref != f"refs/heads/{settings.repository.branch}":
        raise EventRejected(f"push to {shown(push.ref)} ignored: the desired state lives on refs/heads/{settings.repository.branch}", 422)
    commit = push.after
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
            match = ENVIRONMENT_FILE.fullmatch(path)
            if match:
                touched.add(match["name"])
            else:
                touched.update(settings.environments)  # a shared file may affect every environment
    environments = sorted(touched & set(settings.environments)) if listed else sorted(settings.environments)
    return [
        _job(settings, name, Trigger.GIT_PUSH, f"github:{delivery_id}", received_at, commit=commit, author=author)
        for name in environments
    ]


def push_content_key(settings: ReconcilerSettings, payload: Any, environment: str) -> str:
    """What makes two push deliveries the same push for ``environment``, whatever their delivery ids.

    A replayed body (GitHub's redelivery, or a captured request sent again under a new
    ``X-GitHub-Delivery``) is byte-for-byte the signed original, so repository, ref, before, after
    and the repository's ``pushed_at`` are equal. A genuine later push of the same commit (a reset
    back to it, or a re-push after a reset) differs in ``before`` or ``pushed_at`` and is a new push.
    """
    push = _parse(GitHubPush, payload, "push payload")
    repository = push.repository.full_name if push.repository and push.repository.full_name else settings.repository.url
    pushed_at = push.repository.pushed_at if push.repository else None
    content = "\x1f".join(str(part) for part in (repository, push.ref, push.before, push.after, pushed_at, environment))
    return "github-push:" + hashlib.sha256(content.encode()).hexdigest()
