"""The environment's identity belongs to the reconciler's settings, not to git.

A desired-state file names its own suffix (which every resource name carries) and class (which
switches production-only rules on). Both are checked against what the settings declare for the
environment before anything is rendered: ``environments/prod.yaml`` cannot build dev-named
resources from the prod stack, nor switch off the production rules by calling itself
non-production.
"""

from __future__ import annotations

from collections.abc import Callable

from desired_state.errors import FieldProblem
from desired_state.schema import DesiredState
from reconciler.settings import EnvironmentSettings

LineOf = Callable[[str], int | None]


def identity_problems(state: DesiredState, env: EnvironmentSettings, file: str, line_of: LineOf = lambda field: None) -> list[FieldProblem]:
    """Every field where the file's identity disagrees with the settings (empty when it agrees)."""
    problems = []
    if state.environment_suffix != env.suffix:
        problems.append(
            FieldProblem(
                file, "environmentSuffix", line_of("environmentSuffix"),
                f"expected '{env.suffix}' (the reconciler settings' suffix for this environment), found '{state.environment_suffix}'; "
                "an environment's suffix is set in the settings, not in git",
            )
        )
    if env.environment_class is not None and state.environment_class != env.environment_class:
        problems.append(
            FieldProblem(
                file, "environmentClass", line_of("environmentClass"),
                f"expected '{env.environment_class}' (the reconciler settings' class for this environment), found '{state.environment_class}'; "
                "an environment's class is set in the settings (production), not in git",
            )
        )
    return problems
