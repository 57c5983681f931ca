"""Floors the settings set under what git may ask for: rollout steps, bake time, scan threshold.

The desired state chooses each service's rollout; an environment's settings can bound it so a
commit cannot, say, ship to production in one step without a bake or with the scan gate switched
to CRITICAL only. Approval and change windows have no field in the desired state: the settings
alone hold them, so git cannot loosen them and they need no floor here.
"""

from __future__ import annotations

from collections.abc import Callable

from desired_state.errors import FieldProblem
from desired_state.schema import SCAN_SEVERITIES, DesiredState
from reconciler.settings import Floors

LineOf = Callable[[str], int | None]


def floor_problems(state: DesiredState, floors: Floors, file: str, line_of: LineOf = lambda field: None) -> list[FieldProblem]:
    """Every field of ``state`` below a floor, naming the floor and what was found (empty when none is)."""
    problems = []
    for service, spec in state.services.items():
        rollout = spec.rollout
        at = f"services.{service}.rollout"

        def problem(field: str, reason: str) -> None:
            # A field left at its default has no line of its own: name the nearest one the file has.
            path = f"{at}.{field}"
            line = line_of(path) or line_of(at) or line_of(f"services.{service}")
            problems.append(FieldProblem(file, path, line, reason))

        if floors.min_rollout_steps is not None and len(rollout.steps) < floors.min_rollout_steps:
            problem(
                "steps",
                f"below the floor: at least {floors.min_rollout_steps} steps (settings floors.minRolloutSteps), "
                f"found {len(rollout.steps)} ({', '.join(map(str, rollout.steps))})",
            )
        if floors.min_bake_seconds is not None and rollout.bake_seconds < floors.min_bake_seconds:
            problem(
                "bakeSeconds",
                f"below the floor: at least {floors.min_bake_seconds} (settings floors.minBakeSeconds), found {rollout.bake_seconds}",
            )
        ceiling = floors.max_scan_severity_threshold
        if ceiling is not None and SCAN_SEVERITIES.index(rollout.scan_severity_threshold) > SCAN_SEVERITIES.index(ceiling):
            problem(
                "scanSeverityThreshold",
                f"below the floor: {ceiling} or stricter (settings floors.maxScanSeverityThreshold), found {rollout.scan_severity_threshold}, "
                f"which lets {ceiling} findings through",
            )
    return problems
