"""template.yaml's EventBridge rules for rollout wake-ups match AWS's documented events, and not their near misses.

The sample events are the ones the intake tests parse (tests/reconciler/intake/samples/), so a rule
and the parser cannot drift apart unnoticed. No EventBridge here: :func:`matches` implements the
pattern features the rules use (exact values, ``prefix``, nested objects, array fields), as the
EventBridge User Guide ("Event patterns", "Content filtering") describes them.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "reconciler" / "intake" / "samples"
ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"  # the samples' account and region


class _CfnLoader(yaml.SafeLoader):
    """Reads !Ref / !Sub as the values CloudFormation would give them in the samples' account and region."""


PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION}


def _ref(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    name = loader.construct_scalar(node)
    return PSEUDO.get(name, {"Ref": name})


def _sub(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    if not isinstance(node, yaml.ScalarNode):
        return {"Sub": loader.construct_sequence(node, deep=True)}
    return re.sub(r"\$\{([^}]+)\}", lambda m: PSEUDO.get(m[1], m[0]), loader.construct_scalar(node))


def _other(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_CfnLoader.add_constructor("!Ref", _ref)
_CfnLoader.add_constructor("!Sub", _sub)
_CfnLoader.add_multi_constructor("!", _other)


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether EventBridge delivers ``event`` to a rule with ``pattern``.

    Every field of the pattern must match (AND); a field's list of values matches when any does (OR);
    against an array in the event, a value matches when any element does; a field the event lacks
    never matches; an object pattern descends into the event's object.
    """
    for field, expected in pattern.items():
        if field not in event:
            return False
        actual = event[field]
        if isinstance(expected, dict):
            if not isinstance(actual, dict) or not matches(expected, actual):
                return False
            continue
        if not isinstance(expected, list):
            raise ValueError(f"pattern field {field!r} must be a list or an object, not {expected!r}")
        candidates = actual if isinstance(actual, list) else [actual]
        if not any(_value_matches(rule, value) for rule in expected for value in candidates):
            return False
    return True


def _value_matches(rule: Any, value: Any) -> bool:
    if isinstance(rule, dict):
        [(operator, operand)] = rule.items()
        if operator == "prefix":
            return isinstance(value, str) and value.startswith(operand)
        raise ValueError(f"pattern operator {operator!r} is not one this matcher implements")
    return rule == value


def test_the_matcher_follows_eventbridges_rules():
    event = {"source": "aws.ecs", "resources": ["arn:a", "arn:b"], "detail": {"state": {"value": "ALARM"}, "n": 5}}
    assert matches({"source": ["aws.ecs", "aws.ecr"]}, event)
    assert not matches({"source": ["aws.ecr"]}, event)
    assert matches({"resources": [{"prefix": "arn:b"}]}, event)  # any element of an array
    assert not matches({"resources": [{"prefix": "arn:c"}]}, event)
    assert matches({"detail": {"state": {"value": ["ALARM"]}, "n": [5]}}, event)
    assert not matches({"detail": {"n": ["5"]}}, event)  # a number is not a string
    assert not matches({"detail": {"missing": ["x"]}}, event)
    assert not matches({"detail": {"state": ["ALARM"]}}, event)  # an object is not a value


@pytest.fixture(scope="module")
def rules() -> dict[str, dict[str, Any]]:
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    events = template["Resources"]["IntakeFunction"]["Properties"]["Events"]
    return {name: e["Properties"]["Pattern"] for name, e in events.items() if e["Type"] == "EventBridgeRule"}


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def test_every_waking_sample_reaches_the_intake_through_exactly_its_rule(rules):
    expected = {
        "cloudwatch-alarm-state-change": "AlarmStateChange",
        "ecs-deployment-state-change-completed": "EcsDeploymentStateChange",
        "ecs-deployment-state-change-failed": "EcsDeploymentStateChange",
        "ecs-service-action-task-start-impaired": "EcsServiceAction",
        "ecr-image-scan": "EcrImageScan",
    }
    for name, rule in expected.items():
        assert [r for r, pattern in rules.items() if matches(pattern, sample(name))] == [rule], name


def test_samples_that_wake_nobody_are_not_delivered_at_all(rules):
    for name in ("ecs-deployment-state-change-in-progress", "ecs-service-action-steady-state"):
        assert not any(matches(pattern, sample(name)) for pattern in rules.values()), name


def _near(name: str, change) -> dict[str, Any]:
    event = copy.deepcopy(sample(name))
    change(event)
    return event


NEAR_MISSES = {
    "alarm back to OK": ("cloudwatch-alarm-state-change", lambda e: e["detail"]["state"].update(value="OK")),
    "alarm to INSUFFICIENT_DATA": ("cloudwatch-alarm-state-change", lambda e: e["detail"]["state"].update(value="INSUFFICIENT_DATA")),
    "alarm of another account": ("cloudwatch-alarm-state-change", lambda e: e.update(account="111122223333")),
    "alarm configuration change": ("cloudwatch-alarm-state-change", lambda e: e.update({"detail-type": "CloudWatch Alarm Configuration Change"})),
    "deployment in another cluster": ("ecs-deployment-state-change-failed",
                                      lambda e: e.update(resources=["arn:aws:ecs:us-east-1:123456789012:service/default/servicetest"])),
    "deployment in another region": ("ecs-deployment-state-change-completed",
                                     lambda e: e.update(resources=[e["resources"][0].replace("us-east-1", "us-west-2")])),
    "deployment in another account": ("ecs-deployment-state-change-completed",
                                      lambda e: e.update(resources=[e["resources"][0].replace("123456789012", "111122223333")])),
    "deployment in progress": ("ecs-deployment-state-change-completed", lambda e: e["detail"].update(eventName="SERVICE_DEPLOYMENT_IN_PROGRESS")),
    "service action in another cluster": ("ecs-service-action-task-start-impaired",
                                          lambda e: e.update(resources=["arn:aws:ecs:us-east-1:123456789012:service/default/servicetest"])),
    "service desired count updated": ("ecs-service-action-task-start-impaired", lambda e: e["detail"].update(eventName="SERVICE_DESIRED_COUNT_UPDATED")),
    "scan failed": ("ecr-image-scan", lambda e: e["detail"].update({"scan-status": "FAILED"})),
    "scan of a repository the platform does not make": ("ecr-image-scan", lambda e: e["detail"].update({"repository-name": "nginx"})),
    "scan in another account": ("ecr-image-scan", lambda e: e.update(account="111122223333")),
}


@pytest.mark.parametrize("case", sorted(NEAR_MISSES))
def test_near_misses_reach_no_rule(case, rules):
    name, change = NEAR_MISSES[case]
    event = _near(name, change)
    assert not any(matches(pattern, event) for pattern in rules.values())


def test_the_intake_may_send_wake_up_ticks_and_touch_only_the_watch_and_wake_items(rules):
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    function = template["Resources"]["IntakeFunction"]["Properties"]
    policies = function["Policies"]
    assert {"SQSSendMessagePolicy": {"QueueName": {"GetAtt": "RolloutTickQueue.QueueName"}}} in policies
    statements = [s for p in policies if "Statement" in p for s in p["Statement"]]
    on_rollouts = {s["Action"]: s["Condition"] for s in statements if s.get("Resource") == {"GetAtt": "RolloutTable.Arn"}}
    # Read who watches a resource and the pending wake-up; write only the wake-up (never a rollout record).
    assert on_rollouts == {
        "dynamodb:GetItem": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["watch#*", "wake#*"]}},
        "dynamodb:PutItem": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["wake#*"]}},
    }
    env = function["Environment"]["Variables"]
    assert env["ECS_GITOPS_ROLLOUT_TABLE"] == {"Ref": "RolloutTable"} and env["ECS_GITOPS_TICK_QUEUE_URL"] == {"Ref": "RolloutTickQueue"}
    assert (env["ECS_GITOPS_ACCOUNT_ID"], env["ECS_GITOPS_REGION"]) == (ACCOUNT, REGION)
