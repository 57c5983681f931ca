"""Read what AWS reports for one rollout: scan, idle deployment, target health, weights, alarms, smoke."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from desired_state.schema import ImageRef
from reconciler.rollout.decide import (
    DEFAULT_TIMINGS,
    DeploymentState,
    Observed,
    RolloutTimings,
    ScanResult,
    SmokeResult,
    TargetHealthReport,
    VerifyGate,
)
from reconciler.rollout.model import RolloutPhase, RolloutRecord
from reconciler.rollout.router import TrafficRouter
from reconciler.verify.seams import UrllibProbe


def http_get(url: str, timeout: float, *, public_host: str | None = None, probe: UrllibProbe | None = None) -> int:
    """Status code of one GET of the test listener (redirects not followed, ``timeout`` bounding the whole
    request); no answer is status 0. Over HTTPS the certificate's chain is always checked, and its name
    when ``public_host`` (edge.publicHostname) says which name it holds: the request then asks as that host,
    since no certificate names the ALB's own DNS name the URL connects to."""
    answer = (probe or UrllibProbe()).get(url, timeout, public_host=public_host, check_hostname=public_host is not None)
    return answer.status or 0


class RolloutObserver:
    def __init__(
        self,
        ecr: Any,
        ecs: Any,
        elbv2: Any,
        cloudwatch: Any,
        router_for: Callable[[RolloutRecord], TrafficRouter],
        window_check: Callable[[RolloutRecord, datetime], tuple[bool, str]] = lambda record, now: (True, ""),
        fetch: Callable[..., int] = http_get,  # (url, timeout, *, public_host) -> status
        timings: RolloutTimings = DEFAULT_TIMINGS,
        promotion_verify: Callable[[RolloutRecord, datetime], VerifyGate] | None = None,
    ):
        self.ecr, self.ecs, self.elbv2, self.cloudwatch = ecr, ecs, elbv2, cloudwatch
        self.router_for = router_for
        self.window_check = window_check
        self.fetch = fetch
        self.timings = timings
        # The traffic and service checks of the new colour, the promotion's last gate (None: no gate here).
        self.promotion_verify = promotion_verify

    def observe(self, record: RolloutRecord, now: datetime) -> Observed:
        phase = record.phase
        window_open, window_reason = self.window_check(record, now)
        observed: dict[str, Any] = {"window_open": window_open, "window_reason": window_reason}
        if phase == RolloutPhase.SCANNING:
            observed["scan"] = self._scan(record)
        if phase in (RolloutPhase.DEPLOYING, RolloutPhase.SMOKE_TESTING):
            observed["deployment"] = self._deployment(record)
            if record.mode == "blue-green":
                observed["targets"] = self._targets(record)
        if phase == RolloutPhase.SMOKE_TESTING:
            observed["smoke"] = self._smoke(record)
        if record.mode == "blue-green" and phase in (RolloutPhase.SHIFTING, RolloutPhase.BAKING, RolloutPhase.ROLLING_BACK):
            observed["listener_weights"] = self.router_for(record).verify_weights()
        if phase == RolloutPhase.BAKING:
            observed["alarms_in_alarm"] = self._alarms(record)
        if phase == RolloutPhase.PROMOTED and self.promotion_verify is not None and not record.paused and self._scale_down_due(record, now):
            observed["verify"] = self._verify(record, now)
        return Observed(**observed)

    def _verify(self, record: RolloutRecord, now: datetime) -> VerifyGate:
        assert self.promotion_verify is not None
        try:
            return self.promotion_verify(record, now)
        except Exception as exc:  # noqa: BLE001 - a gate that raised has not checked: the rollout holds, the tick goes on
            return VerifyGate(status="could-not-check", headline=f"the promotion gate raised {type(exc).__name__}: {exc}")

    @staticmethod
    def _scale_down_due(record: RolloutRecord, now: datetime) -> bool:
        """The checks take time (target health waits): run them once, when their answer decides something."""
        return record.promoted_at is not None and now >= record.promoted_at + timedelta(seconds=record.spec.scale_down_delay_seconds)

    def _scan(self, record: RolloutRecord) -> ScanResult | None:
        return self.scan_of(record.resources.repository, record.new_image)

    def scan_of(self, repository: str, image_ref: ImageRef) -> ScanResult | None:
        """The ECR scan of one image; None while no scan exists for it."""
        image = {"imageDigest": image_ref.digest} if image_ref.digest else {"imageTag": image_ref.tag}
        try:
            response = self.ecr.describe_image_scan_findings(repositoryName=repository, imageId=image)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ScanNotFoundException":
                return None
            raise
        findings = response.get("imageScanFindings") or {}
        return ScanResult(
            status=(response.get("imageScanStatus") or {}).get("status", "UNKNOWN"),
            finding_counts={k: int(v) for k, v in (findings.get("findingSeverityCounts") or {}).items()},
        )

    def _deployment(self, record: RolloutRecord) -> DeploymentState | None:
        name = record.resources.ecs_services[record.to_colour]
        services = self.ecs.describe_services(cluster=record.resources.cluster, services=[name]).get("services", [])
        if not services:
            return None
        service = services[0]
        primary = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)
        task_definition = (primary or service).get("taskDefinition")
        image = None
        if task_definition:
            containers = self.ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]["containerDefinitions"]
            image = containers[0]["image"] if containers else None
        return DeploymentState(
            image=image,
            rollout_state=(primary or {}).get("rolloutState"),
            running_count=int(service.get("runningCount", 0)),
            desired_count=int(service.get("desiredCount", 0)),
        )

    def _targets(self, record: RolloutRecord) -> TargetHealthReport:
        arn = record.resources.target_groups[record.to_colour]
        descriptions = self.elbv2.describe_target_health(TargetGroupArn=arn).get("TargetHealthDescriptions", [])
        healthy, unhealthy = [], {}
        for description in descriptions:
            target = description["Target"]["Id"]
            health = description.get("TargetHealth", {})
            if health.get("State") == "healthy":
                healthy.append(target)
            else:
                unhealthy[target] = f"{health.get('State')}: {health.get('Reason', '')} {health.get('Description', '')}".strip()
        return TargetHealthReport(healthy=sorted(healthy), unhealthy=unhealthy)

    def _alarms(self, record: RolloutRecord) -> list[str]:
        names = [*record.resources.colour_alarms.get(record.to_colour, []), *record.spec.alarms]
        if not names:
            return []
        found = {a["AlarmName"]: a["StateValue"] for a in self.cloudwatch.describe_alarms(AlarmNames=names).get("MetricAlarms", [])}
        # A watched alarm that does not exist cannot vouch for anything: treat it as firing.
        return [name if name in found else f"{name} (missing)" for name in names if found.get(name, "ALARM") == "ALARM"]

    def _smoke(self, record: RolloutRecord) -> SmokeResult:
        url = record.resources.test_url
        if not url:
            return SmokeResult(passed=False, checks=[{"error": "no test listener URL for this service"}])
        target = url.rstrip("/") + record.resources.health_path
        status = self.fetch(target, self.timings.smoke_request_timeout.total_seconds(), public_host=record.resources.public_host)
        return SmokeResult(passed=200 <= status < 400, checks=[{"url": target, "status": status}])
