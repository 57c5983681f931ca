"""Shared fixtures.

Pulumi's mocks are installed here, before any test module imports the program, so nothing the
program does at import time can reach a real engine. Each render then installs a fresh
recording monitor (see ``program.render.render``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from program.mocks import OfflineMocks

pulumi.runtime.set_mocks(OfflineMocks("us-east-1"), project="ecs-gitops", stack="test", preview=False)

from desired_state.loader import EXAMPLE_DIR, load_environment, validate_document  # noqa: E402
from desired_state.schema import DesiredState  # noqa: E402
from desired_state.traffic import TrafficState  # noqa: E402
from program.platform import StackInputs  # noqa: E402
from program.render import RenderedStack, render  # noqa: E402


def example_document(environment: str = "dev") -> dict[str, Any]:
    """The bundled example environment as plain data, to mutate in a test."""
    return yaml.safe_load((EXAMPLE_DIR / "environments" / f"{environment}.yaml").read_text())


def render_state(state: DesiredState, traffic: TrafficState | None = None) -> RenderedStack:
    secret_config = {
        spec.config_key: pulumi.Output.secret(f"test-value-of-{spec.config_key}")
        for spec in state.secrets.values()
        if spec.kind == "config" and spec.config_key
    }
    return render(StackInputs(desired=state, traffic=traffic or TrafficState(), secret_config=secret_config))


@pytest.fixture(scope="session")
def example_dir() -> Path:
    return EXAMPLE_DIR


@pytest.fixture(scope="session")
def dev_state() -> DesiredState:
    return load_environment(EXAMPLE_DIR, "dev").state


@pytest.fixture(scope="session")
def prod_state() -> DesiredState:
    return load_environment(EXAMPLE_DIR, "prod").state


@pytest.fixture(scope="session")
def rendered_dev(dev_state: DesiredState) -> RenderedStack:
    return render_state(dev_state)


@pytest.fixture(scope="session")
def rendered_prod(prod_state: DesiredState) -> RenderedStack:
    return render_state(prod_state)


@pytest.fixture
def render_mutated() -> Callable[..., RenderedStack]:
    """Render an example environment after ``mutate(document)`` edits its plain data."""

    def _render(mutate: Callable[[dict[str, Any]], None], environment: str = "dev", traffic: TrafficState | None = None) -> RenderedStack:
        document = copy.deepcopy(example_document(environment))
        mutate(document)
        return render_state(validate_document(document, f"<mutated {environment}>"), traffic)

    return _render


@pytest.fixture
def write_environment(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``environments/<name>.yaml`` into a temp desired-state directory and return the directory."""

    def _write(name: str, text: str) -> Path:
        environments = tmp_path / "environments"
        environments.mkdir(exist_ok=True)
        (environments / f"{name}.yaml").write_text(text)
        return tmp_path

    return _write
