"""The pack as a whole: the examples pass, the rules are well-formed, the context comes from the provider."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from desired_state.traffic import TrafficState
from policies import aws_types as t
from policies.model import PolicyReport, ResourceView, Violation
from policies.offline import check_rendered, views_of
from policies.pack import RULES, PolicyContextError, context_from_resources, evaluate

EXPECTED_RULE_IDS = {
    "NAME-001",
    *(f"DESTROY-00{i}" for i in range(1, 5)),
    *(f"ECR-00{i}" for i in range(1, 5)),
    *(f"TASK-00{i}" for i in range(1, 4)),
    "LOGS-001",
    "LOGS-002",
    "SECRET-001",
    "SECRET-002",
    "SECRET-003",
    *(f"NET-00{i}" for i in range(1, 7)),
    *(f"SG-00{i}" for i in range(1, 4)),
    *(f"IAM-00{i}" for i in range(1, 5)),
    "SCALE-001",
    "SCALE-002",
    "SVC-001",
    "SVC-002",
    *(f"EDGE-00{i}" for i in range(1, 5)),
}


# --- the examples ---------------------------------------------------------------------------


def test_dev_has_no_mandatory_violation_and_only_the_https_advisory(rendered_dev, dev_state):
    report = check_rendered(rendered_dev, dev_state)
    assert report.rules_evaluated == len(RULES) == 38
    assert report.mandatory == []
    assert report.passed
    assert [(v.policy, v.severity, v.resource) for v in report.violations] == [("EDGE-003", "advisory", "listeners")]
    assert "certificateArn" in report.violations[0].message


def test_prod_has_no_violation_at_all(rendered_prod, prod_state):
    report = check_rendered(rendered_prod, prod_state)
    assert report.mandatory == []
    assert report.passed
    assert report.violations == []


@pytest.mark.parametrize(
    "traffic",
    [
        # A rollout in progress: green staged with a new image and taking 10 %.
        {"services": {"frontend": {"liveColour": "blue", "weights": {"blue": 90, "green": 10}, "liveImage": {"repository": "frontend", "tag": "1.4.1"}}}},
        # After a cut-over: green live, blue idle at zero.
        {"services": {"api-gateway": {"liveColour": "green"}}},
    ],
    ids=["staged-rollout", "green-live"],
)
def test_rollout_states_stay_compliant(render_mutated, traffic):
    rendered = render_mutated(lambda doc: None, traffic=TrafficState.model_validate(traffic))
    report = evaluate(views_of(rendered))
    assert report.mandatory == []
    assert [v.policy for v in report.violations] == ["EDGE-003"]


def test_evaluate_reads_the_context_itself_when_none_is_given(rendered_dev, rendered_prod, dev_state, prod_state):
    for rendered, state in ((rendered_dev, dev_state), (rendered_prod, prod_state)):
        assert evaluate(views_of(rendered)).violations == check_rendered(rendered, state).violations


def test_views_hold_only_custom_resources_with_wire_format_props(rendered_dev, dev_views):
    assert len(dev_views) == sum(1 for r in rendered_dev.resources if r.custom)
    assert not any(v.type.startswith("ecs-gitops:") for v in dev_views)
    task = next(v for v in dev_views if v.type == t.TASK_DEFINITION)
    assert isinstance(task.props["containerDefinitions"], str)  # a JSON document, as the engine gives it
    assert isinstance(task.json_prop("containerDefinitions"), list)


# --- the rules ------------------------------------------------------------------------------


def test_the_pack_has_exactly_the_38_spec_rules():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids)), f"duplicate rule ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    assert set(ids) == EXPECTED_RULE_IDS


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_is_well_formed(rule):
    assert re.fullmatch(r"[A-Z]+-\d{3}", rule.id)
    assert rule.severity in ("mandatory", "advisory")
    assert isinstance(rule.description, str) and rule.description.strip()
    assert callable(rule.check)


def test_only_the_https_rule_is_advisory():
    assert {r.id for r in RULES if r.severity == "advisory"} == {"EDGE-003"}


def test_every_rule_has_a_counter_example_test():
    """Each rule id is asserted on in some rule test module (not just listed here)."""
    here = Path(__file__).parent
    texts = "\n".join(p.read_text() for p in here.glob("test_rules_*.py"))
    missing = sorted(r.id for r in RULES if f'"{r.id}"' not in texts)
    assert missing == []


# --- the context ----------------------------------------------------------------------------


def test_context_of_dev_comes_from_the_provider_default_tags(dev_views):
    context = context_from_resources(dev_views)
    assert context.environment_suffix == "dev"
    assert context.production is False


def test_context_of_prod_comes_from_the_provider_default_tags(prod_views):
    context = context_from_resources(prod_views)
    assert context.environment_suffix == "prod"
    assert context.production is True


def test_context_reads_default_tags_given_as_a_mapping_too():
    provider = ResourceView(
        type=t.PROVIDER,
        name="aws-provider-qa",
        props={"defaultTags": {"tags": {"environment": "qa", "environment-class": "production"}}},
    )
    context = context_from_resources([provider])
    assert (context.environment_suffix, context.production) == ("qa", True)


def test_context_without_a_provider_is_an_error(dev_views):
    without_provider = [v for v in dev_views if v.type != t.PROVIDER]
    assert len(without_provider) == len(dev_views) - 1
    with pytest.raises(PolicyContextError, match="no AWS provider"):
        context_from_resources(without_provider)
    with pytest.raises(PolicyContextError):
        evaluate(without_provider)


def test_context_with_a_provider_lacking_the_environment_tag_is_an_error():
    provider = ResourceView(type=t.PROVIDER, name="aws-provider", props={"defaultTags": json.dumps({"tags": {"owner": "x"}})})
    with pytest.raises(PolicyContextError):
        context_from_resources([provider])


# --- what a violation looks like -----------------------------------------------------------


def test_violation_json_is_exactly_policy_severity_resource_message(kit, dev_views):
    broken = kit.replace(dev_views, "vpc-platform-dev", protect=True)
    report = evaluate(broken, kit.DEV)
    assert report.violations
    for violation in report.violations:
        document = json.loads(violation.model_dump_json())
        assert set(document) == {"policy", "severity", "resource", "message"}
        assert all(isinstance(value, str) for value in document.values())
    report_document = json.loads(report.model_dump_json())
    assert set(report_document) == {"rules_evaluated", "violations"}
    assert report_document["violations"][0] == json.loads(report.violations[0].model_dump_json())


def test_report_passes_with_advisories_only():
    advisory = Violation(policy="EDGE-003", severity="advisory", resource="listeners", message="m")
    mandatory = Violation(policy="DESTROY-001", severity="mandatory", resource="r", message="m")
    assert PolicyReport(rules_evaluated=1, violations=[advisory]).passed
    report = PolicyReport(rules_evaluated=2, violations=[advisory, mandatory])
    assert not report.passed
    assert report.mandatory == [mandatory]
