"""The audit channel: a record is scrubbed before it is written, since it is never rewritten."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_plus

from reconciler.adapters.audit import DynamoAuditLog, FileAuditLog
from reconciler.models import PolicyResult
from reconciler.redact import MASK, Redactor

SECRET = "tok_live_51HxQ9aRk0s3cr3t/+"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def _leaky(audit_record):
    return audit_record(
        "dev",
        "k" * 32,
        error=f"engine said {json.dumps({'token': SECRET})} and {quote_plus(SECRET)} via https://bot:pa/ss@git.example/x",
        author=f"Jane {GITHUB_TOKEN}",
        policy=PolicyResult(passed=False, mandatory=1, advisory=0, violations=[{"rule": "SECRET-002", "message": f"value {base64.b64encode(SECRET.encode()).decode()}"}]),
        image_overrides={"frontend": "123456789012.dkr.ecr.us-east-1.amazonaws.com/frontend@sha256:" + "a" * 64},
    )


def _assert_clean(stored: str) -> None:
    for leaked in (SECRET, json.dumps(SECRET)[1:-1], quote_plus(SECRET), base64.b64encode(SECRET.encode()).decode(), "pa/ss", GITHUB_TOKEN):
        assert leaked not in stored
    assert MASK in stored


def test_file_audit_log_scrubs_every_field_before_writing(tmp_path, audit_record):
    log = FileAuditLog(tmp_path, redactor=Redactor([SECRET]))
    record = _leaky(audit_record)

    log.append(record)

    [path] = list((tmp_path / "dev").glob("*.json"))
    _assert_clean(path.read_text())
    [stored] = log.history("dev")
    assert stored.error.startswith("engine said ")
    assert stored.author == f"Jane {MASK}"
    assert stored.image_overrides == record.image_overrides
    assert stored.commit == record.commit and stored.desired_state_digest == record.desired_state_digest


def test_dynamo_audit_log_scrubs_every_field_before_writing(reconciler_aws, audit_record):
    log = DynamoAuditLog(reconciler_aws.dynamodb, reconciler_aws.audit_table, redactor=Redactor([SECRET]))

    log.append(_leaky(audit_record))

    # The record, its sequence claim (which holds the record's key and hash) and the chain's genesis.
    everything = reconciler_aws.dynamodb.scan(TableName=reconciler_aws.audit_table)["Items"]
    assert len(everything) == 3
    _assert_clean(json.dumps(everything))
    [stored] = log.history("dev")
    assert stored.policy is not None and MASK in stored.policy.violations[0]["message"]


def test_without_a_redactor_credential_shapes_are_still_masked(tmp_path, audit_record):
    log = FileAuditLog(tmp_path)

    log.append(audit_record("dev", "m" * 32, error=f"push rejected for {GITHUB_TOKEN} at https://bot:pa/ss@git.example/x"))

    [stored] = log.history("dev")
    assert GITHUB_TOKEN not in stored.error and "pa/ss" not in stored.error


def test_a_clean_record_round_trips_unchanged(tmp_path, audit_record):
    log = FileAuditLog(tmp_path, redactor=Redactor([SECRET]))
    record = audit_record("dev", "n" * 32)

    log.append(record)

    # Plus its place in the hash chain: sequence 1, linked to the chain's genesis.
    assert log.history("dev") == [record.model_copy(update={"sequence": 1, "previous_hash": log.genesis("dev").hash("dev")})]
