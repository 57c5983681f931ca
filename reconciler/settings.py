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
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    "accountId": "ECS_GITOPS_ACCOUNT_ID",
    "region": "ECS_GITOPS_REGION",
    "permissionsBoundaryArn": "ECS_GITOPS_PERMISSIONS_BOUNDARY_ARN",
    "auditArchiveBucket": "ECS_GITOPS_AUDIT_ARCHIVE_BUCKET",
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EnvironmentClass = Literal["production", "non-production"]


class Model(BaseModel):
    # defer_build: validators are built when the settings are first loaded, not when the intake imports this module.
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True, defer_build=True)


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


class Floors(Model):
    """What git may not go below for one environment; unset means no floor.

    The desired state sets each service's rollout (steps, bake, scan threshold); these floors bound
    it from the settings side. Approval and change windows are not in the desired state at all: they
    live only here, so git can never loosen them.
    """

    # Each service's rollout needs at least this many traffic steps (``steps: [100]`` is one).
    min_rollout_steps: int | None = Field(default=None, ge=1, le=100)
    # Each step bakes (alarms watched) at least this long.
    min_bake_seconds: int | None = Field(default=None, ge=0, le=86400)
    # The least strict scan threshold allowed: a service may block on this severity or a lower one
    # (stricter), never only on a higher one. HIGH allows INFORMATIONAL..HIGH and refuses CRITICAL.
    max_scan_severity_threshold: Literal["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"] | None = None


DriftSeverityName = Literal["low", "medium", "high"]


class DriftSettings(Model):
    """What a drift check of one environment does when it finds drift (here, not in git: a push must not choose).

    ``report`` (default): notify, audit, metric; nothing changes. ``remediate``: also queue a converge
    back to the applied commit (queue, lease, policy gate, approval and audit like any converge).
    ``remediateTypes`` / ``remediateSeverities`` limit ``remediate``: a converge puts back *everything*
    that drifted, so it is queued only when every drifted resource is allowed (its Pulumi type is in
    ``remediateTypes`` or its severity in ``remediateSeverities``); with one drifted resource outside,
    the check only reports, and says which. Both empty: every drift is remediated.
    ``maxDeferralMinutes``: the longest the checks wait for a rollout's traffic shift (default 120).
    """

    mode: Literal["report", "remediate"] = "report"
    remediate_types: tuple[str, ...] = ()
    remediate_severities: tuple[DriftSeverityName, ...] = ()
    # A check that falls while a rollout shifts traffic waits, but not for ever: once checks have been
    # deferred this long (since the first deferral, from the status's lastDriftCheck) one runs anyway;
    # the running rollouts' own weights and colour bounds are still set aside by the not-drift rules.
    max_deferral_minutes: int = Field(default=120, ge=1, le=7 * 24 * 60)

    @model_validator(mode="after")
    def _limits_need_remediate(self) -> DriftSettings:
        if self.mode == "report" and (self.remediate_types or self.remediate_severities):
            raise ValueError("remediateTypes/remediateSeverities limit mode: remediate; with mode: report nothing is remediated (set mode: remediate or drop them)")
        return self


class DriftCheckSettings(Model):
    """The drift checks' own settings, for every environment."""

    # CloudWatch namespace of the DriftedResources / DriftCheckFailed metrics (dimension Environment);
    # template.yaml's cloudwatch:PutMetricData statement is conditioned on it.
    metric_namespace: str = Field(default="ecs-gitops", pattern=r"^[A-Za-z0-9._/#:-]{1,255}$")


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
    stuck_lock_after_minutes: int = Field(default=60, ge=1)
    # The class the desired state must declare (environmentClass). Derived from ``production`` when
    # not given; given, it must agree with ``production``. ``None`` (only built in code, never read
    # from a settings file) means "not declared": a local run without settings has no identity to check.
    environment_class: EnvironmentClass | None = None
    floors: Floors = Field(default_factory=Floors)
    # What a drift check does on drift here (report | remediate, possibly limited).
    drift: DriftSettings = Field(default_factory=DriftSettings)

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


    @property
    def signed_commits_required(self) -> bool:
        return self.production if self.require_signed_commits is None else self.require_signed_commits

    @model_validator(mode="before")
    @classmethod
    def _derive_class(cls, data: Any) -> Any:
        if isinstance(data, dict) and "environment_class" not in data and "environmentClass" not in data:
            data = {**data, "environment_class": "production" if data.get("production") is True else "non-production"}
        return data

    @model_validator(mode="after")
    def _class_agrees(self) -> EnvironmentSettings:
        if self.environment_class is not None and (self.environment_class == "production") != self.production:
            raise ValueError(
                f"environmentClass {self.environment_class} disagrees with production: {str(self.production).lower()}; "
                "set one of them (production: true is environmentClass: production)"
            )
        return self

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


