"""``ecs-gitops history``: the records an auditor asks for, as a table, JSON or CSV; ``--verify`` exits 1 naming a break."""

from __future__ import annotations

import csv
import io
import json

import pytest

from reconciler.adapters.audit import FileAuditLog
from reconciler.audit.export import CSV_COLUMNS
from reconciler.events import EventKind, Reason
from tests.reconciler.cli_run import run

COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"



@pytest.fixture
def state_dir(tmp_path, audit_record):
    """A local --state-dir with four records of dev: the third failed, the last approved by someone whose name starts with '='."""
    log = FileAuditLog(tmp_path / "state" / "audit")
    for i in range(4):
        overrides = {"outcome": "failed", "kind": EventKind.CONVERGE_FAILED, "reason": Reason.ENGINE_FAILED, "error": 'engine said "no", twice'} if i == 2 else {}
        if i == 3:
            overrides["approved_by"] = '=HYPERLINK("http://evil.example","x")'
        log.append(audit_record("dev", f"{i}".rjust(32, "j"), minutes=i, **overrides))
    return tmp_path / "state"


def local(state_dir, *argv: str) -> tuple[int, str, str]:
    return run("history", "--environment", "dev", "--state-dir", str(state_dir), *argv)


def test_table_newest_first_from_the_local_files(state_dir):
    code, out, err = local(state_dir)

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["FINISHED", "SEQ", "OUTCOME", "KIND"]
    assert [line.split()[1] for line in lines[1:]] == ["4", "3", "2", "1"]
    assert "failed" in lines[2] and "converge-failed" in lines[2] and COMMIT[:12] in lines[2]


def test_json_carries_the_whole_records_with_their_chain_fields(state_dir):
    code, out, _ = local(state_dir, "--output", "json", "--outcome", "failed")

    assert code == 0
    [record] = json.loads(out)
    assert (record["outcome"], record["sequence"], record["jobId"]) == ("failed", 3, "2".rjust(32, "j"))
    assert record["previousHash"].startswith("sha256:")


