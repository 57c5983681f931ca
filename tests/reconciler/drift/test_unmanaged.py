"""Drift a refresh cannot see: console-added security-group rules and role policies, read from moto.

The account is laid out from the real render of the prod example (the session render), the way
the provider builds it: the groups with the provider's default tags and without AWS's default
egress rule (the provider revokes it), the NAT addresses, each rendered rule, each role with its
inline policy. The layout is built from the rendered inputs here, not through the code under test.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.authorization import ActionAuthenticatorMixin

from desired_state.schema import DesiredState
from desired_state.traffic import TrafficState
from program.mocks import RenderedResource
from program.render import RenderedStack
from reconciler.drift.model import DriftedResource, DriftKind, DriftSeverity, PropertyDrift
from reconciler.drift.unmanaged import (
    DesiredLayout,
    RuleContent,
    applied_layout,
    desired_layout,
    desired_rules,
    describe_traffic,
    merge_drift,
    probe_unmanaged,
    resource_urn,
    undo_actions,
    undo_unmanaged,
    unmanaged_urn,
)
from reconciler.errors import DriftProbeError, ReconcilerError

REGION = "us-east-1"
SUFFIX = "prod"
STACK = "prod"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
DEFAULT_TAGS = {"environment": SUFFIX, "environment-class": "production", "managed-by": "ecs-gitops", "program-version": "0.1.0"}


def _tag_spec(kind: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def live_rules(ec2: Any, group_ids: Any) -> list[dict[str, Any]]:
    return ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": list(group_ids)}])["SecurityGroupRules"]


@pytest.fixture(scope="module")
def session() -> boto3.session.Session:
    """One boto3 session for the module: its clients reuse the loaded service models (a new session's cost ~0.5 s a client)."""
    return boto3.session.Session(region_name=REGION)


@pytest.fixture
def account(aws_credentials: None, monkeypatch: pytest.MonkeyPatch, session: boto3.session.Session, rendered_prod: RenderedStack):
    """moto with the prod environment's groups, rules, NAT addresses and roles as the applied program made them."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        ec2, iam = session.client("ec2"), session.client("iam")
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        group_ids: dict[str, str] = {}
        for group in rendered_prod.of_type(SG):
            inputs = group.inputs
            created = ec2.create_security_group(
                GroupName=inputs["name"], Description=inputs["description"], VpcId=vpc,
                TagSpecifications=_tag_spec("security-group", {**DEFAULT_TAGS, **inputs["tags"]}),
            )["GroupId"]
            # The provider removes AWS's default allow-all egress rule from every group it creates.
            ec2.revoke_security_group_egress(GroupId=created, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
            group_ids[group.name] = created
        addresses: dict[str, str] = {}
        for eip in rendered_prod.of_type("aws:ec2/eip:Eip"):
            allocated = ec2.allocate_address(Domain="vpc", TagSpecifications=_tag_spec("elastic-ip", {**DEFAULT_TAGS, **eip.inputs["tags"]}))
            addresses[eip.name] = allocated["PublicIp"]
        permissions: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for rule in [*rendered_prod.of_type(INGRESS), *rendered_prod.of_type(EGRESS)]:
            inputs, deps = rule.inputs, rule.property_dependencies
            permission: dict[str, Any] = {"IpProtocol": inputs["ipProtocol"], "FromPort": int(inputs["fromPort"]), "ToPort": int(inputs["toPort"])}
            if "referencedSecurityGroupId" in inputs:
                permission["UserIdGroupPairs"] = [{"GroupId": group_ids[deps["referencedSecurityGroupId"][0]]}]
            elif "cidrIpv4" in deps:  # a NAT address: the live public IP, not the mock one
                permission["IpRanges"] = [{"CidrIp": f"{addresses[deps['cidrIpv4'][0]]}/32", "Description": inputs["description"]}]
            else:
                permission["IpRanges"] = [{"CidrIp": inputs["cidrIpv4"], "Description": inputs["description"]}]
            permissions.setdefault((rule.type, group_ids[deps["securityGroupId"][0]]), []).append(permission)
        for (rule_type, group_id), batch in permissions.items():
            authorize = ec2.authorize_security_group_ingress if rule_type == INGRESS else ec2.authorize_security_group_egress
            # The provider's default tags land on each rule resource too.
            authorize(GroupId=group_id, IpPermissions=batch, TagSpecifications=_tag_spec("security-group-rule", DEFAULT_TAGS))
        assert len(live_rules(ec2, group_ids.values())) == sum(len(b) for b in permissions.values())  # moto kept every rule
        for role in rendered_prod.of_type("aws:iam/role:Role"):
            iam.create_role(RoleName=role.inputs["name"], Path=role.inputs.get("path", "/"), AssumeRolePolicyDocument=role.inputs["assumeRolePolicy"])
        for policy in rendered_prod.of_type("aws:iam/rolePolicy:RolePolicy"):
            iam.put_role_policy(RoleName=policy.inputs["role"], PolicyName=policy.inputs["name"], PolicyDocument=policy.inputs["policy"])
        yield SimpleNamespace(ec2=ec2, iam=iam, vpc=vpc, groups=group_ids)


@pytest.fixture(scope="module")
def desired(rendered_prod: RenderedStack) -> DesiredLayout:
    return desired_layout(rendered_prod, stack=STACK)


def probe(account: SimpleNamespace, desired: DesiredLayout) -> list[DriftedResource]:
    return probe_unmanaged(account.ec2, account.iam, suffix=SUFFIX, desired=desired)


def open_to_world(account: SimpleNamespace, group: str, port: int, **extra: Any) -> None:
    account.ec2.authorize_security_group_ingress(
        GroupId=account.groups[group],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        **extra,
    )


# --------------------------------------------------------------------------- the render


def test_desired_rules_name_groups_by_name_never_by_mock_id(rendered_prod: RenderedStack) -> None:
    rules = desired_rules(rendered_prod)
    rendered_rules = rendered_prod.of_type(INGRESS) + rendered_prod.of_type(EGRESS)
    assert sorted(r.rule for r in rules) == sorted(r.name for r in rendered_rules)
    from_alb = next(r for r in rules if r.rule == "sgr-api-gateway-from-alb-prod")
    assert from_alb.group == "sg-api-gateway-prod"
    assert from_alb.content == RuleContent(direction="ingress", protocol="tcp", from_port=8080, to_port=8080, referenced_group="sg-alb-prod")
    mock_ids = {g.inputs["vpcId"] for g in rendered_prod.of_type(SG)} | {r.inputs["securityGroupId"] for r in rendered_rules}
    assert not any(mock_id in json.dumps([r.model_dump() for r in rules]) for mock_id in mock_ids)
    nat = next(r for r in rules if r.rule == "sgr-alb-test-from-nat-0-prod")
    assert (nat.address_name, nat.content.cidr_ipv4) == ("eip-nat-a-prod", None)


def test_group_urns_follow_the_parent_chain_or_are_marked_unmanaged(rendered_prod: RenderedStack) -> None:
    assert resource_urn(rendered_prod, "sg-api-gateway-prod", stack="acme/ecs-gitops/prod") == (
        "urn:pulumi:prod::ecs-gitops::ecs-gitops:platform:SecurityTiers$aws:ec2/securityGroup:SecurityGroup::sg-api-gateway-prod"
    )
    assert desired_layout(rendered_prod).groups["sg-api-gateway-prod"] == unmanaged_urn(SG, "sg-api-gateway-prod")
    assert unmanaged_urn(SG, "sg-api-gateway-prod").startswith("unmanaged:")


def test_applied_layout_renders_the_applied_state(prod_state: DesiredState, desired: DesiredLayout) -> None:
    assert applied_layout(prod_state, TrafficState(), stack=STACK) == desired


# --------------------------------------------------------------------------- the live account


def test_the_exact_layout_is_no_drift(account: SimpleNamespace, desired: DesiredLayout) -> None:
    assert probe(account, desired) == []


def test_a_console_rule_opening_ssh_to_the_world_reads_as_the_headline(account: SimpleNamespace, desired: DesiredLayout) -> None:
    open_to_world(account, "sg-api-gateway-prod", 22)

    [drifted] = probe(account, desired)

    assert drifted.summary == "ingress gained tcp/22 from 0.0.0.0/0"
    assert (drifted.name, drifted.type, drifted.kind, drifted.severity) == ("sg-api-gateway-prod", SG, DriftKind.CHANGED, DriftSeverity.HIGH)
    assert drifted.urn == desired.groups["sg-api-gateway-prod"] and drifted.urn.startswith("urn:pulumi:prod::ecs-gitops::")
    [prop] = drifted.properties
    assert prop.path.startswith("ingress[sgr-") and prop.expected is None
    assert {k: prop.actual[k] for k in ("protocol", "fromPort", "toPort", "cidrIpv4")} == {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}


def test_a_console_rule_copying_the_managed_tags_is_still_drift(account: SimpleNamespace, desired: DesiredLayout) -> None:
    copied = {**DEFAULT_TAGS, "Name": "sgr-api-gateway-from-alb-prod"}
    open_to_world(account, "sg-api-gateway-prod", 22, TagSpecifications=_tag_spec("security-group-rule", copied))

    [drifted] = probe(account, desired)

    assert drifted.summary == "ingress gained tcp/22 from 0.0.0.0/0"


def test_an_all_traffic_egress_rule(account: SimpleNamespace, desired: DesiredLayout) -> None:
    account.ec2.authorize_security_group_egress(
        GroupId=account.groups["sg-processing-service-prod"], IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )

    [drifted] = probe(account, desired)

    assert (drifted.name, drifted.summary) == ("sg-processing-service-prod", "egress gained all traffic to 0.0.0.0/0")


def test_a_rule_from_a_foreign_group_names_its_id(account: SimpleNamespace, desired: DesiredLayout) -> None:
    foreign = account.ec2.create_security_group(GroupName="bastion", Description="someone's bastion", VpcId=account.vpc)["GroupId"]
    account.ec2.authorize_security_group_ingress(
        GroupId=account.groups["sg-processing-service-prod"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": foreign}]}],
    )

    [drifted] = probe(account, desired)

    assert drifted.summary == f"ingress gained tcp/5432 from {foreign} (not a platform group)"


def test_a_new_path_between_platform_groups_names_the_group(account: SimpleNamespace, desired: DesiredLayout) -> None:
    """frontend may reach api-gateway, never processing-service directly: the same port from another tier is drift."""
    account.ec2.authorize_security_group_ingress(
        GroupId=account.groups["sg-processing-service-prod"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 9000, "ToPort": 9000, "UserIdGroupPairs": [{"GroupId": account.groups["sg-frontend-prod"]}]}],
    )

    [drifted] = probe(account, desired)

    assert drifted.summary == "ingress gained tcp/9000 from sg-frontend-prod"


def test_port_ranges_ipv6_and_prefix_lists(account: SimpleNamespace, desired: DesiredLayout) -> None:
    prefix_list = account.ec2.create_managed_prefix_list(PrefixListName="office", AddressFamily="IPv4", MaxEntries=5)["PrefixList"]["PrefixListId"]
    account.ec2.authorize_security_group_ingress(
        GroupId=account.groups["sg-alb-prod"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 1024, "ToPort": 2048, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
    )
    account.ec2.authorize_security_group_egress(
        GroupId=account.groups["sg-frontend-prod"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": prefix_list}]}],
    )

    drifted = {d.name: d.summary for d in probe(account, desired)}

    assert drifted == {
        "sg-alb-prod": "ingress gained tcp/1024-2048 from ::/0",
        "sg-frontend-prod": f"egress gained tcp/443 to prefix list {prefix_list}",
    }


def test_several_console_rules_on_one_group_are_one_resource(account: SimpleNamespace, desired: DesiredLayout) -> None:
    open_to_world(account, "sg-api-gateway-prod", 22)
    open_to_world(account, "sg-api-gateway-prod", 3389)

    [drifted] = probe(account, desired)

    assert drifted.summary == "ingress gained tcp/22 from 0.0.0.0/0, ingress gained tcp/3389 from 0.0.0.0/0"
    assert len(drifted.properties) == 2


def test_a_managed_rule_widened_in_place_shows_what_the_group_now_allows(account: SimpleNamespace, desired: DesiredLayout) -> None:
    group = account.groups["sg-frontend-prod"]
    https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443}
    account.ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[{**https, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    account.ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[{**https, "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])

    [drifted] = probe(account, desired)

    assert drifted.summary == "egress gained tcp (all ports) to 0.0.0.0/0"


def test_another_environments_groups_are_not_this_ones(account: SimpleNamespace, desired: DesiredLayout) -> None:
    dev = account.ec2.create_security_group(
        GroupName="sg-api-gateway-dev", Description="dev", VpcId=account.vpc,
        TagSpecifications=_tag_spec("security-group", {**DEFAULT_TAGS, "environment": "dev"}),
    )["GroupId"]
    account.ec2.authorize_security_group_ingress(
        GroupId=dev, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )

    assert probe(account, desired) == []


def test_a_policy_attached_to_a_platform_role_out_of_band(account: SimpleNamespace, desired: DesiredLayout) -> None:
    admin = account.iam.create_policy(PolicyName="AdminCopy", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    ))["Policy"]["Arn"]
    account.iam.attach_role_policy(RoleName="role-api-gateway-task-prod", PolicyArn=admin)
    account.iam.put_role_policy(RoleName="role-api-gateway-task-prod", PolicyName="debug-s3", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    ))

    [drifted] = probe(account, desired)

    assert (drifted.name, drifted.type, drifted.severity) == ("role-api-gateway-task-prod", "aws:iam/role:Role", DriftSeverity.HIGH)
    assert drifted.summary == f"gained inline policy debug-s3, gained managed policy {admin}"
    assert [p.path for p in drifted.properties] == ["inlinePolicies[debug-s3]", f"managedPolicyArns[{admin}]"]
    assert drifted.urn.startswith("urn:pulumi:prod::ecs-gitops::") and drifted.urn.endswith("::role-api-gateway-task-prod")


@pytest.mark.parametrize(
    ("allowed", "missing"),
    [
        (["ec2:DescribeSecurityGroups", "ec2:DescribeAddresses", "iam:List*"], "ec2:DescribeSecurityGroupRules"),
        (["ec2:Describe*", "iam:ListRolePolicies"], "iam:ListAttachedRolePolicies"),
    ],
)
def test_aws_refusing_a_read_is_an_error_naming_the_permission(
    account: SimpleNamespace, desired: DesiredLayout, allowed: list[str], missing: str
) -> None:
    """moto's own IAM enforcement: a caller allowed some of the reads, not all."""
    user = account.iam.create_user(UserName="drift-reader")["User"]["UserName"]
    account.iam.put_user_policy(UserName=user, PolicyName="partial", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": allowed, "Resource": "*"}]}
    ))
    key = account.iam.create_access_key(UserName=user)["AccessKey"]
    limited = boto3.session.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION)
    open_to_world(account, "sg-api-gateway-prod", 22)  # drift is there: a refused read must not hide it as "no drift"

    @ActionAuthenticatorMixin.set_initial_no_auth_action_count(0)
    def run() -> list[DriftedResource]:
        return probe_unmanaged(limited.client("ec2"), limited.client("iam"), suffix=SUFFIX, desired=desired)

    with pytest.raises(DriftProbeError) as raised:
        run()
    assert isinstance(raised.value, ReconcilerError)
    assert f"allow {missing} to the reconciler's worker role" in str(raised.value)


