"""Shared by the template tests: template.yaml read as plain data (CloudFormation short forms as their long forms)."""

from __future__ import annotations

import pytest

from tests.deploy.cfn import TEMPLATE, load_template  # noqa: F401  (TEMPLATE: for the template tests)


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="module")
def transformed() -> dict:
    """template.yaml after the SAM transform (conditions and intrinsics still in place)."""
    from tests.deploy.transformed import sam_transform

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return sam_transform({"WorkerImageUri": "x"})


@pytest.fixture(scope="module", params=["created", "given"])
def deployed(request: pytest.FixtureRequest, transformed: dict) -> dict:
    """The transformed template resolved for one scenario (tests.deploy.transformed.SCENARIOS), with ``Scenario`` set."""
    from tests.deploy.transformed import SCENARIOS, resolve

    return {**resolve(transformed, SCENARIOS[request.param]), "Scenario": request.param}
