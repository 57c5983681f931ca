"""Render the program offline: the real program code under Pulumi's unit-test mocks.

No Pulumi CLI, no engine, no AWS account and no network. Every resource the program registers
is recorded with its type token, logical name, parent, options and wire-format inputs, secrets
masked (see :mod:`program.mocks` for what stands in for AWS).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pulumi
from pydantic import BaseModel, ConfigDict, Field

from program.mocks import PLACEHOLDER_ACCOUNT, OfflineMocks, RecordingMonitor, RenderedResource, mask_secrets
from program.platform import PROGRAM_VERSION, StackInputs, build_platform

PROJECT = "ecs-gitops"


class RenderedStack(BaseModel):
    """What the program would build for one environment."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    environment: str
    program_version: str = Field(alias="programVersion")
    resources: list[RenderedResource]
    outputs: dict[str, Any]
    warnings: list[str]
    placeholder_account: str = Field(default=PLACEHOLDER_ACCOUNT, alias="placeholderAccount")

    def of_type(self, type_token: str) -> list[RenderedResource]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, logical_name: str) -> RenderedResource:
        matches = [r for r in self.resources if r.name == logical_name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {logical_name!r}")
        return matches[0]

    def type_counts(self) -> Counter[str]:
        return Counter(r.type for r in self.resources if r.custom)

    def to_json_document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def render(inputs: StackInputs) -> RenderedStack:
    """Run :func:`build_platform` under mocks and return every resource, output and warning."""
    environment = inputs.desired.environment_suffix
    monitor = RecordingMonitor(OfflineMocks(inputs.desired.region))
    logger = logging.getLogger(f"ecs_gitops.render.{environment}")
    logger.propagate = False
    collector = _WarningCollector()
    logger.addHandler(collector)
    resolved: dict[str, Any] = {}
    try:
        pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=environment, preview=False, logger=logger, monitor=monitor)

        @pulumi.runtime.test
        def program() -> pulumi.Output[Any]:
            platform = build_platform(inputs)
            keys = list(platform.outputs)
            return pulumi.Output.all(*(platform.outputs[k] for k in keys)).apply(
                lambda values: resolved.update(zip(keys, values, strict=True))
            )

        program()
    finally:
        logger.removeHandler(collector)
    return RenderedStack(
        environment=environment,
        programVersion=PROGRAM_VERSION,
        # Pulumi registers resources asynchronously, so their order varies from run to run; a
        # plan sorted by name is the same every time and diffs cleanly.
        resources=sorted(monitor.registrations, key=lambda r: r.name),
        outputs=mask_secrets(resolved),
        warnings=collector.messages,
    )
