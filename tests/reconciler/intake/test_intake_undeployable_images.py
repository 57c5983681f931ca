"""Issue 9, "Poison never stops the worker": image events that cannot be deployed are refused at the intake.

On the original code an ECR push tagged ``latest`` (or with a malformed digest) was queued and then
crashed the worker with a pydantic error. Now it is dropped with ``reason: UndeployableImage`` in the
log and never reaches the queue. The tag and digest rules are the desired-state schema's own
(:class:`desired_state.schema.ImageRef`), so the intake refuses exactly what a rollout could not pin.
"""

from __future__ import annotations

import pytest

from desired_state.naming import SERVICE_NAMES
from desired_state.schema import MUTABLE_TAGS
from reconciler.settings import EnvironmentSettings

HEX64 = "7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678"
UNDEPLOYABLE = "UndeployableImage"


def moving_tags() -> list[str]:
    # Every moving tag the schema names, plus a capitalised spelling (the schema compares case-insensitively).
    return sorted(MUTABLE_TAGS) + ["Latest", "LATEST"]


@pytest.mark.parametrize("tag", moving_tags())
def test_push_with_a_moving_tag_is_refused_and_never_queued(tag, intake, payloads, assert_dropped):
    result = intake.handle(payloads.ecr_image_action("ecr-frontend-dev", tag=tag))

    assert_dropped(result, UNDEPLOYABLE, f"'{tag}' is a moving tag")


INVALID_TAGS = ["-leading-dash", ".leading-dot", "v1/2", "v" * 129, "", "tag:colon", "v1@sha"]


@pytest.mark.parametrize("tag", INVALID_TAGS, ids=lambda t: repr(t)[:20])
def test_push_with_a_tag_the_schema_refuses_is_refused(tag, intake, payloads, assert_dropped):
    result = intake.handle(payloads.ecr_image_action("ecr-api-gateway-prod", tag=tag))

    assert_dropped(result, UNDEPLOYABLE, "is not a valid image tag")


MALFORMED_DIGESTS = {
    "60-hex": "sha256:" + HEX64[:60],
    "65-hex": "sha256:" + HEX64 + "0",
    "uppercase": "sha256:" + HEX64.upper(),
    "sha512": "sha512:" + HEX64,
    "no-algorithm": HEX64,
    "empty": "",
}


@pytest.mark.parametrize("case", sorted(MALFORMED_DIGESTS))
def test_push_with_a_malformed_digest_is_refused(case, intake, payloads, assert_dropped):
    result = intake.handle(payloads.ecr_image_action("ecr-frontend-dev", digest=MALFORMED_DIGESTS[case]))

    assert_dropped(result, UNDEPLOYABLE, "is not an image digest of the form sha256:<64 hex characters>")


INVISIBLE = {"tag-trailing-newline": ("image-tag", "v1.4.2\n"), "tag-inner-space": ("image-tag", "v1 2"),
             "tag-nul": ("image-tag", "v1\x00"), "digest-trailing-newline": ("image-digest", "sha256:" + HEX64 + "\n"),
             "digest-leading-space": ("image-digest", " sha256:" + HEX64), "repository-trailing-newline": ("repository-name", "ecr-frontend-dev\n")}


@pytest.mark.parametrize("case", sorted(INVISIBLE))
def test_whitespace_in_a_tag_digest_or_repository_is_refused_not_stripped(case, intake, payloads, assert_dropped):
    field, value = INVISIBLE[case]
    event = payloads.ecr_image_action("ecr-frontend-dev")
    event["detail"][field] = value

    assert_dropped(intake.handle(event), "InvalidEvent", f"field '{field}' contains whitespace or a control character")


def test_push_without_a_digest_is_refused(intake, payloads, assert_dropped):
    event = payloads.ecr_image_action("ecr-frontend-dev")
    del event["detail"]["image-digest"]

    assert_dropped(intake.handle(event), UNDEPLOYABLE, "carries no image-digest")


@pytest.mark.parametrize("case", sorted(MALFORMED_DIGESTS))
def test_scan_with_a_malformed_digest_is_refused(case, intake, payloads, assert_dropped):
    event = payloads.ecr_image_scan("ecr-frontend-dev")
    event["detail"]["image-digest"] = MALFORMED_DIGESTS[case]

    assert_dropped(intake.handle(event), UNDEPLOYABLE, "is not an image digest")


def test_scan_of_a_repository_of_no_environment_is_refused(intake, payloads, assert_dropped):
    assert_dropped(intake.handle(payloads.ecr_image_scan("ecr-frontend-staging")), UNDEPLOYABLE, "belongs to no managed environment")


def test_a_scan_listing_only_moving_tags_is_not_undeployable(wake_intake, payloads, drain):
    """A scan wakes the rollout of its digest; a moving tag next to (or instead of) a release tag does not make it undeployable.

    Changed with issue 10: the scan no longer becomes a job naming a tag; it is a wake-up by digest.
    """
    for index, tags in enumerate((["latest", "v2.0.0"], ["latest"])):
        result = wake_intake().handle(payloads.ecr_image_scan("ecr-frontend-prod", tags=tags, event_id=f"scan-{index}"))
        assert "dropped" not in result and "no running rollout watches image" in result["ignored"]
    assert drain() == []


def test_repositories_are_the_platforms_names_for_every_managed_environment_and_service(
    make_intake, make_settings_for, payloads, drain, assert_dropped
):
    from reconciler.triggers import managed_repositories

    settings = make_settings_for()
    settings = settings.model_copy(
        update={"environments": {**settings.environments, "eu": EnvironmentSettings(stack="eu", suffix="dev-eu")}}
    )
    assert managed_repositories(settings) == {
        f"ecr-{service}-{suffix}": (environment, service)
        for environment, suffix in (("dev", "dev"), ("eu", "dev-eu"), ("prod", "prod"))
        for service in SERVICE_NAMES
    }
    intake = make_intake(settings)

    for index, (repository, environment) in enumerate(
        [("ecr-processing-service-dev-eu", "eu"), ("ecr-api-gateway-dev", "dev"), ("ecr-frontend-prod", "prod")]
    ):
        assert intake.handle(payloads.ecr_image_action(repository, event_id=f"e-{index}"))["queued"] == 1
        [message] = drain()
        assert message["job"]["environment"] == environment
    # Near misses: an unmanaged suffix, a service the platform does not run, a prefix or suffix around a real name.
    for index, repository in enumerate(["ecr-frontend-eu", "ecr-billing-dev", "xecr-frontend-dev", "ecr-frontend-dev-x"]):
        result = intake.handle(payloads.ecr_image_action(repository, event_id=f"miss-{index}"))
        assert_dropped(result, UNDEPLOYABLE, "belongs to no managed environment")