def test_no_credentials_is_an_error_not_no_drift(
    account: SimpleNamespace, desired: DesiredLayout, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bare = boto3.session.Session(region_name=REGION)

    with pytest.raises(DriftProbeError, match=r"no AWS credentials for ec2:DescribeSecurityGroups"):
        probe_unmanaged(bare.client("ec2"), bare.client("iam"), suffix=SUFFIX, desired=desired)


# --------------------------------------------------------------------------- putting it back


def console_changes(account: SimpleNamespace) -> str:
    """An open SSH port, an all-traffic egress and an admin policy attached plus an inline one put on a task role."""
    open_to_world(account, "sg-api-gateway-prod", 22)
    account.ec2.authorize_security_group_egress(
        GroupId=account.groups["sg-processing-service-prod"], IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    admin = account.iam.create_policy(PolicyName="AdminCopy", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    ))["Policy"]["Arn"]
    account.iam.attach_role_policy(RoleName="role-frontend-task-prod", PolicyArn=admin)
    account.iam.put_role_policy(RoleName="role-frontend-task-prod", PolicyName="debug", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    ))
    return admin


def test_undo_removes_exactly_what_was_added_and_probes_again(account: SimpleNamespace, desired: DesiredLayout, rendered_prod: RenderedStack) -> None:
    admin = console_changes(account)
    found = probe(account, desired)

    result = undo_unmanaged(account.ec2, account.iam, suffix=SUFFIX, desired=desired, resources=found)

    assert sorted(a.description for a in result.undone) == sorted([
        "revoke egress all traffic to 0.0.0.0/0 on sg-processing-service-prod",
        "revoke ingress tcp/22 from 0.0.0.0/0 on sg-api-gateway-prod",
        "delete inline policy debug of role-frontend-task-prod",
    ])
    # The worker role is not granted iam:DetachRolePolicy (template.yaml): the attached policy is left for a person
    # (this test pinned a detach, which always failed in AWS: review D5).
    assert [a.description for a in result.left_for_person] == [f"detach {admin} from role-frontend-task-prod"]
    assert [r.summary for r in result.remaining] == [f"gained managed policy {admin}"] and result.failed == []
    # The program's own rules and policies are all still there.
    assert len(live_rules(account.ec2, account.groups.values())) == len(rendered_prod.of_type(INGRESS) + rendered_prod.of_type(EGRESS))
    assert account.iam.list_role_policies(RoleName="role-frontend-execution-prod")["PolicyNames"] == ["policy-frontend-execution-prod"]


