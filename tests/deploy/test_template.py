"""template.yaml: valid CloudFormation, transforms as SAM, and wires what the reconciler expects."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def test_cfn_lint_finds_nothing():
    result = subprocess.run([sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_transform_produces_the_function_url_and_schedules(template, monkeypatch):
    from samtranslator.translator.transform import transform

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    document = copy.deepcopy(template)
    # `sam package` uploads the code; the translator needs an S3 location in its place.
    document["Resources"]["IntakeFunction"]["Properties"]["CodeUri"] = "s3://example-bucket/intake.zip"
    class _NoIam:
        """Stands in for the IAM managed-policy lookup the translator would make (no AWS here)."""

        def load(self):
            return {"AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}

    output = transform(document, {"WorkerImageUri": "x"}, _NoIam())
    resources = output["Resources"]
    types = {r["Type"] for r in resources.values()}
    assert {"AWS::Lambda::Function", "AWS::Lambda::Url", "AWS::Scheduler::Schedule", "AWS::Events::Rule"} <= types
    function = resources["IntakeFunction"]["Properties"]
    assert function["Handler"] == "reconciler.intake.handler"
    assert function["TracingConfig"] == {"Mode": "Active"}
    schedules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    kinds = sorted(yaml.safe_load(s["Target"]["Input"])["kind"] for s in schedules)
    assert kinds == ["drift-check", "resync"]


def test_queue_is_fifo_with_a_dead_letter_queue(template):
    queue = template["Resources"]["JobQueue"]["Properties"]
    assert queue["FifoQueue"] is True and queue["ContentBasedDeduplication"] is False
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["JobDeadLetterQueue", "Arn"]}
    assert template["Resources"]["JobDeadLetterQueue"]["Properties"]["FifoQueue"] is True


def test_event_patterns_cover_every_trigger(template):
    events = template["Resources"]["IntakeFunction"]["Properties"]["Events"]
    patterns = {name: e["Properties"].get("Pattern", {}) for name, e in events.items() if e["Type"] == "EventBridgeRule"}
    assert patterns["EcrImagePush"]["detail-type"] == ["ECR Image Action"]
    assert patterns["EcrImageScan"]["detail-type"] == ["ECR Image Scan"]
    assert patterns["DesiredStatePush"]["detail-type"] == ["CodeCommit Repository State Change"]


def test_audit_table_is_append_only_for_the_worker(template):
    statements = template["Resources"]["WorkerTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    audit = next(s for s in statements if s["Sid"] == "AppendOnlyAudit")
    assert "dynamodb:UpdateItem" not in audit["Action"] and "dynamodb:DeleteItem" not in audit["Action"]
    assert template["Resources"]["AuditTable"]["DeletionPolicy"] == "Retain"


def test_resource_names_the_code_reads_come_from_the_template(template):
    from reconciler.settings import AWS_ENV_VARS

    worker_env = {e["Name"] for e in template["Resources"]["WorkerTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Environment"]}
    intake_env = set(template["Resources"]["IntakeFunction"]["Properties"]["Environment"]["Variables"])
    assert {AWS_ENV_VARS[k] for k in ("jobQueueUrl", "stateTable", "auditTable", "topicArn", "rolloutTable", "tickQueueUrl")} <= worker_env
    assert {AWS_ENV_VARS[k] for k in ("jobQueueUrl", "idempotencyTable")} <= intake_env


def test_the_tick_queue_parks_failing_ticks_in_its_dlq_after_the_workers_last_attempt(template):
    """The tick runtime pauses the rollout and notifies on attempt ``tick_max_attempts``; SQS must park the tick right after."""
    from reconciler.ticks.runner import TickTimings

    resources = template["Resources"]
    ticks = resources["RolloutTickQueue"]["Properties"]
    assert ticks["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["RolloutTickDeadLetterQueue", "Arn"]}
    assert ticks["RedrivePolicy"]["maxReceiveCount"] == TickTimings().tick_max_attempts
    dlq = resources["RolloutTickDeadLetterQueue"]["Properties"]
    assert "FifoQueue" not in dlq and dlq["MessageRetentionPeriod"] == 1209600  # a standard queue's DLQ is standard; 14 days to look
    # The retries of every attempt before the last fit well inside the DLQ's retention.
    retry = TickTimings().tick_retry
    assert sum(retry.delay(n) for n in range(1, TickTimings().tick_max_attempts)) < dlq["MessageRetentionPeriod"]
    statements = resources["TickWorkerTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    tick_rights = next(s for s in statements if s["Sid"] == "Ticks")
    assert "sqs:ChangeMessageVisibility" in tick_rights["Action"]  # the backoff
    assert "RolloutTickDeadLetterQueueUrl" in template["Outputs"]


def test_the_tick_lease_covers_the_tick_queues_visibility_timeout(template):
    """A copy of a running tick comes back after the visibility timeout; the lease must still hold it off
    (and a copy back after a crash finds the lease ended, so the default agrees with the template)."""
    from reconciler.settings import TickSettings
    from reconciler.ticks.runner import TickTimings
    from reconciler.ticks.schedule import CoalescingTickScheduler

    visibility = template["Resources"]["RolloutTickQueue"]["Properties"]["VisibilityTimeout"]
    assert TickSettings().claim_lease_seconds >= visibility
    assert TickSettings().claim_lease_seconds == visibility == TickTimings().claim_lease_seconds
    assert CoalescingTickScheduler(None, "t", None, "u").lease.total_seconds() == visibility


def test_the_job_queue_matches_the_workers_timings(template):
    from reconciler.worker import WorkerTimings

    queue = template["Resources"]["JobQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == WorkerTimings().job_visibility_seconds
    # Five failures with the worker's backoff reach the DLQ in well under an hour, not 5 x 2 h.
    retry = WorkerTimings().job_retry
    assert sum(retry.delay(n) for n in range(1, queue["RedrivePolicy"]["maxReceiveCount"])) < 3600
    statements = template["Resources"]["WorkerTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert "sqs:ChangeMessageVisibility" in next(s for s in statements if s["Sid"] == "ConsumeJobs")["Action"]


def _statements(template: dict, role: str) -> list[dict]:
    return template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def test_ticks_run_in_their_own_service_never_behind_a_converge(template):
    """Rollout ticks have their own ECS service (the worker image: git for a revert, in the VPC for the smoke call)."""
    resources = template["Resources"]
    service = resources["TickWorkerService"]["Properties"]
    assert service["TaskDefinition"] == {"Ref": "TickWorkerTaskDefinition"}
    assert service["DesiredCount"] >= 2  # a rollback never waits for a task to be replaced
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED" and network["Subnets"] == {"Ref": "WorkerSubnetIds"}
    assert network["SecurityGroups"] == [{"Ref": "WorkerSecurityGroup"}]  # 8443 out: the test listener
    task = resources["TickWorkerTaskDefinition"]["Properties"]
    container = task["ContainerDefinitions"][0]
    assert container["Command"] == ["python", "-m", "reconciler.ticks"]
    assert container["StopTimeout"] >= 60  # the tick in hand finishes after SIGTERM (ECS's default is 30 s)
    assert container["Image"] == {"Ref": "WorkerImageUri"}
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["TickWorkerTaskRole", "Arn"]}
    env = {e["Name"] for e in container["Environment"]}
    assert {"ECS_GITOPS_ROLLOUT_TABLE", "ECS_GITOPS_TICK_QUEUE_URL", "ECS_GITOPS_STATE_TABLE", "ECS_GITOPS_TOPIC_ARN"} <= env
    # The converge workers no longer consume ticks: they only send a new rollout's first wake-up.
    worker_ticks = next(s for s in _statements(template, "WorkerTaskRole") if s["Sid"] == "RolloutTicks")
    assert worker_ticks["Action"] == "sqs:SendMessage"


def test_the_tick_role_is_scoped_and_runs_no_deploy(template):
    role = template["Resources"]["TickWorkerTaskRole"]["Properties"]
    assert "ManagedPolicyArns" not in role  # no deploy policy: a tick never runs `pulumi up`
    for statement in _statements(template, "TickWorkerTaskRole"):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all(not a.endswith(":*") and a != "*" for a in actions), statement["Sid"]
        if statement["Resource"] == "*":
            # Only calls that take no resource-level permission may name every resource; a List call (ecs:ListTasks,
            # whose only resource type Fargate tasks lack) only with a condition that scopes it.
            listed = statement.get("Condition") and all(a.split(":")[1].startswith("List") for a in actions)
            assert listed or all(a.split(":")[1].startswith(("Describe", "RegisterScalableTarget")) for a in actions), statement["Sid"]


def test_the_tick_role_moves_only_the_platforms_listeners_and_colour_services(template):
    """Names from desired_state.naming: alb-platform-<suffix>, ecs-cluster-<suffix>, svc-<service>-<colour>-<suffix>."""
    from desired_state.naming import name

    by_sid = {s["Sid"]: s for s in _statements(template, "TickWorkerTaskRole")}
    listeners = [r["Fn::Sub"] for r in by_sid["MoveTraffic"]["Resource"]]
    assert all(f":listener{kind}/app/{name('alb', '', 'platform')}*/*" in text for kind, text in zip(("", "-rule"), listeners))
    assert by_sid["ScaleColours"]["Resource"]["Fn::Sub"].endswith(f":service/{name('ecs', '', 'cluster')}*/svc-*")
