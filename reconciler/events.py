"""Every event kind and reason the reconciler reports, in one place.

Notifications, audit records and logs use these names and nothing else, so subscription
filters and dashboards can rely on them.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    """What happened to a job; the SNS ``kind`` message attribute."""

    CONVERGE_SUCCEEDED = "converge-succeeded"
    CONVERGE_FAILED = "converge-failed"
    REFUSED_BY_POLICY = "refused-by-policy"
    REFUSED_INVALID = "refused-invalid-desired-state"
    REFUSED_UNSIGNED = "refused-unsigned-commit"
    SKIPPED = "skipped"
    WAITING_FOR_APPROVAL = "waiting-for-approval"
    WAITING_FOR_WINDOW = "waiting-for-window"
    PLAN_READY = "plan-ready"
    STUCK_LOCK = "stuck-lock"
    STACK_BUSY = "stack-busy"
    DRIFT_DETECTED = "drift-detected"
    ROLLOUT_STARTED = "rollout-started"
    ROLLOUT_PROGRESS = "rollout-progress"
    ROLLOUT_PROMOTED = "rollout-promoted"
    ROLLOUT_COMPLETE = "rollout-complete"
    ROLLOUT_ROLLING_BACK = "rollout-rolling-back"
    ROLLOUT_ROLLED_BACK = "rollout-rolled-back"
    ROLLOUT_NOT_STARTED = "rollout-not-started"
    NO_DRIFT = "no-drift"
    DRY_RUN_COMPLETE = "dry-run-complete"
    # A job refused before any phase ran (unknown environment, undeployable image, identity mismatch).
    REFUSED = "refused"
    ROLLOUT_TICK_FAILED = "rollout-tick-failed"
    # A rollout held (by a person, the worker or a deny window) and let go again.
    ROLLOUT_PAUSED = "rollout-paused"
    ROLLOUT_RESUMED = "rollout-resumed"
    # `ecs-gitops suspend` / `resume`: converges and new rollouts of one environment stopped or restarted at runtime.
    ENVIRONMENT_SUSPENDED = "environment-suspended"
    ENVIRONMENT_RESUMED = "environment-resumed"
    # A drift check that could not compare (engine unavailable or failing, stack locked, source missing): never "no drift".
    DRIFT_CHECK_FAILED = "drift-check-failed"
    # A drift check that fell during a rollout's traffic shift: nothing compared, the next scheduled check runs it.
    DRIFT_CHECK_DEFERRED = "drift-check-deferred"
    # The converge applied, but the environment's verify checks failed (reconciler.verify).
    VERIFY_FAILED = "verify-failed"
    # A rollout's promotion gate could not check the new colour within verify.gateHoldSeconds: paused, old colour kept up.
    ROLLOUT_VERIFY_UNCHECKED = "rollout-verify-could-not-check"


class Reason(StrEnum):
    """Why a job ended as it did; recorded on the audit record and the notification."""

    APPLIED = "Applied"
    NO_CHANGES = "NoChanges"
    SUPERSEDED = "Superseded"
    OLDER_THAN_APPLIED = "OlderThanApplied"
    ALREADY_APPLIED = "AlreadyApplied"
    SUSPENDED = "Suspended"
    OUTSIDE_WINDOW = "OutsideChangeWindow"
    SOURCE_MISSING = "SourceMissing"
    INVALID_DESIRED_STATE = "InvalidDesiredState"
    POLICY_VIOLATION = "PolicyViolation"
    UNSIGNED_COMMIT = "UnsignedCommit"
    AWAITING_APPROVAL = "AwaitingApproval"
    APPROVAL_STALE = "ApprovalStale"
    STACK_LOCKED = "StackLocked"
    ENGINE_FAILED = "EngineFailed"
    ENGINE_UNAVAILABLE = "EngineUnavailable"
    DRY_RUN = "DryRun"
    DRIFT = "Drift"
    ROLLOUT_STARTED = "RolloutStarted"
    SKIPPED_ROLLOUT = "RolloutNotStarted"
    IN_SYNC = "InSync"
    # The commit is not reachable from the branch head (force-push, replayed webhook).
    NOT_ON_BRANCH = "NotOnBranch"
    # The desired-state file claims a suffix or class the settings do not give this environment.
    IDENTITY_MISMATCH = "IdentityMismatch"
    # The desired state asks for less than a floor the settings set (rollout steps, bake, scan, ...).
    BELOW_FLOOR = "BelowFloor"
    # The job names an environment the settings no longer manage.
    UNKNOWN_ENVIRONMENT = "UnknownEnvironment"
    # An image event that cannot be deployed (moving tag, malformed digest, unknown repository).
    UNDEPLOYABLE_IMAGE = "UndeployableImage"
    # Something the code did not expect; recorded, then the message is redelivered (DLQ after the limit).
    UNEXPECTED_ERROR = "UnexpectedError"
    # The stack lease was taken over (stale by the contender's own observation); the holder stopped.
    LEASE_LOST = "LeaseLost"
    # A rollout tick failed repeatedly and was parked in the tick DLQ.
    TICK_FAILED = "RolloutTickFailed"
    # An incoming event the intake cannot parse or does not accept (shape, type, unsupported source).
    INVALID_EVENT = "InvalidEvent"
    # The queued message is not a job the worker can read (not JSON, missing or unknown fields).
    MALFORMED_JOB = "MalformedJob"
    # An AWS event from an account or region other than the reconciler's own (settings aws.accountId / aws.region).
    FOREIGN_EVENT = "ForeignEvent"
    # `ecs-gitops resume` lifted a runtime suspension (its counterpart is SUSPENDED).
    RESUMED = "Resumed"
    # A drift check with nothing to compare against: no commit has been applied to the stack yet.
    NOTHING_APPLIED = "NothingApplied"
    # A drift check deferred: a rollout is moving the stack's traffic right now.
    ROLLOUT_SHIFTING_TRAFFIC = "RolloutShiftingTraffic"
    # A drift check could not read what a refresh cannot see (security-group rules, role policies): AWS refused or was unreachable.
    DRIFT_PROBE_FAILED = "DriftProbeFailed"
    # A verify check failed after the apply (the report names it, with its evidence).
    VERIFY_FAILED = "VerifyFailed"
    # A drift remediation found another commit's plan waiting for approval: it does not replace it.
    ANOTHER_PLAN_AWAITS_APPROVAL = "AnotherPlanAwaitsApproval"
    # The promotion gate could not check (inputs unreadable, AWS not answering, no gate wired); never a pass.
    VERIFY_UNCHECKED = "VerifyCouldNotCheck"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Phase(StrEnum):
    """The named phases of one converge, in order."""

    GUARDS = "guards"
    FETCH = "fetch"
    VALIDATE = "validate"
    PLAN = "plan"
    APPLY = "apply"
    VERIFY = "verify"
    DONE = "done"
