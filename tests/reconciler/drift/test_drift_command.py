"""``ecs-gitops drift``: a check now, here (table or JSON) or through the job queue; exit codes say what it found."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from reconciler.adapters.queue import JobQueue
from reconciler.cli import main
from reconciler.errors import EngineError
from reconciler.models import Job, Trigger
from tests.reconciler.drift.checking import retention_lowered, sg_ingress_opened


def test_table_names_each_drifted_resource_and_exits_1(cli, git_repo, engine):
    engine.refresh_steps = (sg_ingress_opened(), retention_lowered())

    code, out, err = cli(applied=git_repo.head)

    assert code == 1, err
    lines = out.splitlines()
    assert lines[0].startswith(f"dev: drifted (2 resource(s); high 1, medium 1, low 0) against applied commit {git_repo.head[:12]}")
    assert lines[1].startswith("dev: 2 resources drifted: ")
    header = next(line for line in lines if line.startswith("SEVERITY"))
    assert header.split() == ["SEVERITY", "KIND", "TYPE", "NAME", "WHAT"]
    rows = [line.split()[:4] for line in lines[lines.index(header) + 1:] if not line.startswith("  ")]
    assert rows == [
        ["high", "changed", "aws:ec2/securityGroup:SecurityGroup", "sg-api-gateway-dev"],
        ["medium", "changed", "aws:cloudwatch/logGroup:LogGroup", "lg-frontend-dev"],
    ]
    assert any(line.startswith("  lg-frontend-dev retentionInDays: expected 30, actual 1") for line in lines)
    assert "Traceback" not in err
    assert cli.components.states.get("dev").last_drift_check.result == "drifted"


def test_json_carries_the_summary_and_the_report(cli, git_repo, engine):
    engine.refresh_steps = (sg_ingress_opened(),)

    code, out, _ = cli("--output", "json", applied=git_repo.head)

    assert code == 1
    document = json.loads(out)
    assert (document["result"], document["kind"], document["reason"]) == ("drifted", "drift-detected", "Drift")
    assert document["summary"]["counts"] == {"high": 1, "low": 0, "medium": 0}
    assert document["summary"]["appliedCommit"] == git_repo.head
    [resource] = document["report"]["resources"]
    assert (resource["name"], resource["severity"]) == ("sg-api-gateway-dev", "high")
    [prop] = resource["properties"]
    assert prop["masked"] is False and prop["path"] == "ingress[1]"  # "secret": false would be scrubbed as a credential


@pytest.mark.parametrize("output", ["table", "json"])
def test_no_drift_exits_0(cli, git_repo, output):
    code, out, _ = cli("--output", output, applied=git_repo.head)

    assert code == 0
    if output == "json":
        assert json.loads(out)["result"] == "no-drift" and json.loads(out)["report"]["resources"] == []
    else:
        assert out.startswith(f"dev: no-drift (0 resource(s); high 0, medium 0, low 0) against applied commit {git_repo.head[:12]}")


@pytest.mark.parametrize("output", ["table", "json"])
def test_a_failed_check_exits_1_and_says_it_failed(cli, git_repo, engine, output):
    engine.fail("preview", EngineError("pulumi preview failed for dev: error: no valid credential sources for AWS Provider found"))

    code, out, err = cli("--output", output, applied=git_repo.head)

    assert code == 1
    if output == "json":
        document = json.loads(out)
        assert (document["result"], document["kind"]) == ("failed", "drift-check-failed")
        assert document["report"] is None
    else:
        assert out.startswith(f"dev: failed against applied commit {git_repo.head[:12]}")
        assert "no valid credential sources" in out
    assert "Traceback" not in err


def test_nothing_applied_yet_exits_1_and_says_there_is_nothing_to_compare(cli, engine):
    code, out, _ = cli()

    assert code == 1
    assert out.startswith("dev: no drift check result: nothing to compare") and engine.operations == []


def test_queue_sends_a_drift_check_job(cli, reconciler_aws, engine):
    components = replace(cli.components, queue=JobQueue(reconciler_aws.sqs, reconciler_aws.queue_url))

    code, out, _ = cli("--queue", "--by", "alice", components_=components)

    assert code == 0 and out.startswith("queued drift check ")
    [message] = reconciler_aws.sqs.receive_message(QueueUrl=reconciler_aws.queue_url, MaxNumberOfMessages=10)["Messages"]
    job = Job.model_validate_json(message["Body"])
    assert (job.trigger, job.environment, job.author) == (Trigger.SCHEDULED_DRIFT_CHECK, "dev", "alice")
    assert job.job_id in out and engine.operations == []


def test_queue_without_a_job_queue_is_an_error_naming_the_setting(cli, engine):
    code, out, err = cli("--queue")

    assert code == 1 and out == ""
    assert "aws.jobQueueUrl" in err and "Traceback" not in err
    assert engine.operations == []


def test_help_says_what_the_exit_codes_mean(capsys):
    with pytest.raises(SystemExit):
        main(["drift", "--help"], io.StringIO(), io.StringIO())
    text = " ".join(capsys.readouterr().out.split())
    assert "0 no drift; 1 drift found, the check failed" in text
