"""GitHub push webhooks through the Function URL: 202 and jobs only for the environments a push touched."""

from __future__ import annotations

import json

from reconciler.models import Job

DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def post(intake, reconciler_aws, payloads, payload, **kwargs):
    event = payloads.function_url_event(payloads.encode(payload), secret=reconciler_aws.webhook_secret, **kwargs)
    response = intake.handle(event)
    return response, json.loads(response["body"])


def test_push_touching_one_environment_file_queues_only_that_environment(intake, reconciler_aws, payloads, drain):
    payload = payloads.github_push_payload(commits=[{"modified": ["environments/dev.yaml"]}])

    response, body = post(intake, reconciler_aws, payloads, payload, delivery=DELIVERY)

    assert response["statusCode"] == 202
    assert response["headers"] == {"content-type": "application/json"}
    job_id = Job.make_id(f"github:{DELIVERY}", "dev")
    assert body == {"queued": 1, "duplicates": 0, "jobs": [job_id]}
    [message] = drain()
    job = message["job"]
    assert job["jobId"] == job_id
    assert job["environment"] == "dev" and job["stack"] == "dev"
    assert job["trigger"] == "git-push"
    assert job["commit"] == payloads.commit_a  # the payload's "after"
    assert job["author"] == "janedoe"
    assert job["eventId"] == f"github:{DELIVERY}"
    assert message["group"] == "dev"
    assert message["dedup"] == job_id


def test_push_touching_both_environment_files_across_commits(intake, reconciler_aws, payloads, drain):
    payload = payloads.github_push_payload(
        commits=[{"modified": ["environments/prod.yaml"]}, {"added": ["environments/dev.yaml"]}]
    )

    response, body = post(intake, reconciler_aws, payloads, payload)

    assert response["statusCode"] == 202
    assert body["queued"] == 2
    assert sorted(m["job"]["environment"] for m in drain()) == ["dev", "prod"]


def test_removed_environment_file_counts_as_a_change(intake, reconciler_aws, payloads, drain):
    payload = payloads.github_push_payload(commits=[{"removed": ["environments/prod.yaml"]}])

    _, body = post(intake, reconciler_aws, payloads, payload)

    assert body["queued"] == 1
    assert [m["job"]["environment"] for m in drain()] == ["prod"]


def test_push_touching_a_shared_file_queues_every_environment(intake, reconciler_aws, payloads, drain):
    payload = payloads.github_push_payload(commits=[{"modified": ["shared/services.yaml", "environments/dev.yaml"]}])

    response, body = post(intake, reconciler_aws, payloads, payload)

    assert response["statusCode"] == 202
    assert body["queued"] == 2
    assert body["jobs"] == [Job.make_id(f"github:{DELIVERY}", "dev"), Job.make_id(f"github:{DELIVERY}", "prod")]
    assert sorted(m["job"]["environment"] for m in drain()) == ["dev", "prod"]


def test_push_touching_only_an_unmanaged_environment_queues_nothing(intake, reconciler_aws, payloads, drain):
    payload = payloads.github_push_payload(commits=[{"modified": ["environments/staging.yaml"]}])

    response, body = post(intake, reconciler_aws, payloads, payload)

    assert response["statusCode"] == 202
    assert body == {"queued": 0, "duplicates": 0, "jobs": []}
    assert drain() == []


def test_push_without_file_lists_queues_every_environment(intake, reconciler_aws, payloads, drain):
    payload = payloads.github_push_payload(commits=[])  # GitHub omits commits for very large pushes

    _, body = post(intake, reconciler_aws, payloads, payload)

    assert body["queued"] == 2
    assert len(drain()) == 2


def test_branch_deletion_queues_nothing(intake, reconciler_aws, payloads, drain):
    payload = payloads.github_push_payload(after="0" * 40, commits=[])

    response, body = post(intake, reconciler_aws, payloads, payload)

    assert response["statusCode"] == 202
    assert body["queued"] == 0
    assert drain() == []


def test_base64_encoded_body_is_accepted(intake, reconciler_aws, payloads, drain):
    payload = payloads.github_push_payload(commits=[{"modified": ["environments/prod.yaml"]}])

    response, body = post(intake, reconciler_aws, payloads, payload, base64_encoded=True)

    assert response["statusCode"] == 202
    assert body["queued"] == 1
    [message] = drain()
    assert message["job"]["environment"] == "prod"
    assert message["job"]["commit"] == payloads.commit_a


def test_invalid_base64_body_is_a_400(intake, reconciler_aws, payloads, drain):
    event = payloads.function_url_event(b"{}", secret=reconciler_aws.webhook_secret)
    event["isBase64Encoded"] = True
    event["body"] = "not base64 at all!!"

    response = intake.handle(event)

    assert response["statusCode"] == 400
    assert "base64" in json.loads(response["body"])["error"]
    assert drain() == []


def test_header_names_are_case_insensitive(intake, reconciler_aws, payloads, drain):
    body = payloads.encode(payloads.github_push_payload())
    event = payloads.function_url_event(body, secret=reconciler_aws.webhook_secret)
    event["headers"] = {
        {"x-hub-signature-256": "X-Hub-Signature-256", "x-github-event": "X-GitHub-Event", "x-github-delivery": "X-GitHub-Delivery"}.get(k, k): v
        for k, v in event["headers"].items()
    }

    response = intake.handle(event)

    assert response["statusCode"] == 202
    assert len(drain()) == 1


def test_push_whose_after_is_not_a_commit_is_a_400(intake, reconciler_aws, payloads, drain):
    payload = payloads.github_push_payload()
    payload["after"] = "HEAD"

    response, body = post(intake, reconciler_aws, payloads, payload)

    assert response["statusCode"] == 400
    assert "'after' is not a commit id" in body["error"]
    assert drain() == []
