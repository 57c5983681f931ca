"""An alarm rolls a rollout back; the notifications as an SQS subscriber, an e-mail subscriber and
AWS Chatbot (https) receive them through moto (the rendering is reconciler.notifications)."""

from __future__ import annotations

import json

import pytest

from reconciler.adapters.notify import SnsNotifier
from reconciler.redact import Redactor
from reconciler.rollout.model import RolloutPhase
from reconciler.rollout.notify import rollout_notifier

CHAT_URL = "https://chatbot.example.test/rollout"


@pytest.fixture
def topic(world):
    """A topic with SQS, e-mail and https subscribers; ``read()``: [(sqs JSON, e-mail text, https Message)]."""
    import responses
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.models import responses_mock
    from moto.sns.models import sns_backends

    posted: list[str] = []

    def chatbot_endpoint_double(request):
        """Where AWS Chatbot listens (cannot run here): moto's SNS POSTs the https form to it."""
        posted.append(json.loads(request.body)["Message"])
        return 200, {}, "ok"

    responses_mock.add(responses.CallbackResponse(method="POST", url=CHAT_URL, callback=chatbot_endpoint_double))
    sns = world.session.client("sns")
    arn = sns.create_topic(Name="ecs-gitops-rollout-forms")["TopicArn"]
    inbox = world.sqs.create_queue(QueueName="rollout-forms-inbox")["QueueUrl"]
    queue_arn = world.sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="oncall@example.com")
    sns.subscribe(TopicArn=arn, Protocol="https", Endpoint=CHAT_URL)
    backend_topic = sns_backends[DEFAULT_ACCOUNT_ID][world.session.region_name].topics[arn]

    def read():
        inbox_messages = []
        while batch := world.sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                inbox_messages.append(json.loads(json.loads(message["Body"])["Message"]))
                world.sqs.delete_message(QueueUrl=inbox, ReceiptHandle=message["ReceiptHandle"])
        emails = [json.loads(message)["email"] for _, message, *_ in backend_topic.sent_notifications]
        return list(zip(inbox_messages, emails, posted, strict=True))

    return SnsNotifier(sns, arn, redactor=Redactor(), chatbot=True), read


def test_an_alarm_rollback_tells_people_what_happened_and_what_to_run(world, topic):
    notifier, read = topic
    notify = rollout_notifier(notifier, Redactor())
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 0)
    world.cloudwatch.set_alarm_state(AlarmName="frontend-5xx", StateValue="ALARM", StateReason="5xx above 5 for 1 minute")

    record, _ = world.run(record.rollout_id, controller=world.controller(on_transition=notify))

    assert record.phase == RolloutPhase.ROLLED_BACK
    delivered = read()
    kinds = [sqs["kind"] for sqs, _, _ in delivered]
    assert kinds[-2:] == ["rollout-rolling-back", "rollout-rolled-back"]
    (rolling_json, rolling_email, rolling_chat), (rolled_json, rolled_email, rolled_chat) = delivered[-2:]
    # SQS: the JSON as the rollout notifier built it.
    assert rolling_json["evidence"]["alarms"] == ["frontend-5xx"] and rolling_json["service"] == "frontend"
    # E-mail: what, where, why (with the alarm), what next.
    assert rolling_email.splitlines()[0] == "[dev] frontend rollout-rolling-back: rolling-back"
    assert "rollout rolling back" in rolling_email
    assert "Service: frontend" in rolling_email and f"Rollout: {record.rollout_id}" in rolling_email
    assert "frontend-5xx" in rolling_email and rolling_json["reason"] in rolling_email
    assert "ecs-gitops rollout status --environment dev --service frontend" in rolling_email
    assert "rollout rolled back" in rolled_email and "ecs-gitops rollout status --environment dev --service frontend" in rolled_email
    # Chatbot: title and a short markdown description, threaded by rollout.
    chat = json.loads(rolling_chat)
    assert chat["metadata"]["threadId"] == record.rollout_id == json.loads(rolled_chat)["metadata"]["threadId"]
    assert "frontend" in chat["content"]["title"] and "frontend-5xx" in chat["content"]["description"]
    assert "`ecs-gitops rollout status --environment dev --service frontend`" in chat["content"]["nextSteps"]