class RetrySettings(Model):
    """A backoff: ``baseSeconds`` for the first retry, doubled for each further one, at most ``capSeconds``."""

    base_seconds: int = Field(ge=0, le=43200)
    cap_seconds: int = Field(ge=0, le=43200)

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> RetrySettings:
        if self.cap_seconds < self.base_seconds:
            raise ValueError(f"capSeconds ({self.cap_seconds}) is below baseSeconds ({self.base_seconds}); the cap bounds the doubling")
        return self


# Converge loops one worker process may run (each runs a Pulumi CLI of its own).
MAX_CONVERGE_LOOPS = 32


class WorkerSettings(Model):
    """How long the worker holds, retries and parks messages. template.yaml's queues must agree:
    the job queue's VisibilityTimeout and the tick queue's maxReceiveCount (tickMaxAttempts)."""

    job_visibility_seconds: int = Field(default=2 * 3600, ge=60, le=43200)  # SQS caps visibility at 12 h
    job_retry: RetrySettings = Field(default_factory=lambda: RetrySettings(base_seconds=60, cap_seconds=1800))
    # Old keys, from when the worker ran the rollout ticks: still accepted, and used by the tick
    # runtime when its own ``ticks`` section does not set ``retry`` / ``maxAttempts``.
    tick_retry: RetrySettings | None = None
    tick_max_attempts: int | None = Field(default=None, ge=1, le=1000)
    loop_retry: RetrySettings = Field(default_factory=lambda: RetrySettings(base_seconds=5, cap_seconds=300))
    # Converge loops per worker process (``--concurrency`` overrides): each takes one job at a time,
    # so this many stacks converge at once per task. Each loop runs a Pulumi CLI of its own (memory).
    concurrency: int = Field(default=2, ge=1, le=MAX_CONVERGE_LOOPS)
    # On an interrupt or SIGTERM the loops finish their jobs in hand for at most this long; keep it
    # under the container's StopTimeout in template.yaml (120 s, Fargate's most), after which ECS kills.
    stop_grace_seconds: int = Field(default=100, ge=0, le=3600)


class TickSettings(Model):
    """The tick runtime's timings (``python -m reconciler.ticks``). template.yaml's tick queue must
    agree: its redrive maxReceiveCount is ``maxAttempts``."""

    # A failing tick comes back after this backoff; on attempt ``maxAttempts`` the rollout is paused.
    retry: RetrySettings = Field(default_factory=lambda: RetrySettings(base_seconds=30, cap_seconds=900))
    max_attempts: int = Field(default=6, ge=1, le=1000)
    # A round of the tick loop that fails (SQS unreachable) is retried after this backoff.
    loop_retry: RetrySettings = Field(default_factory=lambda: RetrySettings(base_seconds=5, cap_seconds=300))
    # How often the watchdog looks for active rollouts without a live wake-up (the polling fallback).
    sweep_seconds: int = Field(default=60, ge=1, le=3600)
    # A pending wake-up this long past due is taken as lost (its message was never sent, or is gone)
    # and sent again; longer than one tick takes (a smoke call, a git push), shorter than a bake.
    overdue_grace_seconds: int = Field(default=120, ge=1, le=3600)
    # The tick runtime's lease on a tick it runs: a second copy of the tick (SQS delivers at least
    # once, and again after the visibility timeout) waits until it ends. At least the tick queue's
    # VisibilityTimeout (template.yaml: 300), so a copy back after that timeout finds a crashed run's lease ended.
    claim_lease_seconds: int = Field(default=300, ge=1, le=43200)


