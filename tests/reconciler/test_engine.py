"""The engine adapter: Automation API events to a PlanSummary, the missing-CLI error, lock retry."""

from __future__ import annotations

import inspect
import logging
import shutil

import pytest
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult
from pulumi.automation.events import (
    DiagnosticEvent,
    EngineEvent,
    OpType,
    ResOpFailedEvent,
    ResourcePreEvent,
    StepEventMetadata,
    StepEventStateMetadata,
    SummaryEvent,
)

from reconciler.engine import (
    INSTALL_HINT,
    AutomationEngine,
    EngineEventRecorder,
    LockRetry,
    StackRequest,
)
from reconciler.errors import EngineError, EngineUnavailableError, StackLockedError

PREFIX = "urn:pulumi:dev::ecs-gitops::"
SECRET_INPUT = "AKIA-looking-but-not: hunter2-db-password-9f8e7d"


def urn(type_: str, name: str) -> str:
    return f"{PREFIX}{type_}::{name}"


def step(op: OpType, type_: str, name: str, new: StepEventStateMetadata | None = None) -> StepEventMetadata:
    return StepEventMetadata(op=op, urn=urn(type_, name), type=type_, provider=f"{PREFIX}pulumi:providers:aws::default", new=new)


def pre(sequence: int, metadata: StepEventMetadata) -> EngineEvent:
    return EngineEvent(sequence=sequence, timestamp=1_700_000_000 + sequence, resource_pre_event=ResourcePreEvent(metadata=metadata))


def feed(recorder: EngineEventRecorder, *events: EngineEvent) -> EngineEventRecorder:
    for event in events:
        recorder(event)
    return recorder


SERVICE = "aws:ecs/service:Service"


def test_steps_are_counted_and_named_without_the_stack_resource():
    recorder = feed(
        EngineEventRecorder("dev", "preview", sink=logging.getLogger("test.engine.counts")),
        pre(1, step(OpType.CREATE, "pulumi:pulumi:Stack", "ecs-gitops-dev")),
        pre(2, step(OpType.CREATE, SERVICE, "svc-frontend-green-dev")),
        pre(3, step(OpType.CREATE, "aws:lb/targetGroup:TargetGroup", "tg-frontend-green-dev")),
        pre(4, step(OpType.UPDATE, SERVICE, "svc-frontend-blue-dev")),
        pre(5, step(OpType.DELETE, "aws:ecs/taskDefinition:TaskDefinition", "td-old")),
        pre(6, step(OpType.CREATE_REPLACEMENT, "aws:lb/listener:Listener", "listener-https-dev")),
        pre(7, step(OpType.SAME, "aws:ecs/cluster:Cluster", "ecs-cluster-dev")),
        pre(8, step(OpType.SAME, "aws:ec2/vpc:Vpc", "vpc-dev")),
        pre(9, step(OpType.READ, "aws:index/getCallerIdentity:getCallerIdentity", "caller")),
    )
    plan = recorder.plan_summary()
    assert (plan.create, plan.update, plan.delete, plan.replace, plan.same) == (2, 1, 1, 1, 2)
    assert plan.resources == {
        "create": ["svc-frontend-green-dev", "tg-frontend-green-dev"],
        "update": ["svc-frontend-blue-dev"],
        "delete": ["td-old"],
        "replace": ["listener-https-dev"],
    }
    assert plan.has_changes


def test_engine_totals_win_over_counted_steps():
    recorder = feed(
        EngineEventRecorder("dev", "up", sink=logging.getLogger("test.engine.totals")),
        pre(1, step(OpType.CREATE, SERVICE, "svc-frontend-green-dev")),
        EngineEvent(
            sequence=2,
            timestamp=0,
            summary_event=SummaryEvent(
                maybe_corrupt=False, duration_seconds=12, resource_changes={OpType.CREATE: 3, OpType.SAME: 40, OpType.UPDATE: 1}, policy_packs={}
            ),
        ),
    )
    plan = recorder.plan_summary()
    assert (plan.create, plan.update, plan.same, plan.delete) == (3, 1, 40, 0)
    # An explicit change summary (the preview/up result's) wins over both.
    assert recorder.plan_summary({OpType.DELETE: 2, "create-replacement": 1}).model_dump(include={"delete", "replace", "create"}) == {
        "create": 0, "delete": 2, "replace": 1,
    }


