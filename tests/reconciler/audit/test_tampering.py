"""What an attacker with the workers' write access can do to the audit trail, and how ``history --verify`` names it.

Each test is one of review 13's reproductions (records inserted without a sequence, new archive
versions, records past the head claim, edited filter attributes, corrupt and duplicate-key records).
"""

from __future__ import annotations

import re
import json

import pytest

from reconciler.adapters.audit import CHAIN_PARTITION_SUFFIX, DynamoAuditLog, FileAuditLog, chained_document, file_name, scrubbed_document, sort_key
from reconciler.audit.chain import ChainLink, canonical_json, record_hash, verify_chain
from reconciler.events import EventKind, Reason
from reconciler.redact import Redactor
from tests.reconciler.cli_run import run



@pytest.fixture
def state_dir(tmp_path, audit_record):
    log = FileAuditLog(tmp_path / "state" / "audit")
    for i in range(4):
        log.append(audit_record("dev", f"{i}".rjust(32, "j"), minutes=i))
    return tmp_path / "state"


def folder(state_dir):
    return state_dir / "audit" / "dev"


def verify(state_dir, *argv):
    return run("history", "--environment", "dev", "--state-dir", str(state_dir), "--verify", *argv)


def unchained(record):
    document = scrubbed_document(record, Redactor())
    document.pop("sequence", None)
    document.pop("previousHash", None)
    return document


def dynamo_verdict(log: DynamoAuditLog, stack: str = "dev"):
    from reconciler.audit.history import DynamoHistory

    reader = DynamoHistory(log)
    return verify_chain(reader.stored(stack), stack=stack, head=reader.head(stack), genesis=reader.genesis(stack),
                        expected_key=reader.expected_key, claims_read=True, claims=reader.claims(stack))


# ---------------------------------------------------------------- H1: records with no (or a malformed) sequence


def test_a_record_without_a_sequence_inserted_after_the_chain_started_is_named(state_dir, audit_record):
    fake = audit_record("dev", "f" * 32, minutes=10, approved_by="cfo-alice")
    (folder(state_dir) / file_name(sort_key(fake))).write_text(json.dumps(unchained(fake), indent=2))

    code, out, err = verify(state_dir)

    assert code == 1, out
    assert "chain broken after sequence 4: inserted record" in out and file_name(sort_key(fake)) in out and "Traceback" not in err


@pytest.mark.parametrize("sequence", ["4", True, 0, -4, 4.0])
def test_a_sequence_that_is_not_a_whole_number_from_1_is_named(state_dir, sequence):
    [newest] = sorted(folder(state_dir).glob("*.json"))[-1:]
    document = json.loads(newest.read_text())
    document["sequence"] = sequence
    newest.write_text(json.dumps(document, indent=2))
    sorted((folder(state_dir) / ".chain").glob("*.claim"))[-1].unlink()

    code, out, _ = verify(state_dir)

    assert code == 1, out
    assert "chain broken after sequence 3: inserted record" in out and f"carries sequence {sequence!r}" in out and newest.name in out


def test_the_genesis_accounts_for_the_records_written_before_the_chain(dynamo_log, write_unchained, audit_record, audit_aws):
    old = [audit_record("dev", c * 32, minutes=-10 + i) for i, c in enumerate("pq")]
    for record in old:
        write_unchained(record)
    for i in range(3):
        dynamo_log.append(audit_record("dev", f"{i}".rjust(32, "j"), minutes=i))

    genesis = dynamo_log.genesis("dev")
    assert (genesis.unchained_count, genesis.newest_unchained_key) == (2, sort_key(old[-1]))
    verdict = dynamo_verdict(dynamo_log)
    assert verdict.intact and verdict.unchained == 2
    assert "accounted for by the chain's genesis" in verdict.summary()

    # A record written the pre-chain way after the chain started (it sorts after the genesis' newest): inserted.
    late = audit_record("dev", "f" * 32, minutes=10, approved_by="cfo-alice")
    write_unchained(late)
    found = dynamo_verdict(dynamo_log).first_break
    assert (found.kind, found.key) == ("inserted", sort_key(late))
    audit_aws.dynamodb.delete_item(TableName=audit_aws.audit_table, Key={"pk": {"S": "dev"}, "sk": {"S": sort_key(late)}})

    # One of the old records deleted, or one backdated among them: the genesis' count and digest no longer agree.
    audit_aws.dynamodb.delete_item(TableName=audit_aws.audit_table, Key={"pk": {"S": "dev"}, "sk": {"S": sort_key(old[0])}})
    assert dynamo_verdict(dynamo_log).first_break.kind == "deleted"
    write_unchained(old[0].model_copy(update={"approved_by": "cfo-alice"}))
    assert dynamo_verdict(dynamo_log).first_break.kind == "edited"