def test_csv_has_stable_columns_a_header_proper_quoting_and_no_formulas(state_dir):
    code, out, _ = local(state_dir, "--output", "csv")

    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == [name for name, _ in CSV_COLUMNS]
    assert rows[0][:6] == ["finishedAt", "startedAt", "environment", "stack", "outcome", "kind"]
    assert len(rows) == 5 and all(len(row) == len(rows[0]) for row in rows)
    by_name = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert by_name[0]["approvedBy"] == "'" + '=HYPERLINK("http://evil.example","x")'  # text, not a formula
    assert by_name[1]["error"] == 'engine said "no", twice'  # quoted and read back whole
    assert '"engine said ""no"", twice"' in out
    assert [row["sequence"] for row in by_name] == ["4", "3", "2", "1"]
    assert out.endswith("\r\n")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (("--since", "yesterday"), "--since 'yesterday' is not a time"),
        (("--until", "2025-13-01"), "--until '2025-13-01' is not a time"),
        (("--outcome", "won"), "--outcome 'won' is not one of succeeded, failed"),
        (("--kind", "converge-exploded"), "--kind 'converge-exploded' is not one of"),
        (("--output", "xml"), "--output 'xml' is not one of table, json, csv"),
        (("--limit", "0"), "--limit '0' is not a positive whole number"),
        (("--commit", "main"), "--commit 'main' is not a commit SHA"),
        (("--since", "2025-03-05", "--until", "2025-03-04"), "--since 2025-03-05 is after --until 2025-03-04"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_option(state_dir, argv, named):
    code, out, err = local(state_dir, *argv)

    assert code == 1 and out == ""
    assert err.startswith("error: ") and named in err and "Traceback" not in err


def test_time_range_commit_and_kind_options_select(state_dir):
    code, out, _ = local(state_dir, "--since", "2025-03-04T12:01:00Z", "--until", "2025-03-04T12:02:00+00:00", "--output", "json")
    assert code == 0 and [r["sequence"] for r in json.loads(out)] == [3, 2]
    _, out, _ = local(state_dir, "--kind", "converge-succeeded", "--commit", COMMIT[:7], "--limit", "2", "--output", "json")
    assert [r["sequence"] for r in json.loads(out)] == [4, 2]
    _, out, _ = local(state_dir, "--since", "2025-03-05")
    assert out == "no audit records match\n"


def test_verify_an_intact_chain_exits_0(state_dir):
    code, out, _ = local(state_dir, "--verify")

    assert code == 0
    verdict, anchor = out.splitlines()
    assert verdict == "stack dev: 4 chained record(s): chain intact"
    assert anchor.startswith("not anchored: no archive bucket")


def test_verify_names_the_first_break_and_exits_1(state_dir):
    [second] = [p for p in (state_dir / "audit" / "dev").glob("*.json") if '"sequence": 2' in p.read_text()]
    second.write_text(second.read_text().replace('"janedoe"', '"someone-else"'))

    code, out, _ = local(state_dir, "--verify")
    assert code == 1
    assert "chain broken at sequence 2: edited record" in out and second.name in out

    code, out, _ = local(state_dir, "--verify", "--output", "json")
    verdict = json.loads(out)
    assert code == 1 and verdict["intact"] is False
    assert (verdict["firstBreak"]["kind"], verdict["firstBreak"]["sequence"]) == ("edited", 2)


def test_history_and_verify_on_dynamodb_with_the_archive(audit_aws, git_repo, tmp_path, audit_record):
    from reconciler.audit.archive import archive_key
    from reconciler.settings import AwsResources, ReconcilerSettings, RepositorySettings
    from reconciler.wiring import build

    s3 = audit_aws.session.client("s3")
    s3.create_bucket(Bucket="audit-archive", ObjectLockEnabledForBucket=True)
    settings = ReconcilerSettings(
        repository=RepositorySettings(url=str(git_repo.path), branch="main"),
        environments={"prod": {"stack": "prod-stack", "suffix": "prod"}},
        backend_url=f"file://{tmp_path / 'backend'}",
        work_dir=str(tmp_path / "work"),
        aws=AwsResources(audit_table=audit_aws.audit_table, audit_archive_bucket="audit-archive", audit_archive_retention_days=1),
    )
    components = build(settings, state_dir=tmp_path, boto3_session=audit_aws.session)
    written = [components.audit.append(audit_record("prod-stack", c * 32, minutes=i)) for i, c in enumerate("abc")]

    code, out, _ = run("history", "--environment", "prod", "--output", "csv", components=components)
    assert code == 0 and len(out.strip().splitlines()) == 4

    code, out, _ = run("history", "--environment", "prod", "--verify", components=components)
    assert code == 0 and "chain intact" in out and "archive audit-archive: agrees with the table" in out

    audit_aws.dynamodb.delete_item(TableName=audit_aws.audit_table, Key={"pk": {"S": "prod-stack"}, "sk": {"S": written[1].key}})
    code, out, _ = run("history", "--environment", "prod", "--verify", components=components)
    assert code == 1
    assert "chain broken at sequence 2: deleted record" in out
    assert "missing-in-table: sequence 2" in out
    assert s3.head_object(Bucket="audit-archive", Key=archive_key("prod-stack", 2))["ObjectLockMode"] == "COMPLIANCE"


def test_an_age_is_measured_from_the_components_clock(state_dir, git_repo, tmp_path):
    from datetime import timedelta

    from reconciler.settings import ReconcilerSettings, RepositorySettings
    from reconciler.wiring import build
    from tests.reconciler.conftest import AUDIT_FINISHED_AT

    settings = ReconcilerSettings(
        repository=RepositorySettings(url=str(git_repo.path), branch="main"),
        environments={"dev": {"stack": "dev", "suffix": "dev"}},
        backend_url=f"file://{tmp_path / 'backend'}",
        work_dir=str(tmp_path / "work"),
    )
    components = build(settings, state_dir=state_dir, clock=lambda: AUDIT_FINISHED_AT + timedelta(minutes=12))

    code, out, _ = run("history", "--environment", "dev", "--since", "10m", "--output", "json", components=components)

    assert code == 0 and [r["sequence"] for r in json.loads(out)] == [4, 3]
