"""Colour plans: what blue and green run from desired state plus the rollout's traffic state."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from desired_state.schema import ImageRef
from desired_state.traffic import ColourWeights, ServiceTraffic, TrafficState, colour_plans, other_colour

OLD_FRONTEND = ImageRef(repository="frontend", tag="1.4.1")


def traffic(**frontend: object) -> TrafficState:
    return TrafficState(services={"frontend": ServiceTraffic(**frontend)})


@pytest.mark.parametrize("service", ["frontend", "api-gateway"])
def test_without_traffic_state_blue_is_live_and_green_idle_at_zero(dev_state, service):
    spec = dev_state.services.get(service)

    blue, green = colour_plans(dev_state, TrafficState(), service)

    assert (blue.colour, blue.live, blue.weight, blue.image) == ("blue", True, 100, spec.image)
    assert (blue.desired_count, blue.min_capacity, blue.max_capacity) == (spec.desired_count, spec.scaling.min, spec.scaling.max)
    assert (green.colour, green.live, green.weight, green.image) == ("green", False, 0, spec.image)
    assert (green.desired_count, green.min_capacity, green.max_capacity) == (0, 0, 0)


def test_live_bounds_come_from_desired_state(prod_state):
    # prod frontend: desiredCount 3, scaling 2..10
    blue, _ = colour_plans(prod_state, TrafficState(), "frontend")

    assert (blue.desired_count, blue.min_capacity, blue.max_capacity) == (3, 2, 10)


def test_new_desired_image_is_staged_on_the_idle_colour(prod_state):
    spec = prod_state.services.frontend
    assert (spec.desired_count, spec.scaling.min, spec.scaling.max) == (3, 2, 10)

    blue, green = colour_plans(prod_state, traffic(live_image=OLD_FRONTEND), "frontend")

    assert (blue.live, blue.image, blue.weight) == (True, OLD_FRONTEND, 100)
    assert (blue.desired_count, blue.min_capacity, blue.max_capacity) == (3, 2, 10)
    assert (green.live, green.image, green.weight) == (False, spec.image, 0)
    # Staged at the live desired count, scaling within the service bounds (min = scaling.min).
    assert (green.desired_count, green.min_capacity, green.max_capacity) == (3, 2, 10)  # staged at the live count, scaling within the service bounds


def test_green_live_is_still_returned_blue_first(dev_state):
    spec = dev_state.services.frontend

    plans = colour_plans(dev_state, traffic(live_colour="green"), "frontend")

    assert [p.colour for p in plans] == ["blue", "green"]
    blue, green = plans
    assert (green.live, green.weight, green.image, green.desired_count) == (True, 100, spec.image, spec.desired_count)
    assert (green.min_capacity, green.max_capacity) == (spec.scaling.min, spec.scaling.max)
    assert (blue.live, blue.weight, blue.desired_count, blue.min_capacity, blue.max_capacity) == (False, 0, 0, 0, 0)


def test_green_live_with_an_older_image_stages_blue(dev_state):
    spec = dev_state.services.frontend

    blue, green = colour_plans(dev_state, traffic(live_colour="green", live_image=OLD_FRONTEND), "frontend")

    assert (green.live, green.image) == (True, OLD_FRONTEND)
    assert (blue.live, blue.image, blue.desired_count, blue.max_capacity) == (False, spec.image, spec.desired_count, spec.scaling.max)


@pytest.mark.parametrize(("blue_weight", "green_weight"), [(90, 10), (1, 99)])
def test_idle_colour_carrying_traffic_is_never_scaled_to_zero(prod_state, blue_weight, green_weight):
    spec = prod_state.services.frontend
    weights = ColourWeights(blue=blue_weight, green=green_weight)

    blue, green = colour_plans(prod_state, traffic(live_colour="blue", weights=weights), "frontend")

    assert blue.image == green.image == spec.image  # images equal: only the weight keeps green up
    assert (blue.weight, green.weight) == (blue_weight, green_weight)
    assert green.live is False
    assert green.desired_count == spec.desired_count
    assert green.min_capacity > 0
    assert green.max_capacity == spec.scaling.max


def test_traffic_of_another_service_leaves_this_one_at_defaults(dev_state):
    state = TrafficState(services={"api-gateway": ServiceTraffic(live_colour="green")})

    blue, green = colour_plans(dev_state, state, "frontend")

    assert (blue.live, blue.weight, green.weight, green.desired_count) == (True, 100, 0, 0)


def test_processing_service_has_no_colours(dev_state):
    with pytest.raises(ValueError, match="processing-service has no colours; only frontend, api-gateway do"):
        colour_plans(dev_state, TrafficState(), "processing-service")


@pytest.mark.parametrize(("blue", "green"), [(90, 20), (50, 49), (0, 0)])
def test_weights_not_adding_up_to_100_are_refused(blue, green):
    with pytest.raises(ValidationError) as caught:
        ColourWeights(blue=blue, green=green)

    [error] = caught.value.errors()
    assert f"blue ({blue}) and green ({green}) must add up to 100" in error["msg"]


def test_weights_out_of_range_are_refused():
    with pytest.raises(ValidationError) as caught:
        ColourWeights(blue=150, green=-50)

    assert {e["loc"] for e in caught.value.errors()} == {("blue",), ("green",)}


def test_bad_weights_inside_traffic_state_are_refused_at_their_path():
    with pytest.raises(ValidationError) as caught:
        TrafficState.model_validate({"services": {"frontend": {"weights": {"blue": 90, "green": 20}}}})

    [error] = caught.value.errors()
    assert error["loc"] == ("services", "frontend", "weights")
    assert "must add up to 100" in error["msg"]


@pytest.mark.parametrize(
    ("document", "loc"),
    [
        ({"services": {}, "liveColour": "blue"}, ("liveColour",)),
        ({"services": {"frontend": {"liveColor": "green"}}}, ("services", "frontend", "liveColor")),
    ],
    ids=["top-level", "per-service"],
)
def test_traffic_state_unknown_key_is_refused(document, loc):
    with pytest.raises(ValidationError) as caught:
        TrafficState.model_validate(document)

    [error] = caught.value.errors()
    assert (error["type"], error["loc"]) == ("extra_forbidden", loc)


def test_traffic_state_for_a_service_without_colours_is_refused():
    with pytest.raises(ValidationError) as caught:
        TrafficState.model_validate({"services": {"processing-service": {}}})

    [error] = caught.value.errors()
    assert error["loc"] == ("services", "processing-service", "[key]")


def test_traffic_state_reads_camel_case():
    state = TrafficState.model_validate(
        {"services": {"frontend": {"liveColour": "green", "liveImage": {"repository": "frontend", "tag": "1.4.1"}}}}
    )

    assert state.of("frontend").live_colour == "green"
    assert state.of("frontend").live_image == OLD_FRONTEND
    assert state.of("api-gateway") == ServiceTraffic()


def test_resolved_weights_follow_the_live_colour():
    assert ServiceTraffic().resolved_weights() == ColourWeights(blue=100, green=0)
    assert ServiceTraffic(live_colour="green").resolved_weights() == ColourWeights(blue=0, green=100)
    assert other_colour("blue") == "green" and other_colour("green") == "blue"


def test_an_idle_colour_a_rollout_holds_runs_its_image_at_its_count(prod_state):
    """While a rollout holds the idle colour, git's image and the images' difference do not decide it."""
    spec = prod_state.services.frontend
    held_image = ImageRef(repository="frontend", tag="9.0.0")
    # Promoted: green live on git's image, blue kept at 4 tasks on the old image for a quick rollback.
    held = traffic(live_colour="green", live_image=spec.image, weights=ColourWeights(blue=0, green=100), idle_image=held_image, idle_count=4)

    blue, green = colour_plans(prod_state, held, "frontend")

    assert (blue.live, blue.image, blue.weight, blue.desired_count) == (False, held_image, 0, 4)
    assert (blue.min_capacity, blue.max_capacity) == (spec.scaling.min, spec.scaling.max)
    assert (green.live, green.image, green.weight) == (True, spec.image, 100)


def test_an_idle_colour_a_rollout_holds_down_is_zero_even_when_the_images_differ(prod_state):
    held = traffic(live_image=OLD_FRONTEND, idle_count=0)
    _, green = colour_plans(prod_state, held, "frontend")
    assert (green.desired_count, green.min_capacity, green.max_capacity) == (0, 0, 0)
    # ...but never while it still carries traffic.
    _, green = colour_plans(prod_state, traffic(live_image=OLD_FRONTEND, idle_count=0, weights=ColourWeights(blue=90, green=10)), "frontend")
    assert (green.desired_count, green.min_capacity) == (prod_state.services.frontend.desired_count, 2)


def test_the_held_idle_fields_read_camel_case_and_are_optional():
    from desired_state.traffic import parse_traffic_state

    parsed = parse_traffic_state('{"services": {"frontend": {"idleImage": {"repository": "frontend", "tag": "2.0.0"}, "idleCount": 3}}}')
    assert (parsed.of("frontend").idle_image.tag, parsed.of("frontend").idle_count) == ("2.0.0", 3)
    assert (TrafficState().of("frontend").idle_image, TrafficState().of("frontend").idle_count) == (None, None)