def test_the_first_record_links_to_the_genesis_so_a_rewritten_genesis_is_named(dynamo_log, audit_record, audit_aws):
    written = [dynamo_log.append(audit_record("dev", f"{i}".rjust(32, "j"), minutes=i)) for i in range(2)]
    genesis = dynamo_log.genesis("dev")
    assert written[0].previous_hash == genesis.hash("dev")

    audit_aws.dynamodb.delete_item(TableName=audit_aws.audit_table, Key={"pk": {"S": "dev" + CHAIN_PARTITION_SUFFIX}, "sk": {"S": f"{0:012d}"}})
    found = dynamo_verdict(dynamo_log).first_break
    assert (found.kind, found.sequence) == ("deleted", 0)


def test_a_chain_started_before_genesis_claims_still_names_a_later_unchained_record(audit_record):
    from reconciler.audit.chain import StoredRecord

    records, previous = [], None
    for i in range(3):
        document = {"jobId": str(i), "sequence": i + 1, "previousHash": previous}
        records.append(StoredRecord(f"k{i + 1}", document))
        previous = record_hash(document)
    old = StoredRecord("k0-legacy", {"jobId": "old"})
    late = StoredRecord("k2-late", {"jobId": "late"})

    assert verify_chain([old, *records]).intact
    found = verify_chain([old, *records, late]).first_break
    assert (found.kind, found.key, found.sequence) == ("inserted", "k2-late", 2)


# ---------------------------------------------------------------- M1: records past the head claim; no anchor


def test_a_chained_record_written_without_its_claim_is_named(state_dir, audit_record):
    log = FileAuditLog(state_dir / "audit")
    last = log.stored_records("dev")[-1]
    fake = audit_record("dev", "e" * 32, minutes=11)
    document = chained_document(fake, ChainLink(last.sequence + 1, last.hash), Redactor())
    (folder(state_dir) / file_name(sort_key(fake))).write_text(json.dumps(document, indent=2))

    code, out, _ = verify(state_dir)

    assert code == 1, out
    assert "chain broken at sequence 5: inserted record" in out and "claim" in out


def test_without_the_archive_verify_says_what_it_cannot_prove(state_dir):
    code, out, _ = verify(state_dir)
    assert code == 0
    assert "chain intact" in out and "not anchored" in out

    code, out, _ = verify(state_dir, "--output", "json")
    assert code == 0 and json.loads(out)["anchored"] is False


def test_an_edit_with_its_successors_relinked_is_named_where_it_was_made_by_its_claim(state_dir):
    """The claims were left alone: each still names the hash written at its sequence."""
    files = sorted(folder(state_dir).glob("*.json"))
    previous = None
    for path in files:
        document = json.loads(path.read_text())
        if document["sequence"] == 2:
            document["author"] = "mallory"
        if previous is not None:
            document["previousHash"] = previous
        path.write_text(json.dumps(document, indent=2))
        previous = record_hash(document)

    code, out, _ = verify(state_dir)

    assert code == 1, out
    assert f"chain broken at sequence 2: edited record: {files[1].name}" in out


def test_a_record_whose_claim_is_gone_is_named(state_dir):
    (folder(state_dir) / ".chain" / f"{2:012d}.claim").unlink()

    code, out, _ = verify(state_dir)

    assert code == 1, out
    assert "chain broken: deleted claim: the sequence claim of" in out


# ---------------------------------------------------------------- M2: the unhashed filter attributes


