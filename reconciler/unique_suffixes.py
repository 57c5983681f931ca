"""Stand-in for ``desired_state.loader.check_unique_suffixes`` until helper ``loader``'s version lands.

Coordinator: once ``desired_state/loader.py`` has ``check_unique_suffixes(root)``, import it from
there in ``reconciler/cli.py`` and delete this file. It follows the same contract: raise a
:class:`DesiredStateError` naming both files when two environment files claim one suffix.

Without the reconciler's settings (``plan`` and ``validate`` on a laptop) nothing else ties an
environment file to its suffix, and two files with one suffix would render the same resource names.
"""

from __future__ import annotations

from pathlib import Path

from desired_state.errors import DesiredStateError, FieldProblem
from desired_state.loader import environment_file, list_environments, load_environment


def check_unique_suffixes(root: str | Path) -> None:
    """Raise naming both files when two environment files under ``root`` claim the same environmentSuffix."""
    claimed: dict[str, str] = {}
    problems: list[FieldProblem] = []
    for environment in list_environments(root):
        try:
            loaded = load_environment(root, environment)
        except DesiredStateError:
            continue  # an invalid file is refused with its own problems when it is planned or validated
        suffix = loaded.state.environment_suffix
        file = str(environment_file(root, environment))
        if suffix in claimed:
            problems.append(
                FieldProblem(
                    file,
                    "environmentSuffix",
                    None,
                    f"suffix '{suffix}' is already claimed by {claimed[suffix]}; each environment file needs its own suffix",
                )
            )
        else:
            claimed[suffix] = file
    if problems:
        raise DesiredStateError(problems)
