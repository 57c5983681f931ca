"""Run ``ecs-gitops`` in-process, as the tests of its commands do."""

from __future__ import annotations

import io
from typing import Any

from reconciler.cli import main


def run(*argv: str, components: Any = None) -> tuple[int, str, str]:
    """``ecs-gitops ARGV`` (with ``components`` instead of the ones the settings build, when given): the exit
    code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err, components=components)
    return code, out.getvalue(), err.getvalue()
