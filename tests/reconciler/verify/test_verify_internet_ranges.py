"""The internet is any public address, however the range is written: halves, small public blocks,
IPv4 or IPv6, or a managed prefix list holding them; private and VPC ranges are not the internet."""

from __future__ import annotations

import pytest

from test_verify_broken import failed


def _group_admitting(layout, undo, name, permission):
    ec2 = layout.client("ec2")
    group = ec2.create_security_group(GroupName=name, Description="x", VpcId=layout.outputs["vpcId"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, **permission}])
    undo(lambda: ec2.delete_security_group(GroupId=group))
    return group


@pytest.mark.parametrize(("ranges", "seen"), [
    ({"IpRanges": [{"CidrIp": "0.0.0.0/1"}, {"CidrIp": "128.0.0.0/1"}]}, ["0.0.0.0/1", "128.0.0.0/1"]),
    ({"Ipv6Ranges": [{"CidrIpv6": "::/1"}, {"CidrIpv6": "8000::/1"}]}, ["::/1", "8000::/1"]),
    ({"IpRanges": [{"CidrIp": "8.8.8.8/32"}]}, ["8.8.8.8/32"]),
    ({"IpRanges": [{"CidrIp": "10.0.0.0/7"}]}, ["10.0.0.0/7"]),  # reaches past 10.0.0.0/8 into 11.0.0.0/8
    ({"Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]}, ["2001:db8::/32"]),
])
def test_a_range_holding_public_addresses_is_the_internet(layout, run_verify, undo, ranges, seen):
    group = _group_admitting(layout, undo, "sg-wide-dev", ranges)

    check = failed(run_verify(groups=["isolation"]), "isolation.internet-only-alb")

    assert sorted(o["from"] for o in check.evidence["openToInternet"]) == sorted(seen)
    assert {o["groupId"] for o in check.evidence["openToInternet"]} == {group}


def test_a_prefix_list_holding_the_internet(layout, run_verify, undo):
    ec2 = layout.client("ec2")
    prefix_list = ec2.create_managed_prefix_list(PrefixListName="pl-anywhere-dev", AddressFamily="IPv4", MaxEntries=2,
                                                 Entries=[{"Cidr": "0.0.0.0/0"}])["PrefixList"]["PrefixListId"]
    undo(lambda: ec2.delete_managed_prefix_list(PrefixListId=prefix_list))
    group = _group_admitting(layout, undo, "sg-prefix-dev", {"PrefixListIds": [{"PrefixListId": prefix_list}]})

    check = failed(run_verify(groups=["isolation"]), "isolation.internet-only-alb")

    assert check.evidence["openToInternet"] == [{"groupId": group, "groupName": "sg-prefix-dev", "ports": [22, 22], "from": f"{prefix_list}:0.0.0.0/0"}]


@pytest.mark.parametrize("ranges", [
    {"IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "172.16.0.0/12"}, {"CidrIp": "192.168.1.0/24"}]},
    {"Ipv6Ranges": [{"CidrIpv6": "fd00::/8"}]},
])
def test_private_ranges_are_not_the_internet(layout, run_verify, undo, ranges):
    _group_admitting(layout, undo, "sg-private-dev", ranges)
    report = run_verify(groups=["isolation"])
    assert next(r for r in report.results if r.name == "isolation.internet-only-alb").status == "pass"
    assert report.passed
