"""The audit trail's WORM copy: each chained record also written to an S3 bucket with Object Lock.

Key ``audit/<stack>/<sequence, 12 digits>.json``, body the record's canonical form
(:func:`reconciler.audit.chain.canonical_json`), so the object's SHA-256 is the record's hash.
With a retention (``aws.auditArchiveRetentionDays``) each object is put with
``ObjectLockMode=COMPLIANCE`` and a retain-until that many days after now; without one the
bucket's default retention (compliance mode, set by template.yaml) applies. Compliance mode:
no one, the account root included, can delete or overwrite a version before it expires.

:meth:`AuditArchive.compare` names every chained record of the table that differs from, or is
missing in, the archive, and every archived record the table no longer has. Object Lock keeps
each version, but a PUT to an existing key still adds a new current version (the bucket policy
refuses a PUT without ``If-None-Match: *``, and the archive never sends one): so the comparison
reads each key's **oldest** version and names every key that has more than one version, or a
delete marker, as replaced. Reading needs ``s3:ListBucketVersions`` and ``s3:GetObjectVersion``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from reconciler.audit.chain import StoredRecord, StoredTextError, canonical_json, parse_stored, record_hash
from reconciler.clock import Clock, utc_now

ARCHIVE_PREFIX = "audit"


def archive_key(stack: str, sequence: int) -> str:
    return f"{ARCHIVE_PREFIX}/{stack}/{sequence:012d}.json"


@dataclass(frozen=True)
class ArchiveMismatch:
    kind: Literal["missing-in-archive", "differs-from-archive", "missing-in-table", "replaced-in-archive"]
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

    def versions(self, stack: str) -> dict[int, list[dict[str, Any]]]:
        """Every version and delete marker of each archived sequence of ``stack``, as S3 lists them (newest first)."""
        found: dict[int, list[dict[str, Any]]] = {}
        prefix = f"{ARCHIVE_PREFIX}/{stack}/"
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in [*page.get("Versions", []), *({**m, "DeleteMarker": True} for m in page.get("DeleteMarkers", []))]:
                # Only this stack's own objects: "audit/org/app/..." is not "audit/org/..."'s.
                name = item["Key"].removeprefix(prefix).removesuffix(".json")
                if name.isascii() and name.isdigit():
                    found.setdefault(int(name), []).append(item)
        return found

    def sequences(self, stack: str) -> list[int]:
        """The sequences archived for ``stack`` (a listing of its prefix's versions)."""
        return sorted(self.versions(stack))

    def _oldest(self, versions: list[dict[str, Any]]) -> dict[str, Any] | None:
        written = [(i, v) for i, v in enumerate(versions) if not v.get("DeleteMarker")]
        if not written:
            return None
        # The first write; within one timestamp S3 lists the newer version first.
        return min(written, key=lambda iv: (iv[1]["LastModified"], -iv[0]))[1]

    def _read_version(self, key: str, version_id: str) -> dict[str, Any]:
        body = self.client.get_object(Bucket=self.bucket, Key=key, VersionId=version_id)["Body"].read()
        return parse_stored(body)

    def read(self, stack: str, sequence: int) -> dict[str, Any] | None:
        """The archived copy of ``sequence``: its oldest version (the one written first), None when there is none."""
        oldest = self._oldest(self.versions(stack).get(sequence, []))
        return None if oldest is None else self._read_version(oldest["Key"], oldest["VersionId"])

    def compare(self, stack: str, records: Sequence[StoredRecord]) -> list[ArchiveMismatch]:
        """Every difference between the table's chained ``records`` of ``stack`` and the archive's first copies, by sequence."""
        mismatches: list[ArchiveMismatch] = []
        chained = {r.sequence: r for r in records if r.sequence is not None}
        archived_versions = self.versions(stack)
        for sequence, versions in sorted(archived_versions.items()):
            markers = sum(1 for v in versions if v.get("DeleteMarker"))
            if len(versions) > 1 or markers:
                mismatches.append(ArchiveMismatch(
                    "replaced-in-archive", sequence, chained[sequence].key if sequence in chained else None,
                    f"sequence {sequence} has {len(versions) - markers} version(s) and {markers} delete marker(s) in the archive; "
                    "the archive writes each key once, so someone wrote it again (its oldest version is what is compared)",
                ))
        for sequence, record in sorted(chained.items()):
            oldest = self._oldest(archived_versions.get(sequence, []))
            if oldest is None:
                mismatches.append(ArchiveMismatch("missing-in-archive", sequence, record.key, f"sequence {sequence} ({record.key}) is in the table but not in the archive"))
                continue
            try:
                archived = self._read_version(oldest["Key"], oldest["VersionId"])
            except StoredTextError as exc:
                mismatches.append(ArchiveMismatch("differs-from-archive", sequence, record.key, f"sequence {sequence}: its archived copy cannot be read: {exc}"))
                continue
            if record_hash(archived) != record.hash:
                changed = sorted(k for k in set(archived) | set(record.document) if archived.get(k) != record.document.get(k))
                mismatches.append(ArchiveMismatch(
                    "differs-from-archive", sequence, record.key,
                    f"sequence {sequence} ({record.key}) differs from its archived copy in {', '.join(changed) or 'its encoding'}",
                ))
        for sequence, versions in sorted(archived_versions.items()):
            if sequence in chained:
                continue
            oldest = self._oldest(versions)
            try:
                archived = self._read_version(oldest["Key"], oldest["VersionId"]) if oldest is not None else {}
            except StoredTextError:
                archived = {}
            mismatches.append(ArchiveMismatch(
                "missing-in-table", sequence, None,
                f"sequence {sequence} (job {archived.get('jobId', '?')}, finished {archived.get('finishedAt', '?')}) is in the archive but not in the table",
            ))
        return sorted(mismatches, key=lambda m: m.sequence)
