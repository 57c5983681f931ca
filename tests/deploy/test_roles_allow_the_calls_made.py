"""The reconciler's own roles (template.yaml) allow every AWS call its code makes, on the resource it makes it on.

The code paths run for real on moto, each with its clients wrapped by :class:`tests.deploy.calls.CallRecorder`:

- ``verify``: a full ``verify`` of dev over the account laid out from the program's own render
  (tests/reconciler/verify/verify_layout.py), as the converge worker runs it after ``up``;
- ``drift``: the drift check's probe of console-added rules and role policies, over the same account;
- ``gate``: the rollout promotion gate over the same account, as the tick worker runs it;
- ``tick``: the tick runtime (the runner taking ticks off the queue, the controller, the coalescing
  scheduler) through two whole rollouts (frontend on the listener's default action, api-gateway on a
  listener rule) and an alarm's rollback, in the rollout tests' account (tests/reconciler/rollout/conftest.py).

Each recorded call becomes the IAM requests it is authorised by (tests/deploy/calls.py: action,
resource ARN, condition keys), which the statements of the role that runs the path must allow
(:func:`tests.deploy.cfn.allows`): WorkerTaskRole with the template's deploy policies for verify and
drift, TickWorkerTaskRole for the gate and the ticks. Not recorded: the stack-status, audit and
notification adapters (files and recorders in these rigs), the converge worker's own calls (``up`` is
Pulumi's; the deploy policy tests cover what it creates) and the tick runtime's watchdog.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from desired_state.schema import DesiredState
from desired_state.traffic import TrafficState
from program.render import RenderedStack
from tests.deploy.calls import Account, CallRecorder, Calls, Request, UnknownResource, requests_of
from tests.deploy.cfn import allows
from tests.deploy.transformed import ACCOUNT, REGION, SCENARIOS, resolve

# The role each code path runs as (template.yaml: WorkerTaskDefinition / TickWorkerTaskDefinition).
RUNS_AS = {"verify": "WorkerTaskRole", "drift": "WorkerTaskRole", "gate": "TickWorkerTaskRole", "tick": "TickWorkerTaskRole"}
# The rollout tests' account names its load balancer alb-<suffix>; the program names it alb-platform-<suffix>
# (the verify layout, laid out from the program's render, has the program's names throughout).
TICK_WORLD_NAMES = {"/app/alb-dev/": "/app/alb-platform-dev/"}
TICK_QUEUE = "ecs-gitops-rollout-ticks"  # template.yaml's RolloutTickQueue


class _Clock:
    """The waiting checks' injected clocks: sleeping moves monotonic time, never real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def aws_environment() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        yield


def _promoted_frontend() -> Any:
    """frontend's blue promoted over green, its scale-down due: what the gate is asked about (the layout runs blue live)."""
    from datetime import UTC, datetime, timedelta

    from desired_state.schema import ImageRef, RolloutSpec
    from desired_state.traffic import ColourWeights
    from reconciler.rollout.model import RolloutPhase, RolloutRecord, RolloutResources, Transition

    now = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    return RolloutRecord(
        rollout_id="r-gate", stack="dev", environment="dev", service="frontend", version=5, phase=RolloutPhase.PROMOTED,
        from_colour="green", to_colour="blue", old_image=ImageRef(repository="frontend", tag="1.4.1"),
        new_image=ImageRef(repository="frontend", tag="1.4.2"), spec=RolloutSpec(steps=(10, 100), bake_seconds=60, scale_down_delay_seconds=300),
        live_desired_count=2,
        resources=RolloutResources(cluster="ecs-cluster-dev", ecs_services={"blue": "svc-frontend-blue-dev", "green": "svc-frontend-green-dev"},
                                   target_groups={"blue": "arn:tg/blue", "green": "arn:tg/green"}, listener_arn="arn:listener/1",
                                   test_url="http://alb:8443", repository="ecr-frontend-dev"),
        weights=ColourWeights(blue=100, green=0), step_index=1, promoted_at=now - timedelta(seconds=300),
        phase_started_at=now - timedelta(seconds=300), created_at=now - timedelta(hours=1), updated_at=now,
        history=[Transition(at=now - timedelta(hours=1), from_phase=None, to_phase=RolloutPhase.SCANNING, reason="started")],
    )


