"""Property tests (hypothesis) for the event parsers and the webhook verifier (issue 9).

For arbitrary JSON-ish values and for mutations of valid events, every parser either returns a
typed result that satisfies the intake's guarantees or raises the project's own
:class:`EventRejected`; nothing else escapes, and nothing invalid is accepted:

* an accepted commit id is exactly 40 lowercase hex characters;
* an accepted image is one the desired-state schema can pin (immutable tag, sha256 digest) in a
  repository the platform creates for a managed environment;
* an accepted webhook carries a signature that verifies against the secret over the exact body;
* every accepted job survives the queue's JSON round trip unchanged.

Bounded: each test sets ``max_examples`` and the module runs in a few seconds.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from desired_state.schema import DIGEST_PATTERN, ImageRef
from reconciler.errors import EventRejected
from reconciler.models import Job
from reconciler.settings import EnvironmentSettings, ReconcilerSettings, RepositorySettings
from reconciler.triggers import jobs_from_eventbridge, jobs_from_github_push, managed_repositories
from reconciler.webhook import VerifiedPush, parse_json_object, sign, verify_push
from tests.reconciler.intake.mutation import mutated

NOW = datetime(2025, 3, 4, 12, 30, 15, tzinfo=UTC)
SECRET = b"whsec-fuzz-5e1b"
MAX_BYTES = 64 * 1024
COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
DIGEST = "sha256:" + "7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678"
SHA1 = re.compile(r"[0-9a-f]{40}")
SETTINGS = ReconcilerSettings(
    repository=RepositorySettings(url="https://github.com/example-org/desired-state.git", branch="main", codecommit_repository="desired-state"),
    environments={"dev": EnvironmentSettings(stack="dev", suffix="dev"), "prod": EnvironmentSettings(stack="prod", suffix="prod")},
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- strategies

# Values a JSON document (or a Lambda event built from one) can hold, plus the awkward ones:
# huge integers, non-finite floats, lone surrogates, hex-looking strings with a newline.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**18, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "\n", COMMIT, COMMIT + "\n", COMMIT.upper(), "0" * 40, "a" * 64, "latest", DIGEST, DIGEST + "\n",
                     "refs/heads/main", "main", "ecr-frontend-dev", "PUSH", "SUCCESS", "COMPLETE", "\ud800"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=12,
)


def ecr_push(tag: Any = "v1.4.2") -> dict[str, Any]:
    return {"version": "0", "id": "evt-1", "detail-type": "ECR Image Action", "source": "aws.ecr", "account": "123456789012",
            "time": "2025-03-04T12:30:14Z", "region": "us-east-1", "resources": [],
            "detail": {"result": "SUCCESS", "repository-name": "ecr-frontend-dev", "image-digest": DIGEST, "action-type": "PUSH", "image-tag": tag}}


def ecr_scan() -> dict[str, Any]:
    return {"version": "0", "id": "evt-2", "detail-type": "ECR Image Scan", "source": "aws.ecr", "resources": [],
            "detail": {"scan-status": "COMPLETE", "repository-name": "ecr-api-gateway-prod", "image-digest": DIGEST,
                       "image-tags": ["v2.0.0", "latest"], "finding-severity-counts": {"CRITICAL": 1, "LOW": 3}}}


def codecommit() -> dict[str, Any]:
    return {"version": "0", "id": "evt-3", "detail-type": "CodeCommit Repository State Change", "source": "aws.codecommit",
            "detail": {"callerUserArn": "arn:aws:iam::123456789012:user/Mary", "commitId": COMMIT, "event": "referenceUpdated",
                       "referenceName": "main", "referenceType": "branch", "repositoryName": "desired-state"}}


def scheduler() -> dict[str, Any]:
    return {"source": "ecs-gitops.scheduler", "kind": "resync", "environment": "*", "executionId": "exec-1"}


def github_push() -> dict[str, Any]:
    return {"ref": "refs/heads/main", "before": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "after": COMMIT,
            "repository": {"full_name": "example-org/desired-state", "pushed_at": 1741091410},
            "head_commit": {"id": COMMIT, "author": {"name": "Jane", "username": "jane"}},
            "commits": [{"id": COMMIT, "added": [], "modified": ["environments/dev.yaml"], "removed": []}]}


VALID_EVENTS = [ecr_push(), ecr_push(tag=None), ecr_scan(), codecommit(), scheduler()]



def mutated_event(base: Any) -> st.SearchStrategy[Any]:
    """``base`` with one to three edits: a value replaced by any JSON-ish value, a key deleted or added, or the whole document replaced."""
    return mutated(base, json_values, actions=("replace", "delete", "add"), replace_root=True)


# --------------------------------------------------------------------------- invariants


def check_jobs(jobs: list[Job]) -> None:
    """What an accepted event must satisfy, whatever it was."""
    repositories = managed_repositories(SETTINGS)
    for job in jobs:
        assert isinstance(job, Job)
        assert job.environment in SETTINGS.environments
        assert job.commit is None or SHA1.fullmatch(job.commit), job.commit
        if job.image is not None:
            assert repositories[job.image.repository] == (job.environment, job.image.service)
            assert job.image.digest is not None and DIGEST_PATTERN.fullmatch(job.image.digest), job.image.digest
            ImageRef(repository=job.image.service, tag=job.image.tag, digest=job.image.digest)  # the schema can pin it
        # The worker reads what the queue carries: the JSON round trip must give the same job back.
        assert Job.model_validate_json(job.model_dump_json(by_alias=True)) == job


def eventbridge_outcome(event: Any) -> list[Job] | EventRejected:
    try:
        jobs = jobs_from_eventbridge(SETTINGS, event, NOW)
    except EventRejected as exc:
        assert 400 <= exc.status_code < 500
        return exc
    check_jobs(jobs)
    return jobs


def push_outcome(payload: Any) -> list[Job] | EventRejected:
    try:
        jobs = jobs_from_github_push(SETTINGS, "delivery-1", payload, NOW)
    except EventRejected as exc:
        assert 400 <= exc.status_code < 500
        return exc
    check_jobs(jobs)
    assert all(job.commit is not None for job in jobs)
    return jobs


# --------------------------------------------------------------------------- EventBridge parsers


@FUZZ
@given(json_values)
def test_any_json_value_as_an_eventbridge_event_is_a_job_list_or_a_refusal(event):
    eventbridge_outcome(event)


@FUZZ
@given(st.sampled_from(VALID_EVENTS).flatmap(mutated_event))
def test_mutated_eventbridge_events_are_valid_jobs_or_refusals(event):
    eventbridge_outcome(event)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["ecr-image-action", "ecr-image-scan", "codecommit", "scheduler"]), json_values)
@example("codecommit", {"event": "referenceUpdated", "referenceType": "branch", "referenceName": "main",
                        "repositoryName": "desired-state", "commitId": "not-a-commit"})
@example("ecr-image-action", {"action-type": "PUSH", "result": "SUCCESS", "repository-name": "ecr-frontend-dev", "image-tag": "latest"})
def test_any_detail_or_envelope_value_under_a_known_event_type(kind, value):
    """The envelope names a known event type; the detail (or the tick's fields) is anything at all."""
    if kind == "scheduler":
        event = {"source": "ecs-gitops.scheduler", "kind": value, "environment": value, "executionId": value}
    else:
        event = {"ecr-image-action": ecr_push, "ecr-image-scan": ecr_scan, "codecommit": codecommit}[kind]()
        event["detail"] = value
    eventbridge_outcome(event)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=80), st.sampled_from(["latest", "LATEST", "v1\n", " v1", "-x", "a" * 129, "1.0.0"])),
       st.one_of(st.text(max_size=80), st.just(DIGEST), st.just(DIGEST.upper()), st.just(DIGEST[:-1]), st.just(DIGEST + "0")),
       st.one_of(st.text(max_size=40), st.sampled_from(sorted(managed_repositories(SETTINGS)))))
