"""ECR: immutable tags, scan on push, a lifecycle policy and encryption on every repository."""

from __future__ import annotations

from collections.abc import Iterator

from policies import aws_types as t
from policies.model import Finding, Stack
from policies.rules import rule


@rule("ECR-001", "mandatory", "ECR repositories have immutable tags")
def immutable_tags(stack: Stack) -> Iterator[Finding]:
    for repository in stack.of_type(t.ECR_REPOSITORY):
        if repository.props.get("imageTagMutability") != "IMMUTABLE":
            yield Finding(repository.name, "imageTagMutability is not IMMUTABLE; set it so a pushed tag can never be overwritten")


@rule("ECR-002", "mandatory", "ECR repositories scan images on push")
def scan_on_push(stack: Stack) -> Iterator[Finding]:
    for repository in stack.of_type(t.ECR_REPOSITORY):
        if repository.prop("imageScanningConfiguration", "scanOnPush") is not True:
            yield Finding(repository.name, "imageScanningConfiguration.scanOnPush is not true; enable it")


@rule("ECR-003", "mandatory", "Every ECR repository has a lifecycle policy")
def lifecycle_policy(stack: Stack) -> Iterator[Finding]:
    covered = {
        dependency
        for policy in stack.of_type(t.ECR_LIFECYCLE)
        if (policy.json_prop("policy") or {}).get("rules")
        for dependency in policy.depends_on("repository")
    }
    for repository in stack.of_type(t.ECR_REPOSITORY):
        if repository.name not in covered:
            yield Finding(repository.name, "no aws.ecr.LifecyclePolicy with rules targets this repository; add one to expire old images")


@rule("ECR-004", "mandatory", "ECR repositories are encrypted with AES256 or KMS")
def encryption(stack: Stack) -> Iterator[Finding]:
    for repository in stack.of_type(t.ECR_REPOSITORY):
        configs = repository.props.get("encryptionConfigurations") or []
        kinds = {c.get("encryptionType") for c in configs if isinstance(c, dict)}
        if not kinds & {"AES256", "KMS"}:
            yield Finding(repository.name, "encryptionConfigurations sets no AES256 or KMS encryption; set one explicitly")
