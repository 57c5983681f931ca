"""Broken variants of the laid-out account, one each: verify fails, and says why with its evidence.

The account is laid out once for the module; each test breaks one thing and registers its repair
with ``undo``, and the last test checks the account is whole again.
"""

from __future__ import annotations

import pytest

from desired_state.traffic import ColourWeights, ServiceTraffic, TrafficState
from verify_layout import TargetHealthDoubleElbv2


def failed(report, name):
    matches = [r for r in report.results if r.name == name]
    assert matches, f"no check named {name}: {[r.name for r in report.results]}"
    check = matches[0]
    assert check.status == "fail", (check.detail, check.evidence)
    assert not report.passed
    return check


def only_failures(report):
    return sorted(r.name for r in report.failures)


def test_a_task_with_a_public_ip(layout, run_verify, undo):
    ec2 = layout.client("ec2")
    task = layout.tasks["svc-frontend-blue-dev"][0]
    address = ec2.allocate_address(Domain="vpc")
    association = ec2.associate_address(AllocationId=address["AllocationId"], NetworkInterfaceId=task.eni)["AssociationId"]
    undo(lambda: (ec2.disassociate_address(AssociationId=association), ec2.release_address(AllocationId=address["AllocationId"])))

    report = run_verify(groups=["services"])

    check = failed(report, "services.frontend-blue.no-public-ip")
    assert check.evidence["problems"] == [
        {"task": task.arn, "networkInterface": task.eni, "publicIp": address["PublicIp"], "subnet": task.subnet, "subnetIsPrivate": True}
    ]
    assert only_failures(report) == ["services.frontend-blue.no-public-ip"]


def test_an_unhealthy_target_fails_after_waiting_within_the_bound(layout, run_verify, fake_time):
    sick = layout.tasks["svc-api-gateway-blue-dev"][1]
    elbv2 = TargetHealthDoubleElbv2(layout.client("elbv2"), {sick.ip: "unhealthy"})

    report = run_verify(groups=["traffic"], elbv2=elbv2)

    check = failed(report, "traffic.api-gateway-blue.target-health")
    assert check.evidence["unhealthy"] == {f"{sick.ip}:8080": "unhealthy"}
    assert check.evidence["targetGroup"] == layout.outputs["targetGroupArns"]["api-gateway"]["blue"]
    # It waited for the target to recover: polls every 10 s up to the 60 s bound, then gave up.
    assert fake_time.sleeps == [10] * 6
    assert only_failures(report) == ["traffic.api-gateway-blue.target-health"]


def test_a_target_that_turns_healthy_while_waiting_passes(layout, run_verify, fake_time):
    slow = layout.tasks["svc-frontend-blue-dev"][0]
    elbv2 = TargetHealthDoubleElbv2(layout.client("elbv2"), {slow.ip: "initial"})
    original = fake_time.sleep

    def sleep(seconds):
        original(seconds)
        if fake_time.now >= 20:
            elbv2.states.clear()

    fake_time.sleep = sleep
    report = run_verify(groups=["traffic"], elbv2=elbv2)
    assert report.passed, [(r.name, r.evidence) for r in report.failures]
    assert fake_time.now == 20


