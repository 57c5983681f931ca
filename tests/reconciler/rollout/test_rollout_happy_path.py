"""A rollout that passes every gate, for both ALB-facing services.

frontend is routed by the listener's default action, api-gateway by a listener rule. After every
tick the weights are read back from moto (describe_listeners / describe_rules) and the desired
counts from describe_services; the record alone is never taken as proof.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from desired_state.schema import ImageRef
from reconciler.rollout.model import RolloutPhase

STEP_WEIGHTS = {0: (90, 10), 1: (50, 50), 2: (0, 100)}


@pytest.mark.parametrize("service", ["frontend", "api-gateway"])
def test_rollout_shifts_10_50_100_promotes_then_scales_the_old_colour_down(world, kit, service):
    image = world.push_image(service, "3.0.0")
    spec = kit.default_spec(service)
    other = "api-gateway" if service == "frontend" else "frontend"
    other_weights_before = world.alb_weights(other)

    record = world.start(service, image, spec)
    assert (record.phase, record.from_colour, record.to_colour) == (RolloutPhase.SCANNING, "blue", "green")
    assert world.alb_weights(service) == (100, 0)
    assert world.desired_counts(service) == {"blue": 2, "green": 0}

    record, snapshots = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.PROMOTED)

    # ---- every tick: what moto shows matches the phase and step the record is in
    for snap in snapshots:
        if snap.phase in (RolloutPhase.DEPLOYING, RolloutPhase.SMOKE_TESTING):
            assert snap.weights == (100, 0), snap
        elif snap.phase in (RolloutPhase.SHIFTING, RolloutPhase.BAKING):
            assert snap.weights == STEP_WEIGHTS[snap.step_index], snap
        elif snap.phase == RolloutPhase.PROMOTED:
            assert snap.weights == (0, 100), snap
        # Both colours run at the live count from the moment the idle colour is staged; the old
        # colour is never scaled down before the scale-down delay.
        assert snap.counts == {"blue": 2, "green": 2}, snap

    distinct = [snapshots[0].weights]
    for snap in snapshots[1:]:
        if snap.weights != distinct[-1]:
            distinct.append(snap.weights)
    assert distinct == [(100, 0), (90, 10), (50, 50), (0, 100)]

    # ---- each step baked for at least bake_seconds with the weights in place, and alarms watched
    history = record.history
    for index in range(3):
        entered = next(t for t in history if t.to_phase == RolloutPhase.BAKING and t.evidence.get("weights") == dict(zip(("blue", "green"), STEP_WEIGHTS[index])))
        left = history[history.index(entered) + 1]
        assert left.at - entered.at >= timedelta(seconds=spec.bake_seconds)
        baking = [s for s in snapshots if s.phase == RolloutPhase.BAKING and s.step_index == index]
        assert len(baking) >= 2  # the alarm watch ticks inside the bake, not only at its end
    assert [t.to_phase for t in history] == [
        RolloutPhase.SCANNING, RolloutPhase.DEPLOYING, RolloutPhase.SMOKE_TESTING,
        RolloutPhase.SHIFTING, RolloutPhase.BAKING, RolloutPhase.SHIFTING, RolloutPhase.BAKING,
        RolloutPhase.SHIFTING, RolloutPhase.BAKING, RolloutPhase.PROMOTED,
    ]
    assert record.promoted_at == world.clock()

    # ---- promoted: the new colour is live on the new image; the override stays until git says the same
    status = world.status()
    traffic = status.traffic.of(service)
    assert (traffic.live_colour, traffic.live_image) == ("green", image)
    assert (traffic.weights.blue, traffic.weights.green) == (0, 100)
    assert status.image_overrides[service] == image

    # ---- the old colour is kept until the scale-down delay, and not a second less
    done_at = record.promoted_at + timedelta(seconds=spec.scale_down_delay_seconds)
    world.clock.set(done_at - timedelta(seconds=1))
    record, _ = world.tick(record.rollout_id)
    assert record.phase == RolloutPhase.PROMOTED
    assert world.desired_counts(service) == {"blue": 2, "green": 2}

    world.clock.set(done_at)
    record, wake = world.tick(record.rollout_id)
    assert record.phase == RolloutPhase.COMPLETE
    assert wake is None
    assert world.alb_weights(service) == (0, 100)
    assert world.desired_counts(service) == {"blue": 0, "green": 2}
    assert world.scaling_bounds(service, "blue") == (0, 0)  # auto-scaling cannot pull it back up

    # ---- the other service's routing was never touched
    assert world.alb_weights(other) == other_weights_before == (100, 0)

    # ---- finished: no longer active, still the latest; further ticks change nothing
    assert world.store.active("dev", service) is None
    assert world.store.latest("dev", service).rollout_id == record.rollout_id
    again, wake = world.tick(record.rollout_id)
    assert again == record and wake is None


def test_staging_pins_the_live_colour_and_overrides_the_image_until_promotion(world, kit):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)

    record, _ = world.tick(record.rollout_id)
    assert record.phase == RolloutPhase.DEPLOYING
    status = world.status()
    assert status.image_overrides["frontend"] == image
    live = status.traffic.of("frontend")
    assert (live.live_colour, live.live_image) == ("blue", ImageRef(repository="frontend", tag=kit.OLD_TAGS["frontend"]))
    assert world.converge.requests == [record.rollout_id]
    # The idle colour runs the staged image at the live desired count, with the service's scaling bounds.
    assert world.desired_counts("frontend") == {"blue": 2, "green": 2}
    assert world.scaling_bounds("frontend", "green") == (2, 10)
    deployment = world.ecs_double.describe_services(cluster=world.cluster, services=[world.ecs_service("frontend", "green")])["services"][0]
    image_uri = world.ecs.describe_task_definition(taskDefinition=deployment["taskDefinition"])["taskDefinition"]["containerDefinitions"][0]["image"]
    assert image_uri.endswith(image.reference)


def test_second_rollout_goes_back_from_green_to_blue(world, kit):
    """After a completed rollout green is live; the next image is staged on blue and traffic shifts back."""
    first = world.start("frontend", world.push_image("frontend", "3.0.0"))
    world.run(first.rollout_id)
    assert world.desired_counts("frontend") == {"blue": 0, "green": 2}

    image = world.push_image("frontend", "3.1.0")
    second = world.start("frontend", image)
    assert (second.from_colour, second.to_colour) == ("green", "blue")
    assert second.old_image.tag == "3.0.0"
    record, snapshots = world.run(second.rollout_id)
    assert record.phase == RolloutPhase.COMPLETE
    weights = [s.weights for s in snapshots if s.phase == RolloutPhase.BAKING]
    assert (10, 90) in weights and (50, 50) in weights and (100, 0) in weights
    assert world.alb_weights("frontend") == (100, 0)
    assert world.desired_counts("frontend") == {"blue": 2, "green": 0}
    assert world.status().traffic.of("frontend").live_colour == "blue"