class RolloutTimingSettings(Model):
    """How soon the rollout controller looks again, in seconds (a tick is scheduled that far ahead).

    ``pollSeconds``: while waiting for a scan, a deployment, target health or smoke checks, and
    while rolling back; ``alarmWatchSeconds``: how often a bake re-reads its alarms (an event can
    wake it sooner); ``pausedPollSeconds``: a paused rollout's check for a lifted pause or an open
    window; ``weightsRetrySeconds``: between setting the weights and reading the listener back;
    ``weightsTakeEffectWithinSeconds``: a listener that never shows the new weights within this
    rolls back; ``smokeRequestTimeoutSeconds``: one smoke check's HTTP timeout. At most 900 s
    where a tick waits (the tick queue's longest delay).
    """

    poll_seconds: int = Field(default=15, ge=1, le=900)
    alarm_watch_seconds: int = Field(default=30, ge=1, le=900)
    paused_poll_seconds: int = Field(default=60, ge=1, le=900)
    weights_retry_seconds: int = Field(default=5, ge=1, le=900)
    weights_take_effect_within_seconds: int = Field(default=120, ge=1, le=3600)
    smoke_request_timeout_seconds: int = Field(default=5, ge=1, le=60)


# verify.seams.Timing.api_attempts: a group answered "throttled" runs this many times in all.
GATE_API_ATTEMPTS = 3
GATE_API_MARGIN_SECONDS = 30


class VerifySettings(Model):
    """``ecs-gitops verify`` and the converge's verify phase (seconds unless named otherwise).

    ``targetHealthTimeoutSeconds``: how long the target-health checks wait for every target of a
    live target group to turn healthy; ``pollSeconds``: between two looks while waiting;
    ``recentLogMinutes``: a service's log group must have received events this recently;
    ``httpTimeoutSeconds``: one HTTP request to the ALB, start to end.

    The rollout's promotion gate: ``gateRetrySeconds``: when it could not check, it looks again after
    this, backing off to ``gateRetryMaxSeconds``; ``gateHoldSeconds``: how long it keeps trying (the old
    colour kept up) before the rollout is paused and a person notified; ``gateTimeoutSeconds``: the
    gate's whole run (its target-health wait and retries stop at it), shorter than the tick's claim
    lease (``ticks.claimLeaseSeconds``) with its HTTP requests: a tick never outlives its lease.
    """

    target_health_timeout_seconds: int = Field(default=300, ge=0, le=3600)
    poll_seconds: int = Field(default=10, ge=1, le=300)
    recent_log_minutes: int = Field(default=15, ge=1, le=1440)
    http_timeout_seconds: int = Field(default=5, ge=1, le=60)
    gate_retry_seconds: int = Field(default=30, ge=1, le=900)
    gate_retry_max_seconds: int = Field(default=300, ge=1, le=900)
    gate_hold_seconds: int = Field(default=1800, ge=60, le=86400)
    gate_timeout_seconds: int = Field(default=120, ge=0, le=3600)

    def gate_worst_case_seconds(self) -> int:
        """The longest one gate run can take: its bound, one poll past it, and the HTTP requests of each
        traffic attempt (2 requests x GATE_API_ATTEMPTS), with a margin for the API calls themselves."""
        return self.gate_timeout_seconds + self.poll_seconds + 2 * GATE_API_ATTEMPTS * self.http_timeout_seconds + GATE_API_MARGIN_SECONDS

    @model_validator(mode="after")
    def _gate_backoff_ordered(self) -> VerifySettings:
        if self.gate_retry_max_seconds < self.gate_retry_seconds:
            raise ValueError(
                f"verify.gateRetryMaxSeconds ({self.gate_retry_max_seconds}) must be at least verify.gateRetrySeconds ({self.gate_retry_seconds})"
            )
        return self


