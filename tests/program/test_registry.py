"""Registry: one immutable, scanned, force-deletable ECR repository per service with a lifecycle policy."""

from __future__ import annotations

import json

import pytest

SERVICES = ("frontend", "api-gateway", "processing-service")
REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


def test_one_repository_per_service_named_ecr_service_suffix(stack, state):
    s = state.environment_suffix
    repositories = stack.of_type(REPOSITORY)
    assert sorted(r.inputs["name"] for r in repositories) == sorted(f"ecr-{svc}-{s}" for svc in SERVICES)
    assert sorted(r.name for r in repositories) == sorted(f"ecr-{svc}-{s}" for svc in SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_repository_is_immutable_scanned_and_force_deletable(stack, state, service):
    repository = stack.named(f"ecr-{service}-{state.environment_suffix}")
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository.inputs["forceDelete"] is True


@pytest.mark.parametrize("service", SERVICES)
def test_dev_repositories_use_aes256(rendered_dev, service):
    repository = rendered_dev.named(f"ecr-{service}-dev")
    assert repository.inputs["encryptionConfigurations"] == [{"encryptionType": "AES256"}]


@pytest.mark.parametrize("service", SERVICES)
def test_prod_repositories_use_kms(rendered_prod, prod_state, service):
    assert prod_state.registry.encryption == "KMS"
    repository = rendered_prod.named(f"ecr-{service}-prod")
    (encryption,) = repository.inputs["encryptionConfigurations"]
    assert encryption["encryptionType"] == "KMS"
    # No key in the prod example: the AWS-managed ECR key, so no kmsKey is sent.
    assert encryption.get("kmsKey") is None


def test_kms_key_from_yaml_is_used_and_execution_roles_may_decrypt_with_it(render_mutated):
    def with_key(doc):
        doc["registry"]["kmsKeyArn"] = KMS_KEY

    stack = render_mutated(with_key, environment="prod")
    for service in SERVICES:
        repository = stack.named(f"ecr-{service}-prod")
        assert repository.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": KMS_KEY}]
        policy = json.loads(stack.named(f"policy-{service}-execution-prod").inputs["policy"])
        decrypt = [st for st in policy["Statement"] if "kms:Decrypt" in st["Action"]]
        assert decrypt == [{"Sid": "DecryptOwnImages", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [KMS_KEY]}]


def _rules(stack, service, suffix):
    policy = stack.named(f"ecr-lifecycle-{service}-{suffix}")
    assert policy.inputs["repository"] == f"ecr-{service}-{suffix}"
    document = json.loads(policy.inputs["policy"])
    return {rule["selection"]["tagStatus"]: rule for rule in document["rules"]}


@pytest.mark.parametrize("service", SERVICES)
def test_lifecycle_policy_values_come_from_yaml(stack, state, service):
    lifecycle = state.registry.lifecycle
    rules = _rules(stack, service, state.environment_suffix)
    assert set(rules) == {"untagged", "tagged"}

    untagged = rules["untagged"]
    assert untagged["selection"]["countType"] == "sinceImagePushed"
    assert untagged["selection"]["countUnit"] == "days"
    assert untagged["selection"]["countNumber"] == lifecycle.expire_untagged_after_days
    assert untagged["action"] == {"type": "expire"}

    tagged = rules["tagged"]
    assert tagged["selection"]["countType"] == "imageCountMoreThan"
    assert tagged["selection"]["countNumber"] == lifecycle.keep_tagged_images
    assert tagged["selection"]["tagPatternList"] == ["*"]
    assert tagged["action"] == {"type": "expire"}
    assert sorted(r["rulePriority"] for r in rules.values()) == [1, 2]


def test_lifecycle_numbers_of_the_examples(rendered_dev, rendered_prod):
    dev, prod = _rules(rendered_dev, "frontend", "dev"), _rules(rendered_prod, "frontend", "prod")
    assert (dev["untagged"]["selection"]["countNumber"], dev["tagged"]["selection"]["countNumber"]) == (3, 20)
    assert (prod["untagged"]["selection"]["countNumber"], prod["tagged"]["selection"]["countNumber"]) == (7, 100)


def test_one_lifecycle_policy_per_repository(stack):
    assert len(stack.of_type(LIFECYCLE)) == 3
    assert len(stack.of_type(REPOSITORY)) == 3
