"""The reconciler's own settings: which environments it manages and the gates around each.

Gates (approval, change windows, signed commits, suspension) live here, deployed with the
reconciler, and not in the desired-state repo: a push must not be able to switch off the gate
that is supposed to stop it.
"""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from reconciler.errors import SettingsError

SETTINGS_ENV = "ECS_GITOPS_SETTINGS"
AWS_ENV_VARS = {
    "jobQueueUrl": "ECS_GITOPS_JOB_QUEUE_URL",
    "idempotencyTable": "ECS_GITOPS_IDEMPOTENCY_TABLE",
    "stateTable": "ECS_GITOPS_STATE_TABLE",
    "auditTable": "ECS_GITOPS_AUDIT_TABLE",
    "topicArn": "ECS_GITOPS_TOPIC_ARN",
    "rolloutTable": "ECS_GITOPS_ROLLOUT_TABLE",
    "tickQueueUrl": "ECS_GITOPS_TICK_QUEUE_URL",
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class ChangeWindow(Model):
    """A weekly window in a time zone. ``allow`` windows say when changes may happen, ``deny`` when not."""

    kind: Literal["allow", "deny"]
    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = DAYS
    start: time
    end: time
    timezone: str

    @field_validator("timezone")
    @classmethod
    def _zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{zone}' is not an IANA time zone such as America/New_York") from None
        return zone

    @model_validator(mode="after")
    def _order(self) -> ChangeWindow:
        if self.start == self.end:
            raise ValueError("start and end are equal; the window would be empty")
        return self


class EnvironmentSettings(Model):
    stack: str
    # The desired state's environmentSuffix; ECR image events are matched to the environment by it.
    suffix: str
    suspended: bool = False
    require_approval: bool = False
    windows: tuple[ChangeWindow, ...] = ()
    # Production environments get the strict defaults: signed commits unless explicitly turned off.
    production: bool = False
    require_signed_commits: bool | None = None
    # OpenSSH allowed-signers file (``git config gpg.ssh.allowedSignersFile``) listing trusted keys.
    allowed_signers_file: str | None = None
    # GPG key fingerprints trusted for this environment.
    trusted_gpg_fingerprints: tuple[str, ...] = ()
    # Armored public keys of those fingerprints (``gpg --armor --export``). Verification imports only
    # the listed keys from it into a keyring built for the check; the worker's own keyring never counts.
    trusted_gpg_keys_file: str | None = None

    @field_validator("trusted_gpg_fingerprints")
    @classmethod
    def _full_fingerprints(cls, fingerprints: tuple[str, ...]) -> tuple[str, ...]:
        normalised = tuple("".join(fingerprint.split()).upper() for fingerprint in fingerprints)
        short = [given for given, full in zip(fingerprints, normalised) if not re.fullmatch(r"[0-9A-F]{40}", full)]
        if short:
            raise ValueError(
                f"{', '.join(repr(s) for s in short)} is not a full GPG fingerprint; list the 40 hex digits "
                "(gpg --with-colons --fingerprint), key IDs can be forged"
            )
        return normalised

    @model_validator(mode="after")
    def _gpg_keys_file(self) -> EnvironmentSettings:
        if self.trusted_gpg_fingerprints and not self.trusted_gpg_keys_file:
            raise ValueError(
                "trustedGpgFingerprints are listed but trustedGpgKeysFile is not set; set trustedGpgKeysFile to a file "
                "holding those public keys (gpg --armor --export <fingerprint>)"
            )
        if self.trusted_gpg_keys_file and not self.trusted_gpg_fingerprints:
            raise ValueError("trustedGpgKeysFile is set but trustedGpgFingerprints lists no key; list the fingerprints to trust")
        return self

    stuck_lock_after_minutes: int = Field(default=60, ge=1)

    @property
    def signed_commits_required(self) -> bool:
        return self.production if self.require_signed_commits is None else self.require_signed_commits

    @model_validator(mode="after")
    def _signers(self) -> EnvironmentSettings:
        if self.signed_commits_required and not (self.allowed_signers_file or self.trusted_gpg_fingerprints):
            raise ValueError(
                "signed commits are required here (production environments require them unless requireSignedCommits: false); "
                "set allowedSignersFile or trustedGpgFingerprints"
            )
        return self


class RepositorySettings(Model):
    url: str
    branch: str = "main"
    # CodeCommit repository name when the repo lives in CodeCommit (events carry it).
    codecommit_repository: str | None = None
    # Secrets Manager secret holding the webhook HMAC key (GitHub's "secret").
    webhook_secret_id: str | None = None
    # A rollout's new image is committed to this repo (git stays the record); false keeps it in
    # the stack status instead, for repositories the reconciler may not write.
    image_write_back: bool = True
    # SSH private key the reconciler signs its write-back commits with; list its public key in the
    # allowed-signers file of every environment that requires signed commits.
    write_back_signing_key: str | None = None
    write_back_author: str = "ecs-gitops <ecs-gitops@localhost>"

    @field_validator("branch")
    @classmethod
    def _branch(cls, branch: str) -> str:
        if not re.match(r"^[A-Za-z0-9._/-]+$", branch):
            raise ValueError(f"'{branch}' is not a branch name")
        return branch


class AwsResources(Model):
    """Names of the reconciler's own AWS resources (created by template.yaml)."""

    job_queue_url: str | None = None
    idempotency_table: str | None = None
    state_table: str | None = None
    audit_table: str | None = None
    topic_arn: str | None = None
    rollout_table: str | None = None
    tick_queue_url: str | None = None


class ReconcilerSettings(Model):
    project: str = "ecs-gitops"
    repository: RepositorySettings
    environments: dict[str, EnvironmentSettings]
    backend_url: str = "file://~/.ecs-gitops/state"
    secrets_provider: str | None = None
    work_dir: str = "~/.ecs-gitops/work"
    max_webhook_bytes: int = Field(default=1_048_576, ge=1024)
    aws: AwsResources = AwsResources()

    @model_validator(mode="after")
    def _write_back_can_be_converged(self) -> ReconcilerSettings:
        signed = sorted(name for name, env in self.environments.items() if env.signed_commits_required)
        if self.repository.image_write_back and signed and not self.repository.write_back_signing_key:
            raise ValueError(
                f"environments {', '.join(signed)} require signed commits, so image write-back commits must be signed: "
                "set repository.writeBackSigningKey (and trust its public key there) or repository.imageWriteBack: false"
            )
        return self

    def environment(self, name: str) -> EnvironmentSettings:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise SettingsError(f"environment '{name}' is not managed by this reconciler (managed: {known})") from None


def load_settings(path: str | Path | None = None) -> ReconcilerSettings:
    """From ``path``, else the file named by $ECS_GITOPS_SETTINGS."""
    source = path or os.environ.get(SETTINGS_ENV)
    if not source:
        raise SettingsError(f"no reconciler settings: pass a file or set {SETTINGS_ENV} to its path")
    file = Path(source).expanduser()
    try:
        data = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise SettingsError(f"{file}: cannot read reconciler settings: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{file}: not valid YAML: {exc}") from None
    if isinstance(data, dict):
        # Names of resources template.yaml creates arrive as environment variables; they win.
        aws = dict(data.get("aws") or {})
        for key, variable in AWS_ENV_VARS.items():
            if os.environ.get(variable):
                aws[key] = os.environ[variable]
        data = {**data, "aws": aws}
    try:
        return ReconcilerSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise SettingsError(f"{file}: invalid reconciler settings: {problems}") from None
