"""The chain as the audit logs write it, on DynamoDB (moto) and local files, and what tampering with each looks like."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from reconciler.adapters.audit import CHAIN_PARTITION_SUFFIX, DynamoAuditLog, FileAuditLog, document_file_name, document_sort_key, sort_key
from reconciler.audit.chain import verify_chain
from reconciler.errors import ConflictError


def verify_dynamo(log: DynamoAuditLog, stack: str = "dev"):
    return verify_chain(log.stored_records(stack), stack=stack, head=log.chain_head(stack), genesis=log.genesis(stack),
                        expected_key=document_sort_key, claims_read=True)


def verify_files(log: FileAuditLog, stack: str = "dev"):
    return verify_chain(log.stored_records(stack), stack=stack, head=log.chain_head(stack), genesis=log.genesis(stack),
                        expected_key=document_file_name, claims_read=True)


def record_items(aws: Any, stack: str = "dev") -> list[dict]:
    return aws.dynamodb.query(
        TableName=aws.audit_table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": stack}}
    )["Items"]


def append_five(log: Any, audit_record: Any, stack: str = "dev") -> list[Any]:
    return [log.append(audit_record(stack, chr(ord("a") + i) * 32, minutes=i)) for i in range(5)]


def test_dynamo_appends_chain_each_stacks_records_by_sequence_and_previous_hash(dynamo_log, audit_aws, audit_record):
    written = append_five(dynamo_log, audit_record)
    dynamo_log.append(audit_record("prod", "z" * 32))

    documents = [json.loads(item["record"]["S"]) for item in record_items(audit_aws)]
    assert [d["sequence"] for d in documents] == [1, 2, 3, 4, 5]
    # The first record links to the chain's genesis (sequence 0), which accounts for the records before the chain.
    assert documents[0]["previousHash"] == dynamo_log.genesis("dev").hash("dev")
    assert [d["previousHash"] for d in documents[1:]] == [w.hash for w in written[:-1]]
    # The claim of each sequence names its record and hash; the newest claim is the head.
    head = dynamo_log.chain_head("dev")
    assert (head.sequence, head.hash, head.key) == (5, written[-1].hash, written[-1].key)
    assert dynamo_log.chain_head("prod").sequence == 1  # a chain per stack
    assert [int(item["sequence"]["N"]) for item in record_items(audit_aws)] == [1, 2, 3, 4, 5]
    assert verify_dynamo(dynamo_log).intact


def test_file_appends_chain_and_verify(file_log, audit_record):
    written = append_five(file_log, audit_record)

    assert [r.sequence for r in file_log.history("dev")] == [5, 4, 3, 2, 1]
    assert [r.previous_hash for r in reversed(file_log.history("dev"))][1:] == [w.hash for w in written[:-1]]
    assert file_log.chain_head("dev").hash == written[-1].hash
    assert verify_files(file_log).intact


def test_dynamo_a_deleted_record_is_named(dynamo_log, audit_aws, audit_record):
    written = append_five(dynamo_log, audit_record)
    audit_aws.dynamodb.delete_item(TableName=audit_aws.audit_table, Key={"pk": {"S": "dev"}, "sk": {"S": written[2].key}})

    verdict = verify_dynamo(dynamo_log)

    assert (verdict.first_break.kind, verdict.first_break.sequence) == ("deleted", 3)


def test_dynamo_the_newest_record_deleted_is_named_against_its_claim(dynamo_log, audit_aws, audit_record):
    written = append_five(dynamo_log, audit_record)
    audit_aws.dynamodb.delete_item(TableName=audit_aws.audit_table, Key={"pk": {"S": "dev"}, "sk": {"S": written[-1].key}})

    assert (verify_dynamo(dynamo_log).first_break.kind, verify_dynamo(dynamo_log).first_break.sequence) == ("deleted", 5)


def test_dynamo_an_edited_record_is_named(dynamo_log, audit_aws, audit_record):
    written = append_five(dynamo_log, audit_record)
    document = {**written[1].document, "outcome": "failed", "error": "someone rewrote history"}
    audit_aws.dynamodb.put_item(
        TableName=audit_aws.audit_table,
        Item={"pk": {"S": "dev"}, "sk": {"S": written[1].key}, "jobId": {"S": document["jobId"]}, "record": {"S": json.dumps(document)}},
    )

    verdict = verify_dynamo(dynamo_log)

    assert (verdict.first_break.kind, verdict.first_break.sequence, verdict.first_break.key) == ("edited", 2, written[1].key)


def test_dynamo_a_record_moved_in_time_is_named_re_ordered(dynamo_log, audit_aws, audit_record):
    written = append_five(dynamo_log, audit_record)
    item = next(i for i in record_items(audit_aws) if i["sk"]["S"] == written[3].key)
    earlier = "2025-03-04T11:00:00+00:00#" + written[3].document["jobId"] + "#0001"
    audit_aws.dynamodb.delete_item(TableName=audit_aws.audit_table, Key={"pk": item["pk"], "sk": item["sk"]})
    audit_aws.dynamodb.put_item(TableName=audit_aws.audit_table, Item={**item, "sk": {"S": earlier}})

    verdict = verify_dynamo(dynamo_log)

    assert (verdict.first_break.kind, verdict.first_break.sequence, verdict.first_break.key) == ("re-ordered", 4, earlier)


def test_files_deleted_edited_and_re_ordered_records_are_each_named(tmp_path, audit_record):
    def fresh(name: str) -> tuple[FileAuditLog, list[Any]]:
        log = FileAuditLog(tmp_path / name)
        return log, append_five(log, audit_record)

    deleted, written = fresh("deleted")
    (deleted.folder("dev") / written[2].key).unlink()
    assert (verify_files(deleted).first_break.kind, verify_files(deleted).first_break.sequence) == ("deleted", 3)

    edited, written = fresh("edited")
    path = edited.folder("dev") / written[1].key
    path.write_text(path.read_text().replace('"succeeded"', '"failed"'))
    assert (verify_files(edited).first_break.kind, verify_files(edited).first_break.sequence) == ("edited", 2)

    moved, written = fresh("moved")
    (moved.folder("dev") / written[3].key).rename(moved.folder("dev") / ("2025-03-04T11-00-00+00-00#" + "d" * 32 + "#0001.json"))
    assert (verify_files(moved).first_break.kind, verify_files(moved).first_break.sequence) == ("re-ordered", 4)


class RacingDynamoDouble:
    """The moto client, except that right after this writer reads the chain head another writer appends.

    A double because two real workers cannot be made to interleave at exactly that point on moto:
    it reproduces the race deterministically (``races`` times), the rest is moto.
    """

    def __init__(self, client: Any, rival: Any, races: int):
        self._client = client
        self._rival = rival  # () -> None: the other writer's append
        self.races = races
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, **kwargs: Any) -> Any:
        response = self._client.query(**kwargs)
        if kwargs["ExpressionAttributeValues"][":pk"]["S"].endswith(CHAIN_PARTITION_SUFFIX) and self.races:
            self.races -= 1
            self._rival()
        return response

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        return self._client.transact_write_items(**kwargs)


def test_dynamo_a_writer_that_loses_the_race_for_a_sequence_rereads_the_head_and_takes_the_next(audit_aws, dynamo_log, audit_record):
    rivals = iter(audit_record("dev", f"{i:032d}", minutes=i) for i in range(1, 10))
    racing = RacingDynamoDouble(audit_aws.dynamodb, lambda: dynamo_log.append(next(rivals)), races=2)
    loser = DynamoAuditLog(racing, audit_aws.audit_table)
    dynamo_log.append(audit_record("dev", "0" * 31 + "x"))

    stored = loser.append(audit_record("dev", "l" * 32, minutes=30))

    assert racing.transactions == 3  # lost twice to the rival, then won
    assert stored.sequence == 4  # after the first record and the rival's two
    assert verify_dynamo(dynamo_log).intact
    assert verify_dynamo(dynamo_log).chained == 4


def test_dynamo_a_writer_that_keeps_losing_gives_up_after_its_bounded_attempts(audit_aws, dynamo_log, audit_record):
    rivals = iter(audit_record("dev", f"{i:032d}", minutes=i) for i in range(1, 10))
    racing = RacingDynamoDouble(audit_aws.dynamodb, lambda: dynamo_log.append(next(rivals)), races=9)
    loser = DynamoAuditLog(racing, audit_aws.audit_table, max_append_attempts=3)

    with pytest.raises(ConflictError, match="took the next chain sequence 3 times"):
        loser.append(audit_record("dev", "l" * 32))

    assert racing.transactions == 3
    assert all(r.job_id != "l" * 32 for r in dynamo_log.history("dev"))
    assert verify_dynamo(dynamo_log).intact


class ConflictingDynamoDouble:
    """The moto client, except that its first transaction meets another in flight on the same claim.

    A double because moto runs transactions one at a time and never answers ``TransactionConflict``,
    which DynamoDB does when two writers claim the same sequence at the same moment.
    """

    def __init__(self, client: Any):
        self._client = client
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        self.transactions += 1
        if self.transactions == 1:
            raise ClientError(
                {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled [TransactionConflict, None]"},
                 "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}]},
                "TransactWriteItems",
            )
        return self._client.transact_write_items(**kwargs)


def test_dynamo_a_claim_that_meets_a_transaction_in_flight_is_retried(audit_aws, audit_record):
    conflicting = ConflictingDynamoDouble(audit_aws.dynamodb)
    log = DynamoAuditLog(conflicting, audit_aws.audit_table)

    stored = log.append(audit_record("dev", "a" * 32))

    assert (conflicting.transactions, stored.sequence) == (2, 1)
    assert verify_dynamo(log).intact


def test_dynamo_the_same_record_twice_conflicts_and_claims_no_sequence(dynamo_log, audit_record):
    record = audit_record("dev", "k" * 32)
    dynamo_log.append(record)

    with pytest.raises(ConflictError, match="already exists; records are never overwritten"):
        dynamo_log.append(record)

    assert dynamo_log.chain_head("dev").sequence == 1


def test_files_concurrent_appends_from_threads_keep_one_chain(file_log, audit_record):
    start = threading.Barrier(6)

    def writer(n: int) -> None:
        start.wait(timeout=5)
        for i in range(4):
            file_log.append(audit_record("dev", f"{n}{i}".rjust(32, "w"), minutes=n * 10 + i))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)

    verdict = verify_files(file_log)
    assert verdict.intact, verdict.summary()
    assert verdict.chained == 24


def test_old_unchained_records_still_read_and_the_chain_starts_after_them(dynamo_log, write_unchained, audit_record):
    old = audit_record("dev", "o" * 32, minutes=-60)
    write_unchained(old)

    stored = dynamo_log.append(audit_record("dev", "n" * 32))

    history = dynamo_log.history("dev")
    assert [r.job_id for r in history] == ["n" * 32, "o" * 32]
    assert history[1] == old and history[1].sequence is None
    assert stored.sequence == 1
    verdict = verify_dynamo(dynamo_log)
    assert verdict.intact and (verdict.chained, verdict.unchained) == (1, 1)


def test_file_log_old_unchained_record_files_still_read(file_log, audit_record):
    old = audit_record("dev", "o" * 32, minutes=-60)
    folder = file_log.folder("dev")
    folder.mkdir(parents=True)
    document = json.loads(old.model_dump_json(by_alias=True))
    del document["sequence"], document["previousHash"]
    (folder / (sort_key(old).replace(":", "-") + ".json")).write_text(json.dumps(document, indent=2))

    file_log.append(audit_record("dev", "n" * 32))

    assert [r.sequence for r in file_log.history("dev")] == [1, None]
    assert verify_files(file_log).intact
