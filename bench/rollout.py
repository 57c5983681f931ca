"""The rollout safety loop on moto: how fast a rollback lands, and what a tick costs (figures only, no assertions).

Run: PYTHONPATH=. .venv/bin/python bench/rollout.py [--quick]

Everything runs in this process: moto (``mock_aws``) holds the ALB, ECS, ECR, CloudWatch, the
rollout table and the queues; the real RolloutController, RolloutObserver, RolloutExecutor and
AlbWeightedRouter act on it. The controller schedules through the real ``CoalescingTickScheduler``
(one pending wake-up per rollout, in the rollout table); the real ``TickRunner`` runs the ticks off
the tick queue; events go to the real ``Intake``, which matches them through the real
``RolloutWatchIndex`` (written by ``RolloutStore.create``) and wakes the rollout through the same
scheduler. Time is a fake clock: a wait of 30 s costs nothing, so every latency is printed twice,
as controller wall time (what the processing costs here) and as simulated time (what the clock
says passed, the poll waits). The waits are ``reconciler.rollout.decide.DEFAULT_TIMINGS``.

Printed, one function per figure (all share :func:`build_world`):

1. alarm-to-rollback: an ``Alarm State Change`` to the listener read back at 100 % old colour,
   poll-only (the next alarm poll finds it) against event-driven (the intake wakes the rollout);
2. the staged colour's ``ECS Deployment State Change`` (COMPLETED) to the first weight change,
   poll-only against event-driven;
3. AWS API calls per tick by phase (botocore ``before-call`` on the controller's clients), and
   per whole rollout of 3 steps;
4. alarm-to-rollback while a converge of another stack holds a converge worker (a real ``Worker``
   in a thread, its engine blocking in ``up``); the tick runtime is apart from it;
5. the intake's own wall time for an event: ``Intake.handle`` until the tick is on the queue;
6. ``decide`` time per tick, median and p99.

Not printed any more: the "one serial worker" row (ticks waiting behind a converge in today's
loop). It needs ``Worker.run_ticks_once``, which issue 10 removed; it cannot be reproduced honestly.

Test doubles (each says why): :class:`ClockedSqsDelayDouble` (moto applies SQS delays in real
time), :class:`EcsDeploymentDouble` (moto never completes a deployment), :class:`ConvergeDouble`
(the staged image's converge runs the Pulumi program), :class:`BlockingEngineDouble` (no Pulumi
CLI here) and the smoke ``fetch`` (no HTTP server behind moto's ALB).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK = SUFFIX = ENVIRONMENT = "dev"
OTHER_STACK = "prod"  # the stack whose converge holds a worker in figure 5
SERVICE = "frontend"
LIVE_COUNT = 2
OLD_TAG = "1.4.2"
ROLLOUT_TABLE = "ecs-gitops-rollouts"
IDEMPOTENCY_TABLE = "ecs-gitops-idempotency"
T0 = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday
ALARM_KINDS = {"5xx": "HTTPCode_Target_5XX_Count", "latency": "TargetResponseTime", "unhealthy": "UnHealthyHostCount"}
SPEC_ALARM = f"{SERVICE}-5xx"  # the alarm named in the rollout spec; the one the benchmark fires
GRACE_SECONDS = 120  # CoalescingTickScheduler's overdue grace (the settings' default)


def fake_aws_environment() -> None:
    """Fake credentials (nothing may reach a real account) and quiet libraries, before boto3, moto or Powertools load."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "EcsGitopsBench", "POWERTOOLS_LOG_LEVEL": "ERROR",
            # moto's EC2 backend otherwise builds ~2600 default AMIs (0.4 s); none is used here.
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        }
    )
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)


# --------------------------------------------------------------------------- clock, API-call counting


