"""The typed desired state of one environment.

Git holds *what* should run: this schema. How traffic is split right now is runtime state owned
by the rollout controller and lives in :mod:`desired_state.traffic`.

Keys in YAML are camelCase; unknown keys and wrong types are refused (``extra="forbid"``,
strict mode), so a typo never silently falls back to a default.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from desired_state.naming import SERVICE_NAMES, suffix_problems

# Fargate's accepted task sizes: CPU units -> the memory (MiB) values allowed with it.
FARGATE_TASK_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

RFC1918_BLOCKS = tuple(ipaddress.IPv4Network(b) for b in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
MUTABLE_TAGS = frozenset({"latest", "stable", "main", "master", "dev", "prod", "production", "staging", "edge", "nightly"})
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")
ENV_NAME_PATTERN = re.compile(r"^[A-Z_][A-Z0-9_]*$")
SECRET_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
AZ_PATTERN = re.compile(r"^([a-z]{2}(?:-gov)?-[a-z]+-\d)([a-z])$")
CERT_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
HOST_LABEL_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # one DNS label (RFC 1123), lower case
# ALB TLS policies that allow only TLS 1.2 and 1.3; older ones are refused.
CURRENT_TLS_POLICIES = frozenset(
    {
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
    }
)


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        # Validators are built on first use, not at import: the intake Lambda imports this module for
        # ImageRef alone and should not pay (cold start) for the twenty other models.
        defer_build=True,
    )


class ImageRef(Model):
    """An immutable reference to an image in the platform's own ECR repository for a service."""

    repository: str
    tag: str | None = None
    digest: str | None = None

    @field_validator("tag")
    @classmethod
    def _immutable_tag(cls, tag: str | None) -> str | None:
        if tag is None:
            return tag
        if not TAG_PATTERN.fullmatch(tag):
            raise ValueError(f"'{tag}' is not a valid image tag (letters, digits, '_', '.', '-'; at most 128)")
        if tag.lower() in MUTABLE_TAGS:
            raise ValueError(
                f"'{tag}' is a moving tag; use an immutable release tag (e.g. a version or git SHA) or a digest"
            )
        return tag

    @field_validator("digest")
    @classmethod
    def _digest_form(cls, digest: str | None) -> str | None:
        if digest is not None and not DIGEST_PATTERN.fullmatch(digest):
            raise ValueError(f"'{digest}' is not an image digest of the form sha256:<64 hex characters>")
        return digest

    @model_validator(mode="after")
    def _tag_or_digest(self) -> ImageRef:
        if self.tag is None and self.digest is None:
            raise ValueError("give a tag or a digest; without one the image is not pinned")
        return self

    @property
    def reference(self) -> str:
        """What follows the repository URL: ``@sha256:...`` when pinned by digest, else ``:tag``."""
        return f"@{self.digest}" if self.digest else f":{self.tag}"


