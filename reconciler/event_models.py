"""Typed shapes of the events the intake accepts, as AWS and GitHub document them.

Only the fields the reconciler reads are declared; AWS and GitHub add fields over time, so
unknown ones are ignored rather than refused. A missing or mistyped field the reconciler needs
is refused with the field's path. Validation is strict: a number is not a string, a string is
not a number, nothing is stripped or coerced, so what is accepted is exactly what was sent.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

# A git object name: SHA-1 (40) or SHA-256 (64) lowercase hex, nothing around it.
COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _commit_id(value: str) -> str:
    # fullmatch, not match with "$": "$" also matches before a trailing newline.
    if not COMMIT_ID.fullmatch(value):
        raise PydanticCustomError(
            "commit_id", "is not a commit id: expected 40 (or 64) lowercase hex characters and nothing else"
        )
    return value


CommitId = Annotated[str, AfterValidator(_commit_id)]

WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def _token(value: str) -> str:
    # Names, tags and digests never hold whitespace; refused rather than stripped, so "v1\n" is not taken for "v1".
    if WHITESPACE_OR_CONTROL.search(value):
        raise PydanticCustomError("token", "contains whitespace or a control character")
    return value

# Bounded strings: ids and names are short in every documented event; the bound keeps refusals and logs small.
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Name = Annotated[str, StringConstraints(max_length=1024)]
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]
# An ECR repository name, image tag or digest: bounded, and nothing invisible in it.
Token = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_token)]


class EventModel(BaseModel):
    # Built on first use: the intake reads one event kind per invocation and should not pay for the others at import.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, strict=True, defer_build=True)


class EventBridgeEvent(EventModel):
    id: Identifier
    source: Name
    detail_type: Name = Field(alias="detail-type")
    time: Name | None = None
    account: Name | None = None
    region: Name | None = None
    detail: dict = Field(default_factory=dict)


class EcrImageActionDetail(EventModel):
    action_type: Name = Field(alias="action-type")
    result: Name
    repository_name: Annotated[Token, StringConstraints(min_length=1)] = Field(alias="repository-name")
    image_digest: Token | None = Field(default=None, alias="image-digest")
    image_tag: Token | None = Field(default=None, alias="image-tag")


class EcrImageScanDetail(EventModel):
    scan_status: Name = Field(alias="scan-status")
    repository_name: Annotated[Token, StringConstraints(min_length=1)] = Field(alias="repository-name")
    image_digest: Token | None = Field(default=None, alias="image-digest")
    image_tags: list[Token] = Field(default_factory=list, alias="image-tags", max_length=1000)
    finding_severity_counts: dict[Name, Count] = Field(default_factory=dict, alias="finding-severity-counts", max_length=100)


class CodeCommitStateChangeDetail(EventModel):
    event: Name
    repository_name: Name | None = Field(default=None, alias="repositoryName")
    reference_type: Name | None = Field(default=None, alias="referenceType")
    reference_name: Name | None = Field(default=None, alias="referenceName")
    commit_id: CommitId | None = Field(default=None, alias="commitId")
    caller_user_arn: Name | None = Field(default=None, alias="callerUserArn")


class SchedulerTick(EventModel):
    source: Literal["ecs-gitops.scheduler"]
    kind: Name | None = None  # checked by the intake, which names the allowed kinds
    environment: Identifier = "*"
    execution_id: Identifier = Field(alias="executionId")


class GitHubAuthor(EventModel):
    name: Name | None = None
    username: Name | None = None


class GitHubCommit(EventModel):
    added: list[Name] = Field(default_factory=list)
    modified: list[Name] = Field(default_factory=list)
    removed: list[Name] = Field(default_factory=list)


class GitHubHeadCommit(EventModel):
    author: GitHubAuthor | None = None


class GitHubRepository(EventModel):
    full_name: Name | None = None
    # GitHub sends pushed_at as epoch seconds in push payloads (an ISO string elsewhere); it only
    # serves to tell two pushes of the same commit apart, so either form is kept as sent.
    pushed_at: Annotated[int, Field(ge=0, le=2**63)] | Name | None = None


class GitHubPush(EventModel):
    ref: Name
    before: CommitId | None = None
    after: CommitId
    repository: GitHubRepository | None = None
    head_commit: GitHubHeadCommit | None = None
    commits: list[GitHubCommit] = Field(default_factory=list, max_length=10_000)
