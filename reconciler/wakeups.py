"""AWS events a running rollout waits for, turned into immediate wake-ups. Pure: no I/O, no clock.

A rollout polls (health every 15 s, alarms every 30 s); these events let it act at once instead.
Each accepted event names one watched resource (see :mod:`reconciler.rollout.watch`); the intake
looks up the rollouts watching it and schedules a tick for each now. Polling stays the fallback:
a lost event delays a rollout by one poll, never more.

Accepted (EventBridge, shapes as AWS documents them; samples in tests/reconciler/intake/samples/):

* ``aws.cloudwatch`` / ``CloudWatch Alarm State Change`` whose new state is ``ALARM``
  -> ``alarm:<alarmName>``; transitions to ``OK`` or ``INSUFFICIENT_DATA`` wake nobody;
* ``aws.ecs`` / ``ECS Deployment State Change`` ``SERVICE_DEPLOYMENT_COMPLETED`` or ``_FAILED``
  -> ``ecs-service:<cluster>/<service>`` from the service ARN in ``resources``;
* ``aws.ecs`` / ``ECS Service Action`` that reports a deployment's end or a failure to run tasks
  (:data:`WAKING_SERVICE_ACTIONS`) -> ``ecs-service:<cluster>/<service>``;
* ``aws.ecr`` / ``ECR Image Scan`` ``COMPLETE`` -> ``image:<repository>@<digest>`` (before this, a
  finished scan became a job for the converge worker).

An event that cannot be read raises :class:`EventRejected` (dropped and counted by the intake);
one from another account or region than the settings' raises :class:`EventRefused`; a readable
event that wakes nothing is a :class:`NoWakeUp` naming why, logged and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import EventRefused, EventRejected
from reconciler.event_models import EcrImageScanDetail, EventBridgeEvent
from reconciler.events import Reason
from reconciler.rollout.watch import ALARM, ECS_SERVICE, IMAGE, ecs_service_key, image_key
from reconciler.settings import ReconcilerSettings
from reconciler.triggers import _deployable, _owner, _parse
from reconciler.webhook import shown

ALARM_STATE_CHANGE = ("aws.cloudwatch", "CloudWatch Alarm State Change")
ECS_DEPLOYMENT_STATE_CHANGE = ("aws.ecs", "ECS Deployment State Change")
ECS_SERVICE_ACTION = ("aws.ecs", "ECS Service Action")
ECR_IMAGE_SCAN = ("aws.ecr", "ECR Image Scan")
WAKE_UP_EVENTS = (ALARM_STATE_CHANGE, ECS_DEPLOYMENT_STATE_CHANGE, ECS_SERVICE_ACTION, ECR_IMAGE_SCAN)

# A deployment that ended either way: the rollout's DEPLOYING wait (or a rolling rollout's gate) is over.
WAKING_DEPLOYMENT_EVENTS = frozenset({"SERVICE_DEPLOYMENT_COMPLETED", "SERVICE_DEPLOYMENT_FAILED"})
# Service actions that end a deployment or say its tasks cannot run (circuit breaker, placement,
# configuration); the steady-state and desired-count reports repeat on their own and wake nobody.
WAKING_SERVICE_ACTIONS = frozenset(
    {
        "SERVICE_DEPLOYMENT_COMPLETED",
        "SERVICE_DEPLOYMENT_FAILED",
        "SERVICE_TASK_START_IMPAIRED",
        "SERVICE_TASK_PLACEMENT_FAILURE",
        "SERVICE_TASK_CONFIGURATION_FAILURE",
    }
)
# arn:<partition>:ecs:<region>:<account>:service/<cluster>/<service>; the old ARN format has no cluster.
ECS_SERVICE_ARN = re.compile(
    r"arn:aws[a-z-]*:ecs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):service/(?:(?P<cluster>[A-Za-z0-9_-]{1,255})/)?(?P<service>[A-Za-z0-9_-]{1,255})"
)
ECS_CLUSTER_ARN = re.compile(r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/(?P<cluster>[A-Za-z0-9_-]{1,255})")


@dataclass(frozen=True)
class WakeUp:
    """Wake every rollout watching ``key`` of ``kind`` now; ``cause`` says why, for the logs."""

    kind: str
    key: str
    cause: str
    event_id: str


@dataclass(frozen=True)
class NoWakeUp:
    """A readable event that concerns no rollout's wait; ``reason`` says why, for the logs."""

    reason: str
    event_id: str


def is_wake_up_event(event: Any) -> bool:
    """True for the (source, detail-type) pairs this module handles."""
    return isinstance(event, Mapping) and (event.get("source"), event.get("detail-type")) in WAKE_UP_EVENTS


