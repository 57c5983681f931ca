"""What to do after each event, and the exact command to run: one table, every event kind.

The e-mail and Chatbot forms of a notification (:mod:`reconciler.notifications.render`) take
their "what happened" headline, their "what to do next" sentence and their commands from here.
A test enumerates :class:`~reconciler.events.EventKind` against :data:`NEXT_STEPS` and parses
every command with the CLI's own parser, so a new kind or a renamed option cannot slip by.

Commands are templates: ``{environment}`` is the notification's environment; ``{service}`` and
``{commit}`` come from the body (``SERVICE`` / ``SHA`` when it has none); ``NAME``, ``REASON``
and ``TEXT`` are for the person to fill in, as in the CLI's own messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.events import EventKind, Reason


@dataclass(frozen=True)
class NextStep:
    """``headline``: what happened, in words; ``action``: what to do next; ``commands``: what to run."""

    headline: str
    action: str
    commands: tuple[str, ...] = ()


STATUS = "ecs-gitops status --environment {environment}"
HISTORY = "ecs-gitops history --environment {environment} --limit 5"
VALIDATE = "ecs-gitops validate --desired-state . --environment {environment}"
ROLLOUT_STATUS = "ecs-gitops rollout status --environment {environment} --service {service}"
ROLLOUT_RESUME = "ecs-gitops rollout resume --environment {environment} --service {service} --by NAME"
ROLLOUT_PAUSE = "ecs-gitops rollout pause --environment {environment} --service {service} --by NAME --reason TEXT"
ROLLOUT_ABORT = "ecs-gitops rollout abort --environment {environment} --service {service} --by NAME --reason TEXT"
DRIFT = "ecs-gitops drift --environment {environment}"
RESUME_ENVIRONMENT = "ecs-gitops resume --environment {environment} --by NAME --reason TEXT"

# Keyed by the kind's value: the kinds other branches add (drift checks, verify, suspend) are
# covered before their members exist here, and a kind unknown to this table still renders.
NEXT_STEPS: dict[str, NextStep] = {
    EventKind.CONVERGE_SUCCEEDED.value: NextStep(
        "converge succeeded", "Nothing to do. To see what was applied and the environment now:", (HISTORY, STATUS),
    ),
    EventKind.CONVERGE_FAILED.value: NextStep(
        "converge failed",
        "Read the reason and error above. Fix the cause (the desired state, a resource, a permission) and push a new "
        "commit; the worker retries a transient failure by itself. To see the environment and its recent converges:",
        (STATUS, HISTORY),
    ),
    EventKind.REFUSED_BY_POLICY.value: NextStep(
        "refused by policy",
        "Nothing was applied. Fix each mandatory violation above in the desired state, check it locally, then commit and push:",
        (VALIDATE,),
    ),
    EventKind.REFUSED_INVALID.value: NextStep(
        "refused: invalid desired state",
        "Nothing was applied. Fix the file and field named above, check it locally, then commit and push:",
        (VALIDATE,),
    ),
    EventKind.REFUSED_UNSIGNED.value: NextStep(
        "refused: unsigned commit",
        "Nothing was applied. Sign the commit with a key the environment trusts (git commit -S) and push it again.",
        (STATUS,),
    ),
    EventKind.SKIPPED.value: NextStep(
        "skipped", "Nothing to do: the job was not needed (the reason above says why). To see the environment:", (STATUS,),
    ),
    EventKind.WAITING_FOR_APPROVAL.value: NextStep(
        "plan waits for approval",
        "Review the plan above. If it is what you expect, approve it (your name is recorded); the converge then applies it:",
        ("ecs-gitops approve --environment {environment} --commit {commit} --by NAME",),
    ),
    EventKind.WAITING_FOR_WINDOW.value: NextStep(
        "waiting for the change window",
        "Nothing to do: it converges when the window opens. To converge now anyway (recorded with your name and reason):",
        ("ecs-gitops reconcile --desired-state REPO --environment {environment} --override-window REASON --by NAME",),
    ),
    EventKind.PLAN_READY.value: NextStep("plan ready", "Review the plan above.", (STATUS,)),
    EventKind.STUCK_LOCK.value: NextStep(
        "stack lock stuck",
        "The stack is held by a lock nobody seems to renew. Check that its holder is gone, then remove it; "
        "unlock itself refuses while a worker still heartbeats:",
        ("ecs-gitops locks --environment {environment}", "ecs-gitops unlock --environment {environment}"),
    ),
    EventKind.STACK_BUSY.value: NextStep(
        "stack busy",
        "Nothing to do: the job comes back when the converge in progress finishes. To see who holds the stack:",
        (STATUS, "ecs-gitops locks --environment {environment}"),
    ),
    EventKind.DRIFT_DETECTED.value: NextStep(
        "drift detected",
        "Resources were changed outside git. Look at what drifted above: put a change you want to keep into git, "
        "or let the next converge undo it. To check again:",
        (DRIFT,),
    ),
    EventKind.NO_DRIFT.value: NextStep("no drift", "Nothing to do: the stack matches the desired state.", ()),
    EventKind.ROLLOUT_STARTED.value: NextStep("rollout started", "Nothing to do. To watch it:", (ROLLOUT_STATUS,)),
    EventKind.ROLLOUT_PROGRESS.value: NextStep(
        "rollout progressing", "Nothing to do. To watch it, or hold it where it is:", (ROLLOUT_STATUS, ROLLOUT_PAUSE),
    ),
    EventKind.ROLLOUT_PROMOTED.value: NextStep(
        "rollout promoted", "All traffic goes to the new image. To watch it finish:", (ROLLOUT_STATUS,),
    ),
    EventKind.ROLLOUT_COMPLETE.value: NextStep("rollout complete", "Nothing to do: the new image serves all traffic.", (ROLLOUT_STATUS,)),
    EventKind.ROLLOUT_ROLLING_BACK.value: NextStep(
        "rollout rolling back",
        "Traffic is going back to the old image. Read the reason and evidence above, fix the new image and push "
        "another one. To watch the rollback:",
        (ROLLOUT_STATUS,),
    ),
    EventKind.ROLLOUT_ROLLED_BACK.value: NextStep(
        "rollout rolled back",
        "The old image serves all traffic again. Fix the cause named above, then push a fixed image (or revert "
        "the commit in git). To see the rollout and the environment:",
        (ROLLOUT_STATUS, STATUS),
    ),
    EventKind.ROLLOUT_NOT_STARTED.value: NextStep(
        "rollout not started", "Read why above, fix it and push the image again. To see the environment:", (STATUS,),
    ),
    EventKind.DRY_RUN_COMPLETE.value: NextStep(
        "dry run complete", "Nothing was applied. Push the commit (or run without --dry-run) to apply it.", (STATUS,),
    ),
    EventKind.REFUSED.value: NextStep(
        "refused", "Nothing was applied. Read why above and fix it. To see the environment:", (STATUS,),
    ),
    EventKind.ROLLOUT_TICK_FAILED.value: NextStep(
        "rollout tick failed",
        "The rollout is paused at its current weights and its tick is parked in the tick DLQ. Fix the cause "
        "named above, then resume it:",
        (ROLLOUT_STATUS, ROLLOUT_RESUME),
    ),
    EventKind.ROLLOUT_PAUSED.value: NextStep(
        "rollout paused",
        "It stays at its current weights until resumed (a deny window's hold lets go by itself). To resume it, or to abort it:",
        (ROLLOUT_RESUME, ROLLOUT_ABORT),
    ),
    EventKind.ROLLOUT_RESUMED.value: NextStep("rollout resumed", "Nothing to do. To watch it:", (ROLLOUT_STATUS,)),
    EventKind.ROLLOUT_VERIFY_UNCHECKED.value: NextStep(
        "rollout paused: the promotion gate could not check the new colour",
        "The old colour is still up and serving. Find why the checks could not run (the reason above), then resume to "
        "check again, or abort to roll back:",
        (ROLLOUT_RESUME, ROLLOUT_ABORT),
    ),
    # Kinds other branches of this wave add (contracts.md); their commands are contracted too.
    "drift-check-failed": NextStep(
        "drift check failed", "The drift check could not run to the end. Read the error above, fix it and check again:", (DRIFT,),
    ),
    "drift-check-deferred": NextStep(
        "drift check deferred", "Nothing to do: the check runs again later (the reason above says when). To check now:", (DRIFT,),
    ),
    "verify-failed": NextStep(
        "verification failed",
        "The applied stack does not behave as expected. Read the failed checks above, fix the cause, then run the checks again:",
        ("ecs-gitops verify --environment {environment}",),
    ),
    "environment-suspended": NextStep(
        "environment suspended", "Converges and new rollouts wait until it is resumed. To resume it:", (RESUME_ENVIRONMENT,),
    ),
    "environment-resumed": NextStep("environment resumed", "Nothing to do: converges and rollouts run again.", (STATUS,)),
}

# Where one kind covers several causes, the reason picks a more exact step (still this module).
REASON_STEPS: dict[tuple[str, str], NextStep] = {
    (EventKind.SKIPPED.value, Reason.SUSPENDED.value): NextStep(
        "skipped: environment suspended", "The environment is suspended: nothing converges until it is resumed:", (RESUME_ENVIRONMENT,),
    ),
    (EventKind.REFUSED.value, Reason.UNKNOWN_ENVIRONMENT.value): NextStep(
        "refused: unknown environment",
        "The job names an environment these settings do not manage. Add it to the reconciler settings (or fix the "
        "name in the desired state) and push again.",
        (),
    ),
    (EventKind.REFUSED.value, Reason.NOT_ON_BRANCH.value): NextStep(
        "refused: commit not on the branch",
        "The commit is not reachable from the branch head (a force-push or a replayed webhook). Push it to the branch to converge it.",
        (STATUS,),
    ),
    (EventKind.REFUSED.value, Reason.IDENTITY_MISMATCH.value): NextStep(
        "refused: environment identity mismatch",
        "The desired-state file claims a suffix or class the settings do not give this environment. Fix the file named "
        "above, check it, then commit and push:",
        (VALIDATE,),
    ),
    (EventKind.REFUSED.value, Reason.BELOW_FLOOR.value): NextStep(
        "refused: below a settings floor",
        "The desired state asks for less than the settings allow (rollout steps, bake time, scan threshold). Raise it "
        "in the file named above, check it, then commit and push:",
        (VALIDATE,),
    ),
    (EventKind.REFUSED.value, Reason.UNDEPLOYABLE_IMAGE.value): NextStep(
        "refused: undeployable image",
        "The image event cannot be deployed (a moving tag, a malformed digest or an unknown repository). Push the "
        "image with an immutable tag to a repository the platform knows.",
        (STATUS,),
    ),
}

MAX_WORD_CHARS = 255

UNKNOWN = NextStep("event", "Read the details above. To see the environment:", (STATUS,))


def next_step(kind: EventKind | str, environment: str, body: Mapping[str, Any]) -> NextStep:
    """The step for ``kind`` (refined by the body's ``reason``), its commands filled in for this event."""
    value = kind.value if isinstance(kind, EventKind) else str(kind)
    reason = body.get("reason")
    step = REASON_STEPS.get((value, reason)) if isinstance(reason, str) else None
    step = step or NEXT_STEPS.get(value) or UNKNOWN
    fields = {
        "environment": _word(environment, "ENVIRONMENT"),
        "service": _word(body.get("service"), "SERVICE"),
        "commit": _word(body.get("commit"), "SHA"),
    }
    return NextStep(step.headline, step.action, tuple(command.format(**fields) for command in step.commands))


def _word(value: Any, placeholder: str) -> str:
    """One shell word for a command line: the value when it is one, else the placeholder to fill in."""
    text = str(value) if isinstance(value, str | int) else ""
    # "unknown": what the tick runtime writes when it could not read the rollout.
    # Longer than any name AWS gives (255: an ECS service; 40: a commit) is not a name but a flood.
    known = text and text != "unknown" and len(text) <= MAX_WORD_CHARS and all((c.isascii() and c.isalnum()) or c in "-_.:/@" for c in text)
    return text if known else placeholder