class ScalingSpec(Model):
    min: int = Field(ge=0, le=100)
    max: int = Field(ge=1, le=100)
    cpu_target: float = Field(gt=0, le=100)
    scale_in_cooldown: int = Field(default=300, ge=0, le=3600)
    scale_out_cooldown: int = Field(default=60, ge=0, le=3600)

    @model_validator(mode="after")
    def _bounds(self) -> ScalingSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class HealthCheckSpec(Model):
    path: str = Field(pattern=r"^/[A-Za-z0-9/_.\-]*$", max_length=1024)
    interval: int = Field(default=30, ge=5, le=300)
    timeout: int = Field(default=5, ge=2, le=60)  # the container health check allows at most 60
    healthy_threshold: int = Field(default=3, ge=2, le=10)
    unhealthy_threshold: int = Field(default=3, ge=2, le=10)
    grace_period: int = Field(ge=0, le=2_147_483_647)
    matcher: str = Field(default="200-399", pattern=r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> HealthCheckSpec:
        if self.timeout >= self.interval:
            raise ValueError(f"timeout ({self.timeout}s) must be shorter than interval ({self.interval}s)")
        return self


class CapacityProviderWeights(Model):
    """Share of tasks on FARGATE and FARGATE_SPOT; ``base`` tasks always go to FARGATE."""

    fargate: int = Field(ge=0, le=1000)
    fargate_spot: int = Field(default=0, ge=0, le=1000)
    base: int = Field(default=0, ge=0, le=100000)

    @model_validator(mode="after")
    def _some_weight(self) -> CapacityProviderWeights:
        if self.fargate + self.fargate_spot == 0:
            raise ValueError("at least one of fargate and fargateSpot must have a weight above 0")
        return self


class SecretInjection(Model):
    """One environment variable of a container filled from a Secrets Manager secret."""

    env: str
    secret: str
    key: str | None = None

    @field_validator("env")
    @classmethod
    def _env_name(cls, env: str) -> str:
        if not ENV_NAME_PATTERN.fullmatch(env):
            raise ValueError(f"'{env}' is not an environment variable name (A-Z, 0-9, '_')")
        return env


SCAN_SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")


class RolloutSpec(Model):
    """How a new image of this service reaches customers: gates, steps and how long to watch each."""

    steps: tuple[int, ...] = (10, 50, 100)
    bake_seconds: int = Field(default=300, ge=0, le=86400)
    # CloudWatch alarms watched during every bake; any in ALARM rolls the rollout back.
    alarms: tuple[str, ...] = ()
    scan_severity_threshold: Literal["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"] = "HIGH"
    # Thresholds of the alarms the program creates on each colour's target group.
    max_5xx_per_minute: int = Field(default=5, ge=0, le=100000, alias="max5xxPerMinute")
    max_p99_latency_seconds: float = Field(default=2.0, gt=0, le=60)
    scan_timeout_seconds: int = Field(default=900, ge=60, le=86400)
    deploy_timeout_seconds: int = Field(default=900, ge=60, le=86400)
    smoke_timeout_seconds: int = Field(default=120, ge=5, le=3600)
    scale_down_delay_seconds: int = Field(default=900, ge=0, le=86400)

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: tuple[int, ...]) -> tuple[int, ...]:
        if not steps or steps[-1] != 100:
            raise ValueError("steps must end at 100 (the new colour takes all traffic)")
        if any(not 0 < step <= 100 for step in steps) or list(steps) != sorted(set(steps)):
            raise ValueError("steps must be strictly increasing percentages between 1 and 100")
        return steps


class ServiceSpec(Model):
    image: ImageRef
    cpu: int
    memory: int
    port: int = Field(ge=1, le=65535)
    desired_count: int = Field(ge=0, le=1000)
    scaling: ScalingSpec
    health_check: HealthCheckSpec
    environment: dict[str, str] = Field(default_factory=dict)
    secrets: tuple[SecretInjection, ...] = ()
    capacity_providers: CapacityProviderWeights
    readonly_root_filesystem: bool = True
    health_check_command: tuple[str, ...] | None = None
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)

    @field_validator("environment")
    @classmethod
    def _env_names(cls, environment: dict[str, str]) -> dict[str, str]:
        bad = [k for k in environment if not ENV_NAME_PATTERN.fullmatch(k)]
        if bad:
            raise ValueError(f"not environment variable names: {', '.join(sorted(bad))}")
        return environment


class Services(Model):
    frontend: ServiceSpec
    api_gateway: ServiceSpec = Field(alias="api-gateway")
    processing_service: ServiceSpec = Field(alias="processing-service")

    def items(self) -> list[tuple[str, ServiceSpec]]:
        return [(n, getattr(self, n.replace("-", "_"))) for n in SERVICE_NAMES]

    def get(self, service: str) -> ServiceSpec:
        return getattr(self, service.replace("-", "_"))


class FlowLogSpec(Model):
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"
    retention_in_days: Literal[30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] = 30
    max_aggregation_interval: Literal[60, 600] = 600