def _register_revision(layout, unit, change):
    """A new task definition revision of ``unit`` (its containers changed by ``change``) put on its service; undone after."""
    ecs = layout.client("ecs")
    service_arn = layout.outputs["serviceArns"][unit]
    service = ecs.describe_services(cluster=layout.outputs["clusterArn"], services=[service_arn])["services"][0]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    containers = [change(dict(c)) for c in definition["containerDefinitions"]]
    keep = ("family", "cpu", "memory", "networkMode", "requiresCompatibilities", "runtimePlatform", "executionRoleArn", "taskRoleArn", "volumes")
    registered = ecs.register_task_definition(containerDefinitions=containers, **{k: definition[k] for k in keep if k in definition})
    arn = registered["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=layout.outputs["clusterArn"], service=service_arn, taskDefinition=arn)
    return arn, lambda: ecs.update_service(cluster=layout.outputs["clusterArn"], service=service_arn, taskDefinition=service["taskDefinition"])


def test_a_wrong_image_digest(layout, run_verify, undo):
    wrong = layout.outputs["ecrRepositoryUrls"]["api-gateway"] + "@sha256:" + "0" * 64
    registered, restore = _register_revision(layout, "api-gateway-blue", lambda c: {**c, "image": wrong})
    undo(restore)

    report = run_verify(groups=["services"])

    check = failed(report, "services.api-gateway-blue.image")
    assert check.evidence["actual"] == wrong
    assert check.evidence["expected"] == layout.outputs["ecrRepositoryUrls"]["api-gateway"] + ":2.8.0"
    assert check.evidence["taskDefinition"] == registered
    assert only_failures(report) == ["services.api-gateway-blue.image"]


def test_a_missing_secret(layout, run_verify, undo):
    """The task definition references a secret that is not there (deleted, or never created)."""
    arn = layout.outputs["secretArns"]["api-keys"]
    gone = arn.replace("secret-api-keys-dev", "secret-partner-keys-dev")

    def reference_gone(container):
        container["secrets"] = [{**s, "valueFrom": s["valueFrom"].replace(arn, gone)} for s in container.get("secrets", [])]
        return container

    _, restore = _register_revision(layout, "api-gateway-blue", reference_gone)
    undo(restore)

    report = run_verify(groups=["secrets"])

    short = gone.rsplit(":", 1)[-1]
    check = failed(report, f"secrets.{short}.exists")
    assert check.evidence["secret"] == gone
    assert check.evidence["referencedBy"] == ["api-gateway"]
    assert check.evidence["error"] == "ResourceNotFoundException"
    assert only_failures(report) == [f"secrets.{short}.exists"]
    assert next(r for r in report.results if r.name == f"secrets.{short}.readers").status == "skipped"


def test_a_deleted_secret(layout, run_verify, undo):
    arn = layout.outputs["secretArns"]["api-keys"]
    secrets = layout.client("secretsmanager")
    secrets.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    undo(lambda: secrets.restore_secret(SecretId=arn))

    report = run_verify(groups=["secrets"])

    check = failed(report, f"secrets.{arn.rsplit(':', 1)[-1]}.exists")
    assert check.evidence["deleted"] is True


def test_a_log_group_at_seven_days(layout, run_verify, undo):
    logs = layout.client("logs")
    logs.put_retention_policy(logGroupName="/ecs-gitops/dev/frontend", retentionInDays=7)
    undo(lambda: logs.put_retention_policy(logGroupName="/ecs-gitops/dev/frontend", retentionInDays=30))

    report = run_verify(groups=["logs"])

    check = failed(report, "logs.frontend.retention")
    assert check.evidence == {"logGroup": "/ecs-gitops/dev/frontend", "retentionInDays": 7, "expected": 30, "exists": True}
    assert only_failures(report) == ["logs.frontend.retention"]


def test_a_security_group_opened_to_the_internet(layout, run_verify, undo):
    group = layout.outputs["securityGroupIds"]["processing-service"]
    ssh = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ec2 = layout.client("ec2")
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=ssh)
    undo(lambda: ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=ssh))

    report = run_verify(groups=["isolation"])

    internet = failed(report, "isolation.internet-only-alb")
    assert internet.evidence["openToInternet"] == [
        {"groupId": group, "groupName": "sg-processing-service-dev", "ports": [22, 22], "from": "0.0.0.0/0"}
    ]
    admits = failed(report, "isolation.processing-service-admits")
    assert admits.evidence["notAllowed"] == ["0.0.0.0/0"]
    assert only_failures(report) == ["isolation.internet-only-alb", "isolation.processing-service-admits"]


def test_a_listener_weight_that_disagrees_with_the_traffic_state(layout, run_verify, undo):
    groups = layout.outputs["targetGroupArns"]["frontend"]
    elbv2 = layout.client("elbv2")
    listener = elbv2.describe_listeners(ListenerArns=[layout.outputs["listenerArns"]["http"]])["Listeners"][0]
    undo(lambda: elbv2.modify_listener(ListenerArn=listener["ListenerArn"], DefaultActions=listener["DefaultActions"]))
    elbv2.modify_listener(
        ListenerArn=layout.outputs["listenerArns"]["http"],
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": groups["blue"], "Weight": 50}, {"TargetGroupArn": groups["green"], "Weight": 50},
        ]}}],
    )

    report = run_verify(groups=["traffic"])

    check = failed(report, "traffic.frontend.weights")
    assert check.evidence["expected"] == {"blue": 100, "green": 0}
    assert check.evidence["actual"] == {"blue": 50, "green": 50}
    assert only_failures(report) == ["traffic.frontend.weights"]