class FakeClock:
    """The one clock of the controller, the tick runtime and the converger; moves only when the benchmark moves it, never back."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = max(self.now, now)

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class ApiCalls:
    """Every AWS API call made through the watched clients (botocore's ``before-call`` event), by ``service.Operation``."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def watch(self, client: Any) -> Any:
        client.meta.events.register("before-call", self._count)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def add(self, name: str) -> None:
        self.calls[name] += 1

    def take(self) -> Counter[str]:
        taken, self.calls = self.calls, Counter()
        return taken


class DecideTimer:
    """Times every ``decide`` the controller makes (wall time of the pure function) and keeps its inputs to replay."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.inputs: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    @contextmanager
    def installed(self) -> Iterator[None]:
        import reconciler.rollout.controller as controller_module

        original = controller_module.decide

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            decision = original(*args, **kwargs)
            self.seconds.append(time.perf_counter() - started)
            self.inputs.append((args, kwargs))
            return decision

        controller_module.decide = timed
        try:
            yield
        finally:
            controller_module.decide = original


# --------------------------------------------------------------------------- test doubles


class ClockedSqsDelayDouble:
    """TEST DOUBLE around the tick runtime's SQS client, for message delays only.

    moto applies ``DelaySeconds`` in real time, so a fake clock could never let a delay pass. A
    message sent with a delay is held here until the fake clock reaches its time, then sent to the
    real (moto) queue with no delay through the benchmark's own client; every other call (and
    every undelayed send) goes straight to the wrapped, counted client. A held send is counted
    as the one ``sqs.SendMessage`` it is, when it is made.
    """

    def __init__(self, client: Any, release_client: Any, clock: FakeClock, calls: ApiCalls):
        self._client, self._release, self._clock, self._calls = client, release_client, clock, calls
        self.held: list[tuple[datetime, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        delay = kwargs.pop("DelaySeconds", 0)
        if delay <= 0:
            return self._client.send_message(**kwargs)
        self._calls.add("sqs.SendMessage")
        self.held.append((self._clock() + timedelta(seconds=delay), kwargs))
        return {"MessageId": f"held-{len(self.held)}"}

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.release_due()
        return self._client.receive_message(**kwargs)

    def release_due(self) -> int:
        now = self._clock()
        due = sorted(((at, message) for at, message in self.held if at <= now), key=lambda held: held[0])
        self.held = [(at, message) for at, message in self.held if at > now]
        for _, message in due:
            self._release.send_message(**message)
        return len(due)

    def next_due(self) -> datetime | None:
        return min((at for at, _ in self.held), default=None)


class EcsDeploymentDouble:
    """TEST DOUBLE around moto's ECS client: moto never completes a deployment (PRIMARY stays IN_PROGRESS,
    runningCount 0). While ``complete`` is set, ``describe_services`` reports the PRIMARY deployment on the
    service's task definition COMPLETED with every desired task running; unset, moto's own answer."""

    def __init__(self, client: Any):
        self._client = client
        self.complete = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def describe_services(self, **kwargs: Any) -> dict[str, Any]:
        response = self._client.describe_services(**kwargs)
        if not self.complete:
            return response
        services = []
        for service in response.get("services", []):
            service = copy.deepcopy(service)
            service["runningCount"] = service["desiredCount"]
            service["deployments"] = [
                {
                    "id": f"ecs-svc/{service['serviceName']}", "status": "PRIMARY", "taskDefinition": service["taskDefinition"],
                    "desiredCount": service["desiredCount"], "runningCount": service["desiredCount"], "rolloutState": "COMPLETED",
                }
            ]
            services.append(service)
        return {**response, "services": services}


class ConvergeDouble:
    """TEST DOUBLE for the converge ``StatusImageUpdater`` requests after staging an image: the real one runs
    the Pulumi program, which cannot run here. It does to moto what the program does to the idle colour:
    points its ECS service at a task definition running the staged image and registers its targets.
    The request itself is one ``sqs.SendMessage`` to the job queue; it is counted as the tick's, not sent
    (a converge job left in the job queue would be taken by figure 5's converge worker)."""

    def __init__(self, world: World):
        self.world = world

    def __call__(self, record: Any) -> None:
        self.world.calls.add("sqs.SendMessage")
        image = self.world.states.get(record.stack).image_overrides[record.service]
        self.world.point_colour_at(record.to_colour, image)
        self.world.register_targets(record.to_colour)


class BlockingEngineDouble:
    """TEST DOUBLE for the Pulumi engine of another stack's converge (there is no Pulumi CLI here).

    ``preview`` answers at once; ``up`` sets ``entered`` and blocks until ``release`` is set (a long
    ``pulumi up``), then answers with the outputs the converger verifies, as the program would.
    """

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def available(self) -> bool:
        return True

    def _result(self, operation: str, request: Any, outputs: dict[str, Any] | None = None) -> Any:
        from reconciler.engine import EngineResult
        from reconciler.models import PlanSummary

        return EngineResult(operation, PlanSummary(update=1, same=40), outputs or {}, (), "bench-double")

    def preview(self, request: Any) -> Any:
        return self._result("preview", request)

    def up(self, request: Any) -> Any:
        from desired_state.naming import ALB_FACING_SERVICES
        from desired_state.traffic import TrafficState

        self.entered.set()
        self.release.wait(timeout=60)
        environment = request.config.get("ecs-gitops:environment", request.stack)
        traffic = TrafficState.model_validate_json(request.config.get("ecs-gitops:trafficState", "{}"))
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
        return self._result("up", request, {
            "albDnsName": f"alb-{environment}.{REGION}.elb.amazonaws.com",
            "clusterArn": f"{arn}:cluster/ecs-cluster-{environment}",
            "serviceArns": {n: f"{arn}:service/ecs-cluster-{environment}/svc-{n}-{environment}" for n in ("frontend", "api-gateway", "processing-service")},
            "liveColours": {service: traffic.of(service).live_colour for service in ALB_FACING_SERVICES},
        })

    def refresh(self, request: Any) -> Any:
        return self._result("refresh", request)

    def outputs(self, stack: str) -> dict[str, Any]:
        return {}

    def destroy(self, request: Any) -> Any:
        return self._result("destroy", request)


# --------------------------------------------------------------------------- the world (shared by every figure)


@dataclass
class World:
    """One environment's frontend in moto (blue live, green idle), the rollout table, the tick and job queues,
    and the controller over clients whose every call is counted. ``h_*`` clients are the benchmark's own
    (setting up, firing alarms, reading back): never counted."""

    session: Any
    root: Path
    clock: FakeClock = field(default_factory=FakeClock)
    calls: ApiCalls = field(default_factory=ApiCalls)
    runtime_name: str = ""
    # Per event detail-type: (wall seconds of Intake.handle until the tick was on the queue, API calls it made).
    intake_runs: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    _images: int = 0
    _targets: int = 0

    def __post_init__(self) -> None:
        from reconciler.adapters.stack_state import FileStackStateStore
        from reconciler.rollout.store import RolloutStore

        names = ("ec2", "elbv2", "ecs", "ecr", "cloudwatch", "application-autoscaling", "dynamodb", "sqs")
        self.h = {name: self.session.client(name) for name in names}
        self.elbv2, self.ecs, self.ecr, self.cloudwatch, self.autoscaling, self.dynamodb, self.sqs = (
            self.calls.watch(self.session.client(name)) for name in names[1:]
        )
        self.ecs_double = EcsDeploymentDouble(self.ecs)
        self.states = FileStackStateStore(self.root / "status")
        self.h_store = RolloutStore(self.h["dynamodb"], ROLLOUT_TABLE)
        self.cluster = f"ecs-cluster-{SUFFIX}"
        self._build()

    # ------------------------------------------------------------------ moto set-up
    def _build(self) -> None:
        ec2, elbv2, ecs, ecr, cw, ddb, sqs = (self.h[n] for n in ("ec2", "elbv2", "ecs", "ecr", "cloudwatch", "dynamodb", "sqs"))
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"] for i, z in enumerate("ab")
        ]
        self.security_group = ec2.create_security_group(GroupName="sg-alb-dev", Description="alb", VpcId=vpc)["GroupId"]
        lb = elbv2.create_load_balancer(Name=f"alb-{SUFFIX}", Subnets=self.subnets, SecurityGroups=[self.security_group])["LoadBalancers"][0]
        self.alb_dns = lb["DNSName"]
        self.target_groups = {
            colour: elbv2.create_target_group(Name=f"tg-{SERVICE}-{colour}-{SUFFIX}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")[
                "TargetGroups"
            ][0]["TargetGroupArn"]
            for colour in ("blue", "green")
        }
        forward = {
            "Type": "forward",
            "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": self.target_groups["blue"], "Weight": 100}, {"TargetGroupArn": self.target_groups["green"], "Weight": 0}]},
        }
        self.listener_arn = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[forward])["Listeners"][0]["ListenerArn"]
        ecs.create_cluster(clusterName=self.cluster)
        ecr.create_repository(repositoryName=f"ecr-{SERVICE}-{SUFFIX}")
        from desired_state.schema import ImageRef

        old = ImageRef(repository=SERVICE, tag=OLD_TAG)
        for colour in ("blue", "green"):
            ecs.create_service(
                cluster=self.cluster, serviceName=self.ecs_service(colour), taskDefinition=self._task_definition(colour, old),
                desiredCount=LIVE_COUNT if colour == "blue" else 0,
                networkConfiguration={"awsvpcConfiguration": {"subnets": self.subnets, "securityGroups": [self.security_group]}},
            )
            for kind, metric in ALARM_KINDS.items():
                cw.put_metric_alarm(
                    AlarmName=self.colour_alarm(colour, kind), MetricName=metric, Namespace="AWS/ApplicationELB", Statistic="Maximum",
                    Period=60, EvaluationPeriods=2, Threshold=0, ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
                )
        self.register_targets("blue")
        cw.put_metric_alarm(
            AlarmName=SPEC_ALARM, MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold",
        )
        for table, key in ((ROLLOUT_TABLE, "pk"), (IDEMPOTENCY_TABLE, "id")):
            ddb.create_table(
                TableName=table, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
            )
        self.tick_queue_url = sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
        self.job_queue_url = sqs.create_queue(QueueName="ecs-gitops-jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        self.tick_sqs = ClockedSqsDelayDouble(self.sqs, self.h["sqs"], self.clock, self.calls)

    def _task_definition(self, colour: str, image: Any) -> str:
        uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/ecr-{SERVICE}-{SUFFIX}{image.reference}"
        return self.h["ecs"].register_task_definition(
            family=f"td-{SERVICE}-{colour}-{SUFFIX}",
            containerDefinitions=[{"name": SERVICE, "image": uri, "memory": 1024, "portMappings": [{"containerPort": 8080}]}],
        )["taskDefinition"]["taskDefinitionArn"]

    def point_colour_at(self, colour: str, image: Any) -> None:
        self.h["ecs"].update_service(cluster=self.cluster, service=self.ecs_service(colour), taskDefinition=self._task_definition(colour, image))

    def register_targets(self, colour: str) -> None:
        arn = self.target_groups[colour]
        if self.h["elbv2"].describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]:
            return
        ips = []
        for _ in range(LIVE_COUNT):
            self._targets += 1
            ips.append(f"10.20.{self._targets % 2}.{10 + self._targets}")
        self.h["elbv2"].register_targets(TargetGroupArn=arn, Targets=[{"Id": ip, "Port": 8080} for ip in ips])

    def push_image(self) -> Any:
        """A new image with its own digest, pushed to ECR and scanned (moto's scans find exactly one HIGH)."""
        from desired_state.schema import ImageRef

        self._images += 1
        tag = f"1.5.{self._images}"
        manifest = {
            "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7, "digest": "sha256:" + "c" * 64},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 100,
                        "digest": "sha256:" + hashlib.sha256(f"{tag}:{self._images}".encode()).hexdigest()}],
        }
        repository = f"ecr-{SERVICE}-{SUFFIX}"
        digest = self.h["ecr"].put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)["image"]["imageId"]["imageDigest"]
        self.h["ecr"].start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})
        return ImageRef(repository=SERVICE, tag=tag, digest=digest)

    # ------------------------------------------------------------------ names and outputs
    @staticmethod
    def ecs_service(colour: str) -> str:
        return f"svc-{SERVICE}-{colour}-{SUFFIX}"

    @staticmethod
    def colour_alarm(colour: str, kind: str) -> str:
        return f"alarm-{SERVICE}-{colour}-{kind}-{SUFFIX}"

    def outputs(self) -> dict[str, Any]:
        """The stack outputs the program exports, as ``resources_from_outputs`` reads them."""
        return {
            "clusterName": self.cluster, "albDnsName": self.alb_dns, "targetGroupArns": {SERVICE: dict(self.target_groups)},
            "listenerArns": {"http": self.listener_arn},
            "alarmNames": {SERVICE: {c: [self.colour_alarm(c, k) for k in ALARM_KINDS] for c in ("blue", "green")}},
        }

    # ------------------------------------------------------------------ the controller and its runtime
    def fetch(self, url: str, timeout: float, *, public_host: str | None = None) -> int:
        """The smoke check's HTTP GET (no HTTP server stands behind moto's ALB): always 200."""
        return 200

    def router_for(self, record: Any) -> Any:
        from reconciler.rollout.router import AlbWeightedRouter

        return AlbWeightedRouter(self.elbv2, record.resources.listener_arn, record.resources.target_groups, record.resources.rule_arn)

    def build_controller(self) -> None:
        from reconciler.redact import Redactor
        from reconciler.rollout.controller import RolloutController
        from reconciler.rollout.decide import DEFAULT_TIMINGS
        from reconciler.rollout.execute import RolloutExecutor, StatusImageUpdater
        from reconciler.rollout.observe import RolloutObserver
        from reconciler.rollout.store import RolloutStore
        from reconciler.ticks.runner import TickRunner, TickTimings
        from reconciler.ticks.schedule import CoalescingTickScheduler
        from reconciler.wiring import RolloutComponents

        from reconciler.rollout.decide import VerifyGate

        # The promotion gate's checks need an account laid out from the program's plan (tests/reconciler/verify);
        # the bench measures the controller's loop around it, so its gate passes.
        passing_gate = lambda record, now: VerifyGate(status="passed", headline="bench: promotion gate not measured")  # noqa: E731
        observer = RolloutObserver(self.ecr, self.ecs_double, self.elbv2, self.cloudwatch, self.router_for, fetch=self.fetch, promotion_verify=passing_gate)
        executor = RolloutExecutor(self.ecs_double, self.autoscaling, self.states, self.router_for, StatusImageUpdater(self.states, ConvergeDouble(self)))
        self.store = RolloutStore(self.dynamodb, ROLLOUT_TABLE)
        self.timings = DEFAULT_TIMINGS
        self.scheduler = CoalescingTickScheduler(self.dynamodb, ROLLOUT_TABLE, self.tick_sqs, self.tick_queue_url, overdue_grace_seconds=GRACE_SECONDS)
        self.controller = RolloutController(self.store, observer, executor, self.scheduler, self.clock, timings=self.timings)
        self.rollouts = RolloutComponents(self.store, self.controller, None, self.tick_queue_url)  # type: ignore[arg-type]
        self.runner = TickRunner(self.rollouts, self.tick_sqs, clock=self.clock, timings=TickTimings(), notifier=None, redactor=Redactor())
        self.runtime_name = "reconciler.ticks.runner.TickRunner.run_once over CoalescingTickScheduler"

    # ------------------------------------------------------------------ driving
    def start_rollout(self) -> Any:
        """A new image's rollout of frontend, from whichever colour is live now, with its first tick due at once."""
        from desired_state.schema import ImageRef, RolloutSpec
        from desired_state.traffic import TrafficState
        from reconciler.rollout import commands

        spec = RolloutSpec(
            steps=(10, 50, 100), bake_seconds=120, alarms=(SPEC_ALARM,), scan_severity_threshold="CRITICAL",
            deploy_timeout_seconds=600, scale_down_delay_seconds=300,
        )
        record = commands.start_rollout(
            self.h_store, stack=STACK, environment=ENVIRONMENT, service=SERVICE, new_image=self.push_image(),
            traffic=self.states.get(STACK).traffic or TrafficState(), desired_image=ImageRef(repository=SERVICE, tag=OLD_TAG),
            spec=spec, resources=commands.resources_from_outputs(self.outputs(), SERVICE, "/healthz", 8443, SUFFIX),
            live_desired_count=LIVE_COUNT, now=self.clock(), by="bench",
        )
        self.scheduler.schedule(record.rollout_id, self.clock(), self.clock(), cause="bench: rollout started")  # as RolloutStarter does
        self.calls.take()  # starting is not a tick
        return record

    def weights(self) -> Any:
        """The listener's split, read back (the benchmark's own client)."""
        from reconciler.rollout.router import AlbWeightedRouter

        return AlbWeightedRouter(self.h["elbv2"], self.listener_arn, self.target_groups).verify_weights()

    def tick(self) -> tuple[Counter[str], list[Any]]:
        """Deliver what is due (moving the clock to the next wake-up when nothing is) and run the tick runtime once."""
        due = self.tick_sqs.next_due()
        if self.queued() == 0 and due is not None and due > self.clock():
            self.clock.set(due)
        self.tick_sqs.release_due()
        self.calls.take()
        records = self.runner.run_once(wait_seconds=0)
        return self.calls.take(), records

    def queued(self) -> int:
        attributes = self.h["sqs"].get_queue_attributes(QueueUrl=self.tick_queue_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def drive(self, rollout_id: str, until: Callable[[Any], bool], max_ticks: int = 80, per_tick: list | None = None) -> Any:
        """Tick until ``until(record)``; ``per_tick`` collects (phase before the tick, its API calls)."""
        record = self.h_store.get(rollout_id)
        for _ in range(max_ticks):
            if until(record):
                return record
            before = record.phase
            calls, _ = self.tick()
            if per_tick is not None:
                per_tick.append((before.value, calls))
            record = self.h_store.get(rollout_id)
        raise RuntimeError(f"rollout {rollout_id} did not get there in {max_ticks} ticks (last phase {record.phase.value})")

    def set_alarm(self, state: str) -> None:
        self.h["cloudwatch"].set_alarm_state(AlarmName=SPEC_ALARM, StateValue=state, StateReason=f"bench: {state}")

    def finish(self, rollout_id: str) -> None:
        """Let the rollout end, and leave nothing behind for the next one (alarm OK, no pending or queued ticks)."""
        self.drive(rollout_id, lambda r: r.phase.terminal)
        self.set_alarm("OK")
        self.ecs_double.complete = True
        self.tick_sqs.held.clear()
        while messages := self.h["sqs"].receive_message(QueueUrl=self.tick_queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                self.h["sqs"].delete_message(QueueUrl=self.tick_queue_url, ReceiptHandle=message["ReceiptHandle"])
        self.calls.take()


def build_world(root: Path) -> World:
    """The shared setup: moto must already be mocking (``mock_aws``)."""
    import boto3
    import botocore.session

    world = World(boto3.session.Session(botocore_session=botocore.session.get_session(), region_name=REGION), root)
    world.build_controller()
    return world


def rollout_to_first_bake(world: World) -> Any:
    record = world.start_rollout()
    return world.drive(record.rollout_id, lambda r: r.phase.value == "baking" and r.step_index == 0)


# --------------------------------------------------------------------------- events, as EventBridge delivers them


def alarm_state_change_event(alarm: str, at: datetime) -> dict[str, Any]:
    """A CloudWatch ``Alarm State Change`` (OK -> ALARM), in the documented EventBridge shape."""
    stamp = at.isoformat().replace("+00:00", "Z")
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": ACCOUNT, "time": stamp, "region": REGION, "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm}"],
        "detail": {
            "alarmName": alarm,
            "state": {"value": "ALARM", "reason": "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0).", "timestamp": stamp},
            "previousState": {"value": "OK", "reason": "Threshold Crossed", "timestamp": stamp},
            "configuration": {"metrics": [{"id": "m1", "metricStat": {"metric": {"namespace": "AWS/ApplicationELB", "name": "HTTPCode_Target_5XX_Count"}, "period": 60, "stat": "Sum"}}]},
        },
    }


