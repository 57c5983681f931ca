"""The verify tests' account: the dev environment's rendered plan laid out in moto (see ``verify_layout``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from desired_state.schema import DesiredState
from desired_state.traffic import TrafficState
from program.render import RenderedStack
from reconciler.verify.model import VerifyReport
from reconciler.verify.run import verify_environment
from reconciler.verify.seams import Timing
from verify_layout import AlbHttpDouble, Layout, lay_out

REGION = "us-east-1"


@pytest.fixture(scope="module")
def rendered_plan(rendered_dev: RenderedStack) -> RenderedStack:
    """The program's own plan of dev, rendered once per session (``tests/conftest.py``)."""
    return rendered_dev


@pytest.fixture(scope="module")
def module_layout(rendered_plan: RenderedStack) -> Iterator[Layout]:
    """One moto account per module, laid out from the plan and running its tasks (laying out costs seconds)."""
    import boto3
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            yield lay_out(rendered_plan, boto3.session.Session(region_name=REGION), REGION)


@pytest.fixture
def undo() -> Iterator[Callable[[Callable[[], Any]], None]]:
    """Register how to put back what a test broke in the shared account; run after the test, pass or fail."""
    steps: list[Callable[[], Any]] = []
    yield steps.append
    for step in reversed(steps):
        step()


@pytest.fixture
def layout(module_layout: Layout) -> Layout:
    """The module's account; a test that breaks something registers its repair with ``undo``."""
    return module_layout


class FakeTime:
    """The injected clocks of the waiting checks: sleeping moves monotonic time, never real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def run_verify(layout: Layout, dev_state: DesiredState, fake_time: FakeTime) -> Callable[..., VerifyReport]:
    def _run(*, traffic: TrafficState | None = None, http: Any = None, groups: Any = None, **clients: Any) -> VerifyReport:
        kwargs = {"groups": groups} if groups else {}
        return verify_environment(
            environment="dev", outputs=layout.outputs, desired=dev_state, traffic=traffic,
            clients=layout.clients(**clients), http=http or AlbHttpDouble(layout.client("elbv2"), layout.outputs),
            timing=Timing(target_health_timeout_seconds=60, poll_seconds=10, monotonic=fake_time.monotonic, sleep=fake_time.sleep),
            **kwargs,
        )

    return _run


@pytest.fixture
def redirect_to(layout: Layout, undo: Callable[[Callable[[], Any]], None]) -> Callable[..., None]:
    """Put a redirect to HTTPS on port 80, with ``RedirectConfig`` extras; the listener put back after."""
    elbv2 = layout.client("elbv2")
    arn = layout.outputs["listenerArns"]["http"]
    before = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]["DefaultActions"]
    undo(lambda: elbv2.modify_listener(ListenerArn=arn, DefaultActions=before))

    def _redirect(**extra):
        config = {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301", **extra}
        elbv2.modify_listener(ListenerArn=arn, DefaultActions=[{"Type": "redirect", "RedirectConfig": config}])

    return _redirect


@pytest.fixture
def processing_behind_the_listener(layout: Layout, undo: Callable[[Callable[[], Any]], None]) -> Callable[[int], tuple[str, str, str]]:
    """Put processing-service behind the HTTP listener: a target group holding its first task and a rule of
    ``priority`` forwarding ``/orders/*`` to it, both removed after. Returns (rule ARN, target group ARN, task IP)."""
    elbv2 = layout.client("elbv2")

    def _behind(priority: int) -> tuple[str, str, str]:
        group = elbv2.create_target_group(
            Name="tg-processing-dev", Port=9000, Protocol="HTTP", TargetType="ip", VpcId=layout.outputs["vpcId"]
        )["TargetGroups"][0]["TargetGroupArn"]
        task = layout.tasks["svc-processing-service-dev"][0]
        elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": task.ip, "Port": 9000}])
        rule = elbv2.create_rule(
            ListenerArn=layout.outputs["listenerArns"]["http"], Priority=priority,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/orders/*"]}}],
            Actions=[{"Type": "forward", "TargetGroupArn": group}],
        )["Rules"][0]["RuleArn"]
        undo(lambda: (elbv2.delete_rule(RuleArn=rule), elbv2.delete_target_group(TargetGroupArn=group)))
        return rule, group, task.ip

    return _behind