def test_an_edited_filter_attribute_is_named(dynamo_log, audit_record, audit_aws):
    written = [
        dynamo_log.append(audit_record("dev", f"{i}".rjust(32, "j"), minutes=i,
                                       **({"outcome": "failed", "kind": EventKind.CONVERGE_FAILED, "reason": Reason.ENGINE_FAILED} if i == 2 else {})))
        for i in range(4)
    ]
    audit_aws.dynamodb.update_item(
        TableName=audit_aws.audit_table, Key={"pk": {"S": "dev"}, "sk": {"S": written[2].key}},
        UpdateExpression="SET outcome = :o", ExpressionAttributeValues={":o": {"S": "succeeded"}},
    )
    found = dynamo_verdict(dynamo_log).first_break
    assert (found.kind, found.key) == ("edited", written[2].key)
    assert "outcome" in found.detail

    audit_aws.dynamodb.update_item(
        TableName=audit_aws.audit_table, Key={"pk": {"S": "dev"}, "sk": {"S": written[2].key}},
        UpdateExpression="SET outcome = :o", ExpressionAttributeValues={":o": {"S": "failed"}},
    )
    assert dynamo_verdict(dynamo_log).intact
    audit_aws.dynamodb.update_item(
        TableName=audit_aws.audit_table, Key={"pk": {"S": "dev"}, "sk": {"S": written[1].key}},
        UpdateExpression="SET #c = :c", ExpressionAttributeNames={"#c": "commit"}, ExpressionAttributeValues={":c": {"S": "0000000"}},
    )
    found = dynamo_verdict(dynamo_log).first_break
    assert (found.kind, found.key) == ("edited", written[1].key) and "commit" in found.detail


# ---------------------------------------------------------------- L1, L2: corrupt records and claims, duplicate keys


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda text: text[:-5], id="truncated-json"),
        pytest.param(lambda text: "[1, 2]", id="not-an-object"),
        pytest.param(lambda text: text.replace('"finishedAt": "', '"finishedAt": "garbage', 1), id="invalid-field"),
        pytest.param(lambda text: text.replace("{", '{\n  "outcome": "failed", "approvedBy": "nobody",', 1), id="duplicate-keys"),
    ],
)
def test_a_corrupt_record_is_named_as_a_break_not_an_unexpected_error(state_dir, corrupt):
    second = sorted(folder(state_dir).glob("*.json"))[1]
    second.write_text(corrupt(second.read_text()))

    code, out, err = verify(state_dir)

    assert code == 1, (out, err)
    assert "unexpected" not in err and "Traceback" not in err
    assert second.name in out and "chain broken" in out


def test_a_corrupt_claim_is_named_as_a_break(state_dir):
    claim = sorted((folder(state_dir) / ".chain").glob("*.claim"))[-1]
    claim.write_text("{")

    code, out, err = verify(state_dir)

    assert code == 1, (out, err)
    assert "unexpected" not in err and "chain broken: corrupt claim" in out and claim.name in out

    # The worker's next append names the claim too (no unexpected JSONDecodeError).
    from reconciler.errors import ReconcilerError

    with pytest.raises(ReconcilerError, match=re.escape(claim.name)):
        FileAuditLog(state_dir / "audit").chain_head("dev")


def test_history_names_a_corrupt_record_instead_of_an_unexpected_error(state_dir):
    second = sorted(folder(state_dir).glob("*.json"))[1]
    second.write_text(second.read_text()[:-5])

    code, out, err = run("history", "--environment", "dev", "--state-dir", str(state_dir))

    assert code == 1 and "unexpected" not in err
    assert second.name in err and "--verify" in err
    # The log's own reader (status shows the newest record) names it the same way.
    from reconciler.errors import ReconcilerError

    with pytest.raises(ReconcilerError, match=re.escape(second.name)):
        FileAuditLog(state_dir / "audit").history("dev")


# ---------------------------------------------------------------- L5: out-of-range options


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (("--since", "99999999999d"), "--since '99999999999d'"),
        (("--until", "9999999d"), "--until '9999999d'"),
        (("--since", "0001-01-01T00:00:00+14:00"), "--since '0001-01-01T00:00:00+14:00'"),
        (("--limit", "²"), "--limit '²' is not a positive whole number"),
        (("--limit", "٣"), "--limit '٣' is not a positive whole number"),
    ],
)
def test_an_out_of_range_value_is_an_error_naming_the_option(state_dir, argv, named):
    code, out, err = run("history", "--environment", "dev", "--state-dir", str(state_dir), *argv)

    assert code == 1 and out == ""
    assert err.startswith("error: ") and named in err and "unexpected" not in err


# ---------------------------------------------------------------- L8: CSV cells for semicolon-separated locales