def test_one_replaced_resource_counts_once():
    """Pulumi reports a replacement as create-replacement, replace and delete-replaced steps of one resource."""
    recorder = feed(
        EngineEventRecorder("dev", "preview", sink=logging.getLogger("test.engine.replace")),
        pre(1, step(OpType.CREATE_REPLACEMENT, "aws:lb/listener:Listener", "listener-https-dev")),
        pre(2, step(OpType.REPLACE, "aws:lb/listener:Listener", "listener-https-dev")),
        pre(3, step(OpType.DELETE_REPLACED, "aws:lb/listener:Listener", "listener-https-dev")),
    )
    plan = recorder.plan_summary()
    assert plan.replace == 1
    assert plan.resources == {"replace": ["listener-https-dev"]}


def test_failed_resources_and_diagnostics_are_collected():
    recorder = feed(
        EngineEventRecorder("dev", "up", sink=logging.getLogger("test.engine.diag")),
        EngineEvent(sequence=1, timestamp=0, diagnostic_event=DiagnosticEvent(message="debug chatter\n", color="never", severity="debug")),
        EngineEvent(
            sequence=2, timestamp=0,
            diagnostic_event=DiagnosticEvent(message="  deprecated argument `inlinePolicies`\n", color="never", severity="warning"),
        ),
        EngineEvent(
            sequence=3, timestamp=0,
            res_op_failed_event=ResOpFailedEvent(metadata=step(OpType.CREATE, SERVICE, "svc-api-gateway-blue-dev"), status=1, steps=1),
        ),
        EngineEvent(
            sequence=4, timestamp=0,
            diagnostic_event=DiagnosticEvent(message="creating ECS Service: InvalidParameterException\n", color="never", severity="error"),
        ),
    )
    assert recorder.failed == ["svc-api-gateway-blue-dev"]
    assert recorder.diagnostics == [
        "warning: deprecated argument `inlinePolicies`",
        "error: creating ECS Service: InvalidParameterException",
    ]


def test_logs_name_resources_but_never_property_values(caplog):
    caplog.set_level(logging.DEBUG, logger="test.engine.logs")
    state = StepEventStateMetadata(
        type="aws:secretsmanager/secretVersion:SecretVersion",
        urn=urn("aws:secretsmanager/secretVersion:SecretVersion", "secret-db-credentials-dev"),
        id="",
        parent=urn("pulumi:pulumi:Stack", "ecs-gitops-dev"),
        provider="",
        custom=True,
        inputs={"secretString": SECRET_INPUT, "secretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"},
        outputs={"secretString": SECRET_INPUT},
    )
    recorder = EngineEventRecorder("dev", "preview", sink=logging.getLogger("test.engine.logs"))
    recorder(pre(1, step(OpType.CREATE, "aws:secretsmanager/secretVersion:SecretVersion", "secret-db-credentials-dev", new=state)))

    assert recorder.plan_summary().resources == {"create": ["secret-db-credentials-dev"]}
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert (record.resource, record.op, record.stack) == ("secret-db-credentials-dev", "create", "dev")
    everything = caplog.text + repr(vars(record))
    assert SECRET_INPUT not in everything
    assert "hunter2" not in everything


# --------------------------------------------------------------------------- AutomationEngine without the CLI


REQUEST = StackRequest(stack="dev", config={"ecs-gitops:environment": "dev"}, message="test")


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.preview(REQUEST),
        lambda e: e.up(REQUEST),
        lambda e: e.refresh(REQUEST),
        lambda e: e.destroy(REQUEST),
        lambda e: e.outputs("dev"),
    ],
    ids=["preview", "up", "refresh", "destroy", "outputs"],
)
def test_without_the_pulumi_cli_every_method_says_how_to_install_it(call, tmp_path):
    engine = AutomationEngine(project="ecs-gitops", backend_url=f"file://{tmp_path}", which=lambda _: None)
    assert engine.available() is False
    with pytest.raises(EngineUnavailableError) as raised:
        call(engine)
    message = str(raised.value)
    assert "the Pulumi CLI is not installed" in message
    assert INSTALL_HINT in message and "https://www.pulumi.com/docs/install/" in message
    assert isinstance(raised.value, EngineError)


