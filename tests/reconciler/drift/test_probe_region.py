"""The probe reads the environment's region, not the worker's (review finding D8), on moto in two regions."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from desired_state.schema import DesiredState
from reconciler.drift.unmanaged import DesiredLayout, probe_unmanaged, undo_unmanaged
from reconciler.errors import DriftProbeError
from tests.reconciler.drift.test_unmanaged import (  # noqa: F401  (fixtures)
    DEFAULT_TAGS,
    REGION,
    SUFFIX,
    _tag_spec,
    account,
    desired,
    open_to_world,
    session,
)

OTHER = "eu-west-1"
API = "sg-api-gateway-prod"


class Ec2Factory:
    """The client factory the wiring gives the drift check (one boto3 client per region), recording the regions asked for."""

    def __init__(self, session: boto3.session.Session):
        self.session = session
        self.regions: list[str] = []

    def __call__(self, region: str) -> Any:
        self.regions.append(region)
        return self.session.client("ec2", region_name=region)


def _same_names_in(session: boto3.session.Session, region: str, desired: DesiredLayout) -> Any:
    """The program's group names in another region (another environment's copy, say), with a console rule on one."""
    ec2 = session.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    ids = {
        name: ec2.create_security_group(GroupName=name, Description="copy", VpcId=vpc, TagSpecifications=_tag_spec("security-group", DEFAULT_TAGS))["GroupId"]
        for name in desired.groups
    }
    for group_id in ids.values():
        ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    for address in sorted({r.address_name for r in desired.rules if r.address_name}):
        ec2.allocate_address(Domain="vpc", TagSpecifications=_tag_spec("elastic-ip", {**DEFAULT_TAGS, "Name": address}))
    ec2.authorize_security_group_ingress(
        GroupId=ids[API], IpPermissions=[{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    return SimpleNamespace(ec2=ec2, groups=ids)


def test_the_layout_carries_the_desired_states_region(prod_state: DesiredState, desired: DesiredLayout) -> None:
    assert desired.region == prod_state.region == REGION


def test_a_client_factory_is_asked_for_the_environments_region(account: SimpleNamespace, desired: DesiredLayout, session: boto3.session.Session) -> None:
    open_to_world(account, API, 22)
    _same_names_in(session, OTHER, desired)
    factory = Ec2Factory(session)

    found = probe_unmanaged(factory, account.iam, suffix=SUFFIX, desired=desired)

    assert factory.regions == [REGION]
    assert [(r.name, r.summary) for r in found] == [(API, "ingress gained tcp/22 from 0.0.0.0/0")]
    elsewhere = probe_unmanaged(factory, account.iam, suffix=SUFFIX, desired=desired.model_copy(update={"region": OTHER}))
    assert factory.regions[-1] == OTHER
    assert [(r.name, r.summary) for r in elsewhere] == [(API, "ingress gained tcp/3389 from 0.0.0.0/0")]


def test_a_region_with_none_of_the_groups_fails_the_probe(account: SimpleNamespace, desired: DesiredLayout, session: boto3.session.Session) -> None:
    open_to_world(account, API, 22)

    with pytest.raises(DriftProbeError, match=rf"none of the applied program's 4 security groups .* was found in region {OTHER}"):
        probe_unmanaged(Ec2Factory(session), account.iam, suffix=SUFFIX, desired=desired.model_copy(update={"region": OTHER}))


def test_a_client_of_another_region_is_refused_not_read_as_no_drift(account: SimpleNamespace, desired: DesiredLayout, session: boto3.session.Session) -> None:
    open_to_world(account, API, 22)

    with pytest.raises(DriftProbeError, match=rf"reads region {OTHER}, but the environment is in {REGION}"):
        probe_unmanaged(session.client("ec2", region_name=OTHER), account.iam, suffix=SUFFIX, desired=desired)


def test_the_undo_acts_in_the_environments_region(account: SimpleNamespace, desired: DesiredLayout, session: boto3.session.Session) -> None:
    open_to_world(account, API, 22)
    other = _same_names_in(session, OTHER, desired)
    factory = Ec2Factory(session)
    found = probe_unmanaged(factory, account.iam, suffix=SUFFIX, desired=desired)

    result = undo_unmanaged(factory, account.iam, suffix=SUFFIX, desired=desired, resources=found)

    assert [a.description for a in result.undone] == [f"revoke ingress tcp/22 from 0.0.0.0/0 on {API}"] and result.remaining == []
    assert set(factory.regions) == {REGION}
    other_rules = other.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": list(other.groups.values())}])["SecurityGroupRules"]
    assert [(r["IpProtocol"], r["FromPort"]) for r in other_rules] == [("tcp", 3389)]  # the other region untouched


def test_the_wiring_gives_the_check_one_client_per_region(tmp_path: Any, git_repo: Any, aws_credentials: None) -> None:
    from reconciler.settings import ReconcilerSettings, RepositorySettings
    from reconciler.wiring import build

    settings = ReconcilerSettings(
        repository=RepositorySettings(url=str(git_repo.path), branch="main"),
        environments={"dev": {"stack": "dev", "suffix": "dev"}},
        backend_url=f"file://{tmp_path / 'state' / 'backend'}",
        work_dir=str(tmp_path / "state" / "work"),
    )
    components = dataclasses.replace(build(settings, state_dir=tmp_path / "state"), session=boto3.session.Session(region_name=REGION))

    checker = components.drift_checker()

    assert callable(checker.ec2)
    assert checker.ec2(OTHER).meta.region_name == OTHER and checker.ec2(REGION).meta.region_name == REGION
    assert checker.ec2(OTHER) is checker.ec2(OTHER)  # built once per region, not once per check
