"""The CrossGuard adapter: the same rules as StackValidationPolicies over the engine's PolicyResources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.secret import Secret

from policies import aws_types as t
from policies.crossguard_adapter import SECRET_MASK, crossguard_policies, view_of
from policies.pack import RULES, context_from_resources

SECRET_STRING = "Pa55word-that-must-never-be-reported-7f3a"
SECRET_NAME = "topsecret-group-name-9b2c"
SECRET_POLICY = "ELBSecurityPolicy-secret-value-4d1e"


def urn_of(resource_type: str, name: str) -> str:
    return f"urn:pulumi:dev::ecs-gitops::{resource_type}::{name}"


def build_stack(
    rendered,
    *,
    protect: frozenset[str] = frozenset(),
    props: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
) -> list[PolicyResource]:
    """PolicyResources as the engine would hand them over: every resource, parents and property dependencies linked."""
    by_name: dict[str, PolicyResource] = {}
    for r in rendered.resources:
        inputs = dict(r.inputs)
        if props is not None:
            inputs = props(r.name, inputs)
        by_name[r.name] = PolicyResource(
            resource_type=r.type,
            props=inputs,
            urn=urn_of(r.type, r.name),
            name=r.name,
            opts=PolicyResourceOptions(
                protect=r.protect or r.name in protect,
                ignore_changes=list(r.ignore_changes),
                delete_before_replace=None,
                aliases=[],
                custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
                additional_secret_outputs=[],
                parent=None,
            ),
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
    for r in rendered.resources:
        resource = by_name[r.name]
        resource.parent = by_name.get(r.parent) if r.parent else None
        resource.opts.parent = resource.parent.urn if resource.parent is not None else None
        resource.property_dependencies = {k: [by_name[n] for n in names if n in by_name] for k, names in r.property_dependencies.items()}
        resource.dependencies = sorted({d for deps in resource.property_dependencies.values() for d in deps}, key=lambda d: d.name)
    return list(by_name.values())


def with_secrets(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Secrets where the engine has them: secret strings, and a nested tag."""
    if name.startswith("secret-value-"):
        inputs["secretString"] = Secret(SECRET_STRING)
    if name == "svc-frontend-blue-dev":
        inputs["tags"] = {**inputs["tags"], "owner": Secret(SECRET_STRING)}
    return inputs