# --------------------------------------------------------------------------- stack lock retry


class FakeStack:
    """What ``_stack`` returns: records calls; anything but preview/up (e.g. cancel) is an error."""

    def __init__(self, preview_outcomes=(), up_outcomes=(), events=()):
        self.preview_outcomes = list(preview_outcomes)
        self.up_outcomes = list(up_outcomes)
        self.events = list(events)  # sent on every call, after the call's own create step
        self.calls: list[str] = []
        self.kwargs: list[dict] = []

    def _next(self, outcomes, name, on_event, kwargs):
        self.calls.append(name)
        self.kwargs.append(kwargs)
        outcome = outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]
        on_event(pre(len(self.calls), step(OpType.CREATE, SERVICE, f"svc-{len(self.calls)}")))
        for event in self.events:
            on_event(event)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def preview(self, on_event, **kwargs):
        return self._next(self.preview_outcomes, "preview", on_event, kwargs)

    def up(self, on_event, **kwargs):
        return self._next(self.up_outcomes, "up", on_event, kwargs)

    def __getattr__(self, name):
        raise AssertionError(f"the engine called stack.{name}; only preview/up were expected (a lock must never be forced)")


def locked() -> auto.ConcurrentUpdateError:
    return auto.ConcurrentUpdateError(CommandResult(stdout="", stderr="error: the stack is currently locked by 1 lock(s)", code=255))


def engine_with(stack: FakeStack, sleeps: list[float], attempts: int = 5) -> AutomationEngine:
    engine = AutomationEngine(
        project="ecs-gitops",
        backend_url="file:///nonexistent",
        lock_retry=LockRetry(attempts=attempts, first_delay_seconds=10, factor=2),
        sleep=sleeps.append,
        which=lambda _: "/usr/local/bin/pulumi",
    )
    engine._stack = lambda request: stack  # type: ignore[method-assign]
    engine._version = lambda: "3.272.0"  # type: ignore[method-assign]
    return engine


def test_concurrent_update_is_retried_with_backoff_then_succeeds():
    sleeps: list[float] = []
    stack = FakeStack(preview_outcomes=[locked(), locked(), auto.PreviewResult(stdout="", stderr="", change_summary={OpType.CREATE: 4, OpType.SAME: 9})])
    result = engine_with(stack, sleeps).preview(REQUEST)

    assert sleeps == [10, 20]
    assert stack.calls == ["preview", "preview", "preview"]
    assert result.operation == "preview"
    assert (result.summary.create, result.summary.same) == (4, 9)
    # Only the successful attempt's steps are in the plan.
    assert result.summary.resources == {"create": ["svc-3"]}
    assert result.engine_version == "3.272.0"
    assert stack.kwargs[-1] == {"diff": False, "message": "test", "refresh": False}


def test_drift_check_request_previews_with_refresh_and_diff():
    stack = FakeStack(preview_outcomes=[auto.PreviewResult(stdout="", stderr="", change_summary={OpType.SAME: 9})])
    engine_with(stack, []).preview(StackRequest(stack="dev", config={}, refresh=True))
    assert stack.kwargs == [{"diff": True, "message": None, "refresh": True}]


def test_a_refreshed_preview_returns_its_changing_steps():
    from tests.reconciler.drift.steps import log_retention_lowered, outputs_event, pre_event

    lowered = log_retention_lowered("frontend", suffix="dev")
    stack = FakeStack(
        preview_outcomes=[auto.PreviewResult(stdout="", stderr="", change_summary={OpType.UPDATE: 1, OpType.SAME: 9})],
        events=[pre_event(10, lowered), outputs_event(11, lowered)],
    )
    engine = engine_with(stack, [])

    refreshed = engine.preview(StackRequest(stack="dev", config={}, refresh=True))
    assert [s.urn for s in refreshed.steps] == [f"{PREFIX}{SERVICE}::svc-1", lowered.urn]
    assert refreshed.steps[1] is lowered

    plain = engine.preview(StackRequest(stack="dev", config={}))
    assert plain.steps == ()
    assert stack.kwargs[-1]["diff"] is False


