"""Reading the audit trail of one stack: newest first, by time range and filters, never by scanning the table.

DynamoDB: one Query on the stack's partition, the time range as a key condition on ``sk``
(``<finished-at ISO>#...``, UTC, so its order is time order), commit / outcome / kind as a filter
expression on the attributes written beside each record, followed page by page
(``LastEvaluatedKey``) until ``limit`` records matched. Records written before the chain lack
those attributes; the filter lets them through and the same test runs on the parsed record, so
old records are filtered alike. Local files: the stack's folder, by file name (the same key).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.adapters.audit import DynamoAuditLog, FileAuditLog, document_file_name, document_sort_key, file_stem, parse_record
from reconciler.audit.chain import ChainHead, Genesis, StoredRecord
from reconciler.errors import SettingsError
from reconciler.models import AuditRecord

# How many items one Query page reads at most; a filter may keep fewer.
DEFAULT_PAGE_SIZE = 100
# Sorts after every character a job id or attempt holds: the end of the last key at a given instant.
KEY_END = "#~"


@dataclass(frozen=True)
class HistoryQuery:
    since: datetime | None = None
    until: datetime | None = None
    commit: str | None = None  # a full SHA or a prefix
    outcome: str | None = None
    kind: str | None = None
    limit: int = 50

    def matches(self, record: AuditRecord) -> bool:
        """The same conditions as the query, on a parsed record (for records the key and filter cannot judge)."""
        if self.since is not None and record.finished_at < self.since:
            return False
        if self.until is not None and record.finished_at > self.until:
            return False
        if self.commit is not None and not (record.commit or "").startswith(self.commit):
            return False
        if self.outcome is not None and record.outcome != self.outcome:
            return False
        return self.kind is None or record.kind.value == self.kind


def key_bound(at: datetime) -> str:
    """``at`` as the sort keys write it (UTC ISO 8601)."""
    return at.astimezone(UTC).isoformat()


def dynamo_query_request(table: str, stack: str, query: HistoryQuery, page_size: int) -> dict[str, Any]:
    """The Query request (pure): key condition for the stack and time range, a filter for the rest."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {":pk": {"S": stack}}
    key = "pk = :pk"
    if query.since is not None and query.until is not None:
        key += " AND sk BETWEEN :since AND :until"
        values[":since"], values[":until"] = {"S": key_bound(query.since)}, {"S": key_bound(query.until) + KEY_END}
    elif query.since is not None:
        key += " AND sk >= :since"
        values[":since"] = {"S": key_bound(query.since)}
    elif query.until is not None:
        key += " AND sk <= :until"
        values[":until"] = {"S": key_bound(query.until) + KEY_END}
    filters = []
    for attribute, value, test in (
        ("commit", query.commit, "begins_with(#commit, :commit)"),
        ("outcome", query.outcome, "#outcome = :outcome"),
        ("kind", query.kind, "#kind = :kind"),
    ):
        if value is not None:
            names[f"#{attribute}"] = attribute
            values[f":{attribute}"] = {"S": value}
            # Records from before the chain have no such attribute: let them through to the parsed check.
            filters.append(f"({test} OR attribute_not_exists(#{attribute}))")
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": key,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": False,
        "Limit": page_size,
    }
    if filters:
        request["FilterExpression"] = " AND ".join(filters)
        request["ExpressionAttributeNames"] = names
    return request


class _ChainReads:
    """What ``history --verify`` reads of a stack's chain; the same for either log."""

    log: Any

    def stored(self, stack: str) -> list[StoredRecord]:
        return self.log.stored_records(stack)

    def head(self, stack: str) -> ChainHead | None:
        return self.log.chain_head(stack)

    def genesis(self, stack: str) -> Genesis | None:
        return self.log.genesis(stack)

    def claims(self, stack: str) -> list[ChainHead]:
        return self.log.claims(stack)


class DynamoHistory(_ChainReads):
    def __init__(self, log: DynamoAuditLog, page_size: int = DEFAULT_PAGE_SIZE):
        self.log = log
        self.page_size = page_size

    def records(self, stack: str, query: HistoryQuery) -> list[AuditRecord]:
        found: list[AuditRecord] = []
        request = dynamo_query_request(self.log.table_name, stack, query, self.page_size)
        while len(found) < query.limit:
            response = self.log.client.query(**request)
            for item in response.get("Items", []):
                # The filter attributes are not hashed: the parsed record decides (verify checks they agree).
                record = parse_record(item["sk"]["S"], stack, item["record"]["S"])
                if query.matches(record):
                    found.append(record)
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found[: query.limit]

    def expected_key(self, document: dict[str, Any]) -> str:
        return document_sort_key(document)


class FileHistory(_ChainReads):
    def __init__(self, log: FileAuditLog):
        self.log = log

    def _files_newest_first(self, stack: str) -> Iterator[Any]:
        folder = self.log.folder(stack)
        return iter(sorted(folder.glob("*.json"), reverse=True)) if folder.exists() else iter(())

    def records(self, stack: str, query: HistoryQuery) -> list[AuditRecord]:
        found: list[AuditRecord] = []
        # File names are the sort keys with ":" as "-", so the same bounds, written the same way.
        upper = file_stem(key_bound(query.until) + KEY_END) if query.until is not None else None
        lower = file_stem(key_bound(query.since)) if query.since is not None else None
        for path in self._files_newest_first(stack):
            if upper is not None and path.name > upper:
                continue
            if lower is not None and path.name < lower:
                break
            record = parse_record(path.name, stack, path.read_text())
            if query.matches(record):
                found.append(record)
                if len(found) >= query.limit:
                    break
        return found

    def expected_key(self, document: dict[str, Any]) -> str:
        return document_file_name(document)


def history_reader(log: Any) -> DynamoHistory | FileHistory:
    """The reader for the components' audit log."""
    if isinstance(log, DynamoAuditLog):
        return DynamoHistory(log)
    if isinstance(log, FileAuditLog):
        return FileHistory(log)
    raise SettingsError(f"the audit log {type(log).__name__} cannot be read back; set aws.auditTable or use the local --state-dir audit files")
