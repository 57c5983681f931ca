"""The same checks against a real stack, when one is named; skipped with the reason otherwise.

``ECS_GITOPS_VERIFY_OUTPUTS``: the stack's outputs (``pulumi stack output --json > outputs.json``);
``ECS_GITOPS_VERIFY_DESIRED_STATE``: the desired-state directory it was applied from (default: the
bundled example); AWS credentials from the usual places.
"""

from __future__ import annotations

import os

import pytest

OUTPUTS = "ECS_GITOPS_VERIFY_OUTPUTS"


def _real_stack_or_skip() -> tuple[str, object]:
    path = os.environ.get(OUTPUTS)
    if not path:
        pytest.skip(f"{OUTPUTS} names no real stack's outputs file")
    import boto3

    session = boto3.session.Session()
    if session.get_credentials() is None:
        pytest.skip("no AWS credentials for the real stack")
    return path, session


def test_the_checks_pass_on_the_real_stack():
    path, session = _real_stack_or_skip()
    from desired_state.loader import EXAMPLE_DIR, load_environment
    from reconciler.verify.command import read_outputs_file
    from reconciler.verify.run import verify_environment
    from reconciler.verify.seams import AwsClients

    outputs = read_outputs_file(path)
    desired = load_environment(os.environ.get("ECS_GITOPS_VERIFY_DESIRED_STATE", str(EXAMPLE_DIR)), outputs["environment"]).state
    report = verify_environment(
        environment=desired.environment_suffix, outputs=outputs, desired=desired, traffic=None,
        clients=AwsClients.from_session(session, outputs.get("region") or desired.region),
    )
    assert report.failures == [], report.headline()
    assert report.passed