def test_undo_touches_only_the_resources_it_is_given_and_what_is_still_there(account: SimpleNamespace, desired: DesiredLayout) -> None:
    console_changes(account)
    found = probe(account, desired)
    groups_only = [r for r in found if r.type == SG]
    ssh = next(r for r in groups_only if r.name == "sg-api-gateway-prod")
    account.ec2.revoke_security_group_ingress(GroupId=account.groups["sg-api-gateway-prod"], SecurityGroupRuleIds=[ssh.properties[0].actual["ruleId"]])

    result = undo_unmanaged(account.ec2, account.iam, suffix=SUFFIX, desired=desired, resources=groups_only)

    assert [a.description for a in result.undone] == ["revoke egress all traffic to 0.0.0.0/0 on sg-processing-service-prod"]
    assert [(r.name, r.type) for r in result.remaining] == [("role-frontend-task-prod", "aws:iam/role:Role")]


def test_undo_refused_by_aws_names_the_permission(account: SimpleNamespace, desired: DesiredLayout) -> None:
    open_to_world(account, "sg-api-gateway-prod", 22)
    found = probe(account, desired)
    user = account.iam.create_user(UserName="drift-reader")["User"]["UserName"]
    account.iam.put_user_policy(UserName=user, PolicyName="read-only", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*", "iam:List*"], "Resource": "*"}]}
    ))
    key = account.iam.create_access_key(UserName=user)["AccessKey"]
    limited = boto3.session.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION)

    @ActionAuthenticatorMixin.set_initial_no_auth_action_count(0)
    def run() -> object:
        return undo_unmanaged(limited.client("ec2"), limited.client("iam"), suffix=SUFFIX, desired=desired, resources=found)

    # Recorded, not raised (review D5: a raise threw away what was removed and the report).
    result = run()
    [failure] = result.failed
    assert "cannot remove the rules and policies added out of band; allow ec2:RevokeSecurityGroupIngress" in failure.error
    assert result.undone == [] and "could not remove: revoke ingress tcp/22" in result.message
    assert len(probe(account, desired)) == 1


