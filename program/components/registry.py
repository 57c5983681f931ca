"""Private ECR repositories, one per service: immutable tags, scan on push, lifecycle, encryption."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from desired_state.naming import name
from desired_state.schema import RegistrySpec


def lifecycle_policy(keep_tagged: int, untagged_days: int) -> str:
    """Expire untagged images after ``untagged_days``; keep only the newest ``keep_tagged`` tagged ones."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Expire untagged images after {untagged_days} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": untagged_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"Keep the last {keep_tagged} tagged images",
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPatternList": ["*"],
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_tagged,
                    },
                    "action": {"type": "expire"},
                },
            ]
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class RegistryArgs:
    suffix: str
    services: tuple[str, ...]
    spec: RegistrySpec


class Registry(pulumi.ComponentResource):
    repositories: dict[str, aws.ecr.Repository]

    def __init__(self, resource_name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ecs-gitops:platform:Registry", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        encryption = aws.ecr.RepositoryEncryptionConfigurationArgs(
            encryption_type=args.spec.encryption,
            kms_key=args.spec.kms_key_arn if args.spec.encryption == "KMS" else None,
        )
        self.repositories = {}
        for service in args.services:
            repository_name = name("ecr", args.suffix, service)
            repository = aws.ecr.Repository(
                repository_name,
                name=repository_name,
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[encryption],
                # The stack must be destroyable even while images remain.
                force_delete=True,
                tags={"service": service},
                opts=child,
            )
            aws.ecr.LifecyclePolicy(
                name("ecr-lifecycle", args.suffix, service),
                repository=repository.name,
                policy=lifecycle_policy(args.spec.lifecycle.keep_tagged_images, args.spec.lifecycle.expire_untagged_after_days),
                opts=child,
            )
            self.repositories[service] = repository

        self.register_outputs(
            {
                "repositoryUrls": {service: repo.repository_url for service, repo in self.repositories.items()},
                "repositoryArns": {service: repo.arn for service, repo in self.repositories.items()},
            }
        )
