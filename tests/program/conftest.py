"""Helpers shared by the program tests (the session renders live in ``tests/conftest.py``).

``mock_state`` answers "which id / ARN did the offline mocks give this resource?", so a test can
follow a reference (a subnet id in a service, a role ARN in a task definition) back to the
resource it must point at instead of trusting that any plausible-looking value is right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi.runtime.mocks import MockResourceArgs

from desired_state.schema import DesiredState
from program.mocks import OfflineMocks, RenderedResource
from program.render import RenderedStack

REGION = "us-east-1"  # both example environments


@pytest.fixture(scope="session")
def mock_state() -> Callable[[RenderedResource], dict[str, Any]]:
    """The state (id included) the offline mocks returned for a rendered custom resource."""
    mocks = OfflineMocks(REGION)

    def _state(resource: RenderedResource) -> dict[str, Any]:
        resource_id, state = mocks.new_resource(
            MockResourceArgs(resource.type, resource.name, dict(resource.inputs), custom=resource.custom)
        )
        return {**state, "id": resource_id}

    return _state


@pytest.fixture(params=["dev", "prod"])
def env(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over both example environments."""
    return request.param


@pytest.fixture
def stack(env: str, request: pytest.FixtureRequest) -> RenderedStack:
    """The session render of ``env`` (``rendered_dev`` or ``rendered_prod``)."""
    return request.getfixturevalue(f"rendered_{env}")


@pytest.fixture
def state(env: str, request: pytest.FixtureRequest) -> DesiredState:
    """The desired state ``stack`` was rendered from."""
    return request.getfixturevalue(f"{env}_state")
