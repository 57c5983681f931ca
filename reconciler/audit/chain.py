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

The sequence starts at 1 for a stack's first chained record. Records written before chaining have
no sequence and stand outside the chain; when a stack's chain starts, its **genesis** (sequence 0,
kept with the sequence claims) records how many such records there were, the newest one's key and
a digest of their keys and hashes, and the first record's ``previousHash`` is the genesis' hash.
So an unchained record that appears later (it sorts after the genesis' newest key, or the count
or digest no longer agree) is an insertion, not an old record. :func:`verify_chain` is pure: it
walks the records by sequence and names the first break it finds.

What the chain cannot prove on its own: whoever can write the store can rewrite a whole suffix of
the chain with its claims (or cut it). Only a copy outside that store - the Object Lock archive -
anchors it; ``history --verify`` says so when there is none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from reconciler.errors import ReconcilerError

HASH_PREFIX = "sha256:"
SEQUENCE_FIELD = "sequence"
PREVIOUS_HASH_FIELD = "previousHash"


def canonical_json(document: Any) -> bytes:
    """The canonical form (module docstring) of ``document``."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def record_hash(document: dict[str, Any]) -> str:
    """``sha256:<hex>`` of the stored document's canonical form."""
    return HASH_PREFIX + hashlib.sha256(canonical_json(document)).hexdigest()


# inserted: a record the chain does not account for (no sequence after the chain started, a malformed
# sequence, or past the head claim); corrupt: a stored text that is not one record.
BreakKind = Literal["deleted", "edited", "re-ordered", "duplicated", "inserted", "corrupt"]


class StoredTextError(ReconcilerError, ValueError):
    """A stored record or claim that is not one JSON object with each key once."""


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = sorted({key for key in keys if keys.count(key) > 1})
        # A reader that keeps the first value would see another record than one that keeps the last.
        raise StoredTextError(f"it holds the key(s) {', '.join(twice)} more than once")
    return dict(pairs)