class NetworkSpec(Model):
    cidr: str
    availability_zones: tuple[str, str, str]
    nat_gateways: Literal["per-az", "single"] = "per-az"
    flow_logs: FlowLogSpec = Field(default_factory=FlowLogSpec)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, cidr: str) -> str:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError as exc:
            raise ValueError(f"'{cidr}' is not an IPv4 network in CIDR form: {exc}") from None
        if not 16 <= network.prefixlen <= 22:
            raise ValueError(f"prefix /{network.prefixlen} is out of range; use /16 to /22 so six subnets fit")
        if not any(network.subnet_of(block) for block in RFC1918_BLOCKS):
            raise ValueError(f"'{cidr}' is not inside a private RFC 1918 range (10/8, 172.16/12, 192.168/16)")
        return cidr

    @field_validator("availability_zones", mode="before")
    @classmethod
    def _three_zones(cls, zones: object) -> object:
        # Said plainly, not as "availabilityZones[2]: required field is missing".
        if isinstance(zones, (list, tuple)) and len(zones) != 3:
            count = len(zones)
            amount = f"only {count}" if count < 3 else str(count)
            raise ValueError(
                f"{amount} availability zone{'s' if count != 1 else ''} given; list exactly 3 "
                "(the network has a public and a private subnet in each of three zones)"
            )
        # Handed on as a tuple: after a before-validator strict mode checks a Python object.
        return tuple(zones) if isinstance(zones, list) else zones

    @field_validator("availability_zones")
    @classmethod
    def _distinct(cls, zones: tuple[str, str, str]) -> tuple[str, str, str]:
        for zone in zones:
            if not AZ_PATTERN.fullmatch(zone):
                raise ValueError(f"'{zone}' is not an availability zone name such as us-east-1a")
        if len(set(zones)) != 3:
            raise ValueError("the three availability zones must be distinct")
        return zones


class LifecycleSpec(Model):
    keep_tagged_images: int = Field(default=30, ge=1, le=1000)
    expire_untagged_after_days: int = Field(default=7, ge=1, le=365)


class RegistrySpec(Model):
    encryption: Literal["AES256", "KMS"] = "AES256"
    kms_key_arn: str | None = None
    lifecycle: LifecycleSpec = Field(default_factory=LifecycleSpec)

    @model_validator(mode="after")
    def _kms_key_only_with_kms(self) -> RegistrySpec:
        if self.kms_key_arn and self.encryption != "KMS":
            raise ValueError("kmsKeyArn is set but encryption is AES256; set encryption: KMS or drop the key")
        return self


class ClusterSpec(Model):
    container_insights: Literal["enabled", "enhanced", "disabled"] = "enabled"
    default_capacity_providers: CapacityProviderWeights = CapacityProviderWeights(fargate=1)


class AccessLogSpec(Model):
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    prefix: str = ""


