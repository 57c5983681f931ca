"""Typed shapes of the events the intake accepts, as AWS and GitHub document them.

Only the fields the reconciler reads are declared; AWS and GitHub add fields over time, so
unknown ones are ignored rather than refused. A missing or mistyped field the reconciler needs
is refused with the field's path.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EventModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class EventBridgeEvent(EventModel):
    id: str = Field(min_length=1)
    source: str
    detail_type: str = Field(alias="detail-type")
    time: str | None = None
    account: str | None = None
    region: str | None = None
    detail: dict = Field(default_factory=dict)


class EcrImageActionDetail(EventModel):
    action_type: str = Field(alias="action-type")
    result: str
    repository_name: str = Field(alias="repository-name", min_length=1)
    image_digest: str | None = Field(default=None, alias="image-digest")
    image_tag: str | None = Field(default=None, alias="image-tag")


class EcrImageScanDetail(EventModel):
    scan_status: str = Field(alias="scan-status")
    repository_name: str = Field(alias="repository-name", min_length=1)
    image_digest: str | None = Field(default=None, alias="image-digest")
    image_tags: list[str] = Field(default_factory=list, alias="image-tags")
    finding_severity_counts: dict[str, int] = Field(default_factory=dict, alias="finding-severity-counts")


class CodeCommitStateChangeDetail(EventModel):
    event: str
    repository_name: str | None = Field(default=None, alias="repositoryName")
    reference_type: str | None = Field(default=None, alias="referenceType")
    reference_name: str | None = Field(default=None, alias="referenceName")
    commit_id: str | None = Field(default=None, alias="commitId")
    caller_user_arn: str | None = Field(default=None, alias="callerUserArn")


class SchedulerTick(EventModel):
    source: Literal["ecs-gitops.scheduler"]
    kind: str | None = None  # checked by the intake, which names the allowed kinds
    environment: str = "*"
    execution_id: str = Field(alias="executionId", min_length=1)


class GitHubAuthor(EventModel):
    name: str | None = None
    username: str | None = None


class GitHubCommit(EventModel):
    added: list[str] = Field(default_factory=list)
    modified: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)


class GitHubHeadCommit(EventModel):
    author: GitHubAuthor | None = None


class GitHubPush(EventModel):
    ref: str
    after: str
    head_commit: GitHubHeadCommit | None = None
    commits: list[GitHubCommit] = Field(default_factory=list)