def test_undo_leaves_the_refreshs_own_findings_to_a_converge() -> None:
    refreshed = DriftedResource(urn="urn:x", type=SG, name="sg-alb-prod", kind=DriftKind.CHANGED, severity=DriftSeverity.LOW,
                                properties=[PropertyDrift(path="tags.team", expected="a", actual="b")], summary="tag team changed")
    assert undo_actions([refreshed]) == []


# --------------------------------------------------------------------------- pure pieces


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (RuleContent(direction="ingress", protocol="6", from_port=22, to_port=22), "tcp/22"),
        (RuleContent(direction="ingress", protocol="all", from_port=-1, to_port=-1), "all traffic"),
        (RuleContent(direction="ingress", protocol="udp", from_port=0, to_port=65535), "udp (all ports)"),
        (RuleContent(direction="ingress", protocol="icmp", from_port=-1, to_port=-1), "icmp (all types)"),
        (RuleContent(direction="ingress", protocol="1", from_port=8, to_port=0), "icmp type 8 code 0"),
        (RuleContent(direction="ingress", protocol="50"), "50 (all ports)"),
    ],
)
def test_traffic_reads_as_people_write_it(content: RuleContent, text: str) -> None:
    assert describe_traffic(content.normalised()) == text


def test_merge_joins_the_refreshs_entry_for_the_same_group() -> None:
    urn = "urn:pulumi:prod::ecs-gitops::x$aws:ec2/securityGroup:SecurityGroup::sg-api-gateway-prod"
    refreshed = DriftedResource(urn=urn, type=SG, name="sg-api-gateway-prod", kind=DriftKind.CHANGED, severity=DriftSeverity.LOW,
                                properties=[PropertyDrift(path="tags.team", expected="a", actual="b")], summary="tag team changed")
    other = refreshed.model_copy(update={"urn": urn + "-other", "name": "other"})
    probed = DriftedResource(urn=urn, type=SG, name="sg-api-gateway-prod", kind=DriftKind.CHANGED, severity=DriftSeverity.HIGH,
                             properties=[PropertyDrift(path="ingress[sgr-1]", actual={"protocol": "tcp"})], summary="ingress gained tcp/22 from 0.0.0.0/0")

    merged = merge_drift([refreshed, other], [probed])

    assert [m.name for m in merged] == ["sg-api-gateway-prod", "other"]
    assert merged[0].summary == "tag team changed, ingress gained tcp/22 from 0.0.0.0/0"
    assert merged[0].severity == DriftSeverity.HIGH and [p.path for p in merged[0].properties] == ["tags.team", "ingress[sgr-1]"]