def test_image_events_are_queued_only_when_deployable(tag, digest, repository):
    event = ecr_push(tag=tag)
    event["detail"].update({"image-digest": digest, "repository-name": repository})
    outcome = eventbridge_outcome(event)
    if isinstance(outcome, list):
        [job] = outcome
        assert (job.image.tag, job.image.digest, job.image.repository) == (tag, digest, repository)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=70), st.from_regex(r"[0-9a-fA-F]{38,42}\s?", fullmatch=True), st.just(COMMIT)))
@example(COMMIT + "\n")
@example("z" * 40)
def test_codecommit_commit_ids_are_accepted_only_as_40_lowercase_hex(commit_id):
    event = codecommit()
    event["detail"]["commitId"] = commit_id
    outcome = eventbridge_outcome(event)
    assert isinstance(outcome, EventRejected) or [job.commit for job in outcome] == [commit_id, commit_id]
    if isinstance(outcome, list):
        assert SHA1.fullmatch(commit_id)


# --------------------------------------------------------------------------- GitHub push payloads


@FUZZ
@given(st.one_of(json_values, mutated_event(github_push())))
@example({**github_push(), "after": COMMIT + "\n"})
def test_push_payloads_are_valid_jobs_or_refusals(payload):
    push_outcome(payload)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=70), st.from_regex(r"\s?[0-9a-fA-F]{39,41}\s?", fullmatch=True)))
@example(COMMIT + "\n")
def test_push_after_is_accepted_only_as_40_lowercase_hex(after):
    payload = github_push()
    payload["after"] = after
    outcome = push_outcome(payload)
    if isinstance(outcome, list) and outcome:
        assert SHA1.fullmatch(after)


# --------------------------------------------------------------------------- webhook verifier