class AwsResources(Model):
    """Names of the reconciler's own AWS resources (created by template.yaml)."""

    job_queue_url: str | None = None
    idempotency_table: str | None = None
    state_table: str | None = None
    audit_table: str | None = None
    topic_arn: str | None = None
    rollout_table: str | None = None
    tick_queue_url: str | None = None
    # Where this reconciler's resources live. When set, the intake wakes rollouts only for events
    # of this account and region (an event forwarded from another account is refused).
    account_id: str | None = Field(default=None, pattern=r"^\d{12}$")
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
    # The permissions boundary every IAM role the program creates carries (template.yaml's
    # PlatformRoleBoundary; its deploy policy refuses iam:CreateRole without it). Stack config, not git.
    permissions_boundary_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:policy/[A-Za-z0-9_+=,.@/-]{1,512}$")
    # The audit trail's WORM copy: an S3 bucket with Object Lock (compliance mode). Each chained record is
    # also written there; auditArchiveRetentionDays sets each object's retain-until (none: the bucket's default).
    audit_archive_bucket: str | None = None
    audit_archive_retention_days: int | None = Field(default=None, ge=1, le=36500)


class NotificationSettings(Model):
    """How notifications read (SNS ``MessageStructure=json``; see :mod:`reconciler.notifications`).

    ``chatbot``: https subscribers (AWS Chatbot / Amazon Q Developer in Slack or Teams) get the
    Chatbot custom-notification shape, a title and a short markdown description; off, they get
    the JSON like SQS and Lambda. ``emailMaxChars``: the longest e-mail text; longer ones are cut
    in the "why" part with a note (what happened, where and what to do next always remain).
    """

    chatbot: bool = False
    email_max_chars: int = Field(default=16_000, ge=1_000, le=200_000)


