"""What a converge gives the engine (the final stack inputs) and what an engine failure means for the job.

The same request goes to ``preview`` and ``up`` (and, with ``refresh``, to a drift check's
comparison), and is what an approval's digest covers. A failure is the engine's (unavailable,
failed), or a stuck lock the settings say is old enough to name, with the command that clears it.
"""

from __future__ import annotations

from datetime import timedelta

from reconciler.clock import Clock
from reconciler.converge_run import ConvergeOutcome, ConvergeRun
from reconciler.engine import Engine, StackRequest
from reconciler.errors import EngineError, EngineUnavailableError, StackLockedError
from reconciler.events import EventKind, Reason, Severity
from reconciler.locks import LockStore, stuck_locks


def stack_request(run: ConvergeRun, permissions_boundary_arn: str | None, refresh: bool = False) -> StackRequest:
    """The final stack inputs: what the engine gets and what an approval's digest covers."""
    assert run.loaded is not None and run.traffic is not None
    return StackRequest(
        stack=run.job.stack,
        config={
            "ecs-gitops:desiredState": run.loaded.state.model_dump_json(by_alias=True),
            "ecs-gitops:trafficState": run.traffic.model_dump_json(by_alias=True),
            "ecs-gitops:environment": run.job.environment,
            **({"ecs-gitops:permissionsBoundaryArn": permissions_boundary_arn} if permissions_boundary_arn else {}),
        },
        message=f"ecs-gitops {run.job.trigger.value} {(run.checkout.commit or 'working tree')[:12] if run.checkout else ''} job {run.job.job_id}",
        refresh=refresh,
    )


def engine_failure(run: ConvergeRun, exc: EngineError, *, locks: LockStore | None, project: str, clock: Clock) -> ConvergeOutcome:
    """The job's outcome after ``exc``; a lock held past the environment's ``stuckLockAfterMinutes`` is named, with its holder."""
    run.error = str(exc)
    if isinstance(exc, StackLockedError) and locks is not None:
        now = clock()
        stuck = stuck_locks(locks, project, run.job.stack, now, timedelta(minutes=run.environment.stuck_lock_after_minutes))
        if stuck:
            run.details["stuckLocks"] = [
                {"holder": lock.holder, "ageMinutes": int(lock.age(now).total_seconds() // 60), "key": lock.key} for lock in stuck
            ]
            oldest = max(stuck, key=lambda lock: lock.age(now))
            return ConvergeOutcome(
                "failed", EventKind.STUCK_LOCK, Reason.STACK_LOCKED, Severity.ERROR,
                f"stack {run.job.stack} is held by a stuck lock: {oldest.holder}, {int(oldest.age(now).total_seconds() // 60)} minutes old; "
                f"if that process is gone, run: ecs-gitops unlock --environment {run.job.environment}",
            )
    reason = Reason.ENGINE_UNAVAILABLE if isinstance(exc, EngineUnavailableError) else Reason.ENGINE_FAILED
    return ConvergeOutcome("failed", EventKind.CONVERGE_FAILED, reason, Severity.ERROR, str(exc))


def engine_available(engine: Engine) -> bool:
    """False when the engine says its CLI is missing (a dry run then skips the preview); engines that cannot tell are available."""
    available = getattr(engine, "available", None)
    return bool(available()) if callable(available) else True
