"""Run the Pulumi program: the ``Engine`` interface and its Automation API implementation.

:class:`AutomationEngine` drives the project's own program (``Pulumi.yaml`` + ``program/``)
through ``pulumi.automation``: one stack per environment, backend URL and secrets provider
from settings (an S3 backend with a KMS secrets provider in AWS, ``file://`` locally), stack
config from the validated desired state and the rollout controller's traffic state. Engine
events stream into structured logs; the stack lock is honoured: a concurrent update is retried
with backoff, then reported, never forced.

It needs the Pulumi CLI on PATH; without it every call fails at once with
:class:`EngineUnavailableError` saying how to install it.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reconciler.errors import EngineError, EngineUnavailableError, StackLockedError
from reconciler.models import PlanSummary

log = logging.getLogger("ecs_gitops.engine")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTALL_HINT = (
    "install the Pulumi CLI (https://www.pulumi.com/docs/install/, e.g. `curl -fsSL https://get.pulumi.com | sh`) "
    "and make sure `pulumi` is on PATH, or run with --dry-run to stop after plan and policy"
)
CHANGE_OPS = {
    "create": "create",
    "update": "update",
    "delete": "delete",
    "replace": "replace",
    # One replacement is reported as create-replacement, replace and delete-replaced: either of
    # the first two marks it, and names are de-duplicated so it counts once.
    "create-replacement": "replace",
    "same": "same",
}
# The steps of a refreshed preview that change something, kept for reconciler.drift; of one
# resource's several steps (a replacement is create-replacement, replace and delete-replaced) the
# one that tells the most: the replace step carries the diff and the keys forcing the replacement.
DRIFT_STEP_PRIORITY = {"replace": 0, "create-replacement": 1, "update": 2, "create": 3, "delete": 4, "delete-replaced": 5}
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class StackRequest:
    stack: str
    config: Mapping[str, str]
    secret_config: Mapping[str, str] = field(default_factory=dict)
    message: str = ""
    # Read the real resources before diffing, so the preview shows drift, not only desired changes.
    refresh: bool = False


@dataclass(frozen=True)
class EngineResult:
    operation: str
    summary: PlanSummary
    outputs: Mapping[str, Any] = field(default_factory=dict)
    diagnostics: tuple[str, ...] = ()
    engine_version: str | None = None
    # A refreshed preview's steps that would change something (``pulumi.automation.events.StepEventMetadata``,
    # with ``diffs``/``detailed_diff``/``old``/``new``): what reconciler.drift maps to a DriftReport.
    steps: tuple[Any, ...] = ()


class Engine(Protocol):
    def preview(self, request: StackRequest) -> EngineResult: ...

    def up(self, request: StackRequest) -> EngineResult: ...

    def refresh(self, request: StackRequest) -> EngineResult: ...

    def outputs(self, stack: str) -> Mapping[str, Any]: ...

    def destroy(self, request: StackRequest) -> EngineResult: ...


def _resource_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] if "::" in urn else urn


class EngineEventRecorder:
    """Turns ``pulumi.automation.events.EngineEvent`` objects into a :class:`PlanSummary` and logs.

    Only names, types and operations are logged: never property values, which may hold secrets.
    """

    def __init__(self, stack: str, operation: str, sink: logging.Logger = log):
        self.stack = stack
        self.operation = operation
        self.sink = sink
        self.resources: dict[str, set[str]] = {}
        self.same = 0
        self.diagnostics: list[str] = []
        self.failed: list[str] = []
        self.summary_counts: dict[str, int] | None = None
        self._steps: dict[str, Any] = {}

    def _keep_step(self, metadata: Any) -> None:
        """One changing step per resource (never the Stack): the most telling, the fullest copy of it."""
        op = str(getattr(metadata.op, "value", metadata.op))
        if op not in DRIFT_STEP_PRIORITY or metadata.type == STACK_TYPE:
            return
        kept = self._steps.get(metadata.urn)
        if kept is not None:
            kept_op = str(getattr(kept.op, "value", kept.op))
            fuller = kept_op == op and not kept.detailed_diff and metadata.detailed_diff
            if DRIFT_STEP_PRIORITY[op] >= DRIFT_STEP_PRIORITY[kept_op] and not fuller:
                return
        self._steps[metadata.urn] = metadata

    @property
    def steps(self) -> tuple[Any, ...]:
        """The changing steps seen (``StepEventMetadata``), one per resource, in the order first seen."""
        return tuple(self._steps.values())

    def __call__(self, event: Any) -> None:
        outputs = getattr(event, "res_outputs_event", None)
        if outputs is not None and outputs.metadata is not None:
            self._keep_step(outputs.metadata)
        pre = getattr(event, "resource_pre_event", None)
        if pre is not None and pre.metadata is not None:
            self._keep_step(pre.metadata)
            op = str(getattr(pre.metadata.op, "value", pre.metadata.op))
            kind = CHANGE_OPS.get(op)
            name = _resource_name(pre.metadata.urn)
            if kind and pre.metadata.type != STACK_TYPE:
                if kind == "same":
                    self.same += 1
                else:
                    self.resources.setdefault(kind, set()).add(pre.metadata.urn)
            self.sink.info(
                "engine step", extra={"stack": self.stack, "operation": self.operation, "op": op, "resource": name, "type": pre.metadata.type}
            )
        failed = getattr(event, "res_op_failed_event", None)
        if failed is not None and failed.metadata is not None:
            self.failed.append(_resource_name(failed.metadata.urn))
        diagnostic = getattr(event, "diagnostic_event", None)
        if diagnostic is not None and diagnostic.severity in ("warning", "error"):
            message = f"{diagnostic.severity}: {diagnostic.message.strip()}"
            self.diagnostics.append(message)
            self.sink.warning("engine diagnostic", extra={"stack": self.stack, "severity": diagnostic.severity, "diagnostic": diagnostic.message.strip()})
        summary = getattr(event, "summary_event", None)
        if summary is not None:
            self.summary_counts = {str(getattr(k, "value", k)): int(v) for k, v in summary.resource_changes.items()}

    def plan_summary(self, change_summary: Mapping[Any, int] | None = None) -> PlanSummary:
        """The engine's own totals when it sent them (summary event or result), else the counted steps."""
        totals: Counter[str] = Counter()
        source = change_summary if change_summary is not None else self.summary_counts
        if source is not None:
            for op, count in source.items():
                kind = CHANGE_OPS.get(str(getattr(op, "value", op)))
                if kind == "replace":
                    # "replace" and "create-replacement" count the same resources: never add them up.
                    totals[kind] = max(totals[kind], int(count))
                elif kind:
                    totals[kind] += int(count)
        else:
            totals = Counter({kind: len(urns) for kind, urns in self.resources.items()})
            totals["same"] = self.same
        return PlanSummary(
            create=totals["create"],
            update=totals["update"],
            delete=totals["delete"],
            replace=totals["replace"],
            same=totals["same"],
            resources={kind: sorted(_resource_name(urn) for urn in urns) for kind, urns in self.resources.items()},
        )