class EdgeSpec(Model):
    certificate_arn: str | None = None
    # The public host the certificate is for. Verify reaches the ALB by its DNS name, which no ACM
    # certificate can name: its HTTPS probe asks as this host (TLS name and Host header) instead.
    public_hostname: str | None = None
    ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    test_listener_port: int = Field(default=8443, ge=1024, le=65535)
    api_path_patterns: tuple[str, ...] = ("/api/*",)
    idle_timeout: int = Field(default=60, ge=1, le=4000)
    deregistration_delay: int = Field(default=30, ge=0, le=3600)
    access_logs: AccessLogSpec | None = None

    @field_validator("certificate_arn")
    @classmethod
    def _cert(cls, arn: str | None) -> str | None:
        if arn is not None and not CERT_ARN_PATTERN.fullmatch(arn):
            raise ValueError(f"'{arn}' is not an ACM certificate ARN")
        return arn

    @field_validator("public_hostname")
    @classmethod
    def _public_hostname(cls, host: str | None) -> str | None:
        why = None if host is None else _host_name_problem(host)
        if why is not None:
            raise ValueError(
                f"edge.publicHostname {host!r} is not a DNS host name: {why}; "
                "give the public host the certificate is for, like app.example.com"
            )
        return host

    @field_validator("ssl_policy")
    @classmethod
    def _tls(cls, policy: str) -> str:
        if policy not in CURRENT_TLS_POLICIES:
            raise ValueError(
                f"'{policy}' is not a current TLS 1.2+/1.3 policy; use one of {', '.join(sorted(CURRENT_TLS_POLICIES))}"
            )
        return policy

    @field_validator("api_path_patterns")
    @classmethod
    def _patterns(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        if not 1 <= len(patterns) <= 5:
            raise ValueError("give 1 to 5 path patterns (an ALB rule condition takes at most 5)")
        return patterns


def _host_name_problem(host: str) -> str | None:
    """Why ``host`` is not a fully qualified DNS host name in lower case (None: it is one)."""
    if not host:
        return "it is empty"
    if "://" in host:
        return "give the host alone, without a scheme"
    if "/" in host:
        return "give the host alone, without a path"
    if ":" in host:
        return "give the host alone, without a port"
    if host != host.lower():
        return "write it in lower case"
    if len(host) > 253:
        return f"a host name has at most 253 characters (this has {len(host)})"
    labels = host.split(".")
    if any(label == "" for label in labels):
        return "it has an empty label (a leading, trailing or doubled dot)"
    bad = next((label for label in labels if not HOST_LABEL_PATTERN.fullmatch(label)), None)
    if bad is not None:
        return f"label {bad!r} is not 1 to 63 letters, digits or hyphens, starting and ending with a letter or digit"
    if labels[-1].isdigit():
        return "a host name, not an IP address"
    if len(labels) < 2:
        return "a fully qualified name has at least two labels"
    return None


class SecretSpec(Model):
    """A Secrets Manager secret the platform owns. Values never live in git.

    ``generated-credentials``: a JSON document ``{"username": ..., "password": ...}`` with a
    generated password. ``generated-string``: a generated random string. ``config``: the value of
    the Pulumi secret config key ``configKey`` (set with ``pulumi config set --secret``).

    ``allowedServices``: the services that may receive the secret (least privilege: the tiers stay
    isolated, so the internet-facing frontend never gets the database credentials). Absent or
    empty means no service may: a secret is granted by naming its receivers, never by default.
    Only listed services' execution roles may read it, and policy SECRET-003 refuses a service
    that injects a secret it is not listed for.
    """

    kind: Literal["generated-credentials", "generated-string", "config"]
    description: str = Field(default="", max_length=2048)
    username: str | None = None
    length: int = Field(default=40, ge=16, le=4096)
    config_key: str | None = None
    allowed_services: tuple[str, ...] = ()

    @field_validator("allowed_services")
    @classmethod
    def _known_services(cls, services: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in services if s not in SERVICE_NAMES]
        if unknown:
            raise ValueError(f"{', '.join(repr(s) for s in unknown)} is not a service of the platform; use some of {', '.join(SERVICE_NAMES)}")
        if len(set(services)) != len(services):
            raise ValueError("a service is listed twice; list each receiving service once")
        return services

    def may_receive(self, service: str) -> bool:
        """Whether ``service`` is one of the secret's declared receivers."""
        return service in self.allowed_services

    @model_validator(mode="after")
    def _kind_fields(self) -> SecretSpec:
        if self.kind == "generated-credentials" and not self.username:
            raise ValueError("kind generated-credentials needs a username")
        if self.kind == "config" and not self.config_key:
            raise ValueError("kind config needs configKey, the Pulumi secret config key holding the value")
        if self.kind != "config" and self.config_key:
            raise ValueError(f"configKey only applies to kind config, not {self.kind}")
        return self


class DiscoverySpec(Model):
    namespace: str | None = None
    dns_ttl: int = Field(default=10, ge=0, le=86400)


class DesiredState(Model):
    """Everything git says about one environment."""

    environment_suffix: str
    # Production environments get the strictest policies (e.g. one NAT gateway per AZ).
    environment_class: Literal["production", "non-production"] = "non-production"
    region: str = "us-east-1"
    network: NetworkSpec
    registry: RegistrySpec = Field(default_factory=RegistrySpec)
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    edge: EdgeSpec = Field(default_factory=EdgeSpec)
    discovery: DiscoverySpec = Field(default_factory=DiscoverySpec)
    log_retention_in_days: Literal[30] = 30
    secrets: dict[str, SecretSpec] = Field(default_factory=dict)
    services: Services
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("environment_suffix")
    @classmethod
    def _suffix(cls, suffix: str) -> str:
        problems = suffix_problems(suffix)
        if problems:
            raise ValueError(f"'{suffix}' " + "; ".join(problems))
        return suffix

    @field_validator("region")
    @classmethod
    def _region(cls, region: str) -> str:
        if not re.fullmatch(r"[a-z]{2}(?:-gov)?-[a-z]+-\d", region):
            raise ValueError(f"'{region}' is not an AWS region name such as us-east-1")
        return region

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, secrets: dict[str, SecretSpec]) -> dict[str, SecretSpec]:
        bad = [n for n in secrets if not SECRET_NAME_PATTERN.fullmatch(n)]
        if bad:
            raise ValueError(f"secret names must be lowercase words joined by '-': {', '.join(bad)}")
        return secrets

    def with_images(self, images: dict[str, ImageRef]) -> DesiredState:
        """This state with some services' images replaced (a rollout's staged image)."""
        if not images:
            return self
        services = {name: spec.model_copy(update={"image": images[name]}) if name in images else spec for name, spec in self.services.items()}
        return self.model_copy(update={"services": Services.model_validate({k: v.model_dump(by_alias=True) for k, v in services.items()})})

    @property
    def discovery_namespace(self) -> str:
        return self.discovery.namespace or f"{self.environment_suffix}.platform.internal"



