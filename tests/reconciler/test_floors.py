"""floor_problems: what git may not go below, per service rollout; pure, tested alone."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from desired_state.schema import SCAN_SEVERITIES, RolloutSpec
from reconciler.floors import floor_problems
from reconciler.settings import Floors


def with_rollout(state, service: str, **rollout):
    spec = state.services.get(service)
    services = {name: s.model_dump(by_alias=True) for name, s in state.services.items()}
    services[service] = spec.model_copy(update={"rollout": RolloutSpec(**rollout)}).model_dump(by_alias=True)
    return state.model_copy(update={"services": type(state.services).model_validate(services)})


def test_no_floors_no_problems(prod_state):
    assert floor_problems(with_rollout(prod_state, "frontend", steps=(100,), bake_seconds=0, scan_severity_threshold="CRITICAL"), Floors(), "f") == []


def test_each_floor_names_file_field_floor_and_found(prod_state):
    state = with_rollout(prod_state, "api-gateway", steps=(50, 100), bake_seconds=120, scan_severity_threshold="CRITICAL")
    lines = {"services.api-gateway": 40}
    problems = floor_problems(state, Floors(min_rollout_steps=3, min_bake_seconds=300, max_scan_severity_threshold="HIGH"), "environments/prod.yaml", lines.get)

    assert [p.field for p in problems] == [
        "services.api-gateway.rollout.steps",
        "services.api-gateway.rollout.bakeSeconds",
        "services.api-gateway.rollout.scanSeverityThreshold",
    ]
    assert all(p.file == "environments/prod.yaml" and p.line == 40 for p in problems)  # nearest line the file has
    steps, bake, scan = (p.reason for p in problems)
    assert "at least 3 steps" in steps and "found 2 (50, 100)" in steps
    assert "at least 300" in bake and "found 120" in bake
    assert "HIGH or stricter" in scan and "found CRITICAL" in scan


def test_at_the_floor_is_allowed_and_stricter_scan_thresholds_are_allowed(prod_state):
    floors = Floors(min_rollout_steps=3, min_bake_seconds=300, max_scan_severity_threshold="HIGH")
    for threshold in ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH"):
        state = with_rollout(prod_state, "frontend", steps=(10, 50, 100), bake_seconds=300, scan_severity_threshold=threshold)
        assert floor_problems(state, floors, "f") == [], threshold


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.integers(1, 99), max_size=5, unique=True).map(lambda xs: (*sorted(xs), 100)),
    bake=st.integers(0, 3600),
    threshold=st.sampled_from(SCAN_SEVERITIES),
    min_steps=st.integers(1, 6),
    min_bake=st.integers(0, 3600),
    ceiling=st.sampled_from(SCAN_SEVERITIES),
)
def test_a_problem_exactly_when_below_a_floor(prod_state, steps, bake, threshold, min_steps, min_bake, ceiling):
    state = with_rollout(prod_state, "frontend", steps=steps, bake_seconds=bake, scan_severity_threshold=threshold)
    fields = {p.field for p in floor_problems(state, Floors(min_rollout_steps=min_steps, min_bake_seconds=min_bake, max_scan_severity_threshold=ceiling), "f")}
    frontend = {f.rsplit(".", 1)[1] for f in fields if f.startswith("services.frontend.")}
    assert ("steps" in frontend) == (len(steps) < min_steps)
    assert ("bakeSeconds" in frontend) == (bake < min_bake)
    assert ("scanSeverityThreshold" in frontend) == (SCAN_SEVERITIES.index(threshold) > SCAN_SEVERITIES.index(ceiling))
