"""Every EventBridge event kind the intake accepts, shaped as AWS documents it, end to end into the FIFO queue."""

from __future__ import annotations

from reconciler.models import Job


def test_ecr_push_success_queues_one_job_for_the_owning_environment(intake, payloads, drain):
    event = payloads.ecr_image_action("ecr-frontend-dev", tag="v1.4.2")

    result = intake.handle(event)

    job_id = Job.make_id(event["id"], "dev")
    assert result == {"queued": 1, "duplicates": 0, "jobs": [job_id]}
    [message] = drain()
    job = message["job"]
    assert job["jobId"] == job_id
    assert job["environment"] == "dev"
    assert job["stack"] == "dev"
    assert job["trigger"] == "ecr-image-push"
    assert job["eventId"] == event["id"]
    assert job["commit"] is None
    assert job["image"] == {
        "repository": "ecr-frontend-dev",
        "service": "frontend",
        "tag": "v1.4.2",
        "digest": payloads.digest,
        "scanStatus": None,
        "findingCounts": {},
    }
    assert Job.model_validate(job).received_at == payloads.now
    assert message["group"] == "dev"
    assert message["attributes"] == {"environment": "dev", "trigger": "ecr-image-push"}


def test_ecr_push_of_another_service_in_prod_goes_to_prod(intake, payloads, drain):
    intake.handle(payloads.ecr_image_action("ecr-api-gateway-prod", tag=None))

    [message] = drain()
    assert message["job"]["environment"] == "prod"
    assert message["job"]["stack"] == "prod"
    assert message["job"]["image"]["service"] == "api-gateway"
    assert message["job"]["image"]["tag"] is None  # pushed by digest only
    assert message["job"]["image"]["digest"] == payloads.digest


def test_ecr_failed_push_or_delete_queues_nothing(intake, payloads, drain, subtests):
    for index, (action, result) in enumerate([("PUSH", "FAILURE"), ("DELETE", "SUCCESS"), ("DELETE", "FAILURE")]):
        with subtests.test(action=action, result=result):
            event = payloads.ecr_image_action("ecr-frontend-dev", action=action, result=result, event_id=f"evt-{index}")
            assert intake.handle(event) == {"queued": 0, "duplicates": 0, "jobs": []}
            assert drain() == []


def test_ecr_push_to_a_repository_of_no_environment_queues_nothing(intake, payloads, assert_dropped, subtests):
    # Since issue 9 the refusal is logged with its reason instead of passing silently.
    repositories = ["ecr-frontend-staging", "ecr-billing-dev", "frontend-dev", "ecr-frontend-dev-extra-but-unknown", "nginx"]
    for index, repository in enumerate(repositories):
        with subtests.test(repository=repository):
            outcome = intake.handle(payloads.ecr_image_action(repository, event_id=f"evt-{index}"))
            assert_dropped(outcome, "UndeployableImage", f"ECR repository '{repository}' belongs to no managed environment")


def test_ecr_scan_complete_queues_no_job(intake, payloads, drain):
    # Changed with issue 10: a finished scan wakes the rollout of its digest at once (test_intake_wakeups.py)
    # instead of becoming a job that waited for the converge worker.
    for index, (counts, tags) in enumerate([({"CRITICAL": 10, "MEDIUM": 9}, ["v2.0.0", "latest"]), ({}, [])]):
        result = intake.handle(payloads.ecr_image_scan("ecr-processing-service-dev", counts=counts, tags=tags, event_id=f"scan-{index}"))
        assert result["queued"] == 0 and result["jobs"] == [] and "dropped" not in result
    assert drain() == []


def test_ecr_scan_not_complete_queues_nothing(intake, payloads, drain):
    result = intake.handle(payloads.ecr_image_scan(status="FAILED"))
    assert result["jobs"] == [] and "not COMPLETE" in result["ignored"]
    assert drain() == []


def test_codecommit_push_to_the_desired_state_branch_queues_one_job_per_environment(intake, payloads, drain):
    event = payloads.codecommit_change(commit=payloads.commit_a)

    result = intake.handle(event)

    expected = [Job.make_id(event["id"], "dev"), Job.make_id(event["id"], "prod")]
    assert result == {"queued": 2, "duplicates": 0, "jobs": expected}
    messages = drain()
    by_env = {m["job"]["environment"]: m for m in messages}
    assert set(by_env) == {"dev", "prod"}
    for env in ("dev", "prod"):
        job = by_env[env]["job"]
        assert job["stack"] == env
        assert by_env[env]["group"] == env
        assert job["trigger"] == "codecommit-push"
        assert job["commit"] == payloads.commit_a
        assert job["author"] == "Mary_Major"  # from callerUserArn
        assert job["eventId"] == event["id"]
        assert job["image"] is None


