"""The audit log: one append-only DynamoDB item per job attempt, hash-chained per stack.

Items are written with a conditional put on a key that has never existed, and this module has
no update or delete. That binds this code, not whoever holds the table's PutItem permission: an
unconditional PutItem replaces an item, and IAM cannot require a condition expression. The chain
makes such a change visible (``history --verify``); the Object Lock archive anchors it.

Keys (table ``pk`` HASH, ``sk`` RANGE, both strings; no index):

- a record: ``pk = <stack>``, ``sk = <finished-at ISO>#<job id>#<attempt>``; the stored document
  in ``record``, and ``sequence``, ``outcome``, ``kind``, ``commit`` beside it for query filters.
  Time ranges are key conditions on ``sk``.
- its sequence claim: ``pk = <stack>#chain``, ``sk = <sequence, 12 digits>``, holding the record's
  ``recordSk`` and ``hash``. Sequence 0 is the chain's genesis (``genesis``: its document, see
  :class:`~reconciler.audit.chain.Genesis`), written in the same transaction as sequence 1. The claim and the record are one transaction, each conditional on its
  key not existing: two writers racing for a sequence, one wins, the other re-reads the head (the
  newest claim: a one-item query) and tries the next sequence, a bounded number of times.

Records written before the chain have no sequence and no claim; they still read, and the genesis
accounts for them.

Every record passes the :class:`~reconciler.redact.Redactor` on its way in: a record written once
is never rewritten, so a secret that reached it would stay there for good.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from reconciler.audit.chain import (
    GENESIS_SEQUENCE,
    ChainHead,
    ChainLink,
    Genesis,
    RecordDefect,
    StoredRecord,
    StoredTextError,
    parse_stored,
    read_stored,
    record_hash,
)
from reconciler.errors import ConflictError
from reconciler.models import AuditRecord
from reconciler.redact import Redactor

if TYPE_CHECKING:
    from reconciler.audit.archive import AuditArchive

log = logging.getLogger(__name__)

CHAIN_PARTITION_SUFFIX = "#chain"
# How often an append re-reads the head after another writer took the sequence it wanted.
DEFAULT_APPEND_ATTEMPTS = 8
RETRY_REASONS = ("ConditionalCheckFailed", "TransactionConflict")


class AuditLog(Protocol):
    # The stored, chained record (None from logs that keep no chain, such as test doubles).
    def append(self, record: AuditRecord) -> StoredRecord | None: ...

    def history(self, stack: str, limit: int = 50) -> list[AuditRecord]: ...


def sort_key(record: AuditRecord) -> str:
    return f"{record.finished_at.isoformat()}#{record.job_id}#{record.attempt:04d}"


def document_sort_key(document: dict[str, Any]) -> str:
    """The sort key a stored document's own content gives (where it belongs in the trail)."""
    return sort_key(AuditRecord.model_validate(document))


def file_stem(key: str) -> str:
    return key.replace(":", "-")


def file_name(key: str) -> str:
    return file_stem(key) + ".json"


def document_file_name(document: dict[str, Any]) -> str:
    return file_name(document_sort_key(document))


def scrubbed_document(record: AuditRecord, redactor: Redactor) -> dict[str, Any]:
    """The record as stored (camelCase JSON), every field scrubbed."""
    return redactor.scrub_value(json.loads(record.model_dump_json(by_alias=True)))


def chained_document(record: AuditRecord, link: ChainLink, redactor: Redactor) -> dict[str, Any]:
    """The stored document at ``link``: scrubbed first, then given its sequence and previous hash (which hold no secret)."""
    document = scrubbed_document(record.model_copy(update={"sequence": None, "previous_hash": None}), redactor)
    document["sequence"] = link.sequence
    document["previousHash"] = link.previous_hash
    return document


def chain_conflict(record: AuditRecord, attempts: int) -> ConflictError:
    return ConflictError(
        f"audit record {sort_key(record)} for {record.stack}: another writer took the next chain sequence {attempts} times in a row; "
        "the record was not written; retry the job (its attempt is audited again)"
    )


def unreadable_claim(what: str, stack: str, reason: str) -> StoredTextError:
    return StoredTextError(
        f"the audit chain's claim {what} of {stack} cannot be read: {reason}; "
        "run `ecs-gitops history --verify` and restore the claim from the archive bucket or a backup"
    )