def ecs_deployment_completed_event(cluster: str, service: str, at: datetime) -> dict[str, Any]:
    """An ECS ``ECS Deployment State Change`` (SERVICE_DEPLOYMENT_COMPLETED), in the documented EventBridge shape."""
    stamp = at.isoformat().replace("+00:00", "Z")
    deployment = f"ecs-svc/{uuid.uuid4().int % 10**19}"
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "ECS Deployment State Change", "source": "aws.ecs",
        "account": ACCOUNT, "time": stamp, "region": REGION, "resources": [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{service}"],
        "detail": {"eventType": "INFO", "eventName": "SERVICE_DEPLOYMENT_COMPLETED", "deploymentId": deployment, "updatedAt": stamp,
                   "reason": f"ECS deployment {deployment} completed."},
    }


# --------------------------------------------------------------------------- the event-driven path


class NotMeasured(Exception):
    """A figure could not be measured; the message says why."""


def event_intake(world: World) -> Any:
    """The real ``Intake`` as ``build_intake`` wires it: the watch index in the rollout table and the
    controller's own ``CoalescingTickScheduler`` (the same instance, over the same tick queue)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from reconciler.adapters.queue import JobQueue
    from reconciler.adapters.secrets import SecretReader
    from reconciler.intake import Intake
    from reconciler.rollout.watch import RolloutWatchIndex

    return Intake(
        bench_settings(world), JobQueue(world.h["sqs"], world.job_queue_url), SecretReader(world.session.client("secretsmanager")),
        DynamoDBPersistenceLayer(table_name=IDEMPOTENCY_TABLE, boto3_session=world.session), clock=world.clock,
        watches=RolloutWatchIndex(world.dynamodb, ROLLOUT_TABLE), ticks=world.scheduler,
    )


def event_driven_rollback(world: World, intake: Any, event: dict[str, Any], rollout_id: str, done: Callable[[Any], bool], max_ticks: int = 10) -> tuple[float, float, int]:
    """Hand ``event`` to ``Intake.handle`` and run the tick runtime until ``done(record)``, moving the clock
    only when nothing is queued or due (then the wake-up missed and a poll found it: the simulated time says so).

    Returns (wall seconds, simulated seconds, ticks run); the intake's own wall time and API calls go to
    ``world.intake_runs``. Raises :class:`NotMeasured` when the intake woke nothing or queued no tick.
    """
    world.calls.take()
    started_at, started = world.clock(), time.perf_counter()
    answer = intake.handle(event)
    handled = time.perf_counter()
    intake_calls = sum(world.calls.take().values())
    if rollout_id not in answer.get("woken", []) or world.queued() == 0:
        raise NotMeasured(f"the intake queued no tick for the {event['detail-type']} event (it answered {answer})")
    world.intake_runs[event["detail-type"]].append((handled - started, intake_calls))
    record, ticks = world.h_store.get(rollout_id), 0
    while not done(record) and ticks < max_ticks:
        world.tick()
        ticks += 1
        record = world.h_store.get(rollout_id)
    return time.perf_counter() - started, (world.clock() - started_at).total_seconds(), ticks


# --------------------------------------------------------------------------- figures


def rolled_back_weights(world: World) -> Callable[[Any], bool]:
    """Done when the listener, read back, sends 100 % to the old colour."""
    return lambda record: world.weights() == record.live_only


def weights_moved(world: World) -> Callable[[Any], bool]:
    return lambda record: world.weights() != record.live_only


def poll_only(world: World, rollout_id: str, done: Callable[[Any], bool], max_ticks: int = 20) -> tuple[float, float, int]:
    """Nothing wakes the rollout: its next scheduled poll finds the change. (wall s, simulated s, ticks)."""
    started_at, started = world.clock(), time.perf_counter()
    record, ticks = world.h_store.get(rollout_id), 0
    while not done(record) and ticks < max_ticks:
        world.tick()
        ticks += 1
        record = world.h_store.get(rollout_id)
    return time.perf_counter() - started, (world.clock() - started_at).total_seconds(), ticks


def figure_line(label: str, wall: float, simulated: float, ticks: int, note: str = "") -> str:
    return f"  {label:<44} wall {wall * 1000:7.1f} ms   simulated {simulated:5.1f} s   ticks {ticks}{('   ' + note) if note else ''}"


def alarm_to_rollback(world: World, offsets: list[float], intake: Any) -> None:
    """Figure 1: the spec's alarm enters ALARM ``offset`` s after a bake's alarm poll; poll-only, then event-driven, the same run."""
    watch = world.timings.alarm_watch.total_seconds()
    print(f"alarm-to-rollback: alarm enters ALARM during the first bake (10 %), offset s after an alarm poll (the poll runs every {watch:.0f} s)")
    for mode in ("poll-only", "event-driven"):
        for offset in offsets:
            measured = alarm_rollback(world, intake, mode, offset)
            if isinstance(measured, NotMeasured):
                print(f"  {mode:<12} offset {offset:4.1f} s   not measured: {measured}")
                continue
            wall, simulated, ticks, back = measured
            print(figure_line(f"{mode:<12} offset {offset:4.1f} s", wall, simulated, ticks, "100 % old colour read back" if back else "NOT rolled back"))


def alarm_rollback(world: World, intake: Any, mode: str, offset: float) -> tuple[float, float, int, bool] | NotMeasured:
    """One rollout to its first bake, the spec's alarm entering ALARM ``offset`` s after a poll, and the rollback
    measured poll-only or event-driven: (wall, simulated, ticks, rolled back), or why it was not measured."""
    record = rollout_to_first_bake(world)
    world.clock.advance(offset)
    world.set_alarm("ALARM")
    done = rolled_back_weights(world)
    try:
        if mode == "poll-only":
            wall, simulated, ticks = poll_only(world, record.rollout_id, done)
        else:
            wall, simulated, ticks = event_driven_rollback(world, intake, alarm_state_change_event(SPEC_ALARM, world.clock()), record.rollout_id, done)
        return wall, simulated, ticks, done(world.h_store.get(record.rollout_id))
    except NotMeasured as exc:
        return exc
    finally:
        world.finish(record.rollout_id)


def deployment_to_first_weight_change(world: World, offsets: list[float], intake: Any) -> None:
    """Figure 2: the staged colour's deployment completes ``offset`` s after a deploying poll; to the first weight change read back."""
    poll = world.timings.poll.total_seconds()
    print(f"deployment-completed-to-first-weight-change: the idle colour's ECS deployment completes offset s after the tick that staged it (deploying polls every {poll:.0f} s)")
    for mode in ("poll-only", "event-driven"):
        for offset in offsets:
            record = world.start_rollout()
            world.ecs_double.complete = False
            record = world.drive(record.rollout_id, lambda r: r.phase.value == "deploying")
            world.clock.advance(offset)
            world.ecs_double.complete = True
            done = weights_moved(world)
            try:
                if mode == "poll-only":
                    wall, simulated, ticks = poll_only(world, record.rollout_id, done)
                else:
                    event = ecs_deployment_completed_event(world.cluster, world.ecs_service(record.to_colour), world.clock())
                    wall, simulated, ticks = event_driven_rollback(world, intake, event, record.rollout_id, done)
            except NotMeasured as exc:
                print(f"  {mode:<12} offset {offset:4.1f} s   not measured: {exc}")
                world.finish(record.rollout_id)
                continue
            moved = world.weights()
            print(figure_line(f"{mode:<12} offset {offset:4.1f} s", wall, simulated, ticks, f"listener then {moved.model_dump() if moved else None}"))
            world.finish(record.rollout_id)