def test_codecommit_branch_creation_counts_too(intake, payloads, drain):
    assert intake.handle(payloads.codecommit_change(event="referenceCreated"))["queued"] == 2
    assert len(drain()) == 2


def test_codecommit_changes_that_are_not_desired_state_pushes_queue_nothing(intake, payloads, drain, subtests):
    cases = {
        "other-branch": {"reference": "feature/new-service"},
        "other-repo": {"repository": "some-other-repo"},
        "tag": {"reference_type": "tag", "reference": "v1.0.0"},
        "tag-named-main": {"reference_type": "tag", "reference": "main"},
        "branch-deleted": {"event": "referenceDeleted"},
    }
    for index, (name, overrides) in enumerate(cases.items()):
        with subtests.test(case=name):
            event = payloads.codecommit_change(event_id=f"cc-{index}", **overrides)
            assert intake.handle(event) == {"queued": 0, "duplicates": 0, "jobs": []}
            assert drain() == []


def test_scheduler_drift_check_for_every_environment(intake, payloads, drain):
    tick = payloads.scheduler_tick("drift-check", "*", "exec-0001")

    result = intake.handle(tick)

    assert result["queued"] == 2
    assert result["jobs"] == [Job.make_id("scheduler:exec-0001", "dev"), Job.make_id("scheduler:exec-0001", "prod")]
    jobs = sorted((m["job"] for m in drain()), key=lambda j: j["environment"])
    assert [j["environment"] for j in jobs] == ["dev", "prod"]
    assert {j["trigger"] for j in jobs} == {"scheduled-drift-check"}
    assert {j["eventId"] for j in jobs} == {"scheduler:exec-0001"}
    assert all(j["commit"] is None for j in jobs)


def test_scheduler_resync_for_one_environment(intake, payloads, drain):
    result = intake.handle(payloads.scheduler_tick("resync", "prod", "exec-0002"))

    assert result["jobs"] == [Job.make_id("scheduler:exec-0002", "prod")]
    [message] = drain()
    assert message["job"]["trigger"] == "scheduled-resync"
    assert message["job"]["stack"] == "prod"


def test_scheduler_tick_with_a_bad_kind_is_dropped(intake, payloads, assert_dropped, subtests):
    # Changed with issue 9: a bad EventBridge event is a logged drop (it can never succeed on retry), not an exception.
    for kind in ["deploy", "", None, "Drift-Check"]:
        with subtests.test(kind=kind):
            tick = payloads.scheduler_tick()
            tick["kind"] = kind
            assert_dropped(intake.handle(tick), "InvalidEvent", "kind must be 'resync' or 'drift-check'")


def test_scheduler_tick_without_execution_id_is_dropped(intake, payloads, assert_dropped):
    tick = payloads.scheduler_tick()
    del tick["executionId"]

    assert_dropped(intake.handle(tick), "InvalidEvent", "executionId")


def test_scheduler_tick_for_an_unmanaged_environment_is_dropped(intake, payloads, assert_dropped):
    assert_dropped(intake.handle(payloads.scheduler_tick("resync", "staging")), "UnknownEnvironment", "'staging' is not managed")


def test_unsupported_event_is_dropped(intake, assert_dropped):
    event = {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2025-03-04T12:30:14Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
        "detail": {"instance-id": "i-abcd1111", "state": "pending"},
    }
    assert_dropped(intake.handle(event), "InvalidEvent", "unsupported event: source='aws.ec2'")


def test_ecr_push_without_repository_name_is_dropped(intake, payloads, assert_dropped):
    event = payloads.ecr_image_action()
    del event["detail"]["repository-name"]

    assert_dropped(intake.handle(event), "InvalidEvent", "repository-name")


def test_eventbridge_event_without_id_is_dropped(intake, payloads, assert_dropped):
    event = payloads.codecommit_change()
    del event["id"]

    assert_dropped(intake.handle(event), "InvalidEvent", "'id' is missing")