def unreadable_record(key: str, stack: str, exc: Exception) -> StoredTextError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return StoredTextError(
        f"audit record {key} of {stack} cannot be read ({reason}); "
        f"run `ecs-gitops history --verify` to see what else changed, and restore it from the archive bucket or a backup"
    )


def parse_record(key: str, stack: str, text: str) -> AuditRecord:
    """The record stored under ``key``; one that cannot be read is an error naming it (and ``--verify``), not a crash."""
    try:
        return AuditRecord.model_validate(parse_stored(text))
    except ValueError as exc:  # StoredTextError, pydantic's ValidationError
        raise unreadable_record(key, stack, exc) from None


def chain_genesis(records: list[StoredRecord]) -> Genesis:
    """The genesis of a chain starting now, over ``records``' unchained ones."""
    return Genesis.of([r for r in records if r.sequence is None and r.defect is None and not r.malformed_sequence])


# The attributes written beside a DynamoDB record for history's filters: not hashed, so checked against it.
SIDECAR_ATTRIBUTES = ("outcome", "kind", "commit", "sequence", "jobId")


def sidecar_defect(key: str, item: dict[str, Any], document: dict[str, Any]) -> RecordDefect | None:
    """An attribute beside the record that disagrees with it: a filter on it would hide or show the record wrongly."""
    for name in SIDECAR_ATTRIBUTES:
        if name not in item:
            continue  # absent: history's filters let the record through to the parsed check
        stored = item[name].get("S", item[name].get("N"))
        wanted = document.get(name)
        if stored != (None if wanted is None else str(wanted)):
            return RecordDefect(
                "edited", f"{key}: its {name} attribute (read by history's filters) says {stored!r}, the record says {wanted!r}",
            )
    return None


def _archive(archive: AuditArchive | None, stack: str, stored: StoredRecord) -> None:
    """The WORM copy. The table holds the record already; a copy that failed is named by ``history --verify``."""
    if archive is None:
        return
    try:
        archive.put(stack, stored)
    except Exception as exc:  # noqa: BLE001 - the record is written; the missing copy is what verify reports
        log.error("audit record %s of %s was not copied to the archive bucket: %s", stored.key, stack, exc)