class ReconcilerSettings(Model):
    project: str = "ecs-gitops"
    repository: RepositorySettings
    environments: dict[str, EnvironmentSettings]
    backend_url: str = "file://~/.ecs-gitops/state"
    secrets_provider: str | None = None
    work_dir: str = "~/.ecs-gitops/work"
    max_webhook_bytes: int = Field(default=1_048_576, ge=1024)
    # Desired-state files larger than this are refused before parsing.
    max_desired_state_file_bytes: int = Field(default=1_048_576, ge=1024)
    # The desired-state repo's archive of one commit is streamed to disk and refused past this.
    max_desired_state_archive_bytes: int = Field(default=512 * 1024 * 1024, ge=1_048_576)
    # The stack lease: a contender takes it over only after seeing its (holder, heartbeat counter)
    # unchanged for leaseStaleAfterSeconds on its own monotonic clock; the holder beats every
    # leaseHeartbeatSeconds and a job that finds the stack busy comes back after stackBusyRetrySeconds.
    lease_stale_after_seconds: int = Field(default=900, ge=10)
    lease_heartbeat_seconds: int = Field(default=60, ge=1)
    stack_busy_retry_seconds: int = Field(default=60, ge=1)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    aws: AwsResources = Field(default_factory=AwsResources)
    ticks: TickSettings = Field(default_factory=TickSettings)
    rollout: RolloutTimingSettings = Field(default_factory=RolloutTimingSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    drift_check: DriftCheckSettings = Field(default_factory=DriftCheckSettings)
    verify: VerifySettings = Field(default_factory=VerifySettings)

    @model_validator(mode="after")
    def _old_tick_keys(self) -> ReconcilerSettings:
        """``worker.tickRetry`` / ``worker.tickMaxAttempts`` (the old keys) fill what ``ticks`` leaves unset."""
        moved: dict[str, Any] = {}
        if self.worker.tick_retry is not None and "retry" not in self.ticks.model_fields_set:
            moved["retry"] = self.worker.tick_retry
        if self.worker.tick_max_attempts is not None and "max_attempts" not in self.ticks.model_fields_set:
            moved["max_attempts"] = self.worker.tick_max_attempts
        return self.model_copy(update={"ticks": self.ticks.model_copy(update=moved)}) if moved else self

    @model_validator(mode="after")
    def _heartbeat_well_inside_stale_interval(self) -> ReconcilerSettings:
        if self.lease_heartbeat_seconds * 3 > self.lease_stale_after_seconds:
            raise ValueError(
                f"leaseHeartbeatSeconds ({self.lease_heartbeat_seconds}) must be at most a third of leaseStaleAfterSeconds "
                f"({self.lease_stale_after_seconds}), so a live holder never looks stale"
            )
        return self

    @model_validator(mode="after")
    def _write_back_can_be_converged(self) -> ReconcilerSettings:
        signed = sorted(name for name, env in self.environments.items() if env.signed_commits_required)
        if self.repository.image_write_back and signed and not self.repository.write_back_signing_key:
            raise ValueError(
                f"environments {', '.join(signed)} require signed commits, so image write-back commits must be signed: "
                "set repository.writeBackSigningKey (and trust its public key there) or repository.imageWriteBack: false"
            )
        return self

    @model_validator(mode="after")
    def _gate_fits_in_the_tick_lease(self) -> ReconcilerSettings:
        worst = self.verify.gate_worst_case_seconds()
        if worst >= self.ticks.claim_lease_seconds:
            raise ValueError(
                f"the promotion gate can take up to {worst}s (verify.gateTimeoutSeconds {self.verify.gate_timeout_seconds} + pollSeconds "
                f"{self.verify.poll_seconds} + {2 * GATE_API_ATTEMPTS} HTTP requests of httpTimeoutSeconds {self.verify.http_timeout_seconds} "
                f"+ {GATE_API_MARGIN_SECONDS}s for its API calls), which must stay under ticks.claimLeaseSeconds ({self.ticks.claim_lease_seconds}): "
                "lower verify.gateTimeoutSeconds (the gate looks again on its own backoff) or raise the lease with the tick queue's VisibilityTimeout"
            )
        return self

    def environment(self, name: str) -> EnvironmentSettings:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise SettingsError(f"environment '{name}' is not managed by this reconciler (managed: {known})") from None


# Top-level settings template.yaml gives the converge worker (the Pulumi backend and secrets provider
# it created or was given); like AWS_ENV_VARS, a variable that is set wins over the file.
SETTINGS_ENV_VARS = {
    "backendUrl": "ECS_GITOPS_BACKEND_URL",
    "secretsProvider": "ECS_GITOPS_SECRETS_PROVIDER",
}


def load_settings(path: str | Path | None = None) -> ReconcilerSettings:
    """From ``path``, else the file named by $ECS_GITOPS_SETTINGS."""
    source = path or os.environ.get(SETTINGS_ENV)
    if not source:
        raise SettingsError(f"no reconciler settings: pass a file or set {SETTINGS_ENV} to its path")
    file = Path(source).expanduser()
    # Imported here: the intake imports this module, and its cold start stays close to boto3's.
    import yaml

    try:
        data = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise SettingsError(f"{file}: cannot read reconciler settings: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{file}: not valid YAML: {exc}") from None
    if isinstance(data, dict):
        environments = data.get("environments")
        undeclared = [
            name for name, env in (environments.items() if isinstance(environments, dict) else ())
            if isinstance(env, dict) and "environmentClass" in env and env["environmentClass"] is None
        ]
        if undeclared:
            raise SettingsError(
                f"{file}: environments.{undeclared[0]}.environmentClass: null is not allowed in a settings file; "
                "use production or non-production (or leave it out: it follows production)"
            )
        # Names of resources template.yaml creates arrive as environment variables; they win.
        # A malformed aws section is left for the model to refuse, with its field named.
        aws = dict(data.get("aws") or {}) if isinstance(data.get("aws") or {}, dict) else data["aws"]
        for key, variable in AWS_ENV_VARS.items() if isinstance(aws, dict) else ():
            if os.environ.get(variable):
                aws[key] = os.environ[variable]
        data = {**data, "aws": aws}
        data.update({key: os.environ[variable] for key, variable in SETTINGS_ENV_VARS.items() if os.environ.get(variable)})
    try:
        return ReconcilerSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise SettingsError(f"{file}: invalid reconciler settings: {problems}") from None
