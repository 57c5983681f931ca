"""Typed shapes of the events that wake a rollout (CloudWatch alarm, ECS deployment and service action events).

Shapes as documented in the CloudWatch User Guide ("Alarm events and EventBridge") and the ECS
Developer Guide ("Amazon ECS service deployment state change events", "Amazon ECS service action
events"); samples of each are in tests/reconciler/intake/samples/. Apart from
:mod:`reconciler.event_models` (the events that queue jobs) because :mod:`reconciler.wakeups` imports
this on the first wake-up event: the intake's cold start pays only for the event kinds it receives.
The rules are the same: strict, only the fields read, unknown fields ignored.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from reconciler.event_models import EventModel, Name, Token

# An alarm's state (OK, ALARM, INSUFFICIENT_DATA) or an ECS event name/type: short upper-case words.
StateWord = Annotated[str, StringConstraints(min_length=1, max_length=64)]
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _printable(value: str) -> str:
    # Alarm names may hold spaces (AWS's own example: "EC2 CPU Utilization Anomaly"), never control characters.
    if CONTROL.search(value):
        raise PydanticCustomError("printable", "contains a control character")
    return value


# CloudWatch caps alarm names at 255 characters.
AlarmName = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_printable)]


class AlarmState(EventModel):
    value: StateWord
    reason: Name | None = None
    timestamp: Name | None = None


class AlarmStateChangeDetail(EventModel):
    """``detail`` of ``aws.cloudwatch`` / ``CloudWatch Alarm State Change``."""

    alarm_name: AlarmName = Field(alias="alarmName")
    state: AlarmState
    previous_state: AlarmState | None = Field(default=None, alias="previousState")


class EcsDeploymentStateChangeDetail(EventModel):
    """``detail`` of ``aws.ecs`` / ``ECS Deployment State Change``; the service is the event's ``resources[0]``."""

    event_type: StateWord = Field(alias="eventType")
    event_name: StateWord = Field(alias="eventName")
    deployment_id: Name | None = Field(default=None, alias="deploymentId")
    reason: Name | None = None


class EcsServiceActionDetail(EventModel):
    """``detail`` of ``aws.ecs`` / ``ECS Service Action``; the service is the event's ``resources[0]``."""

    event_type: StateWord = Field(alias="eventType")
    event_name: StateWord = Field(alias="eventName")
    cluster_arn: Annotated[Token, StringConstraints(min_length=1)] | None = Field(default=None, alias="clusterArn")
    reason: Name | None = None


class ResourceEvent(EventModel):
    """The envelope fields a wake-up reads besides ``detail``: where the event comes from and what it names."""

    account: Name | None = None
    region: Name | None = None
    resources: list[Token] = Field(default_factory=list, max_length=100)