class DynamoAuditLog:
    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        redactor: Redactor | None = None,
        *,
        archive: AuditArchive | None = None,
        max_append_attempts: int = DEFAULT_APPEND_ATTEMPTS,
    ):
        self.client = dynamodb_client
        self.table_name = table_name
        self.archive = archive
        self._redactor = redactor or Redactor()
        self._attempts = max_append_attempts

    def chain_head(self, stack: str) -> ChainHead | None:
        """The newest sequence claim of ``stack`` (a one-item query, consistent)."""
        response = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": stack + CHAIN_PARTITION_SUFFIX}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        if not items:
            return None
        item = items[0]
        try:
            sequence = int(item["sk"]["S"])
            return ChainHead(sequence, item["hash"]["S"], None if sequence == GENESIS_SEQUENCE else item["recordSk"]["S"])
        except (KeyError, ValueError) as exc:
            raise unreadable_claim(item.get("sk", {}).get("S", "?"), stack, f"it lacks or mangles {exc}") from None

    def claims(self, stack: str) -> list[ChainHead]:
        """Every sequence claim of ``stack`` from sequence 1, oldest first (paginated, consistent queries)."""
        found: list[ChainHead] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND sk > :genesis",
            "ExpressionAttributeValues": {":pk": {"S": stack + CHAIN_PARTITION_SUFFIX}, ":genesis": {"S": f"{GENESIS_SEQUENCE:012d}"}},
            "ConsistentRead": True,
        }
        while True:
            response = self.client.query(**request)
            for item in response.get("Items", []):
                try:
                    found.append(ChainHead(int(item["sk"]["S"]), item["hash"]["S"], item["recordSk"]["S"]))
                except (KeyError, ValueError) as exc:
                    raise unreadable_claim(item.get("sk", {}).get("S", "?"), stack, f"it lacks or mangles {exc}") from None
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def genesis(self, stack: str) -> Genesis | None:
        """The chain's genesis claim (sequence 0), None when the chain has none (it started before genesis claims)."""
        item = self.client.get_item(
            TableName=self.table_name, ConsistentRead=True,
            Key={"pk": {"S": stack + CHAIN_PARTITION_SUFFIX}, "sk": {"S": f"{GENESIS_SEQUENCE:012d}"}},
        ).get("Item")
        if item is None:
            return None
        try:
            return Genesis.from_document(parse_stored(item["genesis"]["S"]))
        except (StoredTextError, KeyError) as exc:
            raise unreadable_claim(f"{GENESIS_SEQUENCE:012d} (the genesis)", stack, str(exc)) from None

    def append(self, record: AuditRecord) -> StoredRecord:
        key = sort_key(record)
        for _ in range(self._attempts):
            head = self.chain_head(record.stack)
            starts: list[dict[str, Any]] = []
            if head is None:
                # The chain starts: its genesis accounts for the records written before it, in the same transaction.
                genesis = chain_genesis(self.stored_records(record.stack))
                head = ChainHead(GENESIS_SEQUENCE, genesis.hash(record.stack))
                starts.append({"Put": {"TableName": self.table_name, "ConditionExpression": "attribute_not_exists(pk)", "Item": {
                    "pk": {"S": record.stack + CHAIN_PARTITION_SUFFIX}, "sk": {"S": f"{GENESIS_SEQUENCE:012d}"},
                    "genesis": {"S": json.dumps(genesis.document(record.stack), sort_keys=True)}, "hash": {"S": head.hash},
                }}})
            link = ChainLink.after(head)
            document = chained_document(record, link, self._redactor)
            digest = record_hash(document)
            item = {
                "pk": {"S": record.stack},
                "sk": {"S": key},
                "jobId": {"S": record.job_id},
                "record": {"S": json.dumps(document, sort_keys=True)},
                "sequence": {"N": str(link.sequence)},
                "outcome": {"S": document["outcome"]},
                "kind": {"S": document["kind"]},
            }
            if document.get("commit"):
                item["commit"] = {"S": document["commit"]}
            claim = {
                "pk": {"S": record.stack + CHAIN_PARTITION_SUFFIX},
                "sk": {"S": f"{link.sequence:012d}"},
                "recordSk": {"S": key},
                "hash": {"S": digest},
            }
            try:
                self.client.transact_write_items(
                    TransactItems=[
                        *starts,
                        {"Put": {"TableName": self.table_name, "Item": claim, "ConditionExpression": "attribute_not_exists(pk)"}},
                        {"Put": {"TableName": self.table_name, "Item": item, "ConditionExpression": "attribute_not_exists(pk) AND attribute_not_exists(sk)"}},
                    ]
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = ([r.get("Code") for r in exc.response.get("CancellationReasons", [])] + ["None"] * 3)[: len(starts) + 2]
                *claim_reasons, record_reason = reasons
                if record_reason == "ConditionalCheckFailed":
                    raise ConflictError(f"audit record {key} for {record.stack} already exists; records are never overwritten") from None
                # Another writer took this sequence (or started the chain), or is taking it in a transaction of
                # its own right now: read the new head and try again.
                if any(r in RETRY_REASONS for r in claim_reasons) or record_reason == "TransactionConflict":
                    continue
                raise
            stored = StoredRecord(key, document)
            _archive(self.archive, record.stack, stored)
            return stored
        raise chain_conflict(record, self._attempts)

    def history(self, stack: str, limit: int = 50) -> list[AuditRecord]:
        response = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": stack}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [parse_record(item["sk"]["S"], stack, item["record"]["S"]) for item in response.get("Items", [])]

    def stored_records(self, stack: str) -> list[StoredRecord]:
        """Every record of ``stack`` as stored, oldest first (paginated queries on the stack's partition)."""
        found: list[StoredRecord] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": stack}},
            "ConsistentRead": True,
        }
        while True:
            response = self.client.query(**request)
            found.extend(self._stored(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    @staticmethod
    def _stored(item: dict[str, Any]) -> StoredRecord:
        key = item["sk"]["S"]
        stored = read_stored(key, item.get("record", {}).get("S", ""))
        if stored.defect is None and (defect := sidecar_defect(key, item, stored.document)) is not None:
            return StoredRecord(key, stored.document, defect)
        return stored


def _create_whole(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text`` unless it exists, never visible half-written: a hard link of a
    finished temporary file (``link`` fails when the name exists, the local conditional put)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(text)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink()
    return True


class FileAuditLog:
    """One file per record under ``directory/<stack>/``, created exclusively: never overwritten.

    The sequence claims are files too, ``directory/<stack>/.chain/<sequence>.claim``, each created
    only if its name is new and never seen half-written, naming its record's file and hash.
    """

    def __init__(
        self,
        directory: str | Path,
        redactor: Redactor | None = None,
        *,
        archive: AuditArchive | None = None,
        max_append_attempts: int = DEFAULT_APPEND_ATTEMPTS,
    ):
        self.directory = Path(directory).expanduser()
        self.archive = archive
        self._redactor = redactor or Redactor()
        self._attempts = max_append_attempts

    def folder(self, stack: str) -> Path:
        return self.directory / stack.replace("/", "_")

    def _claims(self, stack: str) -> Path:
        return self.folder(stack) / ".chain"

    def chain_head(self, stack: str) -> ChainHead | None:
        claims = sorted(self._claims(stack).glob("*.claim")) if self._claims(stack).exists() else []
        if not claims:
            return None
        newest = claims[-1]
        try:
            claim = parse_stored(newest.read_text())
            sequence = int(newest.stem)
            return ChainHead(sequence, claim["hash"], None if sequence == GENESIS_SEQUENCE else claim["recordFile"])
        except (StoredTextError, KeyError, ValueError) as exc:
            raise unreadable_claim(newest.name, stack, str(exc)) from None

    def claims(self, stack: str) -> list[ChainHead]:
        """Every sequence claim of ``stack`` from sequence 1, oldest first."""
        folder = self._claims(stack)
        found: list[ChainHead] = []
        for path in sorted(folder.glob("*.claim")) if folder.exists() else []:
            if path == self._genesis_path(stack):
                continue
            try:
                claim = parse_stored(path.read_text())
                found.append(ChainHead(int(path.stem), claim["hash"], claim["recordFile"]))
            except (StoredTextError, KeyError, ValueError) as exc:
                raise unreadable_claim(path.name, stack, str(exc)) from None
        return found

    def _genesis_path(self, stack: str) -> Path:
        return self._claims(stack) / f"{GENESIS_SEQUENCE:012d}.claim"

    def genesis(self, stack: str) -> Genesis | None:
        """The chain's genesis claim (sequence 0), None when the chain has none (it started before genesis claims)."""
        path = self._genesis_path(stack)
        if not path.exists():
            return None
        try:
            return Genesis.from_document(parse_stored(path.read_text())["genesis"])
        except (StoredTextError, KeyError, TypeError) as exc:
            raise unreadable_claim(path.name, stack, str(exc)) from None

    def _start_chain(self, stack: str) -> ChainHead | None:
        """Write the genesis (unless another writer just did) and give the head after it."""
        genesis = chain_genesis(self.stored_records(stack))
        document = genesis.document(stack)
        _create_whole(self._genesis_path(stack), json.dumps({"genesis": document, "hash": record_hash(document)}, indent=2))
        return self.chain_head(stack)

    def append(self, record: AuditRecord) -> StoredRecord:
        folder = self.folder(record.stack)
        self._claims(record.stack).mkdir(parents=True, exist_ok=True)
        path = folder / file_name(sort_key(record))
        for _ in range(self._attempts):
            if path.exists():
                break
            head = self.chain_head(record.stack)
            link = ChainLink.after(head if head is not None else self._start_chain(record.stack))
            document = chained_document(record, link, self._redactor)
            claim = self._claims(record.stack) / f"{link.sequence:012d}.claim"
            if not _create_whole(claim, json.dumps({"recordFile": path.name, "hash": record_hash(document)})):
                continue  # another writer took this sequence
            try:
                with open(path, "x") as handle:
                    handle.write(json.dumps(document, indent=2))
            except FileExistsError:
                os.unlink(claim)  # our own claim, for a record that turned out to exist: give the sequence back
                break
            stored = StoredRecord(path.name, document)
            _archive(self.archive, record.stack, stored)
            return stored
        else:
            raise chain_conflict(record, self._attempts)
        raise ConflictError(f"audit record {path.name} for {record.stack} already exists; records are never overwritten")

    def history(self, stack: str, limit: int = 50) -> list[AuditRecord]:
        folder = self.folder(stack)
        files = sorted(folder.glob("*.json"), reverse=True)[:limit] if folder.exists() else []
        return [parse_record(f.name, stack, f.read_text()) for f in files]

    def stored_records(self, stack: str) -> list[StoredRecord]:
        """Every record of ``stack`` as stored, oldest first."""
        folder = self.folder(stack)
        files = sorted(folder.glob("*.json")) if folder.exists() else []
        return [read_stored(f.name, f.read_text()) for f in files]