def parse_stored(text: str | bytes) -> dict[str, Any]:
    """The JSON object a store holds; :class:`StoredTextError` when it is not one, or names a key twice."""
    try:
        document = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise StoredTextError(f"it is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(document, dict):
        raise StoredTextError(f"it is a JSON {type(document).__name__}, not an object")
    return document


@dataclass(frozen=True)
class RecordDefect:
    """Why a stored record cannot be taken as written: unreadable text, or attributes beside it that disagree with it."""

    kind: BreakKind
    detail: str


@dataclass(frozen=True)
class StoredRecord:
    """One audit record as a store holds it: where (``key``: the DynamoDB sort key or the file's name) and what.

    ``defect``: set by the store when the text could not be read as one record (``document`` is then
    empty) or when what the store keeps beside it disagrees with it.
    """

    key: str
    document: dict[str, Any]
    defect: RecordDefect | None = None

    @property
    def sequence(self) -> int | None:
        value = self.document.get(SEQUENCE_FIELD)
        return value if _is_whole_number(value) and value >= 1 else None

    @property
    def malformed_sequence(self) -> bool:
        """A sequence field that is there but not a whole number from 1 (no chained record was written so)."""
        return self.document.get(SEQUENCE_FIELD) is not None and self.sequence is None

    @property
    def previous_hash(self) -> str | None:
        value = self.document.get(PREVIOUS_HASH_FIELD)
        return value if isinstance(value, str) else None

    @property
    def hash(self) -> str:
        return record_hash(self.document)


def _is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_stored(key: str, text: str | bytes) -> StoredRecord:
    """``text`` stored under ``key``; a text that is not one record gives a record with a defect, never an exception."""
    try:
        return StoredRecord(key, parse_stored(text))
    except StoredTextError as exc:
        return StoredRecord(key, {}, RecordDefect("corrupt", f"{key} cannot be read: {exc}"))


GENESIS_SEQUENCE = 0


@dataclass(frozen=True)
class Genesis:
    """Sequence 0 of a stack's chain: what stood outside the chain when it started."""

    unchained_count: int
    newest_unchained_key: str | None
    unchained_digest: str

    def document(self, stack: str) -> dict[str, Any]:
        return {
            "genesis": True, "stack": stack, "sequence": GENESIS_SEQUENCE, "unchainedCount": self.unchained_count,
            "newestUnchainedKey": self.newest_unchained_key, "unchainedDigest": self.unchained_digest,
        }

    def hash(self, stack: str) -> str:
        return record_hash(self.document(stack))

    @staticmethod
    def of(unchained: Sequence[StoredRecord]) -> Genesis:
        ordered = sorted(unchained, key=lambda r: r.key)
        return Genesis(len(ordered), ordered[-1].key if ordered else None, unchained_digest(ordered))

    @staticmethod
    def from_document(document: dict[str, Any]) -> Genesis:
        count, newest, digest = document["unchainedCount"], document["newestUnchainedKey"], document["unchainedDigest"]
        if not (_is_whole_number(count) and (newest is None or isinstance(newest, str)) and isinstance(digest, str)):
            raise StoredTextError("its unchainedCount, newestUnchainedKey or unchainedDigest has the wrong type")
        return Genesis(count, newest, digest)


def unchained_digest(records: Sequence[StoredRecord]) -> str:
    """``sha256:`` over the keys and hashes of ``records`` in key order: any of them changed, removed or added changes it."""
    return record_hash({"records": [[r.key, r.hash] for r in sorted(records, key=lambda r: r.key)]})


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
        """The link after ``head``; the head may be the genesis (sequence 0), whose hash the first record carries."""
        return ChainLink(1, None) if head is None else ChainLink(head.sequence + 1, head.hash)



@dataclass(frozen=True)
class ChainBreak:
    """The first break found. ``after``: the record holds no valid sequence of its own, it sits after ``sequence``;
    ``subject``: what is broken, a record or a sequence claim."""

    kind: BreakKind
    sequence: int
    key: str | None
    detail: str
    after: bool = False
    subject: Literal["record", "claim"] = "record"

    def where(self) -> str:
        if self.subject == "claim":
            return "chain broken"
        return f"chain broken {'after' if self.after else 'at'} sequence {self.sequence}"


@dataclass(frozen=True)
class ChainVerdict:
    stack: str
    chained: int
    unchained: int
    first_break: ChainBreak | None = None
    genesis: bool = False

    @property
    def intact(self) -> bool:
        return self.first_break is None

    def summary(self) -> str:
        where = f"stack {self.stack}: {self.chained} chained record(s)"
        if self.unchained:
            accounted = "accounted for by the chain's genesis" if self.genesis else "not verifiable: the chain has no genesis"
            where += f", {self.unchained} written before the chain ({accounted})"
        if self.first_break is None:
            return f"{where}: chain intact"
        found = self.first_break
        return f"{where}: {found.where()}: {found.kind} {found.subject}: {found.detail}"


def verify_chain(
    records: Sequence[StoredRecord],
    *,
    stack: str = "",
    head: ChainHead | None = None,
    genesis: Genesis | None = None,
    expected_key: Callable[[dict[str, Any]], str] | None = None,
    claims_read: bool = False,
    claims: Sequence[ChainHead] | None = None,
) -> ChainVerdict:
    """Recompute the chain of one stack's ``records`` (any order) and name the first break.

    ``head``: the newest sequence and hash the store's claim says were written (a deleted or edited
    newest record is seen only against it; a record past it was written without a claim).
    ``claims_read``: ``head`` and ``genesis`` are what the store's claims say, None meaning it has
    none (not: not given). ``genesis``: what stood outside the chain when it started.
    ``expected_key``: the key a document says it is stored under; a record found under another key
    was moved (re-ordered) in the trail.
    ``claims``: every sequence claim (sequence 1 on): each names the record and hash written at its
    sequence, so a record edited with its successors' links recomputed is still named where it was
    edited, and a chained record whose claim is gone is named.

    Checked in this order: a record the store could not read, or whose attributes disagree with it;
    a sequence that is not a whole number (inserted); then in sequence order: a sequence claimed
    twice (duplicated); a record under a key its own content does not give (re-ordered); a missing
    sequence (deleted); a previous hash that is not the hash of the record before, the genesis for
    the first (that record was edited, or the one carrying the link was moved behind another); the
    newest record against the head (deleted, edited, or past it: inserted); last the records
    without a sequence against the genesis (inserted after the chain started, deleted or edited).
    """
    chained = sorted((r for r in records if r.sequence is not None and r.defect is None), key=lambda r: r.sequence or 0)
    unchained = [r for r in records if r.sequence is None and r.defect is None and not r.malformed_sequence]

    def verdict(found: ChainBreak | None) -> ChainVerdict:
        return ChainVerdict(stack, len(chained), len(unchained), found, genesis is not None)

    def after(key: str) -> int:
        """The sequence of the newest chained record stored before ``key``: where a record at ``key`` sits in the chain."""
        return max((r.sequence or 0 for r in chained if r.key < key), default=0)

    for record in sorted(records, key=lambda r: r.key):
        if record.defect is not None:
            return verdict(ChainBreak(record.defect.kind, after(record.key), record.key, record.defect.detail, after=record.sequence is None))
        if record.malformed_sequence:
            return verdict(ChainBreak(
                "inserted", after(record.key), record.key,
                f"{record.key} carries sequence {record.document.get(SEQUENCE_FIELD)!r}, not a whole number from 1: no chained record was written so",
                after=True,
            ))

    genesis_hash = genesis.hash(stack) if genesis is not None else None
    previous: StoredRecord | None = None
    for record in chained:
        sequence = record.sequence or 0
        if previous is not None and sequence == previous.sequence:
            return verdict(ChainBreak("duplicated", sequence, record.key, f"sequence {sequence} is held by both {previous.key} and {record.key}"))
        if expected_key is not None:
            try:
                wanted = expected_key(record.document)
            except (ValidationError, ValueError, KeyError, TypeError) as exc:
                return verdict(ChainBreak("corrupt", sequence, record.key, f"{record.key} is not an audit record: {_first_line(exc)}"))
            if wanted != record.key:
                return verdict(ChainBreak("re-ordered", sequence, record.key, f"stored under {record.key}, but its content places it at {wanted}"))
        expected = 1 if previous is None else (previous.sequence or 0) + 1
        if sequence != expected:
            where = f"after sequence {expected - 1} ({previous.key})" if previous is not None else "at the start of the chain"
            missing = f"sequence {expected}" if sequence == expected + 1 else f"sequences {expected}-{sequence - 1}"
            return verdict(ChainBreak("deleted", expected, None, f"{missing} missing {where}; the next record present is {sequence} ({record.key})"))
        if previous is None and record.previous_hash != genesis_hash:
            if genesis_hash is None:
                return verdict(ChainBreak(
                    "deleted", GENESIS_SEQUENCE, None,
                    f"sequence 1 ({record.key}) links to a genesis (sequence 0) that the chain's claims no longer hold",
                ))
            return verdict(ChainBreak(
                "edited", GENESIS_SEQUENCE, None,
                f"the chain's genesis (sequence 0) does not hash to the previous hash that sequence 1 ({record.key}) carries",
            ))
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
    last = (previous.sequence or 0) if previous is not None else 0
    if claims is not None and (found := _against_claims(chained, claims, head)) is not None:
        return verdict(found)
    if head is not None:
        if last < head.sequence:
            return verdict(ChainBreak(
                "deleted", last + 1, head.key,
                f"the chain's head is sequence {head.sequence} ({head.key}) but the newest record present is {last or 'none'}",
            ))
        if previous is not None and previous.sequence == head.sequence and previous.hash != head.hash:
            return verdict(ChainBreak("edited", head.sequence, previous.key, f"{previous.key} no longer hashes to the hash its sequence claim recorded"))
    if (head is not None or claims_read) and last > (claimed := head.sequence if head is not None else 0):
        beyond = next(r for r in chained if (r.sequence or 0) > claimed)
        return verdict(ChainBreak(
            "inserted", beyond.sequence or 0, beyond.key,
            f"{beyond.key} (sequence {beyond.sequence}) is past the chain's head claim "
            f"({f'sequence {claimed}' if head is not None else 'there is none'}): it was written without a sequence claim",
        ))
    return verdict(_unaccounted(unchained, chained, genesis, after))


def _against_claims(chained: Sequence[StoredRecord], claims: Sequence[ChainHead], head: ChainHead | None) -> ChainBreak | None:
    """The first chained record that its sequence claim does not name, or that has lost its claim (up to the head)."""
    by_sequence = {c.sequence: c for c in claims if c.sequence >= 1}
    newest_claimed = head.sequence if head is not None else 0
    for record in chained:
        sequence = record.sequence or 0
        claim = by_sequence.get(sequence)
        if claim is None:
            if sequence <= newest_claimed:
                return ChainBreak("deleted", sequence, record.key, f"the sequence claim of {record.key} (sequence {sequence}) is gone", subject="claim")
            continue  # past the head: named below as written without a claim
        if claim.key is not None and claim.key != record.key:
            return ChainBreak("re-ordered", sequence, record.key, f"sequence {sequence} is claimed for {claim.key} but held by {record.key}")
        if claim.hash != record.hash:
            return ChainBreak("edited", sequence, record.key, f"{record.key} no longer hashes to the hash its sequence claim recorded")
    return None


def _unaccounted(
    unchained: Sequence[StoredRecord], chained: Sequence[StoredRecord], genesis: Genesis | None, after: Callable[[str], int],
) -> ChainBreak | None:
    """The first record without a sequence that the chain does not account for (its genesis, or its start when it has none)."""
    newest = genesis.newest_unchained_key if genesis is not None else None
    start = min((r.key for r in chained), default=None)
    for record in sorted(unchained, key=lambda r: r.key):
        if genesis is not None and (newest is None or record.key > newest):
            before = f"the newest one when the chain started was {newest}" if newest else "there were none when the chain started"
            return ChainBreak(
                "inserted", after(record.key), record.key, f"{record.key} has no sequence but is not a record written before the chain ({before})", after=True,
            )
        if genesis is None and start is not None and record.key > start:
            return ChainBreak(
                "inserted", after(record.key), record.key,
                f"{record.key} has no sequence but sorts after the chain's first record ({start}): it was added after the chain started",
                after=True,
            )
    if genesis is None:
        return None
    if len(unchained) != genesis.unchained_count:
        kind: BreakKind = "deleted" if len(unchained) < genesis.unchained_count else "inserted"
        return ChainBreak(kind, GENESIS_SEQUENCE, None, f"the genesis counted {genesis.unchained_count} record(s) written before the chain; {len(unchained)} are there")
    if unchained_digest(unchained) != genesis.unchained_digest:
        return ChainBreak("edited", GENESIS_SEQUENCE, None, "a record written before the chain was changed after the chain started (their digest is not the genesis')")
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _hashing_to(digest: str | None, records: Sequence[StoredRecord]) -> StoredRecord | None:
    return next((r for r in records if digest is not None and r.hash == digest), None)