def api_calls_per_tick(world: World) -> None:
    """Figure 3: a whole rollout of 3 steps (10, 50, 100 %) to COMPLETE, poll-only; calls per tick by the phase it started in."""
    record = world.start_rollout()
    per_tick: list[tuple[str, Counter[str]]] = []
    world.drive(record.rollout_id, lambda r: r.phase.terminal, per_tick=per_tick)
    by_phase: dict[str, list[Counter[str]]] = defaultdict(list)
    for phase, calls in per_tick:
        by_phase[phase].append(calls)
    print(f"api-calls-per-tick: one rollout of 3 steps to complete, poll-only, through {world.runtime_name}")
    print(f"  {'phase':<14}{'ticks':>6}{'calls/tick':>12}   mean per tick, by call")
    for phase, ticks in by_phase.items():
        total: Counter[str] = sum(ticks, Counter())
        detail = ", ".join(f"{name} {count / len(ticks):.1f}" for name, count in sorted(total.items()))
        print(f"  {phase:<14}{len(ticks):>6}{sum(total.values()) / len(ticks):>12.1f}   {detail}")
    whole: Counter[str] = sum((calls for _, calls in per_tick), Counter())
    services: Counter[str] = Counter()
    for name, count in whole.items():
        services[name.split(".")[0]] += count
    print(f"  api-calls-per-rollout: {sum(whole.values())} calls in {len(per_tick)} ticks ({', '.join(f'{s} {n}' for s, n in sorted(services.items()))})")
    world.finish(record.rollout_id)


