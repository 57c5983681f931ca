"""The converge's fetch phase: the branch head, whatever commit woke the job, its signature checked.

:mod:`reconciler.ordering` decides what is converged (the branch head; a remediation's own
commit) and what is skipped; this module fetches accordingly and turns the answers into the job's
outcome. A named commit the branch does not reach is refused, and the record names that commit,
not the head.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from reconciler import ordering
from reconciler.adapters.stack_state import StackStateStore
from reconciler.converge_run import ConvergeOutcome, ConvergeRun, StatusUpdate
from reconciler.errors import SignatureError, SourceError
from reconciler.events import EventKind, Reason, Severity
from reconciler.source import Checkout, DesiredStateSource, SignerTrust

# The converger's logger: these lines belong to the converge's own story.
log = logging.getLogger("ecs_gitops.converge")


def fetch(
    run: ConvergeRun,
    *,
    source: DesiredStateSource,
    checkout: Callable[[str | None], Checkout],
    states: StackStateStore,
    update: StatusUpdate,
    branch: str,
) -> ConvergeOutcome | None:
    """The branch head, whatever commit woke this job; a named commit off the branch is refused.

    ``checkout`` fetches the desired state as a long-running worker must see it (the source refreshed first).
    """
    job, env = run.job, run.environment
    try:
        run.checkout = checkout(None)
        head = run.checkout.commit
        # Reachable from the very head fetched (one snapshot of the branch, so a push in between cannot
        # slip an unchecked commit through): what the source's on_branch means.
        if job.commit and head is None:
            raise SourceError(f"the desired-state source has no commits (a plain directory); a job naming commit {job.commit[:12]} cannot run on it")
        if job.commit and head is not None and job.commit != head and not source.is_ancestor(job.commit, head):
            run.error = ordering.not_on_branch_message(job.commit, branch)
            drop_checkout(run, source)  # the record names the refused commit, not the head
            return ConvergeOutcome("refused", EventKind.REFUSED, Reason.NOT_ON_BRANCH, Severity.ERROR, run.error)
    except SourceError as exc:
        run.error = str(exc)
        if job.commit:
            drop_checkout(run, source)
        return ConvergeOutcome("refused", EventKind.CONVERGE_FAILED, Reason.SOURCE_MISSING, Severity.ERROR, str(exc))
    if head is not None:
        decision = ordering.decide(job.trigger, job.commit, head, states.get(job.stack).last_applied_commit)
        if isinstance(decision, ordering.Skip):
            if job.commit:
                drop_checkout(run, source)  # nothing is converged: the record names the job's own commit
            severity = Severity.INFO if decision.reason == Reason.ALREADY_APPLIED else Severity.WARNING
            return ConvergeOutcome("skipped", EventKind.SKIPPED, decision.reason, severity, decision.message)
        if decision.head != head:
            # A remediation converges the commit it names (the applied one), not the branch head.
            try:
                drop_checkout(run, source)
                run.checkout = source.fetch(decision.head)
            except SourceError as exc:
                run.error = str(exc)
                return ConvergeOutcome("refused", EventKind.CONVERGE_FAILED, Reason.SOURCE_MISSING, Severity.ERROR, str(exc))
            run.details["pendingHead"] = head
        elif decision.superseded:
            run.details["supersededCommit"] = decision.superseded
            update(run, lambda s: s.model_copy(update={"superseded_job_ids": [*s.superseded_job_ids[-49:], job.job_id]}))
            log.info("converging the branch head in place of the job's commit", extra={"stack": job.stack, "commit": decision.superseded, "head": head})
    if env.signed_commits_required:
        try:
            run.details["signedBy"] = source.verify_signature(run.checkout.commit or "", SignerTrust.for_environment(env))
        except (SignatureError, SourceError) as exc:
            run.error = str(exc)
            return ConvergeOutcome("refused", EventKind.REFUSED_UNSIGNED, Reason.UNSIGNED_COMMIT, Severity.ERROR, str(exc))
    return None


def drop_checkout(run: ConvergeRun, source: DesiredStateSource) -> None:
    """Forget the run's checkout (cleaned up, when the source keeps them): the record names the job's own commit."""
    if run.checkout is not None and hasattr(source, "cleanup"):
        source.cleanup(run.checkout)
    run.checkout = None
