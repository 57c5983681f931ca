"""ECR-001..004: immutable tags, scan on push, a lifecycle policy, encryption."""

from __future__ import annotations

import json

import pytest

ECR_RULES = ("ECR-001", "ECR-002", "ECR-003", "ECR-004")
REPOS = {"ecr-frontend-dev", "ecr-api-gateway-dev", "ecr-processing-service-dev"}


@pytest.mark.parametrize("rule_id", ECR_RULES)
def test_clean_dev_and_prod_pass(kit, dev_views, prod_views, rule_id):
    assert kit.run(dev_views, rule_id) == []
    assert kit.run(prod_views, rule_id, kit.PROD) == []


def test_mutable_tags(kit, dev_views):
    broken = kit.replace(dev_views, "ecr-frontend-dev", update={"imageTagMutability": "MUTABLE"})
    violations = kit.run(broken, "ECR-001")
    kit.expect(violations, "ECR-001", "ecr-frontend-dev", "imageTagMutability is not IMMUTABLE", "set it")
    assert kit.resources(violations) == {"ecr-frontend-dev"}


@pytest.mark.parametrize(
    "change",
    [{"update": {"imageScanningConfiguration": {"scanOnPush": False}}}, {"drop": ("imageScanningConfiguration",)}],
    ids=["false", "missing"],
)
def test_no_scan_on_push(kit, dev_views, change):
    broken = kit.replace(dev_views, "ecr-api-gateway-dev", **change)
    violations = kit.run(broken, "ECR-002")
    kit.expect(violations, "ECR-002", "ecr-api-gateway-dev", "imageScanningConfiguration.scanOnPush is not true", "enable it")
    assert kit.resources(violations) == {"ecr-api-gateway-dev"}


def test_repository_without_lifecycle_policy(kit, dev_views):
    broken = kit.remove(dev_views, "ecr-lifecycle-frontend-dev")
    violations = kit.run(broken, "ECR-003")
    kit.expect(violations, "ECR-003", "ecr-frontend-dev", "no aws.ecr.LifecyclePolicy", "add one")
    assert kit.resources(violations) == {"ecr-frontend-dev"}


def test_lifecycle_policy_without_rules(kit, dev_views):
    broken = kit.replace(dev_views, "ecr-lifecycle-processing-service-dev", update={"policy": json.dumps({"rules": []})})
    violations = kit.run(broken, "ECR-003")
    kit.expect(violations, "ECR-003", "ecr-processing-service-dev", "LifecyclePolicy with rules")
    assert kit.resources(violations) == {"ecr-processing-service-dev"}


def test_lifecycle_policy_pointed_at_another_repository(kit, dev_views):
    """Two policies on api-gateway, none on frontend: coverage follows the dependency, not the count."""
    broken = kit.replace(dev_views, "ecr-lifecycle-frontend-dev", property_dependencies={"repository": ("ecr-api-gateway-dev",)})
    violations = kit.run(broken, "ECR-003")
    assert kit.resources(violations) == {"ecr-frontend-dev"}


@pytest.mark.parametrize(
    "configs",
    [[], [{"encryptionType": "NONE"}], None],
    ids=["empty", "unknown-type", "missing"],
)
def test_unencrypted_repository(kit, dev_views, configs):
    change = {"drop": ("encryptionConfigurations",)} if configs is None else {"update": {"encryptionConfigurations": configs}}
    broken = kit.replace(dev_views, "ecr-processing-service-dev", **change)
    violations = kit.run(broken, "ECR-004")
    kit.expect(violations, "ECR-004", "ecr-processing-service-dev", "encryptionConfigurations", "AES256 or KMS", "set one")
    assert kit.resources(violations) == {"ecr-processing-service-dev"}


def test_kms_encryption_passes(kit, prod_views):
    repos = [v for v in prod_views if v.type == "aws:ecr/repository:Repository"]
    assert repos and all(v.props["encryptionConfigurations"][0]["encryptionType"] == "KMS" for v in repos)
    assert kit.run(prod_views, "ECR-004", kit.PROD) == []
