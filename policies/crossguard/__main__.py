"""CrossGuard entry point: ``pulumi preview --policy-pack policies/crossguard``."""

from pulumi_policy import PolicyPack

from policies.crossguard_adapter import crossguard_policies

PolicyPack(name="ecs-gitops-platform", policies=crossguard_policies())