def body_bytes_of(event: dict[str, Any]) -> bytes:
    """The body GitHub signed, recomputed independently of the verifier."""
    body = event["body"]
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


def webhook_outcome(event: Any) -> VerifiedPush | None | EventRejected:
    try:
        verified = verify_push(event, SECRET, MAX_BYTES)
    except EventRejected as exc:
        assert 400 <= exc.status_code < 500
        return exc
    # Accepted (a push or a ping): the presented signature verifies against the secret over the exact body.
    headers = {k.lower(): v for k, v in event["headers"].items()}
    assert hmac.compare_digest(headers["x-hub-signature-256"], sign(SECRET, body_bytes_of(event)))
    if verified is not None:
        assert isinstance(verified.payload, dict)
        assert verified.delivery_id == headers["x-github-delivery"]
        push_outcome(verified.payload)
    return verified


def signed_request(body: bytes, *, base64_encoded: bool = False, kind: str = "push") -> dict[str, Any]:
    return {
        "version": "2.0",
        "headers": {"content-type": "application/json", "x-github-event": kind, "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                    "x-hub-signature-256": sign(SECRET, body)},
        "requestContext": {"http": {"method": "POST"}, "requestId": "req-1"},
        "body": base64.b64encode(body).decode() if base64_encoded else body.decode("utf-8"),
        "isBase64Encoded": base64_encoded,
    }


@FUZZ
@given(st.data())
def test_mutated_webhook_requests_verify_or_are_refused(data):
    body = json.dumps(github_push()).encode()
    request = signed_request(body, base64_encoded=data.draw(st.booleans()), kind=data.draw(st.sampled_from(["push", "ping"])))
    outcome = webhook_outcome(data.draw(mutated_event(request)))
    assert outcome is None or isinstance(outcome, VerifiedPush | EventRejected)


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 json_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass"))),
       st.booleans())
@example(b"[" * 100_000, False)
@example(b'{"after": 1' + b"0" * 5000 + b"}", True)
@example(b'{"ref": "refs/heads/main", "after": "%s\\n"}' % COMMIT.encode(), False)
def test_any_signed_body_is_a_verified_object_or_a_refusal(body, base64_encoded):
    """The signature is right; whatever the body holds, the answer is a JSON object or a typed refusal."""
    if not base64_encoded:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            base64_encoded = True  # a Function URL sends non-UTF-8 bodies base64-encoded
    webhook_outcome(signed_request(body, base64_encoded=base64_encoded))


PUSH_BODY = json.dumps(github_push()).encode()


@FUZZ
@given(st.one_of(st.text(max_size=80), st.sampled_from(["sha256=", "sha1=" + "0" * 40, "\ud800"]),
                 st.binary(max_size=100).map(lambda other: sign(SECRET, other)), st.binary(max_size=32).map(lambda key: sign(key, PUSH_BODY))))
@example("sha256=\udcff")
@example(sign(SECRET, PUSH_BODY))
@example(sign(SECRET, PUSH_BODY).upper().replace("SHA256=", "sha256="))
def test_a_signature_header_is_accepted_only_when_it_is_the_bodys_hmac(signature):
    """Any header value: arbitrary text, the HMAC of another body, the HMAC under another key, or the right one."""
    request = signed_request(PUSH_BODY)
    request["headers"]["x-hub-signature-256"] = signature
    outcome = webhook_outcome(request)
    if signature == sign(SECRET, PUSH_BODY):
        assert isinstance(outcome, VerifiedPush)
    else:
        assert isinstance(outcome, EventRejected) and outcome.status_code == 401


@FUZZ
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v, allow_nan=True).encode("utf-8", "surrogatepass"))))
@example(b"[" * 100_000 + b"]" * 100_000)
@example(b'{"a": ' + b"9" * 5000 + b"}")
@example(b'{"a": NaN}')
def test_json_parser_returns_an_object_or_a_400(body):
    try:
        document = parse_json_object(body)
    except EventRejected as exc:
        assert exc.status_code == 400
        return
    assert isinstance(document, dict)
    # What was accepted re-encodes as strict JSON: no NaN or Infinity slipped through.
    json.dumps(document, allow_nan=False)


# --------------------------------------------------------------------------- the whole intake, on moto


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(event=st.one_of(json_values, st.sampled_from(VALID_EVENTS).flatmap(mutated_event)))
def test_the_intake_answers_every_eventbridge_input_with_jobs_or_a_logged_drop(intake, drain, event):
    """Through Intake.handle with the moto queue and idempotency table: no exception, and only valid jobs queued."""
    result = intake.handle(event)

    queued = [Job.model_validate(message["job"]) for message in drain()]
    if "dropped" in result:
        assert result["queued"] == 0 and queued == []
        assert result["dropped"]["reason"] in {"InvalidEvent", "UndeployableImage", "UnknownEnvironment"}
    else:
        assert len(queued) == result["queued"]
        check_jobs(queued)
