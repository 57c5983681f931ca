"""Reading weights back from the ALB, ``describe``, and ``ecs-gitops rollout`` against moto."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
import yaml

from desired_state.traffic import ColourWeights
from reconciler.cli import main
from reconciler.rollout import commands
from reconciler.rollout.model import RolloutPhase
from reconciler.rollout.router import AlbWeightedRouter

# --------------------------------------------------------------------------- AlbWeightedRouter


@pytest.fixture
def frontend_router(world):
    r = world.services["frontend"]
    return AlbWeightedRouter(world.elbv2, r.listener_arn, r.target_groups)


def set_default_action(world, action):
    world.elbv2.modify_listener(ListenerArn=world.services["frontend"].listener_arn, DefaultActions=[action])


def test_set_weights_then_verify_reads_them_back_from_the_listener(world, frontend_router):
    frontend_router.set_weights(ColourWeights(blue=90, green=10))
    assert world.alb_weights("frontend") == (90, 10)
    assert frontend_router.verify_weights() == ColourWeights(blue=90, green=10)
    action = world.elbv2.describe_listeners(ListenerArns=[frontend_router.listener_arn])["Listeners"][0]["DefaultActions"][0]
    assert action["ForwardConfig"]["TargetGroupStickinessConfig"] == {"Enabled": False}


def test_a_rule_router_moves_the_rule_and_leaves_the_default_action_alone(world):
    r = world.services["api-gateway"]
    router = AlbWeightedRouter(world.elbv2, r.listener_arn, r.target_groups, rule_arn=r.rule_arn)
    router.set_weights(ColourWeights(blue=50, green=50))
    assert world.alb_weights("api-gateway") == (50, 50)
    assert router.verify_weights() == ColourWeights(blue=50, green=50)
    assert world.alb_weights("frontend") == (100, 0)
    rule = world.elbv2.describe_rules(RuleArns=[r.rule_arn])["Rules"][0]
    assert rule["Conditions"][0]["Values"] == ["/api/*"]


@pytest.mark.parametrize("colour, expected", [("blue", ColourWeights(blue=100, green=0)), ("green", ColourWeights(blue=0, green=100))])
def test_a_plain_forward_to_one_target_group_is_100_percent_on_its_colour(world, frontend_router, colour, expected):
    set_default_action(world, {"Type": "forward", "TargetGroupArn": world.services["frontend"].target_groups[colour]})
    assert frontend_router.verify_weights() == expected


def test_a_weighted_forward_with_a_single_target_group_is_100_percent(world, frontend_router):
    groups = world.services["frontend"].target_groups
    set_default_action(world, {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": groups["green"], "Weight": 1}]}})
    assert frontend_router.verify_weights() == ColourWeights(blue=0, green=100)


def test_weights_are_read_as_shares_of_their_total(world, frontend_router):
    groups = world.services["frontend"].target_groups
    set_default_action(world, world._forward(groups, 3, 1))
    assert frontend_router.verify_weights() == ColourWeights(blue=75, green=25)


def test_a_foreign_target_group_is_not_a_blue_green_split(world, frontend_router):
    groups = world.services["frontend"].target_groups
    foreign = world.services["api-gateway"].target_groups["blue"]
    set_default_action(world, {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": groups["blue"], "Weight": 90}, {"TargetGroupArn": foreign, "Weight": 10}]}})
    assert frontend_router.verify_weights() is None
    set_default_action(world, {"Type": "forward", "TargetGroupArn": foreign})
    assert frontend_router.verify_weights() is None


def test_weights_that_do_not_add_up_to_100_are_not_a_split(world, frontend_router):
    groups = world.services["frontend"].target_groups
    set_default_action(world, world._forward(groups, 0, 0))
    assert frontend_router.verify_weights() is None


def test_a_listener_that_does_not_forward_is_not_a_split(world, frontend_router):
    set_default_action(world, {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain"}})
    assert frontend_router.verify_weights() is None


# --------------------------------------------------------------------------- describe


def test_describe_shows_phase_step_weights_and_gate_evidence(world, kit):
    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image, by="ecr-image-push:evt-1")
    text = commands.describe(record)
    assert f"rollout {record.rollout_id} of frontend on dev: scanning" in text
    assert "before the first shift" in text
    assert "weights: blue 100 % / green 0 %" in text

    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING and r.step_index == 1)
    text = commands.describe(record)
    assert f"rollout {record.rollout_id} of frontend on dev: baking" in text
    assert f"blue (:1.4.2) -> green ({image.reference}); step 2/3 (50 %)" in text
    assert "weights: blue 50 % / green 50 %" in text
    assert f"baking until {record.bake_until.isoformat()}" in text
    lines = text.splitlines()

    def line(fragment: str) -> str:
        return next(candidate for candidate in lines if fragment in candidate)

    scan = line("scanning -> deploying: scan passed; staging the new image on the idle colour")
    assert "'gate': 'scan'" in scan and "'findings': {'HIGH': 1}" in scan
    targets = line("deploying -> smoke-testing")
    assert "'gate': 'targets'" in targets and "'healthy': ['10.20." in targets
    smoke = line("smoke-testing -> shifting: smoke checks passed; shifting 10 % to green")
    assert "'gate': 'smoke'" in smoke and f"'url': 'http://{world.alb_dns}:8443/healthz'" in smoke and "'status': 200" in smoke
    assert "- -> scanning: started by ecr-image-push:evt-1" in line("- -> scanning")

    paused = commands.pause(world.store, record.rollout_id, by="carol", reason="market open", now=world.clock())
    assert "baking (PAUSED: market open (carol))" in commands.describe(paused)

    world.cloudwatch.set_alarm_state(AlarmName="frontend-5xx", StateValue="ALARM", StateReason="5xx")
    commands.resume(world.store, record.rollout_id, by="carol", now=world.clock())
    record, _ = world.run(record.rollout_id)
    text = commands.describe(record)
    assert ": rolled-back" in text
    assert "rollback: alarm frontend-5xx fired during the bake" in text
    rollback = next(candidate for candidate in text.splitlines() if "baking -> rolling-back" in candidate)
    assert "'gate': 'alarms'" in rollback and "'alarms': ['frontend-5xx']" in rollback


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli_settings(world, kit, tmp_path, monkeypatch):
    """Write reconciler settings naming moto's rollout table and a tick queue; returns (write, queue_url)."""
    for variable in ("ECS_GITOPS_SETTINGS", "ECS_GITOPS_ROLLOUT_TABLE", "ECS_GITOPS_TICK_QUEUE_URL", "ECS_GITOPS_STATE_TABLE",
                     "ECS_GITOPS_JOB_QUEUE_URL", "ECS_GITOPS_AUDIT_TABLE", "ECS_GITOPS_TOPIC_ARN", "ECS_GITOPS_IDEMPOTENCY_TABLE"):
        monkeypatch.delenv(variable, raising=False)
    # The CLI masks the secret AWS credentials of its environment wherever they appear; moto's
    # usual "testing" would also mask the word in "smoke-testing", so give moto a key that looks like one.
    for variable in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(variable, "moto-fake-secret-0123456789abcdef")
    queue_url = world.sqs.create_queue(QueueName="ecs-gitops-rollout-ticks")["QueueUrl"]
    (tmp_path / "desired-state").mkdir()

    def write(**aws) -> Path:
        path = tmp_path / "reconciler-settings.yaml"
        path.write_text(yaml.safe_dump({
            "repository": {"url": str(tmp_path / "desired-state")},
            "environments": {"dev": {"stack": "dev", "suffix": "dev"}},
            "backendUrl": f"file://{tmp_path / 'backend'}",
            "workDir": str(tmp_path / "work"),
            "aws": {"rolloutTable": kit.ROLLOUT_TABLE, "tickQueueUrl": queue_url, **aws},
        }))
        return path

    return write, queue_url


