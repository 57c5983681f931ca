"""template.yaml's own operational resources, as deployed (SAM-transformed, resolved for both ways of
deploying, tests/deploy/transformed.py): the Pulumi state bucket and key created unless given and the
workers pointed at whichever is used, the alarms that notify the topic, and the audit archive."""

from __future__ import annotations

import pytest

from reconciler.settings import AWS_ENV_VARS, SETTINGS_ENV_VARS
from tests.deploy.transformed import SCENARIOS, of_type, resolve


def _env(template: dict, task: str) -> dict[str, str]:
    [container] = template["Resources"][task]["Properties"]["ContainerDefinitions"]
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def _statements(template: dict, role: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}


def test_the_workers_use_the_state_bucket_and_key_the_template_created(transformed):
    created = resolve(transformed, SCENARIOS["created"])
    assert {"StateBucket", "StateBucketPolicy", "StateKey"} <= set(created["Resources"])
    env = _env(created, "WorkerTaskDefinition")
    assert env[SETTINGS_ENV_VARS["backendUrl"]] == "s3://<StateBucket>?region=us-east-1"
    assert env[SETTINGS_ENV_VARS["secretsProvider"]] == "awskms:///<StateKey.Arn>?region=us-east-1"
    rights = _statements(created, "WorkerTaskRole")
    assert rights["PulumiBackend"]["Resource"] == ["arn:aws:s3:::<StateBucket>", "arn:aws:s3:::<StateBucket>/*"]
    assert rights["PulumiSecretsProvider"]["Resource"] == "<StateKey.Arn>"
    bucket = created["Resources"]["StateBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == "<StateKey.Arn>"
    key = created["Resources"]["StateKey"]
    assert key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == "Retain"
    # Only the converge worker's role may use the key (administrators administer it, they do not decrypt).
    usage = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if "kms:Decrypt" in s["Action"]]
    assert [s["Condition"] for s in usage] == [{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/ecs-gitops-WorkerTaskRole-*"}}]
    admin = next(s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Sid"] == "AccountAdministersTheKey")
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} & set(admin["Action"])


def test_the_workers_use_the_bucket_and_key_they_are_given(transformed):
    given = resolve(transformed, SCENARIOS["given"])
    assert not {"StateBucket", "StateBucketPolicy", "StateKey"} & set(given["Resources"])
    env = _env(given, "WorkerTaskDefinition")
    key = SCENARIOS["given"]["StateKmsKeyArn"]
    assert env[SETTINGS_ENV_VARS["backendUrl"]] == "s3://my-pulumi-state?region=us-east-1"
    assert env[SETTINGS_ENV_VARS["secretsProvider"]] == f"awskms:///{key}?region=us-east-1"
    rights = _statements(given, "WorkerTaskRole")
    assert rights["PulumiBackend"]["Resource"] == ["arn:aws:s3:::my-pulumi-state", "arn:aws:s3:::my-pulumi-state/*"]
    assert rights["PulumiSecretsProvider"]["Resource"] == key
    assert given["Outputs"]["StateBucketName"]["Value"] == "my-pulumi-state" and given["Outputs"]["StateKeyArn"]["Value"] == key


def _alarms_on(template: dict, namespace: str, metric: str) -> dict[str, dict]:
    return {n: a["Properties"] for n, a in of_type(template, "AWS::CloudWatch::Alarm").items()
            if a["Properties"].get("Namespace") == namespace and a["Properties"].get("MetricName") == metric}


def test_each_dead_letter_queue_alarms_the_topic_on_its_first_message(deployed):
    depth = _alarms_on(deployed, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    watched = {}
    for alarm in depth.values():
        [dimension] = alarm["Dimensions"]
        assert dimension["Name"] == "QueueName"
        watched[dimension["Value"]] = alarm
    assert set(watched) == {"<JobDeadLetterQueue.QueueName>", "<RolloutTickDeadLetterQueue.QueueName>"}
    for alarm in watched.values():
        assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["Statistic"]) == ("GreaterThanThreshold", 0, "Maximum")
        assert alarm["AlarmActions"] == ["<NotificationTopic>"] and alarm["TreatMissingData"] == "notBreaching"
    # The DLQs are the ones the queues redrive to.
    resources = deployed["Resources"]
    assert resources["JobQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == "<JobDeadLetterQueue.Arn>"
    assert resources["RolloutTickQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == "<RolloutTickDeadLetterQueue.Arn>"


def test_a_failed_converge_alarms_the_topic_through_the_workers_log(deployed):
    [metric_filter] = of_type(deployed, "AWS::Logs::MetricFilter").values()
    props = metric_filter["Properties"]
    assert props["LogGroupName"] == "<WorkerLogGroup>"
    [transformation] = props["MetricTransformations"]
    [alarm] = _alarms_on(deployed, transformation["MetricNamespace"], transformation["MetricName"]).values()
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["Statistic"]) == ("GreaterThanThreshold", 0, "Sum")
    assert alarm["AlarmActions"] == ["<NotificationTopic>"]
    # The converge worker writes the JSON lines the filter reads (tests/reconciler/test_structured_log.py).
    from reconciler.structured_log import LOG_FORMAT_ENV

    assert _env(deployed, "WorkerTaskDefinition")[LOG_FORMAT_ENV] == "json"
    assert deployed["Resources"]["WorkerTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["LogConfiguration"]["Options"]["awslogs-group"] == "<WorkerLogGroup>"
    # CloudWatch may publish to the topic: its key lets the alarms service use it (aws/sns would not).
    key = deployed["Resources"]["OperationsKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and "kms:GenerateDataKey" in s["Action"] for s in key)


def test_the_audit_archive_is_write_once_for_the_retention_the_template_sets(transformed):
    resources = resolve(transformed, {**SCENARIOS["created"], "AuditArchiveRetentionYears": 10})["Resources"]
    bucket = resources["AuditArchiveBucket"]
    props = bucket["Properties"]
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 10}},
    }
    assert bucket["DeletionPolicy"] == "Retain"
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == "<AuditArchiveKey.Arn>"
    # A deleted key would make locked records unreadable: the key's administrators cannot schedule its deletion.
    key = resources["AuditArchiveKey"]
    assert key["DeletionPolicy"] == "Retain"
    assert all("kms:ScheduleKeyDeletion" not in s["Action"] for s in key["Properties"]["KeyPolicy"]["Statement"])
    access = resources["AuditArchiveAccess"]["Properties"]
    assert access["Roles"] == ["<WorkerTaskRole>", "<TickWorkerTaskRole>"]
    by_sid = {s["Sid"]: s for s in access["PolicyDocument"]["Statement"]}
    assert set(by_sid["AuditArchive"]["Action"]) == {"s3:PutObject", "s3:PutObjectRetention", "s3:GetObject"}
    assert by_sid["AuditArchive"]["Resource"] == "<AuditArchiveBucket.Arn>/*"
    for task in ("WorkerTaskDefinition", "TickWorkerTaskDefinition"):
        assert _env({"Resources": resources}, task)["ECS_GITOPS_AUDIT_ARCHIVE_BUCKET"] == "<AuditArchiveBucket>"


def test_without_the_archive_there_is_no_bucket_and_no_name(transformed):
    resources = resolve(transformed, SCENARIOS["given"])["Resources"]
    assert not {"AuditArchiveBucket", "AuditArchiveKey", "AuditArchiveAccess", "AuditArchiveBucketPolicy"} & set(resources)
    for task in ("WorkerTaskDefinition", "TickWorkerTaskDefinition"):
        # Empty: settings loading treats a variable that is set but empty as not given.
        assert _env({"Resources": resources}, task)["ECS_GITOPS_AUDIT_ARCHIVE_BUCKET"] == ""


def test_the_archive_variable_is_the_settings_key_audit_reads():
    if "auditArchiveBucket" not in AWS_ENV_VARS:
        pytest.skip("the audit branch adds aws.auditArchiveBucket (ECS_GITOPS_AUDIT_ARCHIVE_BUCKET) to AWS_ENV_VARS")
    assert AWS_ENV_VARS["auditArchiveBucket"] == "ECS_GITOPS_AUDIT_ARCHIVE_BUCKET"
