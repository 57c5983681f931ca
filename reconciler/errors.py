"""The reconciler's errors; each message says what happened and what a person can do."""

from __future__ import annotations

from desired_state.errors import EcsGitopsError


class ReconcilerError(EcsGitopsError):
    """Base of every reconciler error."""


class SettingsError(ReconcilerError):
    """The reconciler's own settings are missing or invalid."""


class EventRejected(ReconcilerError):
    """An incoming event is not one the intake accepts (shape, signature, branch, size)."""

    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code


class SourceError(ReconcilerError):
    """The desired state could not be fetched at the requested commit."""


class SignatureError(ReconcilerError):
    """The commit is not signed by a trusted key."""


class EngineError(ReconcilerError):
    """The Pulumi engine failed; the message carries the engine's own summary."""


class EngineUnavailableError(EngineError):
    """The Pulumi CLI is not installed where the engine must run."""


class StackLockedError(EngineError):
    """Another update holds the stack lock."""


class ConflictError(ReconcilerError):
    """A conditional write lost a race; someone else moved the record first."""


class ApprovalError(ReconcilerError):
    """An approval does not match the plan waiting for it."""


class EventRefused(EventRejected):
    """A well-formed event the intake refuses for a named reason (an undeployable image, an unknown environment).

    ``reason`` is a :class:`reconciler.events.Reason` value, logged with the refusal so dashboards
    can count refusals by cause.
    """

    def __init__(self, message: str, reason: str, status_code: int = 422):
        super().__init__(message, status_code)
        self.reason = reason


class UnexpectedJobError(ReconcilerError):
    """A converge failed in a way the code did not expect; it is recorded (outcome, audit, one notification).

    Raised from the original exception (``__cause__``) so the queue redelivers the message and the
    DLQ gets it after the redrive limit. ``outcome`` is the recorded outcome.
    """

    def __init__(self, message: str, outcome: object):
        super().__init__(message)
        self.outcome = outcome


class LeaseLostError(ReconcilerError):
    """This worker's stack lease is gone (taken over, or the heartbeat kept failing); it stops before the next phase."""


class DriftProbeError(ReconcilerError):
    """The drift check could not read what a refresh does not see (security-group rules, role policies) from AWS.

    The check reports it as ``drift-check-failed``, never as "no drift"; the message names the refused permission.
    """


class StartConditionFailedError(ReconcilerError):
    """A rollout start's condition on another item failed in its own transaction (the stack status: suspended since it was read).

    Nothing of the start was written; the starter re-reads the status and reports why it did not start.
    """
