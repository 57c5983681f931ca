"""A moto account laid out like one environment's stack, and a driver for the rollout controller.

What is real (moto): the ALB with a blue and a green target group per ALB-facing service, one
HTTP listener whose default action is frontend's weighted forward and whose ``/api/*`` rule is
api-gateway's weighted forward, the ECS cluster with both colours of both services, the ECR
repositories with pushed images and scans, the rollout table in DynamoDB, the CloudWatch
alarms (the program's per-colour ones, exported as ``alarmNames``, plus one ``<service>-5xx``
alarm named in the rollout spec) and application auto-scaling.

What is a test double (each says why in its docstring): :class:`EcsDeploymentDouble` (moto
never completes an ECS deployment), :class:`Elbv2Double` (injects unhealthy targets and
swallowed weight changes; moto reports every registered target healthy and never throttles),
:class:`ConvergeDouble` (the Pulumi converge a staged image requests cannot run here) and the
smoke ``fetch`` (there is no HTTP server behind moto's ALB).

Time is a :class:`FakeClock`; nothing sleeps. The driver ticks the controller, then moves the
clock to the wake time the controller scheduled, and records what moto reports after each tick.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from desired_state.loader import EXAMPLE_DIR, validate_document
from desired_state.schema import DesiredState, ImageRef, RolloutSpec
from desired_state.traffic import ColourWeights, TrafficState, colour_plans, parse_traffic_state
from reconciler.adapters.stack_state import FileStackStateStore, StackStatus
from reconciler.converge import Converger
from reconciler.models import ImageEvent, Job, Trigger
from reconciler.rollout import commands
from reconciler.rollout.controller import RolloutController
from reconciler.rollout.decide import DEFAULT_TIMINGS, RolloutTimings, VerifyGate
from reconciler.rollout.execute import ImageUpdater, RolloutExecutor, StatusImageUpdater
from reconciler.rollout.live import RolloutTrafficSource
from reconciler.rollout.model import (
    RolloutPhase,
    RolloutRecord,
    RolloutResources,
    Transition,
)
from reconciler.rollout.observe import RolloutObserver
from reconciler.rollout.router import AlbWeightedRouter
from reconciler.rollout.starter import RolloutStarter
from reconciler.rollout.store import RolloutStore
from reconciler.settings import EnvironmentSettings, ReconcilerSettings, RepositorySettings
from reconciler.source import DirectorySource

SUFFIX = "dev"
STACK = "dev"
ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLLOUT_TABLE = "ecs-gitops-rollouts"
T0 = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in New York
BLUE_GREEN = ("frontend", "api-gateway")
OLD_TAGS = {"frontend": "1.4.2", "api-gateway": "2.8.0", "processing-service": "3.1.0"}
LIVE_COUNT = 2
# The alarms the program puts on each colour's target group, by kind.
ALARM_KINDS = {"5xx": "HTTPCode_Target_5XX_Count", "latency": "TargetResponseTime", "unhealthy": "UnHealthyHostCount"}


def default_spec(service: str = "frontend", **overrides: Any) -> RolloutSpec:
    """Short timings for tests. Threshold CRITICAL: moto's scans always find exactly {"HIGH": 1}."""
    values: dict[str, Any] = {
        "steps": (10, 50, 100),
        "bake_seconds": 60,
        "alarms": (f"{service}-5xx",),
        "scan_severity_threshold": "CRITICAL",
        "scan_timeout_seconds": 120,
        "deploy_timeout_seconds": 120,
        "smoke_timeout_seconds": 30,
        "scale_down_delay_seconds": 300,
    }
    values.update(overrides)
    return RolloutSpec(**values)


def example_state(mutate: Callable[[dict[str, Any]], None] | None = None) -> DesiredState:
    document = yaml.safe_load((EXAMPLE_DIR / "environments" / "dev.yaml").read_text())
    if mutate is not None:
        mutate(document)
    return validate_document(document, "<rollout test dev>")


# --------------------------------------------------------------------------- clock + scheduler


class FakeClock:
    """Moves only when a test moves it."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        assert now.tzinfo is not None
        self.now = now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class RecordingScheduler:
    """Stands in for the SQS tick queue: remembers every (rollout, wake time, now) scheduled."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime, datetime]] = []

    def schedule(self, rollout_id: str, at: datetime, now: datetime, cause: str | None = None) -> None:
        self.calls.append((rollout_id, at, now))


