"""The audit trail's hash chain: each record of a stack names its sequence number and the hash of the one before.

A record's hash is SHA-256 over the **canonical form** of the document as stored (the scrubbed,
camelCase JSON object, its ``sequence`` and ``previousHash`` included):

- JSON (RFC 8259) encoded as UTF-8, non-ASCII characters written as themselves (no ``\\u`` escapes
  except those JSON requires: ``"``, ``\\`` and control characters);
- object keys sorted by code point, at every depth; no whitespace at all (separators ``,`` and ``:``);
- integers in decimal without exponent; ``NaN`` and infinities refused (the documents hold none);
- written as ``sha256:<64 lower-case hex digits>``.

The form depends only on the document's values, never on how it was stored (DynamoDB keeps
``json.dumps(sort_keys=True)``, the files are indented): any store that gives the document back
gives the same hash back.

The sequence starts at 1 for a stack's first chained record; records written before chaining have
no sequence and stand outside the chain. :func:`verify_chain` is pure: it walks the records by
sequence and names the first break it finds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

HASH_PREFIX = "sha256:"
SEQUENCE_FIELD = "sequence"
PREVIOUS_HASH_FIELD = "previousHash"


def canonical_json(document: Any) -> bytes:
    """The canonical form (module docstring) of ``document``."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def record_hash(document: dict[str, Any]) -> str:
    """``sha256:<hex>`` of the stored document's canonical form."""
    return HASH_PREFIX + hashlib.sha256(canonical_json(document)).hexdigest()


@dataclass(frozen=True)
class StoredRecord:
    """One audit record as a store holds it: where (``key``: the DynamoDB sort key or the file's name) and what."""

    key: str
    document: dict[str, Any]

    @property
    def sequence(self) -> int | None:
        value = self.document.get(SEQUENCE_FIELD)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def previous_hash(self) -> str | None:
        value = self.document.get(PREVIOUS_HASH_FIELD)
        return value if isinstance(value, str) else None

    @property
    def hash(self) -> str:
        return record_hash(self.document)


@dataclass(frozen=True)
class ChainHead:
    """What the store's sequence claim says about the newest chained record of a stack."""

    sequence: int
    hash: str
    key: str | None = None


@dataclass(frozen=True)
class ChainLink:
    """What the next record in the chain must carry: sequence ``head.sequence + 1`` and ``previousHash = head.hash``."""

    sequence: int
    previous_hash: str | None

    @staticmethod
    def after(head: ChainHead | None) -> ChainLink:
        return ChainLink(1, None) if head is None else ChainLink(head.sequence + 1, head.hash)


BreakKind = Literal["deleted", "edited", "re-ordered", "duplicated"]


@dataclass(frozen=True)
class ChainBreak:
    kind: BreakKind
    sequence: int
    key: str | None
    detail: str


@dataclass(frozen=True)
class ChainVerdict:
    stack: str
    chained: int
    unchained: int
    first_break: ChainBreak | None = None

    @property
    def intact(self) -> bool:
        return self.first_break is None

    def summary(self) -> str:
        where = f"stack {self.stack}: {self.chained} chained record(s)"
        if self.unchained:
            where += f", {self.unchained} written before the chain (not verifiable)"
        if self.first_break is None:
            return f"{where}: chain intact"
        found = self.first_break
        return f"{where}: chain broken at sequence {found.sequence}: {found.kind} record: {found.detail}"


def verify_chain(
    records: Sequence[StoredRecord],
    *,
    stack: str = "",
    head: ChainHead | None = None,
    expected_key: Callable[[dict[str, Any]], str] | None = None,
) -> ChainVerdict:
    """Recompute the chain of one stack's ``records`` (any order) and name the first break.

    ``head``: the newest sequence and hash the store's claim says were written (a deleted or edited
    newest record is seen only against it). ``expected_key``: the key a document says it is stored
    under; a record found under another key was moved (re-ordered) in the trail.

    Checked in sequence order: a sequence claimed twice (duplicated); a record under a key its own
    content does not give (re-ordered); a missing sequence (deleted); a previous hash that is not
    the hash of the record before (that record was edited, or the one carrying the link was moved
    behind another); the newest record against the head (deleted or edited).
    """
    chained = sorted((r for r in records if r.sequence is not None), key=lambda r: r.sequence or 0)
    unchained = len(records) - len(chained)

    def verdict(found: ChainBreak | None) -> ChainVerdict:
        return ChainVerdict(stack, len(chained), unchained, found)

    previous: StoredRecord | None = None
    for record in chained:
        sequence = record.sequence or 0
        if previous is not None and sequence == previous.sequence:
            return verdict(ChainBreak("duplicated", sequence, record.key, f"sequence {sequence} is held by both {previous.key} and {record.key}"))
        if expected_key is not None and (wanted := expected_key(record.document)) != record.key:
            return verdict(ChainBreak("re-ordered", sequence, record.key, f"stored under {record.key}, but its content places it at {wanted}"))
        expected = 1 if previous is None else (previous.sequence or 0) + 1
        if sequence != expected:
            after = f"after sequence {expected - 1} ({previous.key})" if previous is not None else "at the start of the chain"
            missing = f"sequence {expected}" if sequence == expected + 1 else f"sequences {expected}-{sequence - 1}"
            return verdict(ChainBreak("deleted", expected, None, f"{missing} missing {after}; the next record present is {sequence} ({record.key})"))
        if previous is not None and record.previous_hash != previous.hash:
            # A link that points past its predecessor, or a predecessor another record links to: the order was changed.
            linked_to = _hashing_to(record.previous_hash, chained)
            if linked_to is not None and linked_to is not previous:
                return verdict(ChainBreak(
                    "re-ordered", sequence, record.key,
                    f"{record.key} links to {linked_to.key} (sequence {linked_to.sequence}), not to its predecessor {previous.key}",
                ))
            follower = next((r for r in chained if r is not record and r.previous_hash == previous.hash), None)
            if follower is not None:
                return verdict(ChainBreak(
                    "re-ordered", follower.sequence or 0, follower.key,
                    f"{follower.key} follows {previous.key} in the chain but holds sequence {follower.sequence}, not {sequence}",
                ))
            return verdict(ChainBreak(
                "edited", previous.sequence or 0, previous.key,
                f"{previous.key} no longer hashes to the previous hash that sequence {sequence} ({record.key}) carries",
            ))
        previous = record
    if head is not None:
        last = previous.sequence if previous is not None else 0
        if (last or 0) < head.sequence:
            return verdict(ChainBreak(
                "deleted", (last or 0) + 1, head.key,
                f"the chain's head is sequence {head.sequence} ({head.key}) but the newest record present is {last or 'none'}",
            ))
        if previous is not None and previous.sequence == head.sequence and previous.hash != head.hash:
            return verdict(ChainBreak("edited", head.sequence, previous.key, f"{previous.key} no longer hashes to the hash its sequence claim recorded"))
    return verdict(None)


def _hashing_to(digest: str | None, records: Sequence[StoredRecord]) -> StoredRecord | None:
    return next((r for r in records if digest is not None and r.hash == digest), None)