def _on_the_verify_layout(rendered: RenderedStack, desired: DesiredState) -> dict[str, Calls]:
    import boto3
    from moto import mock_aws

    from reconciler.drift.unmanaged import desired_layout, probe_unmanaged
    from reconciler.verify.gate import AppliedInputs, PromotionVerifier
    from reconciler.verify.run import verify_environment
    from reconciler.verify.seams import CLIENT_NAMES, Timing
    from tests.reconciler.verify.verify_layout import AlbHttpDouble, lay_out

    calls = {"verify": Calls(), "drift": Calls(), "gate": Calls()}
    with mock_aws():
        layout = lay_out(rendered, boto3.session.Session(region_name=REGION), REGION)
        clients = layout.clients()

        def recorded(path: str) -> Any:
            return clients.replace(**{name: CallRecorder(getattr(clients, name), calls[path]) for name in CLIENT_NAMES})

        clock = _Clock()
        timing = Timing(target_health_timeout_seconds=30, poll_seconds=10, monotonic=clock.monotonic, sleep=clock.sleep)
        http = AlbHttpDouble(layout.client("elbv2"), layout.outputs)
        report = verify_environment(environment="dev", outputs=layout.outputs, desired=desired, traffic=TrafficState(),
                                    clients=recorded("verify"), http=http, timing=timing)
        assert report.passed, [f"{r.name}: {r.detail}" for r in report.results if r.status == "fail"]

        probe_unmanaged(CallRecorder(layout.client("ec2"), calls["drift"]), CallRecorder(layout.client("iam"), calls["drift"]),
                        suffix="dev", desired=desired_layout(rendered, stack="dev"))

        inputs = AppliedInputs(outputs=layout.outputs, desired=desired, traffic=TrafficState(), commit="c0ffee")
        record = _promoted_frontend()
        gate = PromotionVerifier(lambda _: inputs, lambda region: recorded("gate"), timing, http)(record, record.updated_at)
        assert gate.status == "passed", gate.headline
    return calls