def wake_up_from_eventbridge(settings: ReconcilerSettings, event: Any) -> WakeUp | NoWakeUp:
    """The wake-up one EventBridge event asks for (see the module docstring)."""
    # Imported with the first wake-up event, not with the intake (see reconciler.wakeup_models).
    from reconciler.wakeup_models import AlarmStateChangeDetail, EcsDeploymentStateChangeDetail, EcsServiceActionDetail, ResourceEvent

    if not isinstance(event, Mapping):
        raise EventRejected(f"event is a {type(event).__name__}, not a JSON object")
    envelope = _parse(EventBridgeEvent, event, f"{shown(event.get('source'))} event")
    where = _parse(ResourceEvent, event, f"{envelope.detail_type} event")
    _check_origin(settings, where.account, where.region, f"{envelope.detail_type} event {shown(envelope.id)}")
    kind = (envelope.source, envelope.detail_type)

    if kind == ALARM_STATE_CHANGE:
        alarm = _parse(AlarmStateChangeDetail, envelope.detail, "CloudWatch Alarm State Change detail")
        if alarm.state.value != "ALARM":
            return NoWakeUp(f"alarm {shown(alarm.alarm_name)} moved to {shown(alarm.state.value)}; only ALARM wakes a rollout", envelope.id)
        return WakeUp(ALARM, alarm.alarm_name, f"alarm {alarm.alarm_name} entered ALARM", envelope.id)

    if kind == ECS_DEPLOYMENT_STATE_CHANGE:
        deployment = _parse(EcsDeploymentStateChangeDetail, envelope.detail, "ECS Deployment State Change detail")
        service = _ecs_service(settings, where.resources, None, envelope.detail_type)
        if deployment.event_name not in WAKING_DEPLOYMENT_EVENTS:
            return NoWakeUp(f"{shown(deployment.event_name)} on {shown(service)} ends no deployment", envelope.id)
        return WakeUp(ECS_SERVICE, service, f"ECS {deployment.event_name} on {service}", envelope.id)

    if kind == ECS_SERVICE_ACTION:
        action = _parse(EcsServiceActionDetail, envelope.detail, "ECS Service Action detail")
        service = _ecs_service(settings, where.resources, action.cluster_arn, envelope.detail_type)
        if action.event_name not in WAKING_SERVICE_ACTIONS:
            return NoWakeUp(f"{shown(action.event_name)} on {shown(service)} is not a deployment's end or failure", envelope.id)
        return WakeUp(ECS_SERVICE, service, f"ECS {action.event_name} on {service}", envelope.id)

    if kind == ECR_IMAGE_SCAN:
        scan = _parse(EcrImageScanDetail, envelope.detail, "ECR Image Scan detail")
        if scan.scan_status != "COMPLETE":
            return NoWakeUp(f"scan of {shown(scan.repository_name)} is {shown(scan.scan_status)}, not COMPLETE", envelope.id)
        _environment, service = _owner(settings, scan.repository_name)
        # The digest must be one a rollout could pin, as for a push.
        pinned = _deployable(scan.repository_name, service, None, scan.image_digest)
        key = image_key(scan.repository_name, pinned.digest or "")
        return WakeUp(IMAGE, key, f"ECR scan of {key} COMPLETE", envelope.id)

    raise EventRejected(f"unsupported event: source={shown(envelope.source)} detail-type={shown(envelope.detail_type)}")


def _check_origin(settings: ReconcilerSettings, account: str | None, region: str | None, what: str) -> None:
    """Refuse an event of another account or region than the reconciler's, when the settings know its own."""
    own_account, own_region = settings.aws.account_id, settings.aws.region
    if own_account and account != own_account:
        raise EventRefused(f"{what} comes from account {shown(account)}, not this reconciler's {own_account}; it wakes nothing here", Reason.FOREIGN_EVENT)
    if own_region and region != own_region:
        raise EventRefused(f"{what} comes from region {shown(region)}, not this reconciler's {own_region}; it wakes nothing here", Reason.FOREIGN_EVENT)


def _ecs_service(settings: ReconcilerSettings, resources: list[str], cluster_arn: str | None, detail_type: str) -> str:
    """``<cluster>/<service>`` of the one ECS service ARN in ``resources``."""
    services = [match for match in (ECS_SERVICE_ARN.fullmatch(arn) for arn in resources) if match]
    if len(services) != 1:
        raise EventRejected(f"{detail_type} event: field 'resources' must name exactly one ECS service ARN, not {shown(resources)}")
    arn = services[0]
    _check_origin(settings, arn["account"], arn["region"], f"ECS service {shown(arn[0])}")
    cluster = arn["cluster"]
    if cluster is None and cluster_arn is not None:
        # The old (short) service ARN format names no cluster; a service action's clusterArn does.
        match = ECS_CLUSTER_ARN.fullmatch(cluster_arn)
        cluster = match["cluster"] if match else None
    if cluster is None:
        raise EventRejected(f"{detail_type} event: service ARN {shown(arn[0])} names no cluster (old ARN format) and the event no clusterArn")
    return ecs_service_key(cluster, arn["service"])