def test_the_traffic_state_moving_without_the_listener_fails_too(layout, run_verify):
    """The listener as laid out (100/0), but the rollout's traffic state says 90/10."""
    traffic = TrafficState(services={"frontend": ServiceTraffic(live_colour="blue", weights=ColourWeights(blue=90, green=10))})

    report = run_verify(groups=["traffic"], traffic=traffic)

    check = failed(report, "traffic.frontend.weights")
    assert (check.evidence["expected"], check.evidence["actual"]) == ({"blue": 90, "green": 10}, {"blue": 100, "green": 0})


def test_processing_service_behind_a_listener(run_verify, processing_behind_the_listener):
    rule, group, task_ip = processing_behind_the_listener(priority=20)

    report = run_verify(groups=["isolation"])

    check = failed(report, "isolation.processing-unrouted")
    assert check.evidence["forwardsToProcessing"] == [
        {"on": rule, "port": 80, "targetGroup": group, "processingTargets": [task_ip]}
    ]
    assert only_failures(report) == ["isolation.processing-unrouted"]


@pytest.mark.parametrize("status", [502, None])
def test_the_frontend_health_path_not_answering_2xx(layout, run_verify, status):
    from verify_layout import AlbHttpDouble

    http = AlbHttpDouble(layout.client("elbv2"), layout.outputs, target_status=status)
    report = run_verify(groups=["traffic"], http=http)
    check = failed(report, "traffic.frontend-health")
    assert check.evidence["url"] == f"http://{layout.outputs['albDnsName']}/healthz"
    assert check.evidence["status"] == status


def test_another_role_that_may_read_a_secret(layout, run_verify, undo):
    """moto cannot simulate IAM policies: the check reads the policy documents and says so."""
    iam = layout.client("iam")
    document = '{"Version": "2012-10-17", "Statement": [{"Sid": "ReadAll", "Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}'
    iam.put_role_policy(RoleName="role-frontend-execution-dev", PolicyName="too-wide", PolicyDocument=document)
    undo(lambda: iam.delete_role_policy(RoleName="role-frontend-execution-dev", PolicyName="too-wide"))

    report = run_verify(groups=["secrets"])

    arn = layout.outputs["secretArns"]["db-credentials"]
    check = failed(report, f"secrets.{arn.rsplit(':', 1)[-1]}.readers")
    assert check.evidence["method"] == "policy documents"
    assert "IAM policy simulation is not available here" in check.evidence["note"]
    assert list(check.evidence["unexpected"]) == ["frontend:execution"]
    assert check.evidence["unexpected"]["frontend:execution"]["allowedBy"][0]["policy"] == "inline:too-wide"
    assert check.evidence["expectedReaders"] == ["processing-service:execution"]
    assert sorted(check.evidence["readers"]) == ["frontend:execution", "processing-service:execution"]


def test_a_resource_without_the_environment_suffix(layout, run_verify, undo):
    ec2 = layout.client("ec2")
    group = ec2.create_security_group(
        GroupName="sg-debug", Description="left behind", VpcId=layout.outputs["vpcId"],
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [
            {"Key": "Name", "Value": "sg-debug"}, {"Key": "environment", "Value": "dev"}, {"Key": "managed-by", "Value": "ecs-gitops"},
        ]}],
    )["GroupId"]
    undo(lambda: ec2.delete_security_group(GroupId=group))

    report = run_verify(groups=["names"])

    check = failed(report, "names.environment-suffix")
    assert list(check.evidence["withoutSuffix"].values()) == ["sg-debug"]
    assert group in next(iter(check.evidence["withoutSuffix"]))


def test_deletion_protection_on_the_alb(layout, run_verify, undo):
    elbv2 = layout.client("elbv2")
    arn = layout.outputs["albArn"]
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}])
    undo(lambda: elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}]))

    check = failed(run_verify(groups=["names"]), "names.no-deletion-protection")
    assert check.evidence["protected"] == {arn: "deletion_protection.enabled"}


def test_a_private_subnet_routing_to_the_internet_gateway(layout, run_verify, undo):
    ec2 = layout.client("ec2")
    subnet = layout.outputs["privateSubnetIds"][0]
    table = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"][0]["RouteTableId"]
    nat = layout.outputs["natGatewayIds"][0]
    ec2.replace_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=layout.outputs["internetGatewayId"])
    undo(lambda: ec2.replace_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat))

    check = failed(run_verify(groups=["network"]), "network.private-routes")
    assert check.evidence["wrong"][subnet]["defaultRouteTargets"] == [layout.outputs["internetGatewayId"]]


def test_zz_the_account_is_whole_again_after_the_broken_variants(run_verify):
    """Every repair above put the shared account back: it verifies clean (defined last: pytest runs a module's tests in order)."""
    report = run_verify()
    assert report.failures == []
    assert report.passed
