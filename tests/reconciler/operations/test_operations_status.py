"""``ecs-gitops status``: every environment on one screen (table) and for scripts (JSON), from the stores.

The stores are the real ones (local files; DynamoDB on moto for rollouts and an unreadable audit
table); what they hold is written the way the converger and the rollout controller write it.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from desired_state.schema import ImageRef, RolloutSpec
from desired_state.traffic import ColourWeights
from reconciler.adapters.audit import DynamoAuditLog
from reconciler.adapters.stack_state import Lease, PendingApproval
from reconciler.cli import build_parser, main
from reconciler.drift.model import DriftCheckSummary
from reconciler.events import EventKind, Phase, Reason
from reconciler.locks import FileLockStore, lock_prefix
from reconciler.models import PlanSummary
from reconciler.operations.model import Suspension
from reconciler.operations.status import EnvironmentObservation, environment_status, write_table
from reconciler.rollout.model import RolloutPhase, RolloutRecord, RolloutResources, Transition
from reconciler.rollout.store import RolloutStore
from reconciler.settings import AwsResources, ChangeWindow, EnvironmentSettings
from reconciler.wiring import Components

APPLIED = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
WAITING = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
# 12:00 UTC on the harness clock's Wednesday; prod may change only 18:00-22:00 UTC.
EVENING = ChangeWindow(kind="allow", start=time(18, 0), end=time(22, 0), timezone="UTC")
ROLLOUT_TABLE = "ecs-gitops-rollouts"


def components_of(harness, **overrides) -> Components:
    fields = dict(
        settings=harness.settings, states=harness.states, audit=harness.audit, notifier=harness.notifier, source=harness.source,
        engine=harness.engine, redactor=harness.redactor, queue=None, locks=FileLockStore(harness.root / "backend"), clock=harness.clock,
    )
    fields.update(overrides)
    return Components(**fields)


def cli(components: Components, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err, components=components)
    return code, out.getvalue(), err.getvalue()


def write_lock(harness, stack: str, name: str, at: datetime) -> None:
    path = harness.root / "backend" / lock_prefix("ecs-gitops", stack) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": 4242, "username": "ci", "hostname": "build-7", "timestamp": at.isoformat().replace("+00:00", "Z")}))


@pytest.fixture
def busy_day(harness, clock, audit_record):
    """dev: applied, a plan waiting for approval, a stuck lock. prod: converging now, suspended, outside its window."""
    now = clock()
    harness.configure("prod", windows=(EVENING,))
    harness.states.update("dev", lambda s: s.model_copy(update={
        "environment": "dev", "last_applied_commit": APPLIED, "last_applied_at": now - timedelta(hours=2), "last_outcome": "waiting",
        "pending_approval": PendingApproval(
            commit=WAITING, job_id="j" * 32, desired_state_digest="sha256:" + "d" * 64, plan_digest="sha256:" + "p" * 64,
            plan=PlanSummary(create=2, update=1), requested_at=now - timedelta(minutes=20),
        ),
    }))
    harness.audit.append(audit_record("dev", outcome="waiting", kind=EventKind.WAITING_FOR_APPROVAL, reason=Reason.AWAITING_APPROVAL, commit=WAITING))
    write_lock(harness, "dev", "old", now - timedelta(hours=3))
    harness.states.update("prod", lambda s: s.model_copy(update={
        "environment": "prod", "phase": Phase.APPLY, "current_job_id": "k" * 32,
        "lease": Lease(holder="worker-b:7", job_id="k" * 32, acquired_at=now - timedelta(minutes=3), heartbeat_at=now - timedelta(seconds=12)),
        "suspension": Suspension(by="alice", reason="INC-42 payments latency", at=now - timedelta(minutes=1)),
    }))
    harness.audit.append(audit_record("prod", outcome="failed", kind=EventKind.CONVERGE_FAILED, reason=Reason.ENGINE_FAILED, error="pulumi up failed: throttled"))
    return harness


def test_the_table_shows_every_environment_on_one_screen(busy_day, clock):
    code, out, err = cli(components_of(busy_day), "status", "--settings", "settings.yaml")

    assert (code, err) == (0, "")
    dev, prod = out.split("\n\n")
    assert dev.startswith("dev (stack dev)\n")
    assert f"applied     {APPLIED[:12]} at {(clock() - timedelta(hours=2)).isoformat()}" in dev
    assert "last        waiting AwaitingApproval (waiting-for-approval)" in dev
    assert f"plan for {WAITING[:12]} waits for approval" in dev and "(2 to create, 1 to update, 0 to replace, 0 to delete)" in dev
    assert f"run: ecs-gitops approve --environment dev --commit {WAITING} --by <NAME> --settings settings.yaml" in dev
    assert "STUCK ci@build-7 (pid 4242), 180 min old" in dev
    assert "then: ecs-gitops unlock --environment dev" in dev
    assert "suspended   no" in dev
    assert "window      open (no change windows configured)" in dev
    assert "rollouts    not configured here" in dev
    assert "drift       no drift check recorded" in dev

    assert prod.startswith("prod (stack prod)\n")
    assert "converging  apply, held by worker-b:7 (heartbeat 12s ago), job " + "k" * 32 in prod
    assert "last        failed EngineFailed (converge-failed)" in prod and "pulumi up failed: throttled" in prod
    assert f"suspended   YES, by alice since {(clock() - timedelta(minutes=1)).isoformat()}: INC-42 payments latency" in prod
    assert "resume with: ecs-gitops resume --environment prod" in prod
    assert "window      CLOSED (outside every allow window" in prod and "opens 2025-03-05T18:00:00+00:00" in prod
    assert "locks       none" in prod


def test_the_json_carries_the_same_for_scripts(busy_day, clock):
    code, out, _ = cli(components_of(busy_day), "status", "--output", "json")

    assert code == 0
    document = json.loads(out)
    assert document["readable"] is True
    dev, prod = document["environments"]
    assert (dev["environment"], dev["stack"], dev["readable"]) == ("dev", "dev", True)
    assert dev["applied"]["commit"] == APPLIED
    approval = dev["waitingForApproval"]
    assert approval["commit"] == WAITING and approval["plan"]["create"] == 2
    assert approval["command"] == f"ecs-gitops approve --environment dev --commit {WAITING} --by <NAME>"
    assert dev["locks"] == [{"holder": "ci@build-7 (pid 4242)", "key": dev["locks"][0]["key"], "ageMinutes": 180, "stuck": True}]
    assert dev["suspended"] is None and dev["rollouts"] is None and dev["window"]["open"] is True
    assert dev["lastOutcome"]["reason"] == "AwaitingApproval"
    assert prod["converging"] == {
        "jobId": "k" * 32, "phase": "apply", "holder": "worker-b:7",
        "heartbeatAt": (clock() - timedelta(seconds=12)).isoformat().replace("+00:00", "Z"), "heartbeatAgeSeconds": 12,
    }
    assert prod["suspended"]["by"] == "alice" and prod["suspended"]["reason"] == "INC-42 payments latency" and prod["suspended"]["source"] == "runtime"
    assert prod["window"] == {"open": False, "reason": prod["window"]["reason"], "nextOpening": "2025-03-05T18:00:00Z"}
    assert prod["lastOutcome"]["outcome"] == "failed" and prod["lastOutcome"]["error"] == "pulumi up failed: throttled"


def test_the_approve_command_status_prints_parses(busy_day):
    _, out, _ = cli(components_of(busy_day), "status", "--environment", "dev", "--output", "json")
    command = json.loads(out)["environments"][0]["waitingForApproval"]["command"]
    args = build_parser().parse_args(command.replace("<NAME>", "alice").split()[1:])
    assert (args.command, args.environment, args.commit, args.by) == ("approve", "dev", WAITING, "alice")


def test_one_environment_only_with_environment(busy_day):
    code, out, _ = cli(components_of(busy_day), "status", "--environment", "prod")
    assert code == 0 and out.startswith("prod (stack prod)") and "dev (stack dev)" not in out


def test_a_store_that_cannot_be_read_marks_that_row_only_and_exits_1(busy_day):
    (busy_day.root / "status" / "dev.status.json").write_text("{ not json")

    code, out, err = cli(components_of(busy_day), "status")

    assert code == 1
    assert "Traceback" not in out + err
    dev, prod = out.split("\n\n")
    assert dev.startswith("dev (stack dev) - UNREADABLE")
    assert "UNREADABLE  status store: ValidationError" in dev
    assert "STUCK ci@build-7" in dev  # the other stores of the row are still read
    assert "suspended   YES, by alice" in prod  # and the other rows are whole
    assert "could not be read fully: dev (status store)" in err

    code, out, _ = cli(components_of(busy_day), "status", "--output", "json")
    document = json.loads(out)
    assert code == 1 and document["readable"] is False
    assert document["environments"][0]["readable"] is False and "status store" in document["environments"][0]["unreadable"]
    assert document["environments"][1]["readable"] is True


def rollout(now: datetime, service: str, phase: RolloutPhase, step_index: int, weights: ColourWeights, paused: bool = False) -> RolloutRecord:
    return RolloutRecord(
        rollout_id=f"r-{service}", stack="dev", environment="dev", service=service, phase=phase, paused=paused,
        pause_reason="held by alice" if paused else None, from_colour="blue", to_colour="green",
        old_image=ImageRef(repository=service, tag="1.4.2"), new_image=ImageRef(repository=service, tag="3.0.0", digest="sha256:" + "a" * 64),
        spec=RolloutSpec(), live_desired_count=2, step_index=step_index, weights=weights, phase_started_at=now, created_at=now, updated_at=now,
        resources=RolloutResources(
            cluster="ecs-cluster-dev", ecs_services={"blue": f"svc-{service}-blue-dev", "green": f"svc-{service}-green-dev"},
            target_groups={"blue": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg-b/1", "green": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg-g/2"},
            listener_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/alb-dev/1/2", repository=f"ecr-{service}-dev",
        ),
        history=[Transition(at=now, from_phase=None, to_phase=RolloutPhase.SCANNING, reason="started")],
    )


def test_active_rollouts_show_phase_and_weights_and_an_unreadable_audit_table_is_named(harness, clock, aws):
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName=ROLLOUT_TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    store = RolloutStore(ddb, ROLLOUT_TABLE)
    store.create(rollout(clock(), "frontend", RolloutPhase.BAKING, 1, ColourWeights(blue=50, green=50)))
    store.create(rollout(clock(), "api-gateway", RolloutPhase.SHIFTING, 0, ColourWeights(blue=90, green=10), paused=True))
    harness.settings_overrides["aws"] = AwsResources(rollout_table=ROLLOUT_TABLE, audit_table="ecs-gitops-audit-missing")
    components = components_of(harness, session=aws, audit=DynamoAuditLog(ddb, "ecs-gitops-audit-missing"))

    code, out, err = cli(components, "status", "--environment", "dev")

    assert code == 1 and "Traceback" not in out + err
    assert "rollout     api-gateway shifting PAUSED (held by alice) step 1/3 (10 %), blue 90 % / green 10 %" in out
    assert "rollout     frontend baking step 2/3 (50 %), blue 50 % / green 50 % -> " in out
    assert "UNREADABLE  audit log: ResourceNotFoundException" in out
    document = json.loads(cli(components, "status", "--environment", "dev", "--output", "json")[1])
    views = {view["service"]: view for view in document["environments"][0]["rollouts"]}
    assert views["frontend"]["phase"] == "baking" and views["frontend"]["weights"] == {"blue": 50, "green": 50}
    assert views["api-gateway"]["paused"] is True and views["api-gateway"]["step"] == "1/3 (10 %)"


def test_the_last_drift_check_is_shown_when_the_status_has_one(clock):
    """StackStatus.last_drift_check comes with the drift-check branch; the view takes what observe() found."""
    summary = DriftCheckSummary(
        checked_at=clock(), result="drifted", drifted=2, counts={"low": 0, "medium": 1, "high": 1}, message="sg-api-gateway-prod ingress gained tcp/22",
    )
    seen = EnvironmentObservation("prod", EnvironmentSettings(stack="prod", suffix="prod"), drift=summary, locks=[])
    view = environment_status(seen, clock())
    table = io.StringIO()
    write_table([view], table)
    assert f"drift       drifted at {clock().isoformat()}: 2 resource(s) drifted (1 medium, 1 high); sg-api-gateway-prod ingress gained tcp/22" in table.getvalue()
    assert view.model_dump(mode="json", by_alias=True)["drift"]["result"] == "drifted"


def test_status_without_settings_needs_an_environment(tmp_path: Path):
    out, err = io.StringIO(), io.StringIO()
    code = main(["status", "--state-dir", str(tmp_path)], out, err)
    assert code == 1 and "--environment" in err.getvalue() and "Traceback" not in err.getvalue()


def test_status_of_a_fresh_local_environment_reads_empty_stores(tmp_path: Path, git_repo):
    out, err = io.StringIO(), io.StringIO()
    code = main(["status", "--environment", "dev", "--desired-state", str(git_repo.path), "--state-dir", str(tmp_path / "state")], out, err)
    assert (code, err.getvalue()) == (0, "")
    assert "nothing applied yet" in out.getvalue() and "no converge recorded" in out.getvalue() and "locks       none" in out.getvalue()


def test_an_unreadable_status_store_shows_unknown_never_not_suspended_or_nothing_applied(harness, clock):
    from reconciler.operations.suspend import suspend

    suspend(harness.states, "dev", "dev", by="alice", reason="INC-1", now=clock())
    (harness.root / "status" / "dev.status.json").write_text("[]")
    harness.audit = BrokenAuditDouble()

    code, out, err = cli(components_of(harness), "status", "--environment", "dev")

    assert code == 1 and "Traceback" not in out + err
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in out.splitlines()[1:] if line.strip() and not line.startswith("    ")}
    for field in ("applied", "converging", "approval", "drift", "suspended"):
        assert rows[field] == "unknown (status store unreadable)", (field, out)
    assert rows["last"].startswith("unknown") and "nothing applied yet" not in out and "suspended   no" not in out

    code, out, _ = cli(components_of(harness), "status", "--environment", "dev", "--output", "json")
    dev = json.loads(out)["environments"][0]
    assert dev["suspended"]["source"] == "unknown" and dev["applied"] is None
    assert {"applied", "suspended", "lastOutcome"} <= set(dev["unknown"])


class BrokenAuditDouble:
    """TEST DOUBLE for an audit table that cannot be read (no AWS here): every history read fails."""

    def history(self, stack, limit=50):
        raise ConnectionError("audit table unreachable")

    def append(self, record):
        raise ConnectionError("audit table unreachable")