def decision_time(timer: DecideTimer, replays: int) -> None:
    """Figure 4: ``decide`` as the controller called it in this run, and the same inputs replayed ``replays`` times."""
    import reconciler.rollout.decide as decide_module

    def line(label: str, seconds: list[float]) -> str:
        ordered = sorted(seconds)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        return f"  {label:<34} n {len(ordered):>6}   median {statistics.median(ordered) * 1e6:7.1f} us   p99 {p99 * 1e6:7.1f} us   max {ordered[-1] * 1e6:7.1f} us"

    print("decide-per-tick: the pure decision of each tick")
    if not timer.seconds:
        print("  decide-per-tick: no tick ran")
        return
    print(line("in the ticks of this run", timer.seconds))
    replayed = []
    for _ in range(replays):
        for args, kwargs in timer.inputs:
            started = time.perf_counter()
            decide_module.decide(*args, **kwargs)
            replayed.append(time.perf_counter() - started)
    print(line(f"the same inputs replayed x{replays}", replayed))


def intake_wall_time(world: World) -> None:
    """Figure 5: ``Intake.handle`` for each event the event-driven rows sent, until the tick was on the queue."""
    print("intake-event-to-tick-queued: Intake.handle(event) until the rollout's tick is on the tick queue (watch lookup, wake item write, SendMessage)")
    if not world.intake_runs:
        print("  not measured: no event-driven row ran")
        return
    for detail_type, runs in world.intake_runs.items():
        seconds = sorted(wall for wall, _ in runs)
        calls = sorted({count for _, count in runs})
        print(f"  {detail_type:<34} n {len(seconds):>3}   median {statistics.median(seconds) * 1000:6.1f} ms   max {seconds[-1] * 1000:6.1f} ms"
              f"   API calls per event {'/'.join(str(c) for c in calls)}")


