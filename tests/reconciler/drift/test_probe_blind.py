"""The unmanaged-rule probe finds the platform's groups by what a person cannot change (review finding D2).

Tags can be removed in the console: a probe that found its groups by ``environment``/``managed-by``
lost a group, did not see its console rule, and named every rule referencing it by the bare id, so
its remediation revoked the program's own rules. The groups now come from the stack (their ids)
or, failing that, by their names (AWS never renames a security group); a declared group the probe
cannot find is an error, never a partial probe.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi.automation.events import OpType, StepEventMetadata, StepEventStateMetadata

from desired_state.schema import DesiredState
from reconciler.drift.model import DriftedResource, DriftKind, DriftSeverity, PropertyDrift
from reconciler.drift.unmanaged import DesiredLayout, stack_group_ids, undo_actions, undo_unmanaged
from reconciler.errors import DriftProbeError
from tests.reconciler.drift.test_unmanaged import (  # noqa: F401  (fixtures)
    SG,
    SUFFIX,
    _check,
    _tag_spec,
    account,
    desired,
    live_rules,
    open_to_world,
    probe,
    session,
)
from reconciler.drift.unmanaged import probe_unmanaged

API = "sg-api-gateway-prod"


def _untag(account: SimpleNamespace, group: str, *keys: str) -> None:
    account.ec2.delete_tags(Resources=[account.groups[group]], Tags=[{"Key": key} for key in keys])


def _rules_referencing(account: SimpleNamespace, group_id: str) -> list[tuple[str, str, int]]:
    return sorted(
        (r["GroupId"], r["IpProtocol"], r["FromPort"]) for r in live_rules(account.ec2, account.groups.values())
        if (r.get("ReferencedGroupInfo") or {}).get("GroupId") == group_id
    )


@pytest.mark.parametrize("keys", [("managed-by",), ("environment",), ("managed-by", "environment", "Name", "tier")])
def test_a_group_whose_tags_were_removed_still_shows_its_console_rule(account: SimpleNamespace, desired: DesiredLayout, keys: tuple[str, ...]) -> None:
    open_to_world(account, API, 22)
    _untag(account, API, *keys)

    found = probe(account, desired)

    assert [(r.name, r.summary) for r in found] == [(API, "ingress gained tcp/22 from 0.0.0.0/0")]


def test_after_the_tags_are_removed_no_program_rule_is_proposed_for_revocation(account: SimpleNamespace, desired: DesiredLayout) -> None:
    open_to_world(account, API, 22)
    _untag(account, API, "managed-by")
    referencing = _rules_referencing(account, account.groups[API])
    assert referencing  # alb/frontend egress and processing ingress name the api-gateway group

    found = probe(account, desired)
    assert [a.description for a in undo_actions(found)] == [f"revoke ingress tcp/22 from 0.0.0.0/0 on {API}"]
    result = undo_unmanaged(account.ec2, account.iam, suffix=SUFFIX, desired=desired, resources=found)

    assert [a.description for a in result.undone] == [f"revoke ingress tcp/22 from 0.0.0.0/0 on {API}"]
    assert _rules_referencing(account, account.groups[API]) == referencing


def test_the_check_in_remediate_mode_leaves_the_program_rules_of_an_untagged_group(account: SimpleNamespace, prod_state: DesiredState) -> None:
    _untag(account, API, "managed-by")
    referencing = _rules_referencing(account, account.groups[API])

    checked = _check(account, prod_state, mode="remediate")

    assert checked.found.summary.result == "no-drift", checked.found.message
    assert _rules_referencing(account, account.groups[API]) == referencing


def test_a_declared_group_gone_from_the_account_fails_the_probe_naming_it(account: SimpleNamespace, desired: DesiredLayout) -> None:
    group = account.groups["sg-processing-service-prod"]
    for rule in live_rules(account.ec2, account.groups.values()):  # AWS refuses to delete a group other rules name
        if (rule.get("ReferencedGroupInfo") or {}).get("GroupId") == group or rule["GroupId"] == group:
            revoke = account.ec2.revoke_security_group_egress if rule["IsEgress"] else account.ec2.revoke_security_group_ingress
            revoke(GroupId=rule["GroupId"], SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]])
    account.ec2.delete_security_group(GroupId=group)
    open_to_world(account, API, 22)

    with pytest.raises(DriftProbeError, match=r"sg-processing-service-prod.* not found"):
        probe(account, desired)


def test_the_stack_ids_pick_the_group_where_a_name_alone_is_ambiguous(account: SimpleNamespace, desired: DesiredLayout) -> None:
    other_vpc = account.ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    decoy = account.ec2.create_security_group(GroupName=API, Description="a look-alike", VpcId=other_vpc)["GroupId"]
    account.ec2.authorize_security_group_ingress(
        GroupId=decoy, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    open_to_world(account, API, 22)

    with pytest.raises(DriftProbeError, match=rf"{API}.*2 groups"):
        probe(account, desired)
    by_stack = {name: account.groups[name] for name in desired.groups}
    found = probe_unmanaged(account.ec2, account.iam, suffix=SUFFIX, desired=desired, group_ids=by_stack)
    assert [(r.name, r.summary) for r in found] == [(API, "ingress gained tcp/22 from 0.0.0.0/0")]


def test_a_stack_id_the_account_does_not_have_fails_the_probe(account: SimpleNamespace, desired: DesiredLayout) -> None:
    by_stack = {name: account.groups[name] for name in desired.groups} | {API: "sg-0123456789abcdef0"}

    with pytest.raises(DriftProbeError, match=rf"{API} \(sg-0123456789abcdef0 in the stack\) not found"):
        probe_unmanaged(account.ec2, account.iam, suffix=SUFFIX, desired=desired, group_ids=by_stack)


def _group_step(urn: str, group_id: str) -> StepEventMetadata:
    state = StepEventStateMetadata(type=SG, urn=urn, id=group_id, parent="", provider="", custom=True, delete=False, protect=False, retain_on_delete=False)
    return StepEventMetadata(op=OpType.UPDATE, urn=urn, type=SG, old=state, new=state, detailed_diff={}, diffs=["tags"], keys=[], provider="")


def test_stack_group_ids_come_from_the_outputs_and_the_refreshed_steps(desired: DesiredLayout) -> None:
    outputs = {"securityGroupIds": {"alb": "sg-a", "frontend": "sg-f", "api-gateway": "sg-g", "processing-service": "sg-p"}}
    steps = [_group_step(desired.groups[API], "sg-g-refreshed"), _group_step("urn:pulumi:prod::ecs-gitops::x::not-a-group", "sg-x")]

    assert stack_group_ids(desired, outputs=outputs) == {
        "sg-alb-prod": "sg-a", "sg-frontend-prod": "sg-f", API: "sg-g", "sg-processing-service-prod": "sg-p",
    }
    assert stack_group_ids(desired, steps=steps) == {API: "sg-g-refreshed"}
    assert stack_group_ids(desired, outputs=outputs, steps=steps)[API] == "sg-g-refreshed"
    assert stack_group_ids(desired) == {}


def test_the_undo_refuses_a_rule_that_is_a_declared_one_but_for_a_group_it_could_not_resolve(
    account: SimpleNamespace, desired: DesiredLayout
) -> None:
    """api-gateway takes tcp/8080 from the ALB's group: the same rule from an id the probe could not name may be that very rule."""
    foreign = account.ec2.create_security_group(GroupName="bastion", Description="someone's", VpcId=account.vpc)["GroupId"]
    account.ec2.authorize_security_group_ingress(
        GroupId=account.groups[API],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": foreign}]}],
    )
    open_to_world(account, API, 22)
    found = probe(account, desired)
    before = len(live_rules(account.ec2, account.groups.values()))

    result = undo_unmanaged(account.ec2, account.iam, suffix=SUFFIX, desired=desired, resources=found)
    assert re.search(rf"refusing to revoke ingress tcp/8080 from {foreign} on {API}.*sgr-api-gateway-from-alb-prod", result.probe_error or "")
    assert result.undone == [] and not result.complete  # recorded, never raised (the remediation job's outcome says it)
    assert len(live_rules(account.ec2, account.groups.values())) == before  # nothing revoked, not even tcp/22


def test_the_undo_refusal_reads_the_report_it_is_given_too(desired: DesiredLayout) -> None:
    urn = desired.groups[API]
    lookalike = DriftedResource(
        urn=urn, type=SG, name=API, kind=DriftKind.CHANGED, severity=DriftSeverity.HIGH, summary="ingress gained tcp/8080 from sg-0abc",
        properties=[PropertyDrift(path="ingress[sgr-1]", actual={"groupId": "sg-g", "ruleId": "sgr-1", "protocol": "tcp", "fromPort": 8080,
                                                                "toPort": 8080, "referencedGroup": "sg-0abc"})],
    )

    result = undo_unmanaged(_NoCallsDouble(), _NoCallsDouble(), suffix=SUFFIX, desired=desired, resources=[lookalike])
    assert "refusing to revoke" in (result.probe_error or "") and result.undone == []


class _NoCallsDouble:
    """Stands in for the boto3 clients where the refusal must come before any AWS call."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"no AWS call expected, got {name}")