def test_every_csv_cell_is_quoted_so_a_semicolon_cannot_start_a_cell(audit_record):
    from reconciler.audit.export import to_csv

    row = to_csv([audit_record("dev", "a" * 32, author="jane;=1+cmd|' /C calc'!A0", approved_by="=SUM(A1)")]).splitlines()[1]

    cells = row.split('","')
    assert row.startswith('"') and row.endswith('"')
    assert '"jane;=1+cmd|\' /C calc\'!A0"' in row
    assert "'=SUM(A1)" in cells


# ---------------------------------------------------------------- H2: new versions of an archived key


ARCHIVE = "ecs-gitops-audit-archive-tampering"


def test_a_rewrite_of_table_claims_and_archive_versions_is_named_from_the_oldest_version(audit_aws, audit_record):
    from reconciler.audit.archive import AuditArchive, archive_key
    from reconciler.audit.history import DynamoHistory

    s3 = audit_aws.session.client("s3")
    s3.create_bucket(Bucket=ARCHIVE, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=ARCHIVE, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}}
    )
    archive = AuditArchive(s3, ARCHIVE)
    log = DynamoAuditLog(audit_aws.dynamodb, audit_aws.audit_table, archive=archive)
    written = [log.append(audit_record("prod", f"{i}".rjust(32, "j"), minutes=i)) for i in range(4)]
    assert archive.compare("prod", DynamoHistory(log).stored("prod")) == []

    # With the workers' PutItem and PutObject: seq 2..4 rewritten in the table, their claims, and new archive versions.
    previous = written[0].hash
    for stored in written[1:]:
        document = dict(stored.document, previousHash=previous)
        if document["sequence"] == 2:
            document.update(outcome="failed", author="mallory")
        audit_aws.dynamodb.put_item(TableName=audit_aws.audit_table, Item={
            "pk": {"S": "prod"}, "sk": {"S": stored.key}, "jobId": {"S": document["jobId"]},
            "record": {"S": json.dumps(document, sort_keys=True)}, "sequence": {"N": str(document["sequence"])},
            "outcome": {"S": document["outcome"]}, "kind": {"S": document["kind"]}, "commit": {"S": document["commit"]},
        })
        previous = record_hash(document)
        audit_aws.dynamodb.put_item(TableName=audit_aws.audit_table, Item={
            "pk": {"S": "prod" + CHAIN_PARTITION_SUFFIX}, "sk": {"S": f"{document['sequence']:012d}"},
            "recordSk": {"S": stored.key}, "hash": {"S": previous},
        })
        s3.put_object(Bucket=ARCHIVE, Key=archive_key("prod", document["sequence"]), Body=canonical_json(document))
    assert dynamo_verdict(log, "prod").intact  # the table alone cannot tell

    mismatches = archive.compare("prod", DynamoHistory(log).stored("prod"))

    kinds = {(m.kind, m.sequence) for m in mismatches}
    assert {("replaced-in-archive", 2), ("replaced-in-archive", 3), ("replaced-in-archive", 4)} <= kinds
    # The oldest version is what the table is compared with: the rewritten record differs from it.
    assert ("differs-from-archive", 2) in kinds
    assert next(m for m in mismatches if m.kind == "differs-from-archive" and m.sequence == 2).detail.count("author")


def test_a_delete_marker_on_an_archived_key_is_named_and_the_first_version_still_compared(audit_aws, audit_record):
    from reconciler.audit.archive import AuditArchive, archive_key
    from reconciler.audit.history import DynamoHistory

    s3 = audit_aws.session.client("s3")
    s3.create_bucket(Bucket=ARCHIVE, ObjectLockEnabledForBucket=True)
    archive = AuditArchive(s3, ARCHIVE)
    log = DynamoAuditLog(audit_aws.dynamodb, audit_aws.audit_table, archive=archive)
    for i in range(2):
        log.append(audit_record("prod", f"{i}".rjust(32, "j"), minutes=i))

    s3.delete_object(Bucket=ARCHIVE, Key=archive_key("prod", 2))  # hides the copy behind a delete marker

    [mismatch] = archive.compare("prod", DynamoHistory(log).stored("prod"))
    assert (mismatch.kind, mismatch.sequence) == ("replaced-in-archive", 2)
    assert "1 delete marker" in mismatch.detail
    assert archive.read("prod", 2)["sequence"] == 2