@pytest.mark.parametrize(
    ("resource", "form"),
    [
        (RenderedResource(type="aws:ec2/securityGroupRule:SecurityGroupRule", name="sgr-legacy-prod", parent=None, custom=True,
                          inputs={"type": "ingress", "protocol": "tcp", "fromPort": 22.0, "toPort": 22.0}), "aws.ec2.SecurityGroupRule"),
        (RenderedResource(type=SG, name="sg-inline-prod", parent=None, custom=True,
                          inputs={"name": "sg-inline-prod", "ingress": [{"protocol": "tcp", "fromPort": 22.0}]}), "inline ingress/egress"),
    ],
)
def test_rules_declared_in_a_form_the_probe_does_not_read_are_refused(rendered_prod: RenderedStack, resource: RenderedResource, form: str) -> None:
    """Otherwise each of those rules would read as a console rule."""
    widened = rendered_prod.model_copy(update={"resources": [*rendered_prod.resources, resource]})

    with pytest.raises(DriftProbeError, match=rf"{resource.name} declares security-group rules as {form}"):
        desired_rules(widened)


# --------------------------------------------------------------------------- the drift check reads it too


def _check(account: SimpleNamespace | None, prod_state: DesiredState, *, mode: str = "report", require_approval: bool = False) -> Any:
    from datetime import UTC, datetime

    from reconciler.adapters.stack_state import StackStatus
    from reconciler.drift.check import DriftChecker
    from reconciler.engine import EngineResult, StackRequest
    from reconciler.models import Job, PlanSummary, Trigger
    from reconciler.settings import DriftSettings, EnvironmentSettings, ReconcilerSettings, RepositorySettings

    class RefreshWithoutStepsDouble:
        """Stands in for the Pulumi CLI (not installed here): a refreshed preview that finds nothing, as it
        does for a console-added rule (the rule is no resource of the stack)."""

        def preview(self, request: StackRequest) -> EngineResult:
            return EngineResult("preview", PlanSummary(same=120), {}, (), "3.0.0-double")

    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    env = EnvironmentSettings(
        stack=STACK, suffix=SUFFIX, production=True, require_signed_commits=False, require_approval=require_approval, drift=DriftSettings(mode=mode)
    )
    settings = ReconcilerSettings(repository=RepositorySettings(url="https://example.com/desired.git"), environments={"prod": env})
    queued: list[Job] = []
    checker = DriftChecker(
        settings, clock=lambda: now, enqueue=queued.append,
        ec2=account.ec2 if account else None, iam=account.iam if account else None,
    )
    job = Job(job_id="j" * 32, environment="prod", stack=STACK, trigger=Trigger.SCHEDULED_DRIFT_CHECK, event_id="e", received_at=now)
    found = checker.compare(
        RefreshWithoutStepsDouble(), StackRequest(stack=STACK, config={}, refresh=True), job=job, status=StackStatus(stack=STACK),
        commit="c" * 40, state=prod_state, traffic=TrafficState(),
    )
    return SimpleNamespace(found=found, queued=queued)