def test_changing_steps_are_kept_one_per_resource_without_the_stack():
    from pulumi.automation.events import DiffKind, PropertyDiff

    from tests.reconciler.drift.steps import outputs_event, pre_event, task_definition_replaced

    create_replacement, replace, delete_replaced = task_definition_replaced("td-frontend-blue-dev")
    bare = step(OpType.UPDATE, "aws:cloudwatch/logGroup:LogGroup", "logs-frontend-dev")
    detailed = step(OpType.UPDATE, "aws:cloudwatch/logGroup:LogGroup", "logs-frontend-dev")
    detailed.detailed_diff = {"retentionInDays": PropertyDiff(DiffKind.UPDATE, False)}
    recorder = feed(
        EngineEventRecorder("dev", "preview", sink=logging.getLogger("test.engine.steps")),
        pre_event(1, step(OpType.UPDATE, "pulumi:pulumi:Stack", "ecs-gitops-dev")),
        pre_event(2, create_replacement),
        pre_event(3, replace),
        pre_event(4, delete_replaced),
        pre_event(5, step(OpType.SAME, "aws:ecs/cluster:Cluster", "ecs-cluster-dev")),
        pre_event(6, step(OpType.READ, "aws:index/getCallerIdentity:getCallerIdentity", "caller")),
        pre_event(7, bare),
        outputs_event(8, detailed),  # the same step again, now with its diff: the fuller copy is kept
        outputs_event(9, step(OpType.CREATE, "aws:lb/listener:Listener", "listener-test-dev")),
    )
    assert [(s.type.rsplit(":", 1)[-1], str(s.op.value)) for s in recorder.steps] == [
        ("TaskDefinition", "replace"),
        ("LogGroup", "update"),
        ("Listener", "create"),
    ]
    assert recorder.steps[0] is replace
    assert recorder.steps[1] is detailed
    # The plan still counts from the pre events only, once per resource.
    assert recorder.plan_summary().resources == {"replace": ["td-frontend-blue-dev"], "update": ["logs-frontend-dev"]}


def test_a_lock_that_never_clears_is_reported_never_forced():
    sleeps: list[float] = []
    stack = FakeStack(preview_outcomes=[locked()])
    with pytest.raises(StackLockedError) as raised:
        engine_with(stack, sleeps, attempts=4).preview(REQUEST)
    assert stack.calls == ["preview"] * 4
    assert sleeps == [10, 20, 40]
    assert "after 4 attempts" in str(raised.value) and "not forced" in str(raised.value)


def test_command_error_becomes_engine_error_with_the_stderr_tail():
    """The module promises "the last lines of stderr", which name the failing resource."""
    stdout = "Updating (dev)\n\n +  aws:ecs:Service svc-frontend-blue-dev creating (3s)\n +  aws:ecs:Service svc-frontend-blue-dev creating failed\n"
    stderr = "error: aws:ecs/service:Service resource 'svc-frontend-blue-dev' failed: InvalidParameterException\nerror: update failed\n"
    stack = FakeStack(up_outcomes=[auto.CommandError(CommandResult(stdout=stdout, stderr=stderr, code=255))])
    with pytest.raises(EngineError) as raised:
        engine_with(stack, []).up(REQUEST)
    assert not isinstance(raised.value, StackLockedError)
    assert str(raised.value) == (
        "pulumi up failed for dev: error: aws:ecs/service:Service resource 'svc-frontend-blue-dev' failed: InvalidParameterException"
        " | error: update failed"
    )


@pytest.mark.parametrize("refresh", [True, False])
def test_up_refreshes_when_the_request_says_so(refresh):
    """A drift remediation's ``up`` must refresh first: the drift check's refreshed preview writes nothing to
    the state, so a plain ``up`` diffs the program against the state's stale copy and puts nothing back."""
    from datetime import datetime

    summary = auto.UpdateSummary(
        kind="update", start_time=datetime(2025, 3, 5), message="m", environment={}, config={}, result="succeeded",
        resource_changes={OpType.UPDATE: 1},
    )
    stack = FakeStack(up_outcomes=[auto.UpResult(stdout="", stderr="", summary=summary, outputs={})])
    engine_with(stack, []).up(StackRequest(stack="dev", config={}, refresh=refresh))
    assert stack.kwargs == [{"message": None, "refresh": refresh}]
    assert "refresh" in inspect.signature(auto.Stack.up).parameters  # the SDK's own up takes it


