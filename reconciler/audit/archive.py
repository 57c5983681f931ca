"""The audit trail's WORM copy: each chained record also written to an S3 bucket with Object Lock.

Key ``audit/<stack>/<sequence, 12 digits>.json``, body the record's canonical form
(:func:`reconciler.audit.chain.canonical_json`), so the object's SHA-256 is the record's hash.
With a retention (``aws.auditArchiveRetentionDays``) each object is put with
``ObjectLockMode=COMPLIANCE`` and a retain-until that many days after now; without one the
bucket's default retention (compliance mode, set by template.yaml) applies. Compliance mode:
no one, the account root included, can delete or overwrite a version before it expires.

:meth:`AuditArchive.compare` names every chained record of the table that differs from, or is
missing in, the archive, and every archived record the table no longer has.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from reconciler.audit.chain import StoredRecord, canonical_json, record_hash
from reconciler.clock import Clock, utc_now

ARCHIVE_PREFIX = "audit"


def archive_key(stack: str, sequence: int) -> str:
    return f"{ARCHIVE_PREFIX}/{stack}/{sequence:012d}.json"


@dataclass(frozen=True)
class ArchiveMismatch:
    kind: Literal["missing-in-archive", "differs-from-archive", "missing-in-table"]
    sequence: int
    key: str | None
    detail: str


class AuditArchive:
    def __init__(self, s3_client: Any, bucket: str, *, retention_days: int | None = None, clock: Clock = utc_now):
        self.client = s3_client
        self.bucket = bucket
        self.retention_days = retention_days
        self._clock = clock

    def put(self, stack: str, stored: StoredRecord) -> None:
        """Write ``stored`` once (only if its key is new); a chained record only."""
        if stored.sequence is None:
            raise ValueError(f"audit record {stored.key} has no chain sequence; only chained records are archived")
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": archive_key(stack, stored.sequence),
            "Body": canonical_json(stored.document),
            "ContentType": "application/json",
            "Metadata": {"record-key": stored.key, "record-hash": record_hash(stored.document)},
            # Never replace a copy: a second writer of the same sequence is refused by S3 itself.
            "IfNoneMatch": "*",
        }
        if self.retention_days is not None:
            request["ObjectLockMode"] = "COMPLIANCE"
            request["ObjectLockRetainUntilDate"] = self._clock() + timedelta(days=self.retention_days)
        self.client.put_object(**request)

    def read(self, stack: str, sequence: int) -> dict[str, Any] | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=archive_key(stack, sequence))["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return json.loads(body)

    def sequences(self, stack: str) -> list[int]:
        """The sequences archived for ``stack`` (a listing of its prefix)."""
        found: list[int] = []
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = f"{ARCHIVE_PREFIX}/{stack}/"
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                # Only this stack's own objects: "audit/org/app/..." is not "audit/org/..."'s.
                name = item["Key"].removeprefix(prefix).removesuffix(".json")
                if name.isdigit():
                    found.append(int(name))
        return sorted(found)

    def compare(self, stack: str, records: Sequence[StoredRecord]) -> list[ArchiveMismatch]:
        """Every difference between the table's chained ``records`` of ``stack`` and the archive, by sequence."""
        mismatches: list[ArchiveMismatch] = []
        chained = {r.sequence: r for r in records if r.sequence is not None}
        for sequence, record in sorted(chained.items()):
            archived = self.read(stack, sequence)
            if archived is None:
                mismatches.append(ArchiveMismatch("missing-in-archive", sequence, record.key, f"sequence {sequence} ({record.key}) is in the table but not in the archive"))
            elif record_hash(archived) != record.hash:
                changed = sorted(k for k in set(archived) | set(record.document) if archived.get(k) != record.document.get(k))
                mismatches.append(ArchiveMismatch(
                    "differs-from-archive", sequence, record.key,
                    f"sequence {sequence} ({record.key}) differs from its archived copy in {', '.join(changed) or 'its encoding'}",
                ))
        for sequence in self.sequences(stack):
            if sequence not in chained:
                archived = self.read(stack, sequence) or {}
                mismatches.append(ArchiveMismatch(
                    "missing-in-table", sequence, None,
                    f"sequence {sequence} (job {archived.get('jobId', '?')}, finished {archived.get('finishedAt', '?')}) is in the archive but not in the table",
                ))
        return sorted(mismatches, key=lambda m: m.sequence)