Path = tuple[str | int, ...]


def _has_suffix_label(dns_name: str, suffix: str) -> bool:
    """The suffix is a whole DNS label, or a label ends with ``-<suffix>`` (``devops`` does not count for ``dev``)."""
    return any(label == suffix or label.endswith(f"-{suffix}") for label in dns_name.lower().split("."))


def semantic_problems(state: DesiredState) -> list[tuple[Path, str]]:
    """Rules that span fields, each with the exact path of the field to fix."""
    return cross_field_problems(state.model_dump(by_alias=True, mode="json"))


_DEFAULTS: dict[Path, object] = {("region",): "us-east-1", ("secrets",): {}, ("discovery",): {}}


class _Unusable(Exception):
    """A value a cross-field rule needs is absent, of the wrong type, or already refused."""


class _RawView:
    """Reads plain (YAML/JSON) data for the cross-field rules, refusing values that are not usable.

    A value is usable when no schema problem sits at it, inside it or at one of its ancestors:
    then it is exactly what the typed model would hold, so a rule gives the same answer on it
    as on a validated state. That lets the rules run even when other fields are wrong.
    """

    def __init__(self, data: object, refused: Callable[[Path], bool]):
        self.data = data
        self.refused = refused

    def get(self, path: Path, kind: type | tuple[type, ...]) -> object:
        if self.refused(path):
            raise _Unusable(path)
        value: object = self.data
        for part in path:
            if isinstance(part, int) and isinstance(value, list) and 0 <= part < len(value):
                value = value[part]
            elif isinstance(part, str) and isinstance(value, dict) and part in value:
                value = value[part]
            elif path in _DEFAULTS:
                value = _DEFAULTS[path]
                break
            else:
                raise _Unusable(path)
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            raise _Unusable(path)
        return value


def cross_field_problems(data: object, refused: Callable[[Path], bool] = lambda path: False) -> list[tuple[Path, str]]:
    """The cross-field rules over plain data; each rule runs on its own and is skipped when a value it reads is refused.

    ``refused(path)`` is True when the schema already refused the value at ``path`` (or around
    it); the rules then leave that value to the schema's problem instead of guessing.
    """
    view = _RawView(data, refused)
    problems: list[tuple[Path, str]] = []
    rules: list[Callable[[], list[tuple[Path, str]]]] = []

    def rule(check: Callable[[], list[tuple[Path, str]]]) -> None:
        rules.append(check)

    def zones() -> list[tuple[Path, str]]:
        region = view.get(("region",), str)
        zone_list = view.get(("network", "availabilityZones"), list)
        found = []
        for index in range(len(zone_list)):
            zone = view.get(("network", "availabilityZones", index), str)
            if not str(zone).startswith(str(region)):
                found.append((("network", "availabilityZones", index), f"'{zone}' is not in region {region}"))
        return found

    rule(zones)
    for service in SERVICE_NAMES:
        at: Path = ("services", service)
        rule(lambda at=at: _task_size(view, at))
        rule(lambda at=at: _desired_within_scaling(view, at))
        rule(lambda at=at, service=service: _own_repository(view, at, service))
        rule(lambda at=at: _secret_injections(view, at))

    def namespace() -> list[tuple[Path, str]]:
        name = view.get(("discovery",), dict).get("namespace")  # type: ignore[attr-defined]
        if name is None:
            return []
        name = view.get(("discovery", "namespace"), str)
        suffix = view.get(("environmentSuffix",), str)
        if not _has_suffix_label(str(name), str(suffix)):
            return [(("discovery", "namespace"), f"'{name}' must contain the environment suffix '{suffix}'")]
        return []

    rule(namespace)

    def public_hostname() -> list[tuple[Path, str]]:
        at: Path = ("edge", "publicHostname")
        host = view.get(at, (str, type(None))) if _present(view, at) else None
        if host is None:
            return []
        # A refused certificateArn is set: its own problem says what to fix.
        arn_at: Path = ("edge", "certificateArn")
        if _present(view, arn_at) and view.get(arn_at, (str, type(None))) is not None:
            return []
        return [(at, f"'{host}' names the host a certificate is for, but edge.certificateArn is not set (without one the ALB serves "
                     "plain HTTP and there is no certificate to check): set edge.certificateArn, or remove edge.publicHostname")]

    rule(public_hostname)
    for check in rules:
        try:
            problems.extend(check())
        except _Unusable:
            continue
    return problems


