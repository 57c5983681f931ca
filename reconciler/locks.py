"""Stack locks of a DIY Pulumi backend (``file://`` or ``s3://``): see them, and clear them safely.

Pulumi writes one ``.pulumi/locks/<org>/<project>/<stack>/<lock-id>.json`` per update,
holding ``{"pid", "username", "hostname", "timestamp"}``, and deletes it when the update ends.
A process that dies mid-update leaves its lock behind and every later update fails. Here a lock
older than the environment's ``stuckLockAfterMinutes`` is a *stuck lock*: reported with holder
and age. :func:`unlock` removes locks only after checking that no worker still holds the stack
(its lease in the status store is neither fresh by its timestamp nor moving while watched) and,
for a holder on this host, that its process is gone.
"""

from __future__ import annotations

import json
import os
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from reconciler.adapters.stack_state import StackStateStore, StackStatus
from reconciler.errors import ReconcilerError

DIY_ORGANIZATION = "organization"
# How often unlock re-reads a lease it is watching.
OBSERVE_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class StackLock:
    key: str
    username: str
    hostname: str
    pid: int
    acquired_at: datetime

    @property
    def holder(self) -> str:
        return f"{self.username}@{self.hostname} (pid {self.pid})"

    def age(self, now: datetime) -> timedelta:
        return now - self.acquired_at


def parse_lock(key: str, content: bytes) -> StackLock:
    try:
        data = json.loads(content)
        stamp = datetime.fromisoformat(str(data["timestamp"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ReconcilerError(f"lock {key} is not a Pulumi lock file ({exc}); inspect it by hand") from None
    return StackLock(key, str(data.get("username", "?")), str(data.get("hostname", "?")), int(data.get("pid", 0)), stamp.astimezone(UTC))


def lock_prefix(project: str, stack: str) -> str:
    return f".pulumi/locks/{DIY_ORGANIZATION}/{project}/{stack}/"


class LockStore(ABC):
    @abstractmethod
    def list(self, project: str, stack: str) -> list[StackLock]: ...

    @abstractmethod
    def delete(self, lock: StackLock) -> None: ...


class FileLockStore(LockStore):
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def list(self, project: str, stack: str) -> list[StackLock]:
        folder = self.root / lock_prefix(project, stack)
        return [parse_lock(str(p.relative_to(self.root)), p.read_bytes()) for p in sorted(folder.glob("*.json"))] if folder.exists() else []

    def delete(self, lock: StackLock) -> None:
        (self.root / lock.key).unlink()


class S3LockStore(LockStore):
    def __init__(self, s3_client: Any, bucket: str, prefix: str = ""):
        self._s3 = s3_client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def list(self, project: str, stack: str) -> list[StackLock]:
        locks = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + lock_prefix(project, stack)):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".json"):
                    body = self._s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                    locks.append(parse_lock(item["Key"], body))
        return locks

    def delete(self, lock: StackLock) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=lock.key)


def lock_store_for(backend_url: str, s3_client: Any | None = None) -> LockStore:
    parsed = urlparse(os.path.expanduser(backend_url))
    if parsed.scheme == "file":
        return FileLockStore(Path(os.path.expanduser(backend_url[len("file://"):])))
    if parsed.scheme == "s3":
        if s3_client is None:
            import boto3

            # Pulumi's own s3:// backend URLs carry the bucket's region (?region=...); an empty
            # AWS_REGION must not turn into an endpoint like https://s3..amazonaws.com.
            region = parse_qs(parsed.query).get("region", [""])[0] or boto3.session.Session().region_name or None
            s3_client = boto3.session.Session().client("s3", region_name=region)
        return S3LockStore(s3_client, parsed.netloc, parsed.path)
    raise ReconcilerError(f"backend {parsed.scheme}:// has no lock files this tool can read; use that backend's own `pulumi cancel`")


def stuck_locks(store: LockStore, project: str, stack: str, now: datetime, older_than: timedelta) -> list[StackLock]:
    return [lock for lock in store.list(project, stack) if lock.age(now) > older_than]


def _alive_here(lock: StackLock) -> bool:
    if lock.hostname != socket.gethostname() or lock.pid <= 0:
        return False
    try:
        os.kill(lock.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def unlock(
    store: LockStore,
    states: StackStateStore,
    project: str,
    stack: str,
    now: datetime,
    lease_stale_after: timedelta,
    *,
    observe_seconds: float = 0.0,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[StackLock]:
    """Remove the stack's locks if nobody can still be holding them; raise with the reason if someone may.

    A lease's timestamps are another machine's clock, so they can only refuse, never clear: the lease
    is also watched for ``observe_seconds`` on this machine's own monotonic clock, and a holder whose
    heartbeat counter (or token) moves meanwhile is alive, whatever its timestamps say.
    """
    status = states.get(stack)
    lease = status.lease
    if lease is not None and now - lease.heartbeat_at < lease_stale_after:
        seconds = int((now - lease.heartbeat_at).total_seconds())
        raise ReconcilerError(
            f"not unlocking {stack}: worker {lease.holder} holds it for job {lease.job_id} (heartbeat {seconds}s ago); "
            "wait for it to finish or stop that worker first"
        )
    if lease is not None:
        deadline = monotonic() + observe_seconds
        while (remaining := deadline - monotonic()) > 0:
            sleep(min(remaining, OBSERVE_POLL_SECONDS))
            seen = states.get(stack).lease
            if seen != lease:
                holder = seen.holder if seen is not None else lease.holder
                raise ReconcilerError(
                    f"not unlocking {stack}: the lease of {holder} changed while this command watched it, so its worker "
                    "is alive (its clock may differ from this machine's); wait for it to finish or stop that worker first"
                )
    locks = store.list(project, stack)
    alive = [lock for lock in locks if _alive_here(lock)]
    if alive:
        raise ReconcilerError(f"not unlocking {stack}: {alive[0].holder} is still running on this host")
    for lock in locks:
        store.delete(lock)

    def clear(current: StackStatus) -> StackStatus | None:
        if current.lease is None or current.lease != lease:
            return None
        return current.model_copy(update={"lease": None, "current_job_id": None})

    states.update(stack, clear)
    return locks
