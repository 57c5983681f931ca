"""VPC across three AZs: public and private subnets, IGW, NAT, route tables and flow logs."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from desired_state.naming import ROLE_PATH, name
from desired_state.schema import FlowLogSpec
from program.components.trust import service_trust_policy


@dataclass(frozen=True)
class SubnetLayout:
    public: tuple[str, str, str]
    private: tuple[str, str, str]


def subnet_layout(cidr: str) -> SubnetLayout:
    """Split the VPC: private subnets take three quarters, the last quarter holds the public ones.

    Workloads live in private subnets and need the address space; public subnets only hold the
    ALB and NAT gateways. A /16 gives private /18s and public /20s; a /22 private /24s and
    public /26s (an ALB needs a /27 or larger).
    """
    network = ipaddress.IPv4Network(cidr)
    quarters = list(network.subnets(new_prefix=network.prefixlen + 2))
    sixteenths = list(quarters[3].subnets(new_prefix=network.prefixlen + 4))
    return SubnetLayout(
        public=tuple(str(s) for s in sixteenths[:3]),  # type: ignore[arg-type]
        private=tuple(str(s) for s in quarters[:3]),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class NetworkArgs:
    suffix: str
    region: str
    cidr: str
    availability_zones: tuple[str, str, str]
    nat_per_az: bool
    flow_logs: FlowLogSpec
    account_id: pulumi.Input[str]
    # See IdentityArgs.permissions_boundary_arn: the flow-log role carries it too.
    permissions_boundary_arn: str | None = None


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    public_subnets: list[aws.ec2.Subnet]
    private_subnets: list[aws.ec2.Subnet]
    nat_gateways: list[aws.ec2.NatGateway]
    nat_public_ips: list[pulumi.Output[str]]
    internet_gateway: aws.ec2.InternetGateway

    def __init__(self, resource_name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ecs-gitops:platform:Network", resource_name, None, opts)
        s = args.suffix
        child = pulumi.ResourceOptions(parent=self)
        layout = subnet_layout(args.cidr)

        self.vpc = aws.ec2.Vpc(
            name("vpc", s, "platform"),
            cidr_block=args.cidr,
            enable_dns_hostnames=True,  # Cloud Map private DNS needs both
            enable_dns_support=True,
            tags={"Name": name("vpc", s, "platform")},
            opts=child,
        )
        self.internet_gateway = igw = aws.ec2.InternetGateway(
            name("igw", s, "platform"),
            vpc_id=self.vpc.id,
            tags={"Name": name("igw", s, "platform")},
            opts=child,
        )

        self.public_subnets, self.private_subnets = [], []
        for index, zone in enumerate(args.availability_zones):
            zone_letter = zone[-1]
            public_name = name("subnet", s, "public", zone_letter)
            private_name = name("subnet", s, "private", zone_letter)
            self.public_subnets.append(
                aws.ec2.Subnet(
                    public_name,
                    vpc_id=self.vpc.id,
                    cidr_block=layout.public[index],
                    availability_zone=zone,
                    # The ALB and NAT get their addresses explicitly; nothing here needs one by default.
                    map_public_ip_on_launch=False,
                    tags={"Name": public_name, "tier": "public"},
                    opts=child,
                )
            )
            self.private_subnets.append(
                aws.ec2.Subnet(
                    private_name,
                    vpc_id=self.vpc.id,
                    cidr_block=layout.private[index],
                    availability_zone=zone,
                    map_public_ip_on_launch=False,
                    tags={"Name": private_name, "tier": "private"},
                    opts=child,
                )
            )

        public_table_name = name("rtb", s, "public")
        public_table = aws.ec2.RouteTable(
            public_table_name,
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={"Name": public_table_name},
            opts=child,
        )
        for subnet, zone in zip(self.public_subnets, args.availability_zones, strict=True):
            aws.ec2.RouteTableAssociation(
                name("rtbassoc", s, "public", zone[-1]),
                subnet_id=subnet.id,
                route_table_id=public_table.id,
                opts=child,
            )

        # One NAT per AZ keeps an AZ outage from cutting the others off; one shared NAT is the
        # cheap option for non-prod.
        nat_zones = args.availability_zones if args.nat_per_az else args.availability_zones[:1]
        self.nat_gateways, self.nat_public_ips = [], []
        for index, zone in enumerate(nat_zones):
            eip_name = name("eip", s, "nat", zone[-1])
            eip = aws.ec2.Eip(eip_name, domain="vpc", tags={"Name": eip_name}, opts=child)
            nat_name = name("nat", s, "platform", zone[-1])
            self.nat_gateways.append(
                aws.ec2.NatGateway(
                    nat_name,
                    allocation_id=eip.allocation_id,
                    subnet_id=self.public_subnets[index].id,
                    connectivity_type="public",
                    tags={"Name": nat_name},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )
            self.nat_public_ips.append(eip.public_ip)

        for index, (subnet, zone) in enumerate(zip(self.private_subnets, args.availability_zones, strict=True)):
            nat = self.nat_gateways[index if args.nat_per_az else 0]
            table_name = name("rtb", s, "private", zone[-1])
            table = aws.ec2.RouteTable(
                table_name,
                vpc_id=self.vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags={"Name": table_name},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                name("rtbassoc", s, "private", zone[-1]),
                subnet_id=subnet.id,
                route_table_id=table.id,
                opts=child,
            )

        self.flow_log_group = aws.cloudwatch.LogGroup(
            name("logs", s, "vpc-flow"),
            name=f"/ecs-gitops/{s}/vpc-flow-logs",
            retention_in_days=args.flow_logs.retention_in_days,
            skip_destroy=False,
            opts=child,
        )
        flow_role_name = name("role", s, "vpc-flow-logs")
        flow_role = aws.iam.Role(
            flow_role_name,
            name=flow_role_name,
            path=ROLE_PATH,
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: service_trust_policy(
                    "vpc-flow-logs.amazonaws.com", account, f"arn:aws:ec2:{args.region}:{account}:vpc-flow-log/*"
                )
            ),
            permissions_boundary=args.permissions_boundary_arn,
            opts=child,
        )
        aws.iam.RolePolicy(
            name("policy", s, "vpc-flow-logs"),
            name=name("policy", s, "vpc-flow-logs"),
            role=flow_role.id,
            policy=pulumi.Output.all(self.flow_log_group.arn, args.account_id).apply(
                lambda values: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "WriteFlowLogsToOwnGroup",
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                                "Resource": [values[0], f"{values[0]}:log-stream:*"],
                            },
                            {
                                # The delivery service looks its group up by name; AWS documents this
                                # action for flow-log roles and it cannot be narrowed to one group.
                                "Sid": "FindLogGroupsOfThisAccount",
                                "Effect": "Allow",
                                "Action": ["logs:DescribeLogGroups"],
                                "Resource": f"arn:aws:logs:{args.region}:{values[1]}:log-group:*",
                            },
                        ],
                    }
                )
            ),
            opts=child,
        )
        self.flow_log = aws.ec2.FlowLog(
            name("flowlog", s, "vpc"),
            vpc_id=self.vpc.id,
            traffic_type=args.flow_logs.traffic_type,
            log_destination_type="cloud-watch-logs",
            log_destination=self.flow_log_group.arn,
            iam_role_arn=flow_role.arn,
            max_aggregation_interval=args.flow_logs.max_aggregation_interval,
            tags={"Name": name("flowlog", s, "vpc")},
            opts=child,
        )

        self.register_outputs(
            {
                "vpcId": self.vpc.id,
                "publicSubnetIds": [subnet.id for subnet in self.public_subnets],
                "privateSubnetIds": [subnet.id for subnet in self.private_subnets],
                "natGatewayIds": [nat.id for nat in self.nat_gateways],
                "flowLogId": self.flow_log.id,
            }
        )