def secrets_where_rules_would_quote_them(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Secrets in properties that a violation message quotes (a physical name, a TLS policy)."""
    inputs = with_secrets(name, inputs)
    if name == "logs-frontend-dev":
        inputs["name"] = Secret(SECRET_NAME)
    if name == "listener-http-dev":
        inputs["protocol"] = "HTTPS"
        inputs["sslPolicy"] = Secret(SECRET_POLICY)
    return inputs


def run(policy: StackValidationPolicy, resources: list[PolicyResource]) -> list[tuple[str, str | None]]:
    reported: list[tuple[str, str | None]] = []

    def report_violation(message: str, urn: str | None = None) -> None:
        reported.append((message, urn))

    assert policy.validate(StackValidationArgs(resources), report_violation) is None
    return reported


def run_all(resources: list[PolicyResource]) -> dict[str, list[tuple[str, str | None]]]:
    return {p.name: run(p, resources) for p in crossguard_policies()}


@pytest.fixture(scope="module")
def clean_stack(rendered_dev) -> list[PolicyResource]:
    return build_stack(rendered_dev, props=with_secrets)


# --- the policies ---------------------------------------------------------------------------


def test_one_stack_validation_policy_per_rule():
    policies = crossguard_policies()
    assert len(policies) == len(RULES) == 38
    assert all(isinstance(p, StackValidationPolicy) for p in policies)
    assert [p.name for p in policies] == [r.id.lower() for r in RULES]
    assert len({p.name for p in policies}) == len(policies)


@pytest.mark.parametrize("index", range(len(RULES)), ids=[r.id for r in RULES])
def test_enforcement_and_description_follow_the_rule(index):
    rule, policy = RULES[index], crossguard_policies()[index]
    expected = EnforcementLevel.MANDATORY if rule.severity == "mandatory" else EnforcementLevel.ADVISORY
    assert policy.enforcement_level == expected
    assert policy.description == rule.description


# --- the views --------------------------------------------------------------------------------


def test_views_carry_props_parents_dependencies_and_protect(rendered_dev):
    stack = build_stack(rendered_dev, protect=frozenset({"vpc-platform-dev"}), props=with_secrets)
    views = {v.name: v for v in map(view_of, stack)}
    assert views["vpc-platform-dev"].protect is True
    assert views["subnet-public-a-dev"].protect is False
    assert views["subnet-public-a-dev"].parent == "network-platform-dev"
    assert views["flowlog-vpc-dev"].depends_on("vpcId") == ("vpc-platform-dev",)
    assert views["secret-value-api-keys-dev"].props["secretString"] == SECRET_MASK
    assert views["svc-frontend-blue-dev"].tag("owner") == SECRET_MASK
    context = context_from_resources(views.values())
    assert (context.environment_suffix, context.production) == ("dev", False)


# --- the clean stack --------------------------------------------------------------------------


def test_clean_stack_reports_nothing_mandatory(clean_stack):
    reported = run_all(clean_stack)
    mandatory = {r.id.lower() for r in RULES if r.severity == "mandatory"}
    assert {name: found for name, found in reported.items() if name in mandatory and found} == {}


def test_clean_dev_stack_gets_only_the_https_advisory(clean_stack):
    reported = run(next(p for p in crossguard_policies() if p.name == "edge-003"), clean_stack)
    assert len(reported) == 1
    message, urn = reported[0]
    assert message.startswith("[listeners] ") and "certificateArn" in message
    assert urn is None  # "listeners" is no resource: the stack as a whole is in violation


# --- a protected resource ---------------------------------------------------------------------


def test_protected_resource_is_reported_against_its_urn(rendered_dev):
    stack = build_stack(rendered_dev, protect=frozenset({"vpc-platform-dev"}), props=with_secrets)
    reported = run(next(p for p in crossguard_policies() if p.name == "destroy-001"), stack)
    assert len(reported) == 1
    message, urn = reported[0]
    assert "vpc-platform-dev" in message and "protect is set" in message
    assert urn == urn_of(t.VPC, "vpc-platform-dev")
    other = run_all(stack)
    assert {name for name, found in other.items() if found} == {"destroy-001", "edge-003"}


# --- secrets ------------------------------------------------------------------------------------


def test_secret_values_never_reach_a_message(rendered_dev):
    stack = build_stack(rendered_dev, props=secrets_where_rules_would_quote_them)
    reported = run_all(stack)
    messages = [message for found in reported.values() for message, _ in found]
    # The rules do look at the masked properties: the name lacks the suffix, the TLS policy is unknown.
    name_messages = [m for m, _ in reported["name-001"]]
    assert any("logs-frontend-dev" in m and SECRET_MASK in m for m in name_messages)
    tls_messages = [m for m, _ in reported["edge-002"]]
    assert any("listener-http-dev" in m and SECRET_MASK in m for m in tls_messages)
    for secret in (SECRET_STRING, SECRET_NAME, SECRET_POLICY):
        assert all(secret not in m for m in messages), secret


# --- least-privilege secrets under CrossGuard ---------------------------------------------------


def test_crossguard_refuses_the_frontend_receiving_the_database_credentials(render_mutated):
    def mutate(doc):
        doc["services"]["frontend"]["secrets"] = [{"env": "DB_PASSWORD", "secret": "db-credentials", "key": "password"}]

    stack = build_stack(render_mutated(mutate), props=with_secrets)
    policy = next(p for p in crossguard_policies() if p.name == "secret-003")
    assert policy.enforcement_level == EnforcementLevel.MANDATORY
    reported = run(policy, stack)
    assert sorted(urn for _, urn in reported) == sorted(urn_of(t.TASK_DEFINITION, f"td-frontend-{c}-dev") for c in ("blue", "green"))
    assert all("service frontend receives secret db-credentials" in message for message, _ in reported)
    assert all(SECRET_STRING not in message for message, _ in reported)


def test_crossguard_passes_the_clean_stack_on_secret_003(clean_stack):
    assert run(next(p for p in crossguard_policies() if p.name == "secret-003"), clean_stack) == []


def test_crossguard_refuses_production_over_plain_http(render_mutated):
    stack = build_stack(render_mutated(lambda doc: [doc["edge"].pop(k, None) for k in ("certificateArn", "publicHostname")], environment="prod"), props=with_secrets)
    policy = next(p for p in crossguard_policies() if p.name == "edge-004")
    assert policy.enforcement_level == EnforcementLevel.MANDATORY
    (message, urn), = run(policy, stack)
    assert message.startswith("[listeners] production has no HTTPS listener")