def test_up_returns_only_non_secret_outputs():
    from datetime import datetime

    summary = auto.UpdateSummary(
        kind="update", start_time=datetime(2025, 3, 5), message="m", environment={}, config={}, result="succeeded",
        resource_changes={OpType.UPDATE: 1, OpType.SAME: 42},
    )
    outputs = {
        "albDnsName": auto.OutputValue(value="alb-dev.elb.amazonaws.com", secret=False),
        "dbPassword": auto.OutputValue(value="s3cr3t-value", secret=True),
    }
    stack = FakeStack(up_outcomes=[auto.UpResult(stdout="", stderr="", summary=summary, outputs=outputs)])
    result = engine_with(stack, []).up(REQUEST)
    assert dict(result.outputs) == {"albDnsName": "alb-dev.elb.amazonaws.com"}
    assert (result.summary.update, result.summary.same) == (1, 42)


@pytest.mark.skipif(
    shutil.which("pulumi") is None,
    reason="needs the Pulumi CLI: would run AutomationEngine.preview on a file:// backend for the dev example",
)
def test_real_preview_of_the_dev_example_on_a_file_backend(tmp_path, example_dir):
    from desired_state.loader import load_environment
    from desired_state.traffic import TrafficState

    backend = tmp_path / "backend"
    backend.mkdir()
    loaded = load_environment(example_dir, "dev")
    engine = AutomationEngine(
        project="ecs-gitops",
        backend_url=f"file://{backend}",
        secrets_provider="passphrase",
        env_vars={"PULUMI_CONFIG_PASSPHRASE": "test-only-passphrase", "AWS_REGION": "us-east-1"},
    )
    assert engine.available()
    result = engine.preview(
        StackRequest(
            stack="dev",
            config={
                "ecs-gitops:desiredState": loaded.state.model_dump_json(by_alias=True),
                "ecs-gitops:trafficState": TrafficState().model_dump_json(by_alias=True),
                "ecs-gitops:environment": "dev",
                "aws:region": "us-east-1",
            },
            message="test preview",
        )
    )
    assert result.operation == "preview"
    assert result.summary.create > 0
    assert any(name.startswith("svc-frontend-") for name in result.summary.resources.get("create", []))
    assert result.engine_version


# --------------------------------------------------------------------------- converge loops in threads


def test_converge_loops_prepare_their_stacks_one_at_a_time(monkeypatch):
    """`pulumi stack select` writes the project's selected stack (shared by all stacks): loops take turns there."""
    import threading

    inside: list[int] = []
    most: list[int] = [0]
    turn = threading.Lock()

    class SelectedStackDouble:
        """Stands in for ``create_or_select_stack`` (it runs the Pulumi CLI, which is not installed here)."""

        def __init__(self, stack_name: str) -> None:
            self.name = stack_name

        def set_all_config(self, config) -> None:
            with turn:
                most[0] = max(most[0], len(inside))
            threading.Event().wait(0.05)  # the CLI's time: long enough for another loop to come in

    def create_or_select_stack(stack_name, work_dir, opts):
        with turn:
            inside.append(1)
        try:
            stack = SelectedStackDouble(stack_name)
            stack.set_all_config({})
            return stack
        finally:
            with turn:
                inside.pop()

    monkeypatch.setattr(auto, "create_or_select_stack", create_or_select_stack)
    engine = AutomationEngine(project="ecs-gitops", backend_url="file:///nonexistent", which=lambda _: "/usr/local/bin/pulumi")
    threads = [threading.Thread(target=engine._stack, args=(StackRequest(stack=name, config={"k": "v"}),)) for name in ("dev", "prod", "qa")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not [t for t in threads if t.is_alive()]
    assert most[0] == 1