def _task_size(view: _RawView, at: Path) -> list[tuple[Path, str]]:
    cpu = view.get((*at, "cpu"), int)
    allowed = FARGATE_TASK_SIZES.get(cpu)  # type: ignore[call-overload]
    if allowed is None:
        return [((*at, "cpu"), f"{cpu} is not a Fargate CPU size; use one of {', '.join(map(str, FARGATE_TASK_SIZES))}")]
    memory = view.get((*at, "memory"), int)
    if memory not in allowed:
        return [
            (
                (*at, "memory"),
                f"Fargate does not accept cpu {cpu} with memory {memory} MiB; "
                f"with cpu {cpu} use one of {', '.join(map(str, allowed))}",
            )
        ]
    return []


def _desired_within_scaling(view: _RawView, at: Path) -> list[tuple[Path, str]]:
    desired = view.get((*at, "desiredCount"), int)
    view.get((*at, "scaling"), dict)
    low, high = view.get((*at, "scaling", "min"), int), view.get((*at, "scaling", "max"), int)
    if not low <= desired <= high:  # type: ignore[operator]
        return [((*at, "desiredCount"), f"{desired} is outside the scaling bounds {low}..{high}")]
    return []


def _own_repository(view: _RawView, at: Path, service: str) -> list[tuple[Path, str]]:
    repository = view.get((*at, "image", "repository"), str)
    if repository != service:
        return [
            (
                (*at, "image", "repository"),
                f"'{repository}' is not this service's repository; {service} pulls only from "
                f"'{service}' (its execution role may read no other repository)",
            )
        ]
    return []


def _secret_injections(view: _RawView, at: Path) -> list[tuple[Path, str]]:
    # A service without secrets or environment has empty ones; a refused one leaves the rule out.
    injections = view.get((*at, "secrets"), list) if _present(view, (*at, "secrets")) else []
    environment = view.get((*at, "environment"), dict) if _present(view, (*at, "environment")) else {}
    found: list[tuple[Path, str]] = []
    for index in range(len(injections)):  # type: ignore[arg-type]
        here = (*at, "secrets", index)
        try:
            secret = view.get((*here, "secret"), str)
            declared_secrets = view.get(("secrets",), dict)
            if secret not in declared_secrets:  # type: ignore[operator]
                declared = ", ".join(sorted(declared_secrets)) or "none"  # type: ignore[call-overload]
                found.append(((*here, "secret"), f"'{secret}' is not declared under secrets (declared: {declared})"))
        except _Unusable:
            pass
        try:
            env = view.get((*here, "env"), str)
            if env in environment:  # type: ignore[operator]
                found.append(((*here, "env"), f"{env} is also a plain environment value; keep it in one place"))
        except _Unusable:
            pass
    return found


def _present(view: _RawView, path: Path) -> bool:
    """True when ``path`` is set (refused or not); False when it is absent and takes its default."""
    value: object = view.data
    for part in path:
        if isinstance(part, str) and isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(part, int) and isinstance(value, list) and 0 <= part < len(value):
            value = value[part]
        else:
            return view.refused(path)
    return True
