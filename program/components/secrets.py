"""Secrets Manager secrets the platform owns. Values are generated or come from Pulumi secret config.

No value is ever written in code or git; every value here is a Pulumi secret, so it is
encrypted in state and masked in plans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from desired_state.naming import name
from desired_state.schema import SecretSpec
from policies.aws_types import SECRET_RECEIVERS_TAG

# Characters safe in connection strings and shell-quoted env values.
PASSWORD_SPECIALS = "!#%*()-_=+[]{}<>:?"


@dataclass(frozen=True)
class SecretsArgs:
    suffix: str
    secrets: Mapping[str, SecretSpec]
    # Values of `kind: config` secrets, keyed by config key; each must be a Pulumi secret.
    config_values: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)


class PlatformSecrets(pulumi.ComponentResource):
    secrets: dict[str, aws.secretsmanager.Secret]

    def __init__(self, resource_name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ecs-gitops:platform:Secrets", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.secrets = {}
        for secret_name, spec in sorted(args.secrets.items()):
            physical = name("secret", args.suffix, secret_name)
            secret = aws.secretsmanager.Secret(
                physical,
                name=physical,
                description=spec.description or f"{secret_name} ({args.suffix})",
                # No recovery window: a destroyed stack can be re-created under the same names at once.
                recovery_window_in_days=0,
                # The receivers travel with the secret so the policy pack (offline and CrossGuard)
                # can check every injection against them. Tag values allow letters, '-' and spaces.
                tags={SECRET_RECEIVERS_TAG: " ".join(sorted(spec.allowed_services))} if spec.allowed_services else None,
                opts=child,
            )
            aws.secretsmanager.SecretVersion(
                name("secret-value", args.suffix, secret_name),
                secret_id=secret.id,
                secret_string=self._value(args, secret_name, spec),
                opts=child,
            )
            self.secrets[secret_name] = secret
        self.register_outputs({"secretArns": {n: s.arn for n, s in self.secrets.items()}})

    def _value(self, args: SecretsArgs, secret_name: str, spec: SecretSpec) -> pulumi.Output[str]:
        if spec.kind == "config":
            assert spec.config_key is not None  # the schema guarantees it
            value = args.config_values.get(spec.config_key)
            if value is None:
                raise pulumi.RunError(
                    f"secret '{secret_name}' reads Pulumi config key '{spec.config_key}', which is not set; "
                    f"run: pulumi config set --secret {spec.config_key} <value>"
                )
            return pulumi.Output.secret(value)
        password = random.RandomPassword(
            name("password", args.suffix, secret_name),
            length=spec.length,
            special=spec.kind == "generated-credentials",
            override_special=PASSWORD_SPECIALS,
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if spec.kind == "generated-string":
            return pulumi.Output.secret(password.result)
        username = spec.username
        return pulumi.Output.secret(
            pulumi.Output.json_dumps({"username": username, "password": password.result})
        )