# --------------------------------------------------------------------------- test doubles


class EcsDeploymentDouble:
    """TEST DOUBLE around moto's ECS client: it makes deployments finish.

    moto never completes an ECS deployment: a service's PRIMARY deployment stays IN_PROGRESS
    with runningCount 0, and ``update_service`` with a new task definition does not even move
    the PRIMARY deployment onto it. This wrapper rewrites ``describe_services`` answers so the
    PRIMARY deployment runs the service's current task definition with ``runningCount ==
    desiredCount`` and ``rolloutState`` COMPLETED (or FAILED for services in ``failed``; or,
    with ``complete = False``, leaves moto's answer alone). Every other call goes to moto.

    ``before_update_service``: a one-shot hook run just before the executor's next
    ``update_service`` reaches moto, to interleave another worker's writes with this call.
    """

    def __init__(self, client: Any):
        self._client = client
        self.complete = True
        self.failed: set[str] = set()
        self.before_update_service: Callable[[], None] | None = None

    def update_service(self, **kwargs: Any) -> dict[str, Any]:
        hook, self.before_update_service = self.before_update_service, None
        if hook is not None:
            hook()
        return self._client.update_service(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def describe_services(self, **kwargs: Any) -> dict[str, Any]:
        response = self._client.describe_services(**kwargs)
        if not self.complete:
            return response
        services = []
        for service in response.get("services", []):
            service = copy.deepcopy(service)
            failed = service["serviceName"] in self.failed
            running = 0 if failed else service["desiredCount"]
            service["runningCount"] = running
            service["deployments"] = [
                {
                    "id": f"ecs-svc/{service['serviceName']}",
                    "status": "PRIMARY",
                    "taskDefinition": service["taskDefinition"],
                    "desiredCount": service["desiredCount"],
                    "runningCount": running,
                    "rolloutState": "FAILED" if failed else "COMPLETED",
                }
            ]
            services.append(service)
        return {**response, "services": services}


class Elbv2Double:
    """TEST DOUBLE around moto's elbv2 client, for the two things moto cannot show.

    * moto reports every registered target healthy: ``unhealthy[target_group_arn]`` maps target
      ids to (state, reason, description) and ``describe_target_health`` reports those.
    * moto never throttles or loses a change: with ``swallow_weight_changes`` set,
      ``modify_listener`` and ``modify_rule`` return success without changing anything (the
      "call returned, traffic did not move" case ``verify_weights`` exists for).
    * ``before_weight_change``: a one-shot hook run just before the next ``modify_listener`` /
      ``modify_rule`` reaches moto: after the controller's version check, before the ALB call,
      the moment another worker's abort and rollback can slip in.
    * ``after_weight_change``: a one-shot hook run right after the next weight change reached
      moto, before the caller sees the answer: a worker dying between the ALB write and the
      traffic-state write (raise :class:`WorkerDied` from it).
    Everything else, including the reads of the weights, goes to moto.
    """

    def __init__(self, client: Any):
        self._client = client
        self.unhealthy: dict[str, dict[str, tuple[str, str, str]]] = {}
        self.swallow_weight_changes = False
        self.swallowed: list[dict[str, Any]] = []
        self.weight_calls = 0
        self.before_weight_change: Callable[[], None] | None = None
        self.after_weight_change: Callable[[], None] | None = None

    def _run_hook(self) -> None:
        hook, self.before_weight_change = self.before_weight_change, None
        if hook is not None:
            hook()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def describe_target_health(self, **kwargs: Any) -> dict[str, Any]:
        response = self._client.describe_target_health(**kwargs)
        injected = self.unhealthy.get(kwargs["TargetGroupArn"])
        if not injected:
            return response
        descriptions = []
        for description in response["TargetHealthDescriptions"]:
            description = copy.deepcopy(description)
            if description["Target"]["Id"] in injected:
                state, reason, text = injected[description["Target"]["Id"]]
                description["TargetHealth"] = {"State": state, "Reason": reason, "Description": text}
            descriptions.append(description)
        return {**response, "TargetHealthDescriptions": descriptions}

    def _run_after_hook(self) -> None:
        hook, self.after_weight_change = self.after_weight_change, None
        if hook is not None:
            hook()

    def modify_listener(self, **kwargs: Any) -> dict[str, Any]:
        self._run_hook()
        self.weight_calls += 1
        if self.swallow_weight_changes:
            self.swallowed.append(kwargs)
            return {"Listeners": []}
        response = self._client.modify_listener(**kwargs)
        self._run_after_hook()
        return response

    def modify_rule(self, **kwargs: Any) -> dict[str, Any]:
        self._run_hook()
        self.weight_calls += 1
        if self.swallow_weight_changes:
            self.swallowed.append(kwargs)
            return {"Rules": []}
        response = self._client.modify_rule(**kwargs)
        self._run_after_hook()
        return response


class ConvergeDouble:
    """TEST DOUBLE for the converge that ``StatusImageUpdater`` requests after staging an image.

    The real converge runs the Pulumi program, which is not available here. This does to moto
    what that program does to the idle colour of a staged service: registers a task definition
    running the staged image (from the stack status's image overrides) and points the idle
    colour's ECS service at it, and the idle colour's tasks register in its target group.
    It does not touch desired counts: the rollout executor sets those itself.
    """

    def __init__(self, world: RolloutWorld):
        self.world = world
        self.requests: list[str] = []

    def __call__(self, record: RolloutRecord) -> None:
        self.requests.append(record.rollout_id)
        image = self.world.states.get(record.stack).image_overrides[record.service]
        self.world.point_colour_at(record.service, record.to_colour, image)
        self.world.register_targets(record.service, record.to_colour)


class ProgramApplyDouble:
    """TEST DOUBLE for what ``pulumi up`` of the program does to the ALB-facing colours in moto.

    The Pulumi CLI cannot run here, so the engine double's ``up`` calls this (``on_call``). It reads
    the request's desired state and traffic state as the program does (``validate_document``,
    ``parse_traffic_state``), decides both colours of each ALB-facing service with the program's
    own :func:`~desired_state.traffic.colour_plans`, and applies that to moto: the weighted forward
    (listener default action / ``/api/*`` rule), each colour's image (a new task definition when it
    changes) and auto-scaling bounds. The program leaves ``desiredCount`` to auto-scaling
    (``ignore_changes``); moto's auto-scaling never moves a service, so the count is clamped into
    the new bounds here, as auto-scaling would. While a rollout is active for a service
(``ColourPlan.rollout_owned``) the program ignores changes to its weighted forward and its
colours' scaling bounds, so neither is applied then. ``applied`` keeps each up's plans.
    """

    def __init__(self, world: RolloutWorld):
        self.world = world
        self.applied: list[dict[str, tuple[Any, Any]]] = []

    def __call__(self, operation: str, request: Any) -> None:
        if operation != "up":
            return
        world = self.world
        state = validate_document(json.loads(request.config["ecs-gitops:desiredState"]), "<stack config desiredState>")
        traffic = parse_traffic_state(request.config["ecs-gitops:trafficState"])
        applied = {}
        for service in BLUE_GREEN:
            plans = colour_plans(state, traffic, service)
            applied[service] = plans
            r = world.services[service]
            # A rollout is active: the program ignores changes to the weighted forward and the scaling bounds.
            owned = any(plan.rollout_owned for plan in plans)
            if not owned:
                AlbWeightedRouter(world.elbv2, r.listener_arn, r.target_groups, r.rule_arn).set_weights(
                    ColourWeights(**{plan.colour: plan.weight for plan in plans})
                )
            for plan in plans:
                if world.colour_image(service, plan.colour) != plan.image.reference:
                    world.point_colour_at(service, plan.colour, plan.image)
                if owned:
                    continue
                name = world.ecs_service(service, plan.colour)
                world.autoscaling.register_scalable_target(
                    ServiceNamespace="ecs", ResourceId=f"service/{world.cluster}/{name}", ScalableDimension="ecs:service:DesiredCount",
                    MinCapacity=plan.min_capacity, MaxCapacity=plan.max_capacity,
                )
                count = world.desired_counts(service)[plan.colour]
                clamped = min(max(count, plan.min_capacity), plan.max_capacity)
                if clamped != count:
                    world.ecs.update_service(cluster=world.cluster, service=name, desiredCount=clamped)
        self.applied.append(applied)


class ConvergeRig:
    """Converges the world's stack ("dev") from a desired-state directory, as a push would."""

    def __init__(self, world: RolloutWorld, kit: Any, tmp_path: Path, engine: Any, live: bool = True, wake_rollouts: Callable[[str], None] | None = None):
        self.world = world
        self.directory = tmp_path / "desired-state"
        (self.directory / "environments").mkdir(parents=True)
        (self.directory / "environments" / "dev.yaml").write_text((EXAMPLE_DIR / "environments" / "dev.yaml").read_text())
        self.settings = ReconcilerSettings(
            repository=RepositorySettings(url=str(self.directory), image_write_back=False),
            environments={"dev": EnvironmentSettings(stack="dev", suffix="dev")},
            backend_url=f"file://{tmp_path / 'backend'}", work_dir=str(tmp_path / "work"),
        )
        self.program = kit.ProgramApplyDouble(world)
        self.engine = engine
        engine.on_call = self.program
        self.live = live
        self.wake_rollouts = wake_rollouts
        self.jobs = 0

    def converge(self, expect: str = "succeeded") -> Any:
        world = self.world
        source = RolloutTrafficSource(world.store, world.router_for) if self.live else None
        converger = Converger(
            settings=self.settings, states=world.states, source=DirectorySource(self.directory), engine=self.engine, clock=world.clock,
            live_traffic=source, wake_rollouts=self.wake_rollouts,
        )
        self.jobs += 1
        event_id = f"push-{self.jobs}"
        job = Job(job_id=Job.make_id(event_id, "dev"), environment="dev", stack="dev", trigger=Trigger.GIT_PUSH, event_id=event_id, received_at=world.clock())
        outcome = converger.converge(job)
        assert outcome.outcome == expect, outcome.message
        return outcome



class WorkerDied(Exception):
    """A worker process dying at a chosen point (raised by :class:`CrashingRolloutStore`)."""


class CrashingRolloutStore(RolloutStore):
    """The real store, except that the ``crash_on``-th ``put`` kills the worker.

    ``when="before-write"``: the tick's AWS calls ran, the record write never happens.
    ``when="after-write"``: the record is written, then the worker dies before scheduling or
    notifying, so the next tick's AWS calls are left to whichever worker picks it up.
    """

    def __init__(self, dynamodb_client: Any, table_name: str, crash_on: int, when: str):
        super().__init__(dynamodb_client, table_name)
        self.crash_on = crash_on
        self.when = when
        self.puts = 0

    def put(self, previous: RolloutRecord, new: RolloutRecord, *, clean_up: bool = True) -> RolloutRecord:
        self.puts += 1
        if self.puts != self.crash_on:
            return super().put(previous, new, clean_up=clean_up)
        if self.when == "before-write":
            raise WorkerDied(f"worker died before writing {previous.phase.value} -> {new.phase.value}")
        super().put(previous, new, clean_up=clean_up)
        raise WorkerDied(f"worker died after writing {previous.phase.value} -> {new.phase.value}")


# --------------------------------------------------------------------------- the world


@dataclass
class Snapshot:
    """What moto reports right after one tick."""

    at: datetime
    phase: RolloutPhase
    step_index: int
    version: int
    weights: tuple[int, int] | None  # (blue, green) read back from moto
    counts: dict[str, int]  # colour -> ECS desired count read back from moto


@dataclass
class ServiceResources:
    target_groups: dict[str, str]
    listener_arn: str
    rule_arn: str | None


class PromotionGateDouble:
    """The promotion's last gate, answering ``verdict``: its checks need an account laid out from the
    program's plan (tests/reconciler/verify does that); this world has no such layout, and here the
    rollout's loop around the gate is under test. Records each call."""

    def __init__(self, status: str = "passed", headline: str = "all 9 checks of the new colour passed") -> None:
        self.verdict = VerifyGate(status=status, headline=headline)
        self.calls: list[tuple[str, datetime]] = []

    def __call__(self, record: RolloutRecord, now: datetime) -> VerifyGate:
        self.calls.append((record.rollout_id, now))
        return self.verdict


@dataclass
class RolloutWorld:
    session: Any
    tmp_path: Path
    clock: FakeClock = field(default_factory=FakeClock)
    scheduler: RecordingScheduler = field(default_factory=RecordingScheduler)
    smoke_status: int = 200
    window: tuple[bool, str] = (True, "no change windows configured")
    fetched: list[str] = field(default_factory=list)
    fetched_as: list[str | None] = field(default_factory=list)  # the public host each smoke request asked as
    fetch_timeouts: list[float] = field(default_factory=list)
    services: dict[str, ServiceResources] = field(default_factory=dict)
    gate: PromotionGateDouble = field(default_factory=PromotionGateDouble)
    _images: int = 0
    _targets: int = 0

    def __post_init__(self) -> None:
        s = self.session
        self.ec2, self.elbv2, self.ecs, self.ecr = (s.client(n) for n in ("ec2", "elbv2", "ecs", "ecr"))
        self.cloudwatch, self.autoscaling, self.dynamodb, self.sqs = (
            s.client(n) for n in ("cloudwatch", "application-autoscaling", "dynamodb", "sqs")
        )
        self.ecs_double = EcsDeploymentDouble(self.ecs)
        self.elbv2_double = Elbv2Double(self.elbv2)
        self.states = FileStackStateStore(self.tmp_path / "status")
        self.store = RolloutStore(self.dynamodb, ROLLOUT_TABLE)
        self.converge = ConvergeDouble(self)
        self.cluster = f"ecs-cluster-{SUFFIX}"
        self._build()

    # ------------------------------------------------------------------ moto set-up
    def _build(self) -> None:
        vpc = self.ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
            for i, z in enumerate("ab")
        ]
        self.security_group = self.ec2.create_security_group(GroupName="sg-alb-dev", Description="alb", VpcId=vpc)["GroupId"]
        lb = self.elbv2.create_load_balancer(Name=f"alb-{SUFFIX}", Subnets=self.subnets, SecurityGroups=[self.security_group])
        self.alb_dns = lb["LoadBalancers"][0]["DNSName"]
        lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        groups = {
            service: {
                colour: self.elbv2.create_target_group(
                    Name=f"tg-{service}-{colour}-{SUFFIX}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip"
                )["TargetGroups"][0]["TargetGroupArn"]
                for colour in ("blue", "green")
            }
            for service in BLUE_GREEN
        }
        self.vpc = vpc
        listener = self.elbv2.create_listener(
            LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=[self._forward(groups["frontend"], 100, 0)]
        )["Listeners"][0]["ListenerArn"]
        rule = self.elbv2.create_rule(
            ListenerArn=listener,
            Priority=10,
            Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
            Actions=[self._forward(groups["api-gateway"], 100, 0)],
        )["Rules"][0]["RuleArn"]
        self.services = {
            "frontend": ServiceResources(groups["frontend"], listener, None),
            "api-gateway": ServiceResources(groups["api-gateway"], listener, rule),
        }
        self.ecs.create_cluster(clusterName=self.cluster)
        for service in ("frontend", "api-gateway", "processing-service"):
            self.ecr.create_repository(repositoryName=f"ecr-{service}-{SUFFIX}")
        for service in BLUE_GREEN:
            old = ImageRef(repository=service, tag=OLD_TAGS[service])
            for colour in ("blue", "green"):
                self.ecs.create_service(
                    cluster=self.cluster,
                    serviceName=self.ecs_service(service, colour),
                    taskDefinition=self._task_definition(service, colour, old),
                    desiredCount=LIVE_COUNT if colour == "blue" else 0,
                    networkConfiguration={"awsvpcConfiguration": {"subnets": self.subnets, "securityGroups": [self.security_group]}},
                )
            self.register_targets(service, "blue")
            # The scaling targets the program's first converge created (blue live, green idle at 0..0).
            for plan in colour_plans(example_state(), TrafficState(), service):
                self.autoscaling.register_scalable_target(
                    ServiceNamespace="ecs", ResourceId=f"service/{self.cluster}/{self.ecs_service(service, plan.colour)}",
                    ScalableDimension="ecs:service:DesiredCount", MinCapacity=plan.min_capacity, MaxCapacity=plan.max_capacity,
                )
            for colour in ("blue", "green"):
                for kind, metric in ALARM_KINDS.items():
                    self.cloudwatch.put_metric_alarm(
                        AlarmName=self.colour_alarm(service, colour, kind), MetricName=metric, Namespace="AWS/ApplicationELB",
                        Statistic="Maximum", Period=60, EvaluationPeriods=2, DatapointsToAlarm=2, Threshold=0,
                        ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
                    )
            self.cloudwatch.put_metric_alarm(
                AlarmName=f"{service}-5xx", MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB",
                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold",
            )
        self.dynamodb.create_table(
            TableName=ROLLOUT_TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )

    @staticmethod
    def _forward(groups: dict[str, str], blue: int, green: int) -> dict[str, Any]:
        return {
            "Type": "forward",
            "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": groups["blue"], "Weight": blue}, {"TargetGroupArn": groups["green"], "Weight": green}]},
        }

    def _task_definition(self, service: str, colour: str, image: ImageRef) -> str:
        uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/ecr-{service}-{SUFFIX}{image.reference}"
        return self.ecs.register_task_definition(
            family=f"td-{service}-{colour}-{SUFFIX}",
            containerDefinitions=[{"name": service, "image": uri, "memory": 1024, "portMappings": [{"containerPort": 8080}]}],
        )["taskDefinition"]["taskDefinitionArn"]

    def point_colour_at(self, service: str, colour: str, image: ImageRef) -> None:
        self.ecs.update_service(cluster=self.cluster, service=self.ecs_service(service, colour), taskDefinition=self._task_definition(service, colour, image))

    def register_targets(self, service: str, colour: str) -> list[str]:
        arn = self.services[service].target_groups[colour]
        existing = [d["Target"]["Id"] for d in self.elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]]
        if existing:
            return existing
        ids = []
        for _ in range(LIVE_COUNT):
            self._targets += 1
            ids.append(f"10.20.{self._targets % 2}.{10 + self._targets}")
        self.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": ip, "Port": 8080} for ip in ids])
        return ids

    def push_image(self, service: str, tag: str, scan: bool = True) -> ImageRef:
        """Push an image with its own layer (so its own digest); start its scan unless ``scan=False``."""
        self._images += 1
        layer = "sha256:" + hashlib.sha256(f"{service}:{tag}:{self._images}".encode()).hexdigest()
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7, "digest": "sha256:" + "c" * 64},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 100, "digest": layer}],
        }
        repository = f"ecr-{service}-{SUFFIX}"
        digest = self.ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)["image"]["imageId"]["imageDigest"]
        if scan:
            self.scan(service, digest)
        return ImageRef(repository=service, tag=tag, digest=digest)

    def scan(self, service: str, digest: str) -> None:
        self.ecr.start_image_scan(repositoryName=f"ecr-{service}-{SUFFIX}", imageId={"imageDigest": digest})

    # ------------------------------------------------------------------ names
    @staticmethod
    def ecs_service(service: str, colour: str) -> str:
        return f"svc-{service}-{colour}-{SUFFIX}"

    @staticmethod
    def colour_alarm(service: str, colour: str, kind: str) -> str:
        """The program's per-colour alarm names (``name("alarm", suffix, service, f"{colour}-{kind}")``)."""
        return f"alarm-{service}-{colour}-{kind}-{SUFFIX}"

    def outputs(self) -> dict[str, Any]:
        """The stack outputs the program exports, as ``resources_from_outputs`` reads them."""
        return {
            "clusterName": self.cluster,
            "albDnsName": self.alb_dns,
            "targetGroupArns": {service: dict(r.target_groups) for service, r in self.services.items()},
            "listenerArns": {"http": self.services["frontend"].listener_arn},
            "listenerRuleArns": {"api-gateway-live": self.services["api-gateway"].rule_arn},
            "alarmNames": {
                service: {colour: [self.colour_alarm(service, colour, kind) for kind in ALARM_KINDS] for colour in ("blue", "green")}
                for service in BLUE_GREEN
            },
        }

    def resources(self, service: str, health_path: str = "/healthz") -> RolloutResources:
        return commands.resources_from_outputs(self.outputs(), service, health_path, 8443, SUFFIX)

    # ------------------------------------------------------------------ reading moto back
    def alb_weights(self, service: str) -> tuple[int, int] | None:
        """(blue, green) weights of the service's forward, straight from describe_listeners / describe_rules."""
        r = self.services[service]
        if r.rule_arn:
            actions = self.elbv2.describe_rules(RuleArns=[r.rule_arn])["Rules"][0]["Actions"]
        else:
            actions = self.elbv2.describe_listeners(ListenerArns=[r.listener_arn])["Listeners"][0]["DefaultActions"]
        forward = next(a for a in actions if a["Type"] == "forward")
        by_arn = {g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]}
        if set(by_arn) != set(r.target_groups.values()):
            return None
        return by_arn[r.target_groups["blue"]], by_arn[r.target_groups["green"]]

    def desired_counts(self, service: str) -> dict[str, int]:
        names = {colour: self.ecs_service(service, colour) for colour in ("blue", "green")}
        found = self.ecs.describe_services(cluster=self.cluster, services=list(names.values()))["services"]
        by_name = {s["serviceName"]: s["desiredCount"] for s in found}
        return {colour: by_name[name] for colour, name in names.items()}

    def colour_image(self, service: str, colour: str) -> str:
        """The image reference (``:tag`` or ``@digest``) the colour's task definition runs, from moto."""
        found = self.ecs.describe_services(cluster=self.cluster, services=[self.ecs_service(service, colour)])["services"][0]
        uri = self.ecs.describe_task_definition(taskDefinition=found["taskDefinition"])["taskDefinition"]["containerDefinitions"][0]["image"]
        return uri.removeprefix(f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/ecr-{service}-{SUFFIX}")

    def scaling_bounds(self, service: str, colour: str) -> tuple[int, int] | None:
        targets = self.autoscaling.describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[f"service/{self.cluster}/{self.ecs_service(service, colour)}"]
        )["ScalableTargets"]
        return (targets[0]["MinCapacity"], targets[0]["MaxCapacity"]) if targets else None

    def status(self) -> StackStatus:
        return self.states.get(STACK)

    # ------------------------------------------------------------------ the controller
    def router_for(self, record: RolloutRecord) -> AlbWeightedRouter:
        return AlbWeightedRouter(self.elbv2_double, record.resources.listener_arn, record.resources.target_groups, record.resources.rule_arn)

    def fetch(self, url: str, timeout: float, *, public_host: str | None = None) -> int:
        self.fetched.append(url)
        self.fetched_as.append(public_host)
        self.fetch_timeouts.append(timeout)
        return self.smoke_status

    def window_check(self, record: RolloutRecord, now: datetime) -> tuple[bool, str]:
        return self.window

    def observer(self, timings: RolloutTimings = DEFAULT_TIMINGS) -> RolloutObserver:
        return RolloutObserver(
            self.ecr, self.ecs_double, self.elbv2_double, self.cloudwatch, self.router_for, window_check=self.window_check, fetch=self.fetch,
            timings=timings, promotion_verify=self.gate,
        )

    def controller(
        self,
        store: RolloutStore | None = None,
        on_transition: Callable[[RolloutRecord, Transition], None] | None = None,
        timings: RolloutTimings = DEFAULT_TIMINGS,
        images: ImageUpdater | None = None,
    ) -> RolloutController:
        """A fresh controller, as a newly started worker would build it, over the same AWS account."""
        executor = RolloutExecutor(
            self.ecs_double, self.autoscaling, self.states, self.router_for, images or StatusImageUpdater(self.states, self.converge)
        )
        extra = {"on_transition": on_transition} if on_transition else {}
        return RolloutController(
            store or RolloutStore(self.dynamodb, ROLLOUT_TABLE), self.observer(timings), executor, self.scheduler, self.clock, timings=timings, **extra
        )

    def start(
        self, service: str, image: ImageRef, spec: RolloutSpec | None = None, by: str = "test", resources: RolloutResources | None = None
    ) -> RolloutRecord:
        status = self.status()
        return commands.start_rollout(
            self.store,
            stack=STACK,
            environment="dev",
            service=service,
            new_image=image,
            traffic=status.traffic or TrafficState(),
            desired_image=ImageRef(repository=service, tag=OLD_TAGS[service]),
            spec=spec or default_spec(service),
            resources=resources or self.resources(service),
            live_desired_count=LIVE_COUNT,
            now=self.clock(),
            by=by,
        )

    def snapshot(self, record: RolloutRecord) -> Snapshot:
        return Snapshot(self.clock(), record.phase, record.step_index, record.version, self.alb_weights(record.service), self.desired_counts(record.service))

    def tick(self, rollout_id: str, controller: RolloutController | None = None) -> tuple[RolloutRecord, datetime | None]:
        """One tick; returns the record and the wake time it scheduled (None when it scheduled none)."""
        before = len(self.scheduler.calls)
        record = (controller or self.controller()).tick(rollout_id)
        wakes = [at for rid, at, _ in self.scheduler.calls[before:] if rid == rollout_id]
        return record, (wakes[-1] if wakes else None)

    def run(
        self,
        rollout_id: str,
        until: Callable[[RolloutRecord], bool] = lambda r: r.phase.terminal,
        controller: RolloutController | None = None,
        max_ticks: int = 80,
        snapshots: list[Snapshot] | None = None,
    ) -> tuple[RolloutRecord, list[Snapshot]]:
        """Tick, snapshot moto, move the clock to the scheduled wake time; stop when ``until(record)``."""
        controller = controller or self.controller()
        snapshots = [] if snapshots is None else snapshots
        for _ in range(max_ticks):
            record, wake = self.tick(rollout_id, controller)
            snapshots.append(self.snapshot(record))
            if until(record):
                return record, snapshots
            assert wake is not None, f"a {record.phase.value} rollout scheduled no next tick; it would be stuck"
            self.clock.set(max(self.clock(), wake))
        raise AssertionError(f"rollout did not get there in {max_ticks} ticks; last phase {record.phase.value}")


