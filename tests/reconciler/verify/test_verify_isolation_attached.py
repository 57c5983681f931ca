"""Isolation is judged on the security groups actually attached, not on the ones the outputs name.

A second group on a service's network configuration, or on a running task's network interface,
admits whatever it admits: the tier's own group looking right proves nothing about those.
"""

from __future__ import annotations

from test_verify_broken import failed, only_failures


def _wide_group(layout, undo, name):
    """A group in the VPC admitting all of 10.0.0.0/8 on every port; deleted after the test."""
    ec2 = layout.client("ec2")
    group = ec2.create_security_group(GroupName=name, Description="admits the whole VPC", VpcId=layout.outputs["vpcId"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    undo(lambda: ec2.delete_security_group(GroupId=group))
    return group


def test_a_second_group_on_the_service_network_configuration(layout, run_verify, undo):
    ecs = layout.client("ecs")
    wide = _wide_group(layout, undo, "sg-wide-dev")
    cluster, arn = layout.outputs["clusterArn"], layout.outputs["serviceArns"]["processing-service"]
    config = ecs.describe_services(cluster=cluster, services=[arn])["services"][0]["networkConfiguration"]
    vpc_config = config["awsvpcConfiguration"]
    ecs.update_service(cluster=cluster, service=arn, networkConfiguration={"awsvpcConfiguration": {**vpc_config, "securityGroups": [*vpc_config["securityGroups"], wide]}})
    undo(lambda: ecs.update_service(cluster=cluster, service=arn, networkConfiguration=config))

    report = run_verify(groups=["isolation"])

    tier = layout.outputs["securityGroupIds"]["processing-service"]
    attached = failed(report, "isolation.processing-service-attached")
    assert attached.evidence["wrong"] == {"svc-processing-service-dev": sorted([tier, wide])}
    admits = failed(report, "isolation.processing-service-admits")
    assert admits.evidence["notAllowed"] == ["10.0.0.0/8"]
    assert wide in admits.evidence["groupsJudged"]
    assert only_failures(report) == ["isolation.processing-service-admits", "isolation.processing-service-attached"]


def test_a_second_group_on_a_running_task_network_interface(layout, run_verify, undo):
    ec2 = layout.client("ec2")
    wide = _wide_group(layout, undo, "sg-backdoor-dev")
    task = layout.tasks["svc-processing-service-dev"][0]
    before = [g["GroupId"] for g in ec2.describe_network_interfaces(NetworkInterfaceIds=[task.eni])["NetworkInterfaces"][0]["Groups"]]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=task.eni, Groups=[*before, wide])
    undo(lambda: ec2.modify_network_interface_attribute(NetworkInterfaceId=task.eni, Groups=before))

    report = run_verify(groups=["isolation"])

    attached = failed(report, "isolation.processing-service-attached")
    assert attached.evidence["wrong"] == {task.eni: sorted([*before, wide])}
    admits = failed(report, "isolation.processing-service-admits")
    assert admits.evidence["notAllowed"] == ["10.0.0.0/8"]
    assert only_failures(report) == ["isolation.processing-service-admits", "isolation.processing-service-attached"]


def test_a_task_interface_carrying_the_alb_group_instead_of_its_own(layout, run_verify, undo):
    """The ALB's group on a frontend task: the task admits the internet, though frontend's own group is right."""
    ec2 = layout.client("ec2")
    task = layout.tasks["svc-frontend-blue-dev"][0]
    before = [g["GroupId"] for g in ec2.describe_network_interfaces(NetworkInterfaceIds=[task.eni])["NetworkInterfaces"][0]["Groups"]]
    alb = layout.outputs["securityGroupIds"]["alb"]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=task.eni, Groups=[alb])
    undo(lambda: ec2.modify_network_interface_attribute(NetworkInterfaceId=task.eni, Groups=before))

    report = run_verify(groups=["isolation"])

    attached = failed(report, "isolation.frontend-attached")
    assert attached.evidence["wrong"] == {task.eni: [alb]}
    assert "isolation.frontend-admits" in only_failures(report)


def test_zz_the_account_is_whole_again(run_verify):
    report = run_verify(groups=["isolation"])
    assert report.failures == [] and report.passed
    assert {r.name for r in report.results} >= {f"isolation.{tier}-attached" for tier in ("processing-service", "api-gateway", "frontend")}
