"""Everything can be destroyed: no protection, no retain, nothing that blocks deletion."""

from __future__ import annotations

from collections.abc import Iterator

from policies import aws_types as t
from policies.model import Finding, Stack
from policies.rules import rule

DELETION_PROTECTION_PROPS = ("enableDeletionProtection", "deletionProtection", "deletionProtectionEnabled")


@rule("DESTROY-001", "mandatory", "No resource is protected or retained on delete")
def no_protect_or_retain(stack: Stack) -> Iterator[Finding]:
    for resource in stack.resources:
        if resource.protect:
            yield Finding(resource.name, "option protect is set; remove it so the stack can be destroyed")
        if resource.retain_on_delete:
            yield Finding(resource.name, "option retainOnDelete is set; remove it so destroy removes the resource")


@rule("DESTROY-002", "mandatory", "No deletion protection on any resource")
def no_deletion_protection(stack: Stack) -> Iterator[Finding]:
    for resource in stack.resources:
        for prop in DELETION_PROTECTION_PROPS:
            if resource.props.get(prop) is True:
                yield Finding(resource.name, f"{prop} is true; set it to false so the stack can be destroyed")


@rule("DESTROY-003", "mandatory", "ECR repositories are force-deleted with their images")
def ecr_force_delete(stack: Stack) -> Iterator[Finding]:
    for repository in stack.of_type(t.ECR_REPOSITORY):
        if repository.props.get("forceDelete") is not True:
            yield Finding(repository.name, "forceDelete is not true; set it, or destroy fails while images remain")


@rule("DESTROY-004", "mandatory", "Log groups and task definitions are deleted on destroy")
def nothing_skips_destroy(stack: Stack) -> Iterator[Finding]:
    for resource in stack.of_type(t.LOG_GROUP, t.TASK_DEFINITION):
        if resource.props.get("skipDestroy") is True:
            yield Finding(resource.name, "skipDestroy is true; set it to false so destroy removes it")
