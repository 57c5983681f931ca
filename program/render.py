"""Render the program offline: the real program code under Pulumi's unit-test mocks.

No Pulumi CLI, no engine, no AWS account and no network. Every resource the program registers
is recorded with its type token, logical name, parent, options and wire-format inputs, secrets
masked (see :mod:`program.mocks` for what stands in for AWS).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from typing import Any

import pulumi
from pydantic import BaseModel, ConfigDict, Field

from program.mocks import PLACEHOLDER_ACCOUNT, OfflineMocks, RecordingMonitor, RenderedResource, mask_secrets
from program.platform import PROGRAM_VERSION, StackInputs, build_platform

PROJECT = "ecs-gitops"
# Pulumi's mocks configure process-wide runtime state (settings, the root stack, the RPC manager):
# two renders at once in one process hang or mix their resources, so renders take turns. The worker's
# converge loops render in threads (the policy gate); a render is CPU-bound, so little is lost.
_RENDER_LOCK = threading.RLock()
DEFAULT_MOCK_REGION = "us-east-1"  # the placeholder mocks' region; every render sets its own


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


_prepared_threads = threading.local()


def thread_event_loop() -> None:
    """Make the calling thread ready for Pulumi outputs: call it before making ``pulumi.Output`` values in a
    thread other than the main one (the worker's converge loops).

    Such a thread has no asyncio loop, and Pulumi's runtime settings live in context variables that a new
    thread starts without: outputs made there before any mocks were set wait forever in the render
    (measured: a render in a thread after one in the main thread hung). So the thread gets a loop and
    placeholder mocks once; each render sets its own mocks as before.
    """
    if getattr(_prepared_threads, "ready", False):
        return
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    if threading.current_thread() is not threading.main_thread():
        with _RENDER_LOCK:
            pulumi.runtime.set_mocks(OfflineMocks(DEFAULT_MOCK_REGION), project=PROJECT, stack="thread-setup", preview=False)
    _prepared_threads.ready = True


def render(inputs: StackInputs) -> RenderedStack:
    """Run :func:`build_platform` under mocks and return every resource, output and warning (one render at a time per process)."""
    with _RENDER_LOCK:
        thread_event_loop()
        return _render(inputs)


def _render(inputs: StackInputs) -> RenderedStack:
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
