"""Exactly once (Powertools idempotency on DynamoDB + FIFO dedup) and per-stack ordering (message group = stack)."""

from __future__ import annotations

import json

from reconciler.adapters.queue import JobQueue
from reconciler.models import Job


class CountingQueue(JobQueue):
    def __init__(self, sqs, url):
        super().__init__(sqs, url)
        self.sent: list[str] = []

    def send(self, job):
        self.sent.append(job.job_id)
        return super().send(job)


def idempotency_items(reconciler_aws) -> list[dict]:
    return reconciler_aws.dynamodb.scan(TableName=reconciler_aws.idempotency_table)["Items"]


def test_same_eventbridge_event_delivered_twice_is_queued_once(make_intake, reconciler_aws, payloads, drain):
    queue = CountingQueue(reconciler_aws.sqs, reconciler_aws.queue_url)
    intake = make_intake(queue=queue)
    event = payloads.ecr_image_action("ecr-frontend-dev")
    job_id = Job.make_id(event["id"], "dev")

    first = intake.handle(event)
    second = intake.handle(json.loads(json.dumps(event)))  # a fresh copy, as a redelivery would be

    assert first == {"queued": 1, "duplicates": 0, "jobs": [job_id]}
    assert second == {"queued": 0, "duplicates": 1, "jobs": [job_id]}
    # The idempotency layer, not only SQS's five-minute dedup window, stopped the second send.
    assert queue.sent == [job_id]
    messages = drain()
    assert [m["job"]["jobId"] for m in messages] == [job_id]
    items = idempotency_items(reconciler_aws)
    assert len(items) == 1
    assert items[0]["status"]["S"] == "COMPLETED"


def test_idempotency_survives_a_new_intake_instance(make_intake, reconciler_aws, payloads, drain):
    """A cold start (new process, new Intake) still sees the earlier delivery in DynamoDB."""
    event = payloads.codecommit_change()

    assert make_intake().handle(event)["queued"] == 2
    assert make_intake().handle(event) == {"queued": 0, "duplicates": 2, "jobs": [Job.make_id(event["id"], "dev"), Job.make_id(event["id"], "prod")]}
    assert len(drain()) == 2
    assert len(idempotency_items(reconciler_aws)) == 2


def test_same_scheduler_execution_delivered_twice_is_queued_once(intake, payloads, drain):
    tick = payloads.scheduler_tick("resync", "*", "exec-42")

    assert intake.handle(tick)["queued"] == 2
    assert intake.handle(tick)["duplicates"] == 2
    assert len(drain()) == 2


def test_replayed_github_delivery_is_accepted_but_not_queued_again(make_intake, reconciler_aws, payloads, drain):
    queue = CountingQueue(reconciler_aws.sqs, reconciler_aws.queue_url)
    intake = make_intake(queue=queue)
    body = payloads.encode(payloads.github_push_payload(commits=[{"modified": ["environments/dev.yaml"]}]))
    event = payloads.function_url_event(body, secret=reconciler_aws.webhook_secret, delivery="delivery-1")

    first = intake.handle(event)
    assert first["statusCode"] == 202
    assert json.loads(first["body"])["queued"] == 1
    assert len(drain()) == 1

    replay = intake.handle(event)  # GitHub's "Redeliver" button: same X-GitHub-Delivery

    assert replay["statusCode"] == 202
    assert json.loads(replay["body"]) == {"queued": 0, "duplicates": 1, "jobs": [Job.make_id("github:delivery-1", "dev")]}
    assert len(queue.sent) == 1
    assert drain() == []


def test_same_body_under_a_new_delivery_id_is_not_queued_again(make_intake, reconciler_aws, payloads, drain):
    # Changed with issue 8 ("a replayed webhook (same body under a new delivery id)"): this used to queue a second
    # job for the same commit; the idempotency key of a push is now its content, not its delivery id.
    queue = CountingQueue(reconciler_aws.sqs, reconciler_aws.queue_url)
    intake = make_intake(queue=queue)
    body = payloads.encode(payloads.github_push_payload(commits=[{"modified": ["environments/dev.yaml"]}]))

    first = intake.handle(payloads.function_url_event(body, secret=reconciler_aws.webhook_secret, delivery="delivery-1"))
    replay = intake.handle(payloads.function_url_event(body, secret=reconciler_aws.webhook_secret, delivery="delivery-2"))

    assert json.loads(first["body"])["queued"] == 1
    assert replay["statusCode"] == 202
    assert json.loads(replay["body"]) == {"queued": 0, "duplicates": 1, "jobs": [Job.make_id("github:delivery-2", "dev")]}
    assert len(queue.sent) == 1
    jobs = [m["job"] for m in drain()]
    assert [(j["eventId"], j["commit"]) for j in jobs] == [("github:delivery-1", payloads.commit_a)]