def run_cli(tmp_path, settings, *args):
    out, err = StringIO(), StringIO()
    code = main(["rollout", *args, "--environment", "dev", "--service", "frontend", "--settings", str(settings), "--state-dir", str(tmp_path / "state")], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_rollout_status_with_only_the_rollout_table_and_tick_queue_configured(world, tmp_path, cli_settings):
    """aws.rolloutTable and aws.tickQueueUrl are what rollouts need (wiring.build_rollouts says so);
    ``rollout status`` should not need any other AWS resource named to reach them."""
    write, _ = cli_settings
    settings = write()
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))

    code, out, err = run_cli(tmp_path, settings, "status")

    assert (code, err) == (0, "")
    assert f"rollout {record.rollout_id} of frontend on dev: scanning" in out


def test_rollout_status_prints_progress_while_the_rollout_runs(world, tmp_path, cli_settings):
    write, _ = cli_settings
    world.dynamodb.create_table(TableName="ecs-gitops-state", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    settings = write(stateTable="ecs-gitops-state")

    code, out, err = run_cli(tmp_path, settings, "status")
    assert code == 1 and "no rollout of frontend on dev" in err

    image = world.push_image("frontend", "3.0.0")
    record = world.start("frontend", image)
    seen = []
    for phase, step in [(RolloutPhase.SMOKE_TESTING, -1), (RolloutPhase.BAKING, 0), (RolloutPhase.BAKING, 1), (RolloutPhase.PROMOTED, 2), (RolloutPhase.COMPLETE, 2)]:
        record, _ = world.run(record.rollout_id, until=lambda r, p=phase, s=step: r.phase == p and r.step_index == s)
        code, out, err = run_cli(tmp_path, settings, "status")
        assert (code, err) == (0, "")
        assert out == commands.describe(world.store.get(record.rollout_id)) + "\n"
        seen.append(out.splitlines()[0].rsplit(": ", 1)[1])
        assert f"weights: blue {record.weights.blue} % / green {record.weights.green} %" in out
    assert seen == ["smoke-testing", "baking", "baking", "promoted", "complete"]
    assert "step 1/3 (10 %)" not in out and "step 3/3 (100 %)" in out


def test_rollout_controls_from_the_cli_act_and_wake_the_controller(world, tmp_path, cli_settings):
    write, queue_url = cli_settings
    world.dynamodb.create_table(TableName="ecs-gitops-state", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    settings = write(stateTable="ecs-gitops-state")
    record = world.start("frontend", world.push_image("frontend", "3.0.0"))
    record, _ = world.run(record.rollout_id, until=lambda r: r.phase == RolloutPhase.BAKING)

    code, out, err = run_cli(tmp_path, settings, "pause")
    assert code == 1 and "needs --by NAME" in err

    code, out, err = run_cli(tmp_path, settings, "pause", "--by", "carol", "--reason", "market open")
    assert (code, err) == (0, "")
    assert "baking (PAUSED: market open (carol))" in out
    assert world.store.get(record.rollout_id).paused
    messages = world.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["rolloutId"] for m in messages] == [record.rollout_id]

    code, out, err = run_cli(tmp_path, settings, "abort", "--by", "carol")
    assert code == 0
    assert "rolling-back" in out and "rollback: aborted by carol: aborted from the command line" in out
    world.clock.advance(1)
    record, _ = world.run(record.rollout_id)
    assert record.phase == RolloutPhase.ROLLED_BACK
    assert world.alb_weights("frontend") == (100, 0)

    code, out, err = run_cli(tmp_path, settings, "promote", "--by", "carol")
    assert code == 1 and "no running rollout of frontend on dev" in err