_SHARED_BOTOCORE: Any = None


def fast_session() -> Any:
    """A boto3 session over one botocore session shared by the whole run.

    Creating clients from a fresh session re-reads botocore's service models (about 0.3 s for
    the eight clients here); sharing the botocore session keeps them loaded. Credentials still
    come from the ``aws_credentials`` fixture's environment, and moto's ``mock_aws`` (started by
    the ``aws`` fixture) intercepts every call exactly as for the fixture's own session.
    """
    global _SHARED_BOTOCORE
    import boto3
    import botocore.session

    if _SHARED_BOTOCORE is None:
        _SHARED_BOTOCORE = botocore.session.get_session()
    return boto3.session.Session(botocore_session=_SHARED_BOTOCORE, region_name=REGION)


@dataclass
class SubscribedTopic:
    """An SNS topic in the world's moto with an SQS subscriber; ``read()`` consumes what was delivered."""

    arn: str
    sns: Any
    read: Callable[[], list[dict[str, Any]]]


@pytest.fixture
def sns_topic(world: RolloutWorld, read_notifications: Any) -> SubscribedTopic:
    sns = world.session.client("sns")
    arn = sns.create_topic(Name="ecs-gitops-rollout-notifications")["TopicArn"]
    inbox = world.sqs.create_queue(QueueName="rollout-notifications-inbox")["QueueUrl"]
    queue_arn = world.sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    return SubscribedTopic(arn, sns, lambda: read_notifications(world.sqs, inbox))