def _ticks(tmp_path: Any) -> Calls:
    """The tick runtime as the TickWorkerService runs it: the runner takes each due tick off the queue, claims it and
    ticks the rollout, whose controller schedules the next wake-up (tests/reconciler/ticks/conftest.py's rig)."""
    from moto import mock_aws

    from reconciler.rollout.controller import RolloutController
    from reconciler.rollout.decide import DEFAULT_TIMINGS
    from reconciler.rollout.execute import RolloutExecutor, StatusImageUpdater
    from reconciler.rollout.model import RolloutPhase
    from reconciler.rollout.observe import RolloutObserver
    from reconciler.rollout.router import AlbWeightedRouter
    from reconciler.rollout.store import RolloutStore
    from reconciler.ticks.runner import TickRunner
    from reconciler.ticks.schedule import CoalescingTickScheduler
    from reconciler.wiring import RolloutComponents
    from tests.reconciler.rollout import conftest as rollout
    from tests.reconciler.ticks.conftest import ClockedSqsDouble

    calls = Calls()
    with mock_aws():
        world = rollout.RolloutWorld(rollout.fast_session(), tmp_path)
        url = world.sqs.create_queue(QueueName=TICK_QUEUE)["QueueUrl"]
        queue = ClockedSqsDouble(world.sqs, world.clock)
        sqs, dynamodb = CallRecorder(queue, calls), CallRecorder(world.dynamodb, calls)
        elbv2, ecs = CallRecorder(world.elbv2_double, calls), CallRecorder(world.ecs_double, calls)

        def router_for(record: Any) -> AlbWeightedRouter:
            return AlbWeightedRouter(elbv2, record.resources.listener_arn, record.resources.target_groups, record.resources.rule_arn)

        observer = RolloutObserver(CallRecorder(world.ecr, calls), ecs, elbv2, CallRecorder(world.cloudwatch, calls), router_for,
                                   window_check=world.window_check, fetch=world.fetch, timings=DEFAULT_TIMINGS,
                                   # The gate's own calls are recorded on the verify layout (the gate's code path above);
                                   # here it answers passed so the rollouts complete (a held gate never scales down).
                                   promotion_verify=world.gate)
        # The converge a staged image requests (ConvergeDouble) is the converge worker's, not the tick's: not recorded.
        executor = RolloutExecutor(ecs, CallRecorder(world.autoscaling, calls), world.states, router_for, StatusImageUpdater(world.states, world.converge))
        store = RolloutStore(dynamodb, rollout.ROLLOUT_TABLE)
        scheduler = CoalescingTickScheduler(dynamodb, rollout.ROLLOUT_TABLE, sqs, url)
        controller = RolloutController(store, observer, executor, scheduler, world.clock, timings=DEFAULT_TIMINGS)
        runner = TickRunner(RolloutComponents(store, controller, None, url), sqs, clock=world.clock)  # type: ignore[arg-type]
        # A rollout's first wake-up is the converge worker's (the starter's): not recorded.
        first_wake = CoalescingTickScheduler(world.dynamodb, rollout.ROLLOUT_TABLE, queue, url)

        def run(rollout_id: str, until: Any = lambda r: r.phase.terminal, rounds: int = 200) -> Any:
            for _ in range(rounds):
                while True:  # every tick visible now
                    mark = len(calls.made)
                    advanced = runner.run_once()
                    taken = [c for c in calls.made[mark:] if c.action in ("sqs:DeleteMessage", "sqs:ChangeMessageVisibility")]
                    if not advanced and not taken:
                        break
                record = world.store.get(rollout_id)
                if until(record):
                    return record
                due = queue.next_due()
                assert due is not None, f"a {record.phase.value} rollout has no wake-up on the queue"
                world.clock.set(max(world.clock(), due))
            raise AssertionError(f"rollout {rollout_id} did not get there in {rounds} rounds")

        def start(service: str, tag: str) -> str:
            record = world.start(service, world.push_image(service, tag), rollout.default_spec(service))
            first_wake.schedule(record.rollout_id, world.clock(), world.clock())
            return record.rollout_id

        for service in ("frontend", "api-gateway"):
            record = run(start(service, "3.0.0"))
            assert record.phase == RolloutPhase.COMPLETE, (service, record.phase)
        # And a rollback: the spec's alarm fires during the first bake of frontend's next rollout.
        rollout_id = start("frontend", "3.1.0")
        run(rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING)
        world.cloudwatch.set_alarm_state(AlarmName="frontend-5xx", StateValue="ALARM", StateReason="5xx above 5 for 1 minute")
        assert run(rollout_id).phase == RolloutPhase.ROLLED_BACK
    for old, new in TICK_WORLD_NAMES.items():
        calls.made[:] = [type(c)(c.action, _renamed(c.params, old, new)) for c in calls.made]
    return calls