def test_the_drift_check_reports_a_console_rule_the_refresh_cannot_see(account: SimpleNamespace, prod_state: DesiredState) -> None:
    open_to_world(account, "sg-api-gateway-prod", 22)

    checked = _check(account, prod_state)

    assert checked.found.subject == "prod: 1 resource drifted: sg-api-gateway-prod ingress gained tcp/22 from 0.0.0.0/0"
    assert checked.found.report.severity == DriftSeverity.HIGH and checked.found.summary.result == "drifted"
    assert probe(account, checked_desired(prod_state)) != []  # report mode changed nothing


def checked_desired(prod_state: DesiredState) -> DesiredLayout:
    return applied_layout(prod_state, TrafficState(), stack=STACK)


def test_remediation_leaves_the_console_rule_to_the_remediation_job(account: SimpleNamespace, prod_state: DesiredState) -> None:
    """The check runs whatever the change window says, so it removes nothing (this test pinned a revoke in the
    check: review D4); the queued remediation job removes it (tests/reconciler/drift/test_flow_undo.py)."""
    open_to_world(account, "sg-api-gateway-prod", 22)

    checked = _check(account, prod_state, mode="remediate")

    assert len(checked.queued) == 1  # the converge back to the applied commit is queued
    assert f"the remediation job {checked.queued[0].job_id} removes, after its change window, approval and lease: " \
        "revoke ingress tcp/22 from 0.0.0.0/0 on sg-api-gateway-prod" in checked.found.message
    assert [r.summary for r in probe(account, checked_desired(prod_state))] == ["ingress gained tcp/22 from 0.0.0.0/0"]


def test_where_approval_is_required_remediation_leaves_the_console_rule_and_says_so(account: SimpleNamespace, prod_state: DesiredState) -> None:
    open_to_world(account, "sg-api-gateway-prod", 22)

    checked = _check(account, prod_state, mode="remediate", require_approval=True)

    # The remediation job waits for approval like any converge; its undo runs only after it (review D4).
    assert "after its change window, approval and lease" in checked.found.message
    assert [r.summary for r in probe(account, checked_desired(prod_state))] == ["ingress gained tcp/22 from 0.0.0.0/0"]


def test_without_aws_clients_the_check_says_the_console_rules_were_not_read(prod_state: DesiredState) -> None:
    checked = _check(None, prod_state)

    assert checked.found.summary.result == "no-drift"
    assert "console-added security-group rules and role policies not read" in checked.found.message
