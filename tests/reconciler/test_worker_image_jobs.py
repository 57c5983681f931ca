"""Image pushes and scans are audited like converges; an expected refusal finishes the job instead of crashing the worker."""

from datetime import UTC, datetime

from reconciler.errors import SourceError
from reconciler.events import EventKind
from reconciler.models import ImageEvent, Job, Trigger
from reconciler.settings import EnvironmentSettings, ReconcilerSettings, RepositorySettings
from reconciler.worker import Worker

NOW = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


class ConvergerDouble:
    """Stands in for the Converger: records what the worker asks it to audit."""

    def __init__(self):
        self.recorded = []
        self.settings = ReconcilerSettings(repository=RepositorySettings(url="/nonexistent"), environments={"dev": EnvironmentSettings(stack="dev", suffix="dev")})

    def record_job(self, job, outcome, details=None, error=None):
        self.recorded.append((job.job_id, outcome.outcome, outcome.kind, error, details))


def image_job(trigger: Trigger) -> Job:
    return Job(
        job_id="j1", environment="dev", stack="dev", trigger=trigger, event_id="evt-1", received_at=NOW,
        image=ImageEvent(repository="ecr-frontend-dev", service="frontend", tag="3.0.0", digest="sha256:" + "a" * 64),
    )


def test_an_image_push_that_cannot_start_is_audited_and_finished_not_raised():
    converger = ConvergerDouble()
    worker = Worker(queue=None, converger=converger, rollouts=object(), clock=lambda: NOW)  # type: ignore[arg-type]

    def unreachable(job):
        raise SourceError("git fetch failed: could not read from remote repository")

    worker._image_pushed = unreachable  # type: ignore[method-assign]
    outcome = worker._handle(image_job(Trigger.ECR_IMAGE_PUSH), 1)
    assert (outcome.outcome, outcome.kind, outcome.retry_after_seconds) == ("failed", EventKind.ROLLOUT_NOT_STARTED, None)
    assert converger.recorded == [("j1", "failed", EventKind.ROLLOUT_NOT_STARTED, "git fetch failed: could not read from remote repository", converger.recorded[0][4])]
    assert converger.recorded[0][4]["image"]["tag"] == "3.0.0"


def test_a_started_rollout_is_audited_too():
    from reconciler.converge import ConvergeOutcome
    from reconciler.events import Reason, Severity

    converger = ConvergerDouble()
    worker = Worker(queue=None, converger=converger, rollouts=object(), clock=lambda: NOW)  # type: ignore[arg-type]
    started = ConvergeOutcome("succeeded", EventKind.ROLLOUT_STARTED, Reason.ROLLOUT_STARTED, Severity.INFO, "rollout r1 started")
    worker._scan_finished = lambda job: started  # type: ignore[method-assign]
    assert worker._handle(image_job(Trigger.ECR_IMAGE_SCAN), 1) is started
    assert [r[:3] for r in converger.recorded] == [("j1", "succeeded", EventKind.ROLLOUT_STARTED)]
