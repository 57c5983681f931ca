"""``ecs-gitops drift --remediate``: a converge back to the applied commit, queued (or run here with --local).

``reconcile --commit <applied>`` is a manual job, and a manual job converges the branch head (a pushed
change would be deployed instead of the drift put back); a drift remediation converges its own commit.
The command's table and JSON are scrubbed with the reconciler's redactor like the other commands'.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from reconciler.adapters.queue import JobQueue
from reconciler.drift.check import remediation
from reconciler.drift.model import DriftedResource, DriftKind, DriftReport, DriftSeverity
from reconciler.models import Job, Trigger
from reconciler.settings import DriftSettings
from tests.reconciler.drift.checking import tag_changed

AT = datetime(2026, 12, 1, tzinfo=UTC)


def received(reconciler_aws) -> list[Job]:
    messages = reconciler_aws.sqs.receive_message(QueueUrl=reconciler_aws.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [Job.model_validate_json(m["Body"]) for m in messages]


@pytest.mark.parametrize("output", ["table", "json"])
def test_remediate_queues_a_drift_remediation_of_the_applied_commit(cli, git_repo, reconciler_aws, engine, output):
    applied = git_repo.head
    git_repo.bump("dev")  # the head moved on: the remediation must name the applied commit, not the head
    components = replace(cli.components, queue=JobQueue(reconciler_aws.sqs, reconciler_aws.queue_url))

    code, out, err = cli("--remediate", "--by", "alice", "--output", output, applied=applied, components_=components)

    assert code == 0, err
    [job] = received(reconciler_aws)
    assert (job.trigger, job.commit, job.environment, job.author) == (Trigger.DRIFT_REMEDIATION, applied, "dev", "alice")
    if output == "json":
        assert json.loads(out) == {"environment": "dev", "queued": True, "jobId": job.job_id, "trigger": "drift-remediation", "commit": applied}
    else:
        assert out.startswith(f"queued drift remediation {job.job_id} for dev: a converge back to the applied commit {applied[:12]}")
    assert engine.operations == []


def test_remediate_without_a_queue_says_to_run_it_here(cli, git_repo, engine):
    code, out, err = cli("--remediate", applied=git_repo.head)
    assert code == 1 and out == ""
    assert "aws.jobQueueUrl" in err and "--local" in err and "Traceback" not in err
    assert engine.operations == []


def test_remediate_local_converges_the_applied_commit_here(cli, git_repo, engine):
    applied = git_repo.head
    code, out, err = cli("--remediate", "--local", applied=applied)
    assert code == 0, (out, err)
    assert out.startswith("succeeded: ")
    assert "up" in engine.operations
    assert cli.components.states.get("dev").last_applied_commit == applied


def test_remediate_with_nothing_applied_is_an_error(cli, engine):
    code, out, err = cli("--remediate", "--local")
    assert code == 1 and "nothing to remediate: no commit has been applied to stack dev" in err
    assert engine.operations == []


@pytest.mark.parametrize("argv", [("--local",), ("--remediate", "--local", "--queue")])
def test_local_goes_with_remediate_only_and_not_with_queue(cli, git_repo, argv):
    code, _, err = cli(*argv, applied=git_repo.head)
    assert code == 1 and "--local" in err and "Traceback" not in err


def test_report_mode_advice_points_at_drift_remediate_not_reconcile():
    report = DriftReport(
        environment="prod", stack="prod", applied_commit="a" * 40, checked_at=AT,
        resources=[DriftedResource(urn="u", type="aws:ec2/securityGroup:SecurityGroup", name="sg", kind=DriftKind.CHANGED, severity=DriftSeverity.HIGH, summary="x")],
    )
    message = remediation(report, DriftSettings()).message
    assert "ecs-gitops drift --remediate --environment prod" in message
    assert "reconcile" not in message


@pytest.mark.parametrize("output", ["table", "json"])
def test_the_checks_output_is_scrubbed_with_the_reconcilers_redactor(cli, git_repo, engine, output):
    secret = "tok-5f1b2c9e8d7a"
    cli.components.redactor.add(secret)
    step = tag_changed()
    step.old.outputs["tags"]["team"] = f"someone-else {secret}"
    step.old.inputs["tags"]["team"] = f"someone-else {secret}"
    engine.refresh_steps = (step,)

    code, out, _ = cli("--output", output, applied=git_repo.head)

    assert code == 1
    assert "ecr-frontend-dev" in out and secret not in out