@dataclass(frozen=True)
class LockRetry:
    attempts: int = 5
    first_delay_seconds: float = 10.0
    factor: float = 2.0


class AutomationEngine:
    """The real engine: Pulumi's Automation API over the project's program."""

    # What `up` builds exists in AWS, so the converge's verify phase can check it (reconciler.verify);
    # an engine without this attribute (a stand-in for the CLI) creates nothing there to check.
    creates_aws_resources = True

    def __init__(
        self,
        project: str,
        backend_url: str,
        secrets_provider: str | None = None,
        work_dir: str | Path = PROJECT_ROOT,
        env_vars: Mapping[str, str] | None = None,
        lock_retry: LockRetry = LockRetry(),
        sleep: Callable[[float], None] = time.sleep,
        which: Callable[[str], str | None] = shutil.which,
    ):
        self.project = project
        self.backend_url = backend_url
        self.secrets_provider = secrets_provider
        self.work_dir = Path(work_dir)
        self.env_vars = dict(env_vars or {})
        self.lock_retry = lock_retry
        self._sleep = sleep
        self._which = which
        self._prepare_lock = threading.Lock()

    def available(self) -> bool:
        return self._which("pulumi") is not None

    def _require_cli(self) -> None:
        if not self.available():
            raise EngineUnavailableError(f"the Pulumi CLI is not installed: {INSTALL_HINT}")

    def _stack(self, request: StackRequest) -> Any:
        self._require_cli()
        from pulumi import automation as auto

        options = auto.LocalWorkspaceOptions(
            work_dir=str(self.work_dir),
            secrets_provider=self.secrets_provider,
            env_vars={"PULUMI_BACKEND_URL": self.backend_url, "PULUMI_SKIP_UPDATE_CHECK": "true", **self.env_vars},
        )
        try:
            # `pulumi stack select` writes the workspace's selected stack, shared by every stack of the
            # project (Pulumi's "global state"): the converge loops prepare their stacks one at a time.
            # The operations themselves name their stack (--stack) and run at once.
            with self._prepare_lock:
                stack = auto.create_or_select_stack(stack_name=request.stack, work_dir=str(self.work_dir), opts=options)
                config = {key: auto.ConfigValue(value=value) for key, value in request.config.items()}
                config.update({key: auto.ConfigValue(value=value, secret=True) for key, value in request.secret_config.items()})
                if config:
                    stack.set_all_config(config)
        except auto.CommandError as exc:
            raise EngineError(f"cannot prepare stack {request.stack}: {_command_summary(exc)}") from None
        return stack

    def _run(self, request: StackRequest, operation: str, call: Callable[[Any, EngineEventRecorder], Any]) -> tuple[Any, EngineEventRecorder]:
        from pulumi import automation as auto

        stack = self._stack(request)
        delay = self.lock_retry.first_delay_seconds
        for attempt in range(1, self.lock_retry.attempts + 1):
            recorder = EngineEventRecorder(request.stack, operation)
            try:
                return call(stack, recorder), recorder
            except auto.ConcurrentUpdateError:
                if attempt == self.lock_retry.attempts:
                    raise StackLockedError(
                        f"stack {request.stack} is locked by another update after {attempt} attempts; "
                        "it was not forced. `ecs-gitops unlock` can clear a lock whose holder is gone"
                    ) from None
                log.warning("stack locked, retrying", extra={"stack": request.stack, "attempt": attempt, "delay_seconds": delay})
                self._sleep(delay)
                delay *= self.lock_retry.factor
            except auto.CommandError as exc:
                raise EngineError(f"pulumi {operation} failed for {request.stack}: {_command_summary(exc)}") from None
        raise AssertionError("unreachable")

    def preview(self, request: StackRequest) -> EngineResult:
        """A preview; with ``request.refresh`` a refresh-and-diff (nothing applied) whose changing steps come back in ``steps``."""
        result, recorder = self._run(
            request,
            "preview",
            lambda s, r: s.preview(on_event=r, diff=request.refresh, message=request.message or None, refresh=request.refresh),
        )
        return EngineResult(
            "preview",
            recorder.plan_summary(result.change_summary),
            {},
            tuple(recorder.diagnostics),
            self._version(),
            steps=recorder.steps if request.refresh else (),
        )

    def up(self, request: StackRequest) -> EngineResult:
        """An update; with ``request.refresh`` refreshed first (``pulumi up --refresh``), which is how drift is put
        back: a refreshed preview writes nothing to the state, so a plain up would diff against its stale copy."""
        result, recorder = self._run(
            request, "up", lambda s, r: s.up(on_event=r, message=request.message or None, refresh=request.refresh)
        )
        return EngineResult(
            "up",
            recorder.plan_summary(result.summary.resource_changes),
            {key: value.value for key, value in result.outputs.items() if not value.secret},
            tuple(recorder.diagnostics),
            self._version(),
        )

    def refresh(self, request: StackRequest) -> EngineResult:
        result, recorder = self._run(request, "refresh", lambda s, r: s.refresh(on_event=r, message=request.message or None))
        return EngineResult("refresh", recorder.plan_summary(result.summary.resource_changes), {}, tuple(recorder.diagnostics), self._version())

    def outputs(self, stack: str) -> Mapping[str, Any]:
        selected = self._stack(StackRequest(stack=stack, config={}))
        return {key: value.value for key, value in selected.outputs().items() if not value.secret}

    def destroy(self, request: StackRequest) -> EngineResult:
        result, recorder = self._run(request, "destroy", lambda s, r: s.destroy(on_event=r, message=request.message or None))
        return EngineResult("destroy", recorder.plan_summary(result.summary.resource_changes), {}, tuple(recorder.diagnostics), self._version())

    def _version(self) -> str | None:
        from pulumi import automation as auto

        try:
            version = auto.PulumiCommand().version
        except (auto.CommandError, OSError) as exc:
            log.warning("cannot read the Pulumi CLI version", extra={"error": str(exc)})
            return None
        return str(version) if version is not None else None


def _command_summary(exc: Exception) -> str:
    """The useful tail of a CLI failure: the last lines of stderr, which name the failing resource.

    ``CommandError`` keeps only its text, ``"\\n code: N\\n stdout: ...\\n stderr: ..."``.
    """
    text = str(exc)
    stderr = text.split("\n stderr: ", 1)[1] if "\n stderr: " in text else text
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return " | ".join(lines[-5:]) if lines else type(exc).__name__