def _renamed(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _renamed(v, old, new) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def calls_made(aws_environment: None, rendered_dev: RenderedStack, dev_state: DesiredState, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Calls]:
    """Each code path's calls; each moto account is torn down before the next is made."""
    return {**_on_the_verify_layout(rendered_dev, dev_state), "tick": _ticks(tmp_path_factory.mktemp("ticks"))}


@pytest.fixture(scope="module")
def account(rendered_dev: RenderedStack) -> Account:
    """The layout's account: moto's id and region are the template tests' (tests/deploy/transformed.py)."""
    roles = {r.inputs["name"]: f"arn:aws:iam::{ACCOUNT}:role{r.inputs.get('path', '/')}{r.inputs['name']}" for r in rendered_dev.of_type("aws:iam/role:Role")}
    return Account(REGION, ACCOUNT, roles)


def role_statements(template: dict, role: str) -> list[dict]:
    """The role's inline policies, the managed policies it names (the template's own) and the AWS::IAM::Policy attached to it."""
    resources = template["Resources"]
    properties = resources[role]["Properties"]
    statements = [s for p in properties.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for arn in properties.get("ManagedPolicyArns", []):
        name = arn.strip("<>") if arn.startswith("<") else None
        assert name in resources, f"{role} names the managed policy {arn}, which is not the template's: cannot check it"
        statements += resources[name]["Properties"]["PolicyDocument"]["Statement"]
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::Policy" and f"<{role}>" in resource["Properties"]["Roles"]:
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return statements


# The reconciler's own resources, as the resolved template names them.
OWN_RESOURCES = {
    f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ecs-gitops-rollouts": "<RolloutTable.Arn>",
    f"arn:aws:sqs:{REGION}:{ACCOUNT}:{TICK_QUEUE}": "<RolloutTickQueue.Arn>",
}


def refused(calls_made: dict[str, Calls], template: dict, account: Account) -> tuple[dict[str, dict[str, set[str]]], dict[str, set[str]]]:
    """Per role: each action its statements refuse -> the resources refused; and the actions whose resource is not known."""
    missing: dict[str, dict[str, set[str]]] = {}
    unknown: dict[str, set[str]] = {}
    for path, calls in calls_made.items():
        role = RUNS_AS[path]
        statements = role_statements(template, role)
        for call in calls.made:
            try:
                requests: list[Request] = requests_of(call, account)
            except UnknownResource:
                unknown.setdefault(role, set()).add(call.action)
                continue
            for request in requests:
                resource = OWN_RESOURCES.get(request.resource, request.resource)
                if not allows(statements, request.action, resource, dict(request.context)):
                    keys = "".join(f" with {key}={value}" for key, value in request.context)
                    missing.setdefault(role, {}).setdefault(request.action, set()).add(resource + keys)
    return missing, unknown


@pytest.fixture(scope="module")
def created(transformed: dict) -> dict:
    return resolve(transformed, SCENARIOS["created"])  # with the template's own deploy policies


def test_every_code_path_ran_and_called_aws(calls_made):
    assert {path: bool(calls.made) for path, calls in calls_made.items()} == dict.fromkeys(RUNS_AS, True)
    # The paths reach the calls V1 found ungranted (moto answers them, or the layout's ECS double does).
    assert {"ecs:ListTasks", "ecs:DescribeTasks", "iam:SimulatePrincipalPolicy", "logs:FilterLogEvents", "tag:GetResources"} <= calls_made["verify"].actions
    assert {"ec2:DescribeNetworkInterfaces", "ecs:ListTasks", "ecs:DescribeTasks"} <= calls_made["gate"].actions
    assert {"elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule", "ecs:UpdateService", "sqs:ReceiveMessage",
            "sqs:DeleteMessage", "sqs:SendMessage", "dynamodb:UpdateItem"} <= calls_made["tick"].actions


def _some(resources: set[str], shown: int = 3) -> str:
    listed = sorted(resources)
    return ", ".join(listed[:shown]) + (f" (and {len(listed) - shown} more)" if len(listed) > shown else "")


def test_the_roles_allow_every_call_their_code_makes(calls_made, created, account):
    missing, unknown = refused(calls_made, created, account)
    lines = [f"{role} lacks {action} on {_some(resources)}"
             for role, actions in sorted(missing.items()) for action, resources in sorted(actions.items())]
    lines += [f"{role}: {action} was called; add what IAM authorises it on to tests/deploy/calls.py (RESOURCES or NO_RESOURCE_TYPE)"
              for role, actions in sorted(unknown.items()) for action in sorted(actions)]
    assert not lines, "template.yaml's roles refuse calls their code makes:\n" + "\n".join(lines)


def test_the_check_refuses_what_a_role_is_not_given(calls_made, created, account):
    """The matcher can fail: without its MoveTraffic statement the tick role refuses the tick's weight moves."""
    import copy

    template = copy.deepcopy(created)
    for policy in template["Resources"]["TickWorkerTaskRole"]["Properties"]["Policies"]:
        policy["PolicyDocument"]["Statement"] = [s for s in policy["PolicyDocument"]["Statement"] if s.get("Sid") != "MoveTraffic"]
    missing, _ = refused({"tick": calls_made["tick"]}, template, account)
    assert set(missing["TickWorkerTaskRole"]) == {"elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule"}
