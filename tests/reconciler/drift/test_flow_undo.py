"""What a drift check keeps when a probe or an undo fails, and where the console-rule undo runs.

- A probe that fails after the engine compared keeps the engine's report: the check is drift-detected
  and says the probe failed (a probe failure with nothing else found is a failed check, never "no drift").
- The scheduled check only reports and queues the remediation job; the removals of console-added
  rules and policies run in that job (:meth:`DriftChecker.undo_for_remediation`), after its window,
  approval and lease. A removal AWS refuses is recorded beside what was removed, not raised.
- A managed policy attached to a platform role is left for a person: the worker role is not granted
  ``iam:DetachRolePolicy`` (template.yaml), so the reconciler does not try.

AWS is moto; the account is laid out as in test_unmanaged (the prod render).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from desired_state.schema import DesiredState
from desired_state.traffic import TrafficState
from reconciler.adapters.stack_state import StackStatus
from reconciler.drift.check import DriftChecker
from reconciler.engine import EngineResult, StackRequest
from reconciler.errors import DriftProbeError
from reconciler.events import EventKind
from reconciler.models import Job, PlanSummary, Trigger
from reconciler.settings import DriftSettings, EnvironmentSettings, ReconcilerSettings, RepositorySettings
from tests.reconciler.drift.steps import log_retention_lowered
from tests.reconciler.drift.test_unmanaged import (  # noqa: F401 - account and session are fixtures
    REGION,
    STACK,
    SUFFIX,
    account,
    checked_desired,
    open_to_world,
    probe,
    session,
)

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
COMMIT = "c" * 40


class PreviewDouble:
    """Stands in for the Pulumi CLI (not installed here): a refreshed preview with the given steps."""

    def __init__(self, *steps: Any):
        self.steps = tuple(steps)

    def preview(self, request: StackRequest) -> EngineResult:
        return EngineResult("preview", PlanSummary(update=len(self.steps), same=100), engine_version="3.0.0-double", steps=self.steps)


class ReadRefusedEc2Double:
    """Stands in for an account whose SCP refuses ec2:DescribeSecurityGroupRules (moto grants every call)."""

    def __init__(self, inner: Any):
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_paginator(self, name: str) -> Any:
        if name == "describe_security_group_rules":
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeSecurityGroupRules")
        return self._inner.get_paginator(name)


class SecondRevokeRefusedEc2Double:
    """Stands in for AWS refusing the second revoke (an SCP on one group; moto grants every call)."""

    def __init__(self, inner: Any):
        self._inner, self.revokes = inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def revoke_security_group_ingress(self, **kwargs: Any) -> Any:
        self.revokes += 1
        if self.revokes == 2:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "RevokeSecurityGroupIngress")
        return self._inner.revoke_security_group_ingress(**kwargs)


class DetachForbiddenIamDouble:
    """Records a detach attempt: the worker role is not granted iam:DetachRolePolicy, so none must be made."""

    def __init__(self, inner: Any):
        self._inner, self.detaches = inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def detach_role_policy(self, **kwargs: Any) -> Any:
        self.detaches += 1
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized: iam:DetachRolePolicy"}}, "DetachRolePolicy")


def make_checker(ec2: Any, iam: Any, *, mode: str = "remediate", require_approval: bool = False, **drift: Any) -> tuple[DriftChecker, list[Job]]:
    env = EnvironmentSettings(
        stack=STACK, suffix=SUFFIX, production=True, require_signed_commits=False, require_approval=require_approval,
        drift=DriftSettings(mode=mode, **drift),
    )
    settings = ReconcilerSettings(repository=RepositorySettings(url="https://example.com/desired.git"), environments={"prod": env})
    queued: list[Job] = []
    return DriftChecker(settings, clock=lambda: NOW, enqueue=queued.append, ec2=ec2, iam=iam), queued


def check_job() -> Job:
    return Job(job_id="j" * 32, environment="prod", stack=STACK, trigger=Trigger.SCHEDULED_DRIFT_CHECK, event_id="e", received_at=NOW)


def compare(checker: DriftChecker, prod_state: DesiredState, *steps: Any) -> Any:
    return checker.compare(
        PreviewDouble(*steps), StackRequest(stack=STACK, config={}, refresh=True), job=check_job(), status=StackStatus(stack=STACK),
        commit=COMMIT, state=prod_state, traffic=TrafficState(),
    )


def attach_admin(account: SimpleNamespace, role: str = "role-frontend-task-prod") -> str:
    arn = account.iam.create_policy(PolicyName="Admin", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    ))["Policy"]["Arn"]
    account.iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    return arn


def ingress_rules(account: SimpleNamespace, group: str) -> list[dict[str, Any]]:
    found = account.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [account.groups[group]]}])["SecurityGroupRules"]
    return [r for r in found if not r["IsEgress"] and r.get("FromPort") == 22]


# --------------------------------------------------------------------------- D5: a probe failure after the engine compared


def test_a_probe_failing_after_the_engine_found_drift_keeps_the_report_and_says_the_probe_failed(account, prod_state):
    checker, queued = make_checker(ReadRefusedEc2Double(account.ec2), account.iam)

    found = compare(checker, prod_state, log_retention_lowered())

    assert found.kind == EventKind.DRIFT_DETECTED and found.report.drifted
    assert [r.name for r in found.report.resources] == ["logs-frontend-prod"]
    assert "console-rule probe failed" in found.message and "ec2:DescribeSecurityGroupRules" in found.message
    assert found.summary.result == "drifted" and "ec2:DescribeSecurityGroupRules" in (found.summary.probe_error or "")
    assert found.summary.message == found.message
    # The remediation is still queued (the engine's drift is enough to converge back).
    assert [j.trigger for j in queued] == [Trigger.DRIFT_REMEDIATION] and found.summary.remediation_job_id == queued[0].job_id


def test_near_miss_a_probe_failing_when_the_engine_found_nothing_is_a_failed_check(account, prod_state):
    checker, queued = make_checker(ReadRefusedEc2Double(account.ec2), account.iam)
    with pytest.raises(DriftProbeError, match="ec2:DescribeSecurityGroupRules"):
        compare(checker, prod_state)
    assert queued == []


# --------------------------------------------------------------------------- D4: the check reports, the remediation job undoes


@pytest.mark.parametrize("require_approval", [False, True])
def test_the_check_removes_nothing_and_names_what_the_remediation_job_will_remove(account, prod_state, require_approval):
    open_to_world(account, "sg-api-gateway-prod", 22)
    checker, queued = make_checker(account.ec2, account.iam, require_approval=require_approval)

    found = compare(checker, prod_state)

    assert found.kind == EventKind.DRIFT_DETECTED and len(queued) == 1
    assert len(ingress_rules(account, "sg-api-gateway-prod")) == 1  # still there: the check changes nothing
    assert (
        f"the remediation job {queued[0].job_id} removes, after its change window, approval and lease: "
        "revoke ingress tcp/22 from 0.0.0.0/0 on sg-api-gateway-prod"
    ) in found.message


def remediation_job(checker: DriftChecker) -> Job:
    from reconciler.drift.check import remediation_job as make

    return make(check_job(), COMMIT, NOW)


def test_the_remediation_job_removes_the_console_rule_and_probes_again(account, prod_state):
    open_to_world(account, "sg-api-gateway-prod", 22)
    checker, _ = make_checker(account.ec2, account.iam)

    result = checker.undo_for_remediation(remediation_job(checker), state=prod_state, traffic=TrafficState())

    assert [a.description for a in result.undone] == ["revoke ingress tcp/22 from 0.0.0.0/0 on sg-api-gateway-prod"]
    assert result.failed == [] and result.remaining == [] and result.probe_error is None
    assert ingress_rules(account, "sg-api-gateway-prod") == []
    assert result.message == "console-added rules and policies removed: revoke ingress tcp/22 from 0.0.0.0/0 on sg-api-gateway-prod"


def test_a_refused_removal_is_recorded_beside_what_was_removed(account, prod_state):
    open_to_world(account, "sg-api-gateway-prod", 22)
    open_to_world(account, "sg-frontend-prod", 22)
    ec2 = SecondRevokeRefusedEc2Double(account.ec2)
    checker, _ = make_checker(ec2, account.iam)

    result = checker.undo_for_remediation(remediation_job(checker), state=prod_state, traffic=TrafficState())

    assert len(result.undone) == 1 and len(result.failed) == 1
    assert "allow ec2:RevokeSecurityGroupIngress" in result.failed[0].error
    assert [r.name for r in result.remaining] == [result.failed[0].action.description.rsplit(" on ", 1)[1]]
    assert f"removed: {result.undone[0].description}" in result.message
    assert f"could not remove: {result.failed[0].action.description} (" in result.message
    assert "still found after acting: " in result.message


def test_a_managed_policy_is_left_for_a_person_and_never_detached(account, prod_state):
    admin = attach_admin(account)
    open_to_world(account, "sg-api-gateway-prod", 22)
    iam = DetachForbiddenIamDouble(account.iam)
    checker, queued = make_checker(account.ec2, iam)

    found = compare(checker, prod_state)
    assert f"detach {admin} from role-frontend-task-prod by hand" in found.message
    assert "not granted iam:DetachRolePolicy" in found.message

    result = checker.undo_for_remediation(queued[0], state=prod_state, traffic=TrafficState())

    assert iam.detaches == 0
    assert [a.item for a in result.left_for_person] == [admin] and result.failed == []
    assert [a.description for a in result.undone] == ["revoke ingress tcp/22 from 0.0.0.0/0 on sg-api-gateway-prod"]
    assert f"left for a person: detach {admin} from role-frontend-task-prod by hand" in result.message
    assert [r.name for r in result.remaining] == ["role-frontend-task-prod"]


def test_near_miss_in_report_mode_the_check_says_the_managed_policy_needs_a_person_too(account, prod_state):
    admin = attach_admin(account)
    checker, queued = make_checker(account.ec2, account.iam, mode="report")
    found = compare(checker, prod_state)
    assert queued == [] and f"detach {admin} from role-frontend-task-prod by hand" in found.message


def test_remediation_limits_hold_in_the_job_too(account, prod_state):
    """Only security groups may be remediated: the inline policy someone put on a role stays."""
    open_to_world(account, "sg-api-gateway-prod", 22)
    account.iam.put_role_policy(RoleName="role-frontend-task-prod", PolicyName="debug", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    ))
    checker, _ = make_checker(account.ec2, account.iam, remediate_types=("aws:ec2/securityGroup:SecurityGroup",))

    result = checker.undo_for_remediation(remediation_job(checker), state=prod_state, traffic=TrafficState())

    assert [a.kind for a in result.undone] == ["revoke-ingress"]
    assert "debug" in account.iam.list_role_policies(RoleName="role-frontend-task-prod")["PolicyNames"]
    assert "outside drift.remediateTypes/remediateSeverities: role-frontend-task-prod" in result.message


@pytest.mark.parametrize("case", ["not-a-remediation", "mode-report-now", "no-clients"])
def test_the_undo_refuses_what_is_not_a_remediation_in_remediate_mode(account, prod_state, case):
    open_to_world(account, "sg-api-gateway-prod", 22)
    checker, _ = make_checker(
        None if case == "no-clients" else account.ec2, account.iam, mode="report" if case == "mode-report-now" else "remediate",
    )
    job = check_job() if case == "not-a-remediation" else remediation_job(checker)

    result = checker.undo_for_remediation(job, state=prod_state, traffic=TrafficState())

    assert result.undone == [] and result.skipped
    assert len(ingress_rules(account, "sg-api-gateway-prod")) == 1
