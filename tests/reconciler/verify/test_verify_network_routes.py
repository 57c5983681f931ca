"""The default routes are judged on whether they carry traffic: an active route to a NAT gateway
that is available; and no subnets at all is no pass.

The last test deletes a NAT gateway (moto cannot bring one back): it runs last in this module.
"""

from __future__ import annotations

from test_verify_broken import failed
from verify_layout import BlackholeRoutesDoubleEc2

from reconciler.verify.run import verify_environment
from reconciler.verify.seams import Timing


def _table_of(layout, subnet):
    ec2 = layout.client("ec2")
    return ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"][0]["RouteTableId"]


def test_no_subnets_is_no_pass(layout, dev_state, fake_time):
    outputs = {**layout.outputs, "publicSubnetIds": [], "privateSubnetIds": []}
    report = verify_environment(environment="dev", outputs=outputs, desired=dev_state, traffic=None, clients=layout.clients(),
                                timing=Timing(monotonic=fake_time.monotonic, sleep=fake_time.sleep), groups=["network"])

    for name in ("network.private-routes", "network.public-routes", "network.availability-zones"):
        check = failed(report, name)
        assert "no subnets" in check.detail, check.detail


def test_a_blackhole_default_route(layout, run_verify):
    subnet = layout.outputs["privateSubnetIds"][1]
    table = _table_of(layout, subnet)

    report = run_verify(groups=["network"], ec2=BlackholeRoutesDoubleEc2(layout.client("ec2"), {table}))

    check = failed(report, "network.private-routes")
    assert check.evidence["wrong"][subnet]["routeStates"] == ["blackhole"]
    assert sorted(r.name for r in report.failures) == ["network.private-routes"]


def test_a_blackhole_public_route(layout, run_verify):
    subnet = layout.outputs["publicSubnetIds"][0]
    report = run_verify(groups=["network"], ec2=BlackholeRoutesDoubleEc2(layout.client("ec2"), {_table_of(layout, subnet)}))
    assert failed(report, "network.public-routes").evidence["wrong"][subnet]["routeStates"] == ["blackhole"]


def test_zz_a_deleted_nat_gateway(layout, run_verify):
    ec2 = layout.client("ec2")
    nat = layout.outputs["natGatewayIds"][0]
    routed = [s for s in layout.outputs["privateSubnetIds"]
              if any(r.get("NatGatewayId") == nat for t in ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [s]}])["RouteTables"]
                     for r in t["Routes"])]
    assert routed
    ec2.delete_nat_gateway(NatGatewayId=nat)

    check = failed(run_verify(groups=["network"]), "network.private-routes")

    assert sorted(check.evidence["wrong"]) == sorted(routed)
    assert check.evidence["wrong"][routed[0]]["natGatewayStates"] == {nat: "deleted"}
