"""Events a running rollout waits for wake it at once (issue 10): parsed, matched by resource, ticked now.

On moto: the rollout table (with the watch items ``RolloutStore.create`` writes) and the SQS tick
queue the real ``SqsTickScheduler`` sends to. Event payloads are AWS's documented examples
(``samples/``, see samples/README.md) with the platform's resource names.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from reconciler.rollout.watch import ALARM, ECS_SERVICE, IMAGE
from reconciler.wakeups import NoWakeUp, WakeUp, wake_up_from_eventbridge

GREEN_5XX_DEV = "alarm-frontend-green-5xx-dev"
DEV_GREEN = "ecs-cluster-dev/svc-frontend-green-dev"

# sample -> (kind, key) it wakes; None: it wakes nobody.
SAMPLES = {
    "cloudwatch-alarm-state-change": (ALARM, GREEN_5XX_DEV),
    "ecs-deployment-state-change-completed": (ECS_SERVICE, DEV_GREEN),
    "ecs-deployment-state-change-failed": (ECS_SERVICE, DEV_GREEN),
    "ecs-deployment-state-change-in-progress": None,
    "ecs-service-action-task-start-impaired": (ECS_SERVICE, DEV_GREEN),
    "ecs-service-action-steady-state": None,
    "ecr-image-scan": (IMAGE, "ecr-frontend-dev@sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678"),
}
WAKING = sorted(name for name, wakes in SAMPLES.items() if wakes)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_documented_sample_parses_into_its_wake_up(name, make_settings_for, payloads):
    outcome = wake_up_from_eventbridge(make_settings_for(), payloads.sample(name))

    if SAMPLES[name] is None:
        assert isinstance(outcome, NoWakeUp) and outcome.reason
    else:
        assert isinstance(outcome, WakeUp)
        assert (outcome.kind, outcome.key) == SAMPLES[name]
        assert outcome.event_id == payloads.sample(name)["id"]


def _start(store, payloads, *records):
    return [store.create(record) for record in records]


@pytest.mark.parametrize("name", WAKING)
def test_each_waking_sample_ticks_exactly_the_matching_rollout_now(name, wake_intake, rollout_store, rollout_aws, payloads, drain):
    # dev frontend (green idle) is the one every sample names; prod frontend and dev api-gateway watch other resources.
    _start(
        rollout_store, payloads,
        payloads.rollout_record("dev-frontend"),
        payloads.rollout_record("prod-frontend", suffix="prod"),
        payloads.rollout_record("dev-api", service="api-gateway", digest="sha256:" + "b" * 64),
    )

    result = wake_intake().handle(payloads.sample(name))

    assert result["woken"] == ["dev-frontend"], result
    [tick] = rollout_aws.ticks()
    assert tick["rolloutId"] == "dev-frontend"
    assert datetime.fromisoformat(tick["notBefore"]) == payloads.now  # now, not at the next poll
    assert drain() == []  # a wake-up is not a job


def test_two_rollouts_watching_one_alarm_are_both_woken(wake_intake, rollout_store, rollout_aws, payloads):
    shared = ("shared-latency",)
    _start(rollout_store, payloads, payloads.rollout_record("r-frontend", spec_alarms=shared),
           payloads.rollout_record("r-api", service="api-gateway", spec_alarms=shared, digest="sha256:" + "b" * 64))
    event = payloads.sample("cloudwatch-alarm-state-change")
    event["detail"]["alarmName"] = "shared-latency"

    assert wake_intake().handle(event)["woken"] == ["r-api", "r-frontend"]
    assert sorted(t["rolloutId"] for t in rollout_aws.ticks()) == ["r-api", "r-frontend"]


def test_the_idle_colours_alarms_wake_but_the_live_colours_do_not(wake_intake, rollout_store, rollout_aws, payloads):
    """The rollout watches the to-colour's program alarms (and the desired state's); blue is the one being replaced."""
    _start(rollout_store, payloads, payloads.rollout_record("dev-frontend", to_colour="green"))
    intake = wake_intake()
    for alarm, woken in (("alarm-frontend-green-latency-dev", ["dev-frontend"]), ("frontend-5xx", ["dev-frontend"]),
                         ("alarm-frontend-blue-5xx-dev", [])):
        event = payloads.sample("cloudwatch-alarm-state-change")
        event["detail"]["alarmName"] = alarm
        assert intake.handle(event)["woken"] == woken, alarm
    assert len(rollout_aws.ticks()) == 2


def test_another_environments_resources_never_wake_this_environments_rollout(wake_intake, rollout_store, rollout_aws, payloads, intake_log):
    """Names carry the environment suffix: prod's alarm, cluster and repository are not dev's."""
    _start(rollout_store, payloads, payloads.rollout_record("dev-frontend"))
    alarm = payloads.sample("cloudwatch-alarm-state-change")
    alarm["detail"]["alarmName"] = "alarm-frontend-green-5xx-prod"
    deployment = payloads.sample("ecs-deployment-state-change-failed")
    deployment["resources"] = [f"arn:aws:ecs:{payloads.region}:{payloads.account}:service/ecs-cluster-prod/svc-frontend-green-prod"]
    same_service_other_cluster = payloads.sample("ecs-deployment-state-change-failed")
    same_service_other_cluster["resources"] = [f"arn:aws:ecs:{payloads.region}:{payloads.account}:service/ecs-cluster-prod/svc-frontend-green-dev"]
    scan = payloads.sample("ecr-image-scan")
    scan["detail"]["repository-name"] = "ecr-frontend-prod"
    intake = wake_intake()

    for event in (alarm, deployment, same_service_other_cluster, scan):
        result = intake.handle(event)
        assert result["woken"] == [] and "no running rollout watches" in result["ignored"], result
    assert rollout_aws.ticks() == []
    ignored = [line for line in intake_log() if line["message"] == "event ignored"]
    assert len(ignored) == 4 and all("no running rollout watches" in line["reason"] for line in ignored)


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_an_alarm_leaving_alarm_wakes_nobody_and_is_logged(state, wake_intake, rollout_store, rollout_aws, payloads, intake_log):
    _start(rollout_store, payloads, payloads.rollout_record("dev-frontend"))
    event = payloads.sample("cloudwatch-alarm-state-change")
    event["detail"]["previousState"]["value"], event["detail"]["state"]["value"] = "ALARM", state

    result = wake_intake().handle(event)

    assert result["woken"] == [] and f"moved to '{state}'" in result["ignored"]
    assert rollout_aws.ticks() == []
    [line] = [line for line in intake_log() if line["message"] == "event ignored"]
    assert f"moved to '{state}'" in line["reason"] and line["source"] == "'aws.cloudwatch'"


@pytest.mark.parametrize("name", ["ecs-deployment-state-change-in-progress", "ecs-service-action-steady-state"])
def test_ecs_events_that_end_nothing_wake_nobody(name, wake_intake, rollout_store, rollout_aws, payloads, intake_log):
    _start(rollout_store, payloads, payloads.rollout_record("dev-frontend"))

    result = wake_intake().handle(payloads.sample(name))

    assert result["woken"] == [] and result["ignored"]
    assert rollout_aws.ticks() == []
    assert [line["message"] for line in intake_log()] == ["event ignored"]


def test_an_event_nobody_waits_for_is_ignored_not_an_error(wake_intake, rollout_aws, payloads, intake_log, drain):
    for name in WAKING:
        result = wake_intake().handle(payloads.sample(name))
        assert result["queued"] == 0 and result["woken"] == [] and "no running rollout watches" in result["ignored"]
        assert "dropped" not in result
    assert rollout_aws.ticks() == [] and drain() == []
    assert len([line for line in intake_log() if line["message"] == "event ignored"]) == len(WAKING)


def test_a_finished_rollout_is_no_longer_woken(wake_intake, rollout_store, rollout_aws, payloads):
    from reconciler.rollout.model import RolloutPhase

    [record] = _start(rollout_store, payloads, payloads.rollout_record("dev-frontend"))
    rollout_store.put(record, record.model_copy(update={"phase": RolloutPhase.ROLLED_BACK}))

    result = wake_intake().handle(payloads.sample("cloudwatch-alarm-state-change"))

    assert result["woken"] == [] and rollout_aws.ticks() == []


def test_a_finished_scan_wakes_the_rollout_of_its_digest_instead_of_queueing_a_job(wake_intake, rollout_store, rollout_aws, payloads, drain):
    """Before issue 10 a finished scan became a job the converge worker turned into a tick, behind any converge."""
    _start(rollout_store, payloads, payloads.rollout_record("dev-frontend", phase="scanning"))

    result = wake_intake().handle(payloads.sample("ecr-image-scan"))

    assert result == {"queued": 0, "duplicates": 0, "jobs": [], "woken": ["dev-frontend"], "cause": result["cause"]}
    assert "ecr-frontend-dev@sha256:" in result["cause"]
    assert [t["rolloutId"] for t in rollout_aws.ticks()] == ["dev-frontend"]
    assert drain() == []


def test_wake_ups_are_off_without_a_rollout_table_and_tick_queue(intake, payloads, intake_log):
    result = intake.handle(payloads.sample("cloudwatch-alarm-state-change"))

    assert result["woken"] == [] and "wake-ups are off here" in result["ignored"]


# --------------------------------------------------------------------------- account and region


def test_events_of_another_account_or_region_are_refused_when_the_settings_know_their_own(
    wake_intake, make_settings_for, rollout_store, rollout_aws, payloads, assert_dropped
):
    from reconciler.settings import AwsResources

    _start(rollout_store, payloads, payloads.rollout_record("dev-frontend"))
    own = make_settings_for().model_copy(update={"aws": AwsResources(account_id=payloads.account, region=payloads.region)})
    intake = wake_intake(own)
    assert intake.handle(payloads.sample("cloudwatch-alarm-state-change"))["woken"] == ["dev-frontend"]
    rollout_aws.ticks()

    other_account = payloads.sample("cloudwatch-alarm-state-change")
    other_account["account"] = "111122223333"
    other_region = payloads.sample("ecs-deployment-state-change-failed")
    other_region["region"] = "us-west-2"
    # The envelope says ours, the service ARN another account's: the ARN decides what the event is about.
    other_arn = payloads.sample("ecs-deployment-state-change-failed")
    other_arn["resources"] = ["arn:aws:ecs:us-east-1:111122223333:service/ecs-cluster-dev/svc-frontend-green-dev"]
    for event, match in ((other_account, "from account '111122223333'"), (other_region, "from region 'us-west-2'"),
                         (other_arn, "from account '111122223333'")):
        assert_dropped(intake.handle(event), "ForeignEvent", match)
    assert rollout_aws.ticks() == []


def test_without_an_account_in_the_settings_the_events_origin_is_not_checked(wake_intake, rollout_store, payloads):
    _start(rollout_store, payloads, payloads.rollout_record("dev-frontend"))
    event = payloads.sample("cloudwatch-alarm-state-change")
    event["account"] = "111122223333"

    assert wake_intake().handle(event)["woken"] == ["dev-frontend"]


# --------------------------------------------------------------------------- bad shapes


def _bad(payloads, name, mutate):
    event = payloads.sample(name)
    mutate(event)
    return event


BAD_SHAPES = {
    "alarm-name-missing": ("cloudwatch-alarm-state-change", lambda e: e["detail"].pop("alarmName"), "field 'alarmName' is missing"),
    "alarm-state-a-string": ("cloudwatch-alarm-state-change", lambda e: e["detail"].update(state="ALARM"), "field 'state'"),
    "alarm-name-a-number": ("cloudwatch-alarm-state-change", lambda e: e["detail"].update(alarmName=5), "field 'alarmName'"),
    "alarm-name-with-a-newline": ("cloudwatch-alarm-state-change", lambda e: e["detail"].update(alarmName=GREEN_5XX_DEV + "\n"),
                                  "contains a control character"),
    "ecs-resources-empty": ("ecs-deployment-state-change-failed", lambda e: e.update(resources=[]), "exactly one ECS service ARN"),
    "ecs-resources-not-a-service": ("ecs-service-action-task-start-impaired",
                                    lambda e: e.update(resources=["arn:aws:ecs:us-east-1:123456789012:task/ecs-cluster-dev/abc"]),
                                    "exactly one ECS service ARN"),
    "ecs-two-services": ("ecs-deployment-state-change-completed",
                         lambda e: e.update(resources=[e["resources"][0], e["resources"][0].replace("green", "blue")]), "exactly one"),
    "ecs-old-arn-without-cluster": ("ecs-deployment-state-change-completed",
                                    lambda e: e.update(resources=["arn:aws:ecs:us-east-1:123456789012:service/svc-frontend-green-dev"]),
                                    "names no cluster"),
    "ecs-event-name-missing": ("ecs-deployment-state-change-failed", lambda e: e["detail"].pop("eventName"), "field 'eventName' is missing"),
    "ecs-resources-a-string": ("ecs-deployment-state-change-failed", lambda e: e.update(resources=e["resources"][0]), "field 'resources'"),
    "detail-a-list": ("ecs-service-action-task-start-impaired", lambda e: e.update(detail=[e["detail"]]), "field 'detail'"),
    "account-a-number": ("cloudwatch-alarm-state-change", lambda e: e.update(account=123456789012), "field 'account'"),
}


@pytest.mark.parametrize("case", sorted(BAD_SHAPES))
def test_bad_shapes_are_dropped_with_the_event_dropped_log_and_metric(case, wake_intake, rollout_store, rollout_aws, payloads, assert_dropped):
    from reconciler.intake import metrics

    _start(rollout_store, payloads, payloads.rollout_record("dev-frontend"))
    name, mutate, match = BAD_SHAPES[case]

    result = wake_intake().handle(_bad(payloads, name, mutate))

    assert_dropped(result, "InvalidEvent", match)
    assert rollout_aws.ticks() == []
    assert metrics.metric_set["EventsDropped"]["Value"] == [1.0]


def test_the_old_service_arn_format_takes_the_cluster_from_a_service_actions_cluster_arn(wake_intake, rollout_store, payloads):
    _start(rollout_store, payloads, payloads.rollout_record("dev-frontend"))
    event = payloads.sample("ecs-service-action-task-start-impaired")
    event["resources"] = ["arn:aws:ecs:us-east-1:123456789012:service/svc-frontend-green-dev"]

    assert wake_intake().handle(event)["woken"] == ["dev-frontend"]


def test_a_scan_of_an_undeployable_digest_or_unknown_repository_is_still_refused(wake_intake, payloads, assert_dropped):
    bad_digest = payloads.sample("ecr-image-scan")
    bad_digest["detail"]["image-digest"] = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"  # AWS's example, cut short
    unknown = payloads.sample("ecr-image-scan")
    unknown["detail"]["repository-name"] = "ecr-frontend-staging"

    assert_dropped(wake_intake().handle(bad_digest), "UndeployableImage", "is not an image digest")
    assert_dropped(wake_intake().handle(unknown), "UndeployableImage", "belongs to no managed environment")


def test_an_event_wakeup_carries_its_cause_to_the_tick(wake_intake, rollout_store, rollout_aws, payloads):
    """The intake's wake-up goes through the coalescing scheduler (as deployed) with the event's cause, for the tick's logs."""
    from reconciler.ticks.schedule import CoalescingTickScheduler

    _start(rollout_store, payloads, payloads.rollout_record("dev-frontend"))
    intake = wake_intake()
    intake.ticks = CoalescingTickScheduler(rollout_aws.dynamodb, rollout_aws.table, rollout_aws.sqs, rollout_aws.tick_queue_url)
    event = payloads.sample("cloudwatch-alarm-state-change")

    result = intake.handle(event)

    [tick] = rollout_aws.ticks()
    assert tick["rolloutId"] == "dev-frontend" and tick["delaySeconds"] == 0
    assert tick["cause"] == result["cause"] and GREEN_5XX_DEV in tick["cause"]
