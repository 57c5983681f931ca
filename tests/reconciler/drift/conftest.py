"""Shared fixtures of the drift tests."""

from __future__ import annotations

import io

import pytest

from reconciler.cli import main
from reconciler.wiring import build


@pytest.fixture
def cli(harness, engine, clock, tmp_path):
    """``ecs-gitops drift --environment dev ARGS`` on the harness's settings; ``applied`` sets the stack's
    applied commit first. Returns the exit code, stdout and stderr."""
    components = build(harness.settings, state_dir=tmp_path / "state", engine=engine, clock=clock)

    def run(*argv: str, applied: str | None = None, components_=None) -> tuple[int, str, str]:
        chosen = components_ or components
        if applied:
            chosen.states.update("dev", lambda s: s.model_copy(update={"last_applied_commit": applied}))
        out, err = io.StringIO(), io.StringIO()
        code = main(["drift", "--environment", "dev", *argv], out, err, components=chosen)
        return code, out.getvalue(), err.getvalue()

    run.components = components
    return run
