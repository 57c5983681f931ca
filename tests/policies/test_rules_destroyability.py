"""DESTROY-001..004: nothing protected, retained, deletion-protected or skipped on destroy."""

from __future__ import annotations

import pytest

DESTROY_RULES = ("DESTROY-001", "DESTROY-002", "DESTROY-003", "DESTROY-004")


@pytest.mark.parametrize("rule_id", DESTROY_RULES)
def test_clean_dev_and_prod_pass(kit, dev_views, prod_views, rule_id):
    assert kit.run(dev_views, rule_id) == []
    assert kit.run(prod_views, rule_id, kit.PROD) == []


def test_protected_resource(kit, dev_views):
    broken = kit.replace(dev_views, "vpc-platform-dev", protect=True)
    violations = kit.run(broken, "DESTROY-001")
    kit.expect(violations, "DESTROY-001", "vpc-platform-dev", "protect is set", "remove it")
    assert kit.resources(violations) == {"vpc-platform-dev"}


def test_retained_resource(kit, dev_views):
    broken = kit.replace(dev_views, "logs-frontend-dev", retain_on_delete=True)
    violations = kit.run(broken, "DESTROY-001")
    kit.expect(violations, "DESTROY-001", "logs-frontend-dev", "retainOnDelete is set", "remove it")
    assert kit.resources(violations) == {"logs-frontend-dev"}


def test_load_balancer_deletion_protection(kit, dev_views):
    broken = kit.replace(dev_views, "alb-platform-dev", update={"enableDeletionProtection": True})
    violations = kit.run(broken, "DESTROY-002")
    kit.expect(violations, "DESTROY-002", "alb-platform-dev", "enableDeletionProtection is true", "set it to false")
    assert kit.resources(violations) == {"alb-platform-dev"}


@pytest.mark.parametrize("prop", ["deletionProtection", "deletionProtectionEnabled"])
def test_other_deletion_protection_props(kit, dev_views, prop):
    broken = kit.replace(dev_views, "ecs-cluster-dev", update={prop: True})
    kit.expect(kit.run(broken, "DESTROY-002"), "DESTROY-002", "ecs-cluster-dev", f"{prop} is true", "set it to false")


@pytest.mark.parametrize("change", [{"update": {"forceDelete": False}}, {"drop": ("forceDelete",)}], ids=["false", "missing"])
def test_ecr_repository_without_force_delete(kit, dev_views, change):
    broken = kit.replace(dev_views, "ecr-frontend-dev", **change)
    violations = kit.run(broken, "DESTROY-003")
    kit.expect(violations, "DESTROY-003", "ecr-frontend-dev", "forceDelete is not true", "set it")
    assert kit.resources(violations) == {"ecr-frontend-dev"}


@pytest.mark.parametrize("name", ["logs-api-gateway-dev", "td-processing-service-dev"])
def test_skip_destroy(kit, dev_views, name):
    broken = kit.replace(dev_views, name, update={"skipDestroy": True})
    violations = kit.run(broken, "DESTROY-004")
    kit.expect(violations, "DESTROY-004", name, "skipDestroy is true", "set it to false")
    assert kit.resources(violations) == {name}