# --------------------------------------------------------------------------- a converge of another stack holds a worker


GIT_IDENTITY = ["-c", "user.name=Bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"]


def git_repository(root: Path) -> str:
    """The bundled example environments as a desired-state git repository."""
    from desired_state.loader import EXAMPLE_DIR

    path = root / "desired-state"
    (path / "environments").mkdir(parents=True)
    for source in sorted((EXAMPLE_DIR / "environments").glob("*.yaml")):
        shutil.copy(source, path / "environments" / source.name)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], [*GIT_IDENTITY, "commit", "-qm", "desired state"]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return str(path)


def new_commit(path: str) -> str:
    """A new head for each held converge (the same commit twice would be skipped as already applied)."""
    subprocess.run(["git", *GIT_IDENTITY, "commit", "-q", "--allow-empty", "-m", f"bench {uuid.uuid4().hex[:8]}"], cwd=path, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True, text=True).stdout.strip()


def bench_settings(world: World, repository: str = "https://example.com/desired-state.git") -> Any:
    from reconciler.settings import AwsResources, EnvironmentSettings, ReconcilerSettings, RepositorySettings

    return ReconcilerSettings(
        repository=RepositorySettings(url=repository, branch="main", image_write_back=False),
        environments={
            ENVIRONMENT: EnvironmentSettings(stack=STACK, suffix=SUFFIX),
            OTHER_STACK: EnvironmentSettings(stack=OTHER_STACK, suffix=OTHER_STACK, production=True, require_signed_commits=False),
        },
        backend_url=f"file://{world.root / 'backend'}", work_dir=str(world.root / "work"),
        aws=AwsResources(job_queue_url=world.job_queue_url, idempotency_table=IDEMPOTENCY_TABLE, rollout_table=ROLLOUT_TABLE, tick_queue_url=world.tick_queue_url),
    )


