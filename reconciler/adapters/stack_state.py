"""Per-stack status in DynamoDB, moved only by conditional writes on a version number.

One item per stack (``pk = stack#<stack>``) holds the last applied commit, the current job and
phase, the worker lease (who is converging this stack right now: holder, heartbeat counter and
fencing token), and the plan waiting for approval. Every change reads the item, computes the new one and writes it
with ``version = :expected``; a lost race raises :class:`ConflictError` and the caller re-reads.

A write elsewhere that must not happen once the stack is suspended (a rollout start) runs inside
:meth:`StackStateStore.hold_suspension`: the DynamoDB store hands it a ``ConditionCheck`` for its
own transaction (the item's top-level ``suspended`` attribute, written with every suspension, must
be absent); the file store holds its lock until the write is done, so a suspend waits for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import Field

from desired_state.schema import ImageRef
from desired_state.traffic import TrafficState
from reconciler.drift.model import DriftCheckSummary
from reconciler.errors import ConflictError
from reconciler.events import Phase
from reconciler.models import PlanSummary, Record
from reconciler.operations.model import Suspension


class Lease(Record):
    """Who converges the stack now.

    Contenders judge staleness only from ``(holder, counter)`` not changing for the stale interval on
    their own monotonic clock, never from the timestamps (another machine's clock). ``token`` is the
    fencing token: it grows with every acquisition, so a holder whose lease was taken over sees a
    different token and stops. The timestamps are for people (``locks``) and ``unlock``.
    """

    holder: str
    job_id: str
    acquired_at: datetime
    heartbeat_at: datetime
    # Incremented by every heartbeat of the holder.
    counter: int = 0
    token: int = 0


class PendingApproval(Record):
    commit: str
    job_id: str
    desired_state_digest: str
    plan_digest: str
    plan: PlanSummary
    requested_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None
    # The trigger of the job whose plan waits, when the approval must re-run it as such ("drift-remediation":
    # converge the commit that waits, not the branch head); None: an approval queues a manual converge.
    trigger: str | None = None


class StackStatus(Record):
    stack: str
    version: int = 0
    environment: str | None = None
    last_applied_commit: str | None = None
    last_applied_at: datetime | None = None
    last_job_id: str | None = None
    last_outcome: str | None = None
    current_job_id: str | None = None
    phase: Phase | None = None
    lease: Lease | None = None
    # The last fencing token handed out; kept when a lease is released so tokens never repeat.
    fencing_token: int = 0
    pending_approval: PendingApproval | None = None
    superseded_job_ids: list[str] = Field(default_factory=list)
    # Owned by the rollout controller; the program renders from it so converges never fight a rollout.
    traffic: TrafficState | None = None
    # Images a rollout staged without a git commit (write-back disabled); applied over git's desired state.
    image_overrides: dict[str, ImageRef] = Field(default_factory=dict)
    # Set by `ecs-gitops suspend` (who, why, since): converges and new rollouts are refused until `resume`.
    suspension: Suspension | None = None
    # The last drift check: when, its result and counts (reconciler.drift.check).
    last_drift_check: DriftCheckSummary | None = None
    # The stack outputs of the last `up` (no secret-marked value), written with last_applied_commit: what the
    # rollout's promotion gate checks against where the Pulumi backend is not reachable (the tick runtime).
    applied_outputs: dict[str, Any] | None = None


# The DynamoDB item's top-level attribute present exactly while the status holds a suspension: a
# condition another transaction can check (the status itself is one JSON string).
SUSPENDED_ATTRIBUTE = "suspended"


@dataclass(frozen=True)
class SuspensionHold:
    """The stack status as read for a write elsewhere that must not happen once the stack is suspended.

    ``status``: read under the hold (the caller refuses if it is suspended already). ``condition_checks``:
    DynamoDB ``TransactWriteItems`` entries the caller's write must carry; it fails if a suspension
    was written since (empty where the store holds a lock instead)."""

    status: StackStatus
    condition_checks: tuple[dict[str, Any], ...] = ()


class StackStateStore(ABC):
    """Conditional-write store of :class:`StackStatus`; ``put`` fails if the version moved."""

    @abstractmethod
    def get(self, stack: str) -> StackStatus: ...

    @abstractmethod
    def put(self, previous: StackStatus, new: StackStatus) -> StackStatus: ...

    @abstractmethod
    def hold_suspension(self, stack: str) -> contextlib.AbstractContextManager[SuspensionHold]:
        """While the body runs, a suspension written by anyone either shows in the hold's status or fails the
        body's write (which carries ``condition_checks``)."""

    def update(self, stack: str, change: Callable[[StackStatus], StackStatus | None], attempts: int = 5) -> StackStatus:
        """Read-modify-write with retries on conflict; ``change`` returning None leaves the item as it is."""
        for _ in range(attempts):
            current = self.get(stack)
            new = change(current)
            if new is None:
                return current
            try:
                return self.put(current, new)
            except ConflictError:
                continue
        raise ConflictError(f"stack {stack} status kept changing under {attempts} attempts; another worker is busy with it")


class DynamoStackStateStore(StackStateStore):
    def __init__(self, dynamodb_client: Any, table_name: str):
        self._ddb = dynamodb_client
        self._table = table_name

    @staticmethod
    def _key(stack: str) -> dict[str, Any]:
        return {"pk": {"S": f"stack#{stack}"}}

    def get(self, stack: str) -> StackStatus:
        item = self._ddb.get_item(TableName=self._table, Key=self._key(stack), ConsistentRead=True).get("Item")
        if not item:
            return StackStatus(stack=stack)
        return StackStatus.model_validate_json(item["status"]["S"])

    @contextmanager
    def hold_suspension(self, stack: str) -> Iterator[SuspensionHold]:
        check = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": self._key(stack),
                # A missing item is not suspended either.
                "ConditionExpression": "attribute_not_exists(#suspended)",
                "ExpressionAttributeNames": {"#suspended": SUSPENDED_ATTRIBUTE},
            }
        }
        yield SuspensionHold(self.get(stack), (check,))

    def put(self, previous: StackStatus, new: StackStatus) -> StackStatus:
        """Write ``new`` if the stored version is still ``previous.version``."""
        written = new.model_copy(update={"version": previous.version + 1})
        condition = "attribute_not_exists(pk)" if previous.version == 0 else "version = :expected"
        request: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                **self._key(new.stack),
                "version": {"N": str(written.version)},
                "status": {"S": json.dumps(json.loads(written.model_dump_json(by_alias=True)), sort_keys=True)},
                **({SUSPENDED_ATTRIBUTE: {"S": written.suspension.at.isoformat()}} if written.suspension is not None else {}),
            },
            "ConditionExpression": condition,
        }
        if previous.version:
            request["ExpressionAttributeValues"] = {":expected": {"N": str(previous.version)}}
        try:
            self._ddb.put_item(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConflictError(
                    f"stack {new.stack} status changed since version {previous.version} was read; re-read and retry"
                ) from None
            raise
        return written


class FileStackStateStore(StackStateStore):
    """The same record in a local JSON file per stack, for ``ecs-gitops reconcile`` on one machine.

    The version check and the write happen under an exclusive ``flock``, so two local runs
    cannot both move a stack.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory).expanduser()

    def _path(self, stack: str) -> Path:
        return self.directory / f"{stack.replace('/', '_')}.status.json"

    def get(self, stack: str) -> StackStatus:
        path = self._path(stack)
        if not path.exists():
            return StackStatus(stack=stack)
        return StackStatus.model_validate_json(path.read_text())

    @contextmanager
    def hold_suspension(self, stack: str) -> Iterator[SuspensionHold]:
        # The lock every put takes: a suspend written meanwhile waits until the body's write is done.
        # The body must not write this store (it would wait for itself).
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield SuspensionHold(self.get(stack))

    def put(self, previous: StackStatus, new: StackStatus) -> StackStatus:
        self.directory.mkdir(parents=True, exist_ok=True)
        written = new.model_copy(update={"version": previous.version + 1})
        path = self._path(new.stack)
        with open(self.directory / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            stored = self.get(new.stack).version
            if stored != previous.version:
                raise ConflictError(f"stack {new.stack} status changed since version {previous.version} was read; re-read and retry")
            temporary = path.with_suffix(".tmp")
            temporary.write_text(written.model_dump_json(by_alias=True, indent=2))
            os.replace(temporary, path)
        return written
