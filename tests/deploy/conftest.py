"""Shared by the template tests: template.yaml read as plain data (CloudFormation short forms as their long forms)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form intrinsics (!Ref, !Sub, !GetAtt) as plain data."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            return {"Fn::GetAtt": value.split(".", 1)}
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


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