@dataclass
class HeldConverge:
    """A converge of ``prod`` on its own converge worker thread, held inside ``up`` by :class:`BlockingEngineDouble`."""

    engine: BlockingEngineDouble
    thread: threading.Thread
    worker: Any
    outcomes: list[Any] = field(default_factory=list)

    def let_go(self) -> None:
        self.engine.release.set()
        self.thread.join(timeout=30)


def converge_worker(world: World, path: str) -> tuple[Any, BlockingEngineDouble]:
    """A converge worker (the real ``Worker``, no ticks: it has none since issue 10) whose converger applies ``prod`` through a blocking engine."""
    from reconciler.adapters.audit import FileAuditLog
    from reconciler.adapters.queue import JobQueue
    from reconciler.converge import Converger
    from reconciler.models import Job, Trigger
    from reconciler.redact import Redactor
    from reconciler.source import GitSource
    from reconciler.worker import Worker, WorkerTimings

    head = new_commit(path)
    engine = BlockingEngineDouble()
    settings = bench_settings(world, path)
    # The converge worker is another process: its calls are not the tick's, so its clients are not counted.
    converger = Converger(
        settings=settings, states=world.states, source=GitSource(path, "main", world.root / f"work-{uuid.uuid4().hex[:6]}"), engine=engine,
        audit=FileAuditLog(world.root / "audit"), redactor=Redactor(), clock=world.clock, worker_id=f"bench-converge:{uuid.uuid4().hex[:6]}",
    )
    queue = JobQueue(world.session.client("sqs"), world.job_queue_url)
    event_id = f"bench-{uuid.uuid4()}"
    queue.send(Job(job_id=Job.make_id(event_id, OTHER_STACK), environment=OTHER_STACK, stack=OTHER_STACK, trigger=Trigger.GIT_PUSH,
                   event_id=event_id, commit=head, author="Bench", received_at=world.clock()))
    return Worker(queue, converger, clock=world.clock, timings=WorkerTimings()), engine


