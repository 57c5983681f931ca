"""plan_digest covers every stack input, the program version and the plan; nothing else."""

from __future__ import annotations

from reconciler.approval_digest import plan_digest
from reconciler.engine import StackRequest
from reconciler.models import PlanSummary

COMMIT = "c" * 40
CONFIG = {"ecs-gitops:desiredState": '{"services": {"frontend": {"image": {"tag": "1.0"}}}}', "ecs-gitops:trafficState": "{}", "ecs-gitops:environment": "dev"}
PLAN = PlanSummary(create=1, resources={"create": ["svc-frontend-green-dev"]})


def digest(**changes):
    request = StackRequest(stack=changes.pop("stack", "dev"), config=changes.pop("config", CONFIG), secret_config=changes.pop("secret_config", {}), message=changes.pop("message", "job 1"))
    return plan_digest(changes.pop("commit", COMMIT), request, changes.pop("program", "1.0.0"), changes.pop("plan", PLAN))


def test_every_input_changes_the_digest():
    base = digest()
    variants = {
        "commit": digest(commit="d" * 40),
        "stack": digest(stack="prod"),
        "desired state (an image override)": digest(config={**CONFIG, "ecs-gitops:desiredState": CONFIG["ecs-gitops:desiredState"].replace("1.0", "6.6.6")}),
        "traffic state": digest(config={**CONFIG, "ecs-gitops:trafficState": '{"services": {"frontend": {"liveColour": "green"}}}'}),
        "a new config key": digest(config={**CONFIG, "ecs-gitops:extra": "1"}),
        "a secret config key": digest(secret_config={"dbPassword": "x"}),
        "program version": digest(program="1.0.1"),
        "plan": digest(plan=PlanSummary(create=1, delete=1)),
    }
    assert all(value != base for value in variants.values()), [name for name, value in variants.items() if value == base]
    assert len(set(variants.values())) == len(variants)


def test_what_differs_between_jobs_only_does_not_change_it_and_secret_values_stay_out():
    assert digest(message="job 2") == digest()
    assert digest(secret_config={"dbPassword": "one"}) == digest(secret_config={"dbPassword": "two"})
    assert digest().startswith("sha256:") and len(digest()) == len("sha256:") + 64
