"""The watch items a rollout writes when it starts and removes when it finishes (issue 10)."""

from __future__ import annotations

from reconciler.rollout.model import RolloutPhase
from reconciler.rollout.store import RolloutStore
from reconciler.rollout.watch import ALARM, ECS_SERVICE, IMAGE, RolloutWatchIndex


def watch_items(world) -> dict[str, list[str]]:
    items = world.dynamodb.scan(TableName="ecs-gitops-rollouts")["Items"]
    return {i["pk"]["S"]: sorted(i["rolloutIds"]["SS"]) for i in items if i["pk"]["S"].startswith("watch#") and "rolloutIds" in i}


def test_a_started_rollout_watches_the_new_colours_alarms_the_desired_states_both_services_and_its_image(world):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    index = RolloutWatchIndex(world.dynamodb, "ecs-gitops-rollouts")
    rid = [record.rollout_id]

    expected = {
        **{f"watch#alarm#{world.colour_alarm('frontend', 'green', kind)}": rid for kind in ("5xx", "latency", "unhealthy")},
        "watch#alarm#frontend-5xx": rid,
        f"watch#ecs-service#{world.cluster}/{world.ecs_service('frontend', 'blue')}": rid,
        f"watch#ecs-service#{world.cluster}/{world.ecs_service('frontend', 'green')}": rid,
        f"watch#image#ecr-frontend-dev@{image.digest}": rid,
    }
    assert watch_items(world) == expected
    assert index.watching(ALARM, world.colour_alarm("frontend", "blue", "5xx")) == []  # the colour being replaced
    assert index.watching(ECS_SERVICE, f"{world.cluster}/{world.ecs_service('frontend', 'green')}") == rid
    assert index.watching(IMAGE, f"ecr-frontend-dev@{image.digest}") == rid


def test_a_finished_rollout_unwatches_and_leaves_another_rollouts_watch_of_the_same_alarm_alone(world, kit):
    shared = ("shared-5xx",)
    world.cloudwatch.put_metric_alarm(
        AlarmName="shared-5xx", MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold",
    )
    first = world.start("frontend", world.push_image("frontend", "3.0.0"), kit.default_spec(alarms=shared))
    second = world.start("api-gateway", world.push_image("api-gateway", "3.0.0"), kit.default_spec("api-gateway", alarms=shared))
    assert watch_items(world)["watch#alarm#shared-5xx"] == sorted([first.rollout_id, second.rollout_id])

    record, _ = world.run(first.rollout_id)
    assert record.phase == RolloutPhase.COMPLETE

    items = watch_items(world)
    assert items["watch#alarm#shared-5xx"] == [second.rollout_id]
    assert all(first.rollout_id not in ids for ids in items.values())
    # A resource nobody watches any more keeps no item at all.
    every = {i["pk"]["S"] for i in world.dynamodb.scan(TableName="ecs-gitops-rollouts")["Items"]}
    assert not any(first.new_image.digest in pk for pk in every)


def test_watches_beyond_one_transaction_are_added_too(world, kit):
    many = tuple(f"team-alarm-{i:03d}" for i in range(120))
    record = world.start("frontend", world.push_image("frontend", "3.0.0"), kit.default_spec(alarms=many))
    index = RolloutWatchIndex(world.dynamodb, "ecs-gitops-rollouts")

    assert all(index.watching(ALARM, alarm) == [record.rollout_id] for alarm in many)


def test_a_failed_create_watches_nothing(world, kit):
    """The watches are in the create's transaction: a rollout that could not start leaves no watch behind."""
    from reconciler.errors import ConflictError

    first = world.start("frontend", world.push_image("frontend", "3.0.0"))
    clash = first.model_copy(update={"rollout_id": "another", "new_image": first.new_image.model_copy(update={"digest": "sha256:" + "e" * 64})})
    try:
        RolloutStore(world.dynamodb, "ecs-gitops-rollouts").create(clash)
    except ConflictError:
        pass
    else:
        raise AssertionError("a second active rollout of the same service was created")

    assert all("another" not in ids for ids in watch_items(world).values())