def test_replay_is_refused_after_a_cold_start_and_for_every_environment(make_intake, reconciler_aws, payloads, drain):
    body = payloads.encode(payloads.github_push_payload(commits=[]))  # no file lists: every environment

    assert json.loads(make_intake().handle(payloads.function_url_event(body, secret=reconciler_aws.webhook_secret, delivery="d-1"))["body"])["queued"] == 2
    replay = json.loads(make_intake().handle(payloads.function_url_event(body, secret=reconciler_aws.webhook_secret, delivery="d-2"))["body"])

    assert replay["queued"] == 0 and replay["duplicates"] == 2
    assert len(drain()) == 2


def test_a_reset_back_to_an_earlier_commit_is_a_new_push(intake, reconciler_aws, payloads, drain):
    """A -> B, then a deliberate reset B -> A: the second push names an already-seen 'after' but is no replay."""
    secret = reconciler_aws.webhook_secret
    files = [{"modified": ["environments/dev.yaml"]}]
    pushes = [
        ("p-1", payloads.github_push_payload(before=payloads.commit_c, after=payloads.commit_a, commits=files, pushed_at=100)),
        ("p-2", payloads.github_push_payload(before=payloads.commit_a, after=payloads.commit_b, commits=files, pushed_at=200)),
        ("p-3", payloads.github_push_payload(before=payloads.commit_b, after=payloads.commit_a, commits=files, pushed_at=300)),
        # The same transition as p-2 again, pushed later (after the reset): a genuine push, not a replay.
        ("p-4", payloads.github_push_payload(before=payloads.commit_a, after=payloads.commit_b, commits=files, pushed_at=400)),
    ]
    for delivery, payload in pushes:
        response = intake.handle(payloads.function_url_event(payloads.encode(payload), secret=secret, delivery=delivery))
        assert json.loads(response["body"])["queued"] == 1, delivery

    commits = [m["job"]["commit"] for m in drain()]
    assert commits == [payloads.commit_a, payloads.commit_b, payloads.commit_a, payloads.commit_b]


def test_content_key_separates_environments_and_repositories(make_settings_for, payloads):
    from reconciler.triggers import push_content_key

    settings = make_settings_for()
    payload = payloads.github_push_payload()
    other_repo = payloads.github_push_payload()
    other_repo["repository"]["full_name"] = "example-org/fork"

    keys = {
        push_content_key(settings, payload, "dev"),
        push_content_key(settings, payload, "prod"),
        push_content_key(settings, other_repo, "dev"),
        push_content_key(settings, payloads.github_push_payload(ref="refs/heads/main", pushed_at=1), "dev"),
    }
    assert len(keys) == 4
    assert push_content_key(settings, payload, "dev") == push_content_key(settings, json.loads(json.dumps(payload)), "dev")


def test_pushes_racing_on_one_stack_keep_their_order_in_one_group(intake, reconciler_aws, payloads, drain):
    secret = reconciler_aws.webhook_secret
    sent = []
    for index, commit in enumerate([payloads.commit_b, payloads.commit_a, payloads.commit_c]):
        body = payloads.encode(payloads.github_push_payload(after=commit, commits=[{"modified": ["environments/dev.yaml"]}]))
        response = intake.handle(payloads.function_url_event(body, secret=secret, delivery=f"race-{index}"))
        sent.append(json.loads(response["body"])["jobs"][0])
        if index == 1:
            # A prod change lands in between; it must not disturb dev's order.
            prod = payloads.encode(payloads.github_push_payload(commits=[{"modified": ["environments/prod.yaml"]}]))
            intake.handle(payloads.function_url_event(prod, secret=secret, delivery="prod-0"))

    messages = drain()

    dev = [m for m in messages if m["job"]["stack"] == "dev"]
    prod = [m for m in messages if m["job"]["stack"] == "prod"]
    assert [m["job"]["jobId"] for m in dev] == sent
    assert [m["job"]["commit"] for m in dev] == [payloads.commit_b, payloads.commit_a, payloads.commit_c]
    assert {m["group"] for m in dev} == {"dev"}
    assert [m["group"] for m in prod] == ["prod"]
    # Deduplication id = job id, for every message.
    assert all(m["dedup"] == m["job"]["jobId"] for m in messages)


def test_one_event_for_two_stacks_uses_two_groups(intake, payloads, drain):
    intake.handle(payloads.codecommit_change())

    messages = drain()

    assert sorted((m["group"], m["job"]["stack"]) for m in messages) == [("dev", "dev"), ("prod", "prod")]
    assert all(m["dedup"] == m["job"]["jobId"] for m in messages)


def test_fifo_dedup_alone_drops_a_second_send_of_the_same_job(reconciler_aws, make_settings_for, payloads, drain):
    """Inside SQS's five-minute window the deduplication id (= job id) drops a repeat even without DynamoDB."""
    from reconciler.triggers import jobs_from_eventbridge

    [job] = jobs_from_eventbridge(make_settings_for(), payloads.ecr_image_action(), payloads.now)
    queue = JobQueue(reconciler_aws.sqs, reconciler_aws.queue_url)

    queue.send(job)
    queue.send(job)

    messages = drain()
    assert [m["dedup"] for m in messages] == [job.job_id]
    assert Job.model_validate(messages[0]["job"]) == job