@pytest.fixture
def world(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RolloutWorld:
    """One environment's stack in moto, blue live for both ALB-facing services, and the rollout table."""
    # moto's EC2 backend otherwise builds ~2600 default AMIs for every test (0.4 s); none is used here.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    return RolloutWorld(fast_session(), tmp_path)


@pytest.fixture
def kit() -> Any:
    """The helpers above, for test modules (tests/ has no ``__init__.py``, so they cannot import this file)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        default_spec=default_spec,
        example_state=example_state,
        CrashingRolloutStore=CrashingRolloutStore,
        ProgramApplyDouble=ProgramApplyDouble,
        ConvergeRig=ConvergeRig,
        WorkerDied=WorkerDied,
        FakeClock=FakeClock,
        RecordingScheduler=RecordingScheduler,
        T0=T0,
        STACK=STACK,
        SUFFIX=SUFFIX,
        LIVE_COUNT=LIVE_COUNT,
        OLD_TAGS=OLD_TAGS,
        ROLLOUT_TABLE=ROLLOUT_TABLE,
    )


class StarterRig:
    def __init__(self, world):
        self.world = world
        self.ticks: list[str] = []
        self.converges: list[str] = []
        self.outputs_asked: list[str] = []
        self.starter = RolloutStarter(world.store, world.states, world.observer(), self.outputs_of, lambda r: self.ticks.append(r.rollout_id), self.converges.append)
        self._events = 0

    def outputs_of(self, stack: str) -> dict[str, Any]:
        self.outputs_asked.append(stack)
        return self.world.outputs()

    def job(self, service: str, image: ImageRef, trigger: Trigger = Trigger.ECR_IMAGE_PUSH, received_at=None) -> Job:
        self._events += 1
        event_id = f"ecr-evt-{self._events}"
        return Job(
            job_id=Job.make_id(event_id, "dev"), environment="dev", stack="dev", trigger=trigger, event_id=event_id,
            received_at=received_at or self.world.clock(),
            image=ImageEvent(repository=f"ecr-{service}-dev", service=service, tag=image.tag, digest=image.digest),
        )


@pytest.fixture
def rig(world) -> StarterRig:
    return StarterRig(world)