def hold_converge(world: World, repository: str) -> HeldConverge:
    """Start the converge worker's thread and wait until its engine is inside ``up``."""
    from program.render import thread_event_loop

    worker, engine = converge_worker(world, repository)
    held = HeldConverge(engine, threading.Thread(), worker)

    def run() -> None:
        # The policy gate renders the program under Pulumi's mocks, which need an asyncio loop in this thread.
        thread_event_loop()
        try:
            held.outcomes.extend(worker.run_once(wait_seconds=0))
        except Exception as exc:  # noqa: BLE001 - reported as the figure's outcome, never a traceback
            held.outcomes.append(exc)

    held.thread = threading.Thread(target=run, name="bench-converge", daemon=True)
    held.thread.start()
    if not engine.entered.wait(timeout=30):
        held.let_go()
        raise NotMeasured(f"the converge of {OTHER_STACK} never reached `up` (outcomes: {held.outcomes})")
    return held


def rollback_while_a_converge_holds_a_worker(world: World, offset: float, intake: Any) -> None:
    """Figure 4: figure 1's rollback while a converge of ``prod`` sits in ``up`` on a converge worker thread."""
    repository = git_repository(world.root / f"repo-{uuid.uuid4().hex[:6]}")
    print(f"rollback-while-converging: a converge of stack {OTHER_STACK} is inside `up` on a converge worker thread; alarm at offset {offset:.1f} s;"
          " the ticks run on the tick runtime (TickRunner), apart from it")
    held = hold_converge(world, repository)
    try:
        for mode in ("poll-only", "event-driven"):
            measured = alarm_rollback(world, intake, mode, offset)
            if isinstance(measured, NotMeasured):
                print(f"  separate tick runtime, {mode:<12} not measured: {measured}")
                continue
            wall, simulated, ticks, back = measured
            still = "converge still in `up`" if held.thread.is_alive() and not held.engine.release.is_set() else "converge NOT in `up` any more"
            print(figure_line(f"separate tick runtime, {mode}", wall, simulated, ticks, f"{still}; {'100 % old colour read back' if back else 'NOT rolled back'}"))
    finally:
        held.let_go()
    outcome = "; ".join(
        f"{o.outcome} ({o.reason})" if hasattr(o, "outcome") else f"{type(o).__name__}: {o}" for o in held.outcomes
    ) or "none (the job was not taken)"
    print(f"  the held converge, once let go: {outcome}")
    print("  one serial worker (before issue 10): not reproduced: it needs Worker.run_ticks_once, which issue 10 removed (the converge worker runs no ticks)")


# --------------------------------------------------------------------------- main


class FailingIntake:
    """Stands where the intake could not be built: every event row prints why (see ``main``)."""

    def __init__(self, why: str):
        self.why = why

    def handle(self, event: Any) -> dict[str, Any]:
        raise NotMeasured(self.why)


def machine() -> str:
    return f"machine: nproc {os.cpu_count()}, python {platform.python_version()} ({platform.machine()}, {platform.system()} {platform.release()})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one offset per latency figure and few replays (the test's reduced mode)")
    args = parser.parse_args(argv)
    fake_aws_environment()
    pythonpath = [f"PYTHONPATH={os.environ['PYTHONPATH']}"] if os.environ.get("PYTHONPATH") else []
    print(f"command: {shlex.join([*pythonpath, sys.executable, *sys.argv])}")
    print(machine())
    started = time.perf_counter()

    from moto import mock_aws

    offsets = [15.0] if args.quick else [1.0, 15.0, 29.0]
    deploy_offsets = [7.5] if args.quick else [1.0, 7.5, 14.0]
    timer = DecideTimer()
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as directory, mock_aws(), timer.installed():
        world = build_world(Path(directory))
        print(f"tick runtime: {world.runtime_name}; clock: fake, from {T0.isoformat()}")
        print("legend: wall = controller wall time here (moto in-process, the fake clock jumps the waits);"
              " simulated = time on the fake clock, the waits the controller scheduled; API calls = botocore before-call"
              " on the controller's and tick runtime's clients, plus the one SendMessage per scheduled tick and per converge request")
        try:
            intake: Any = event_intake(world)
        except Exception as exc:  # noqa: BLE001 - the event rows then say why they were not measured
            intake = FailingIntake(f"the intake could not be built: {type(exc).__name__}: {exc}")
        figures: list[tuple[str, Callable[[], None]]] = [
            ("alarm-to-rollback", lambda: alarm_to_rollback(world, offsets, intake)),
            ("deployment-completed-to-first-weight-change", lambda: deployment_to_first_weight_change(world, deploy_offsets, intake)),
            ("api-calls-per-tick", lambda: api_calls_per_tick(world)),
            ("rollback-while-converging", lambda: rollback_while_a_converge_holds_a_worker(world, 15.0, intake)),
            ("intake-event-to-tick-queued", lambda: intake_wall_time(world)),
            ("decide-per-tick", lambda: decision_time(timer, replays=20 if args.quick else 200)),
        ]
        for name, figure in figures:
            try:
                figure()
            except Exception as exc:  # noqa: BLE001 - a figure that cannot be measured says why; the others still run
                print(f"{name}: not measured: {type(exc).__name__}: {exc}")
    print(f"bench total: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
