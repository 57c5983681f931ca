"""Property tests (hypothesis, bounded) for the wake-up parsers (issue 10).

For arbitrary JSON-ish values and for mutations of AWS's documented samples, ``wake_up_from_eventbridge``
returns a :class:`WakeUp` or :class:`NoWakeUp` or raises the project's :class:`EventRejected`; nothing
else escapes, and what wakes names exactly the resource the event names.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import EventRejected
from reconciler.rollout.watch import ALARM, ECS_SERVICE, IMAGE
from reconciler.settings import AwsResources, EnvironmentSettings, ReconcilerSettings, RepositorySettings
from reconciler.wakeups import NoWakeUp, WakeUp, wake_up_from_eventbridge
from tests.reconciler.intake.mutation import mutated

SAMPLES = {p.stem: json.loads(p.read_text()) for p in (Path(__file__).parent / "samples").glob("*.json")}
SETTINGS = ReconcilerSettings(
    repository=RepositorySettings(url="https://github.com/example-org/desired-state.git"),
    environments={"dev": EnvironmentSettings(stack="dev", suffix="dev"), "prod": EnvironmentSettings(stack="prod", suffix="prod")},
)
PINNED = SETTINGS.model_copy(update={"aws": AwsResources(account_id="123456789012", region="us-east-1")})
BOUNDED = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["ALARM", "OK", "SERVICE_DEPLOYMENT_FAILED", "SERVICE_STEADY_STATE", "COMPLETE", "123456789012", "us-west-2",
                     "arn:aws:ecs:us-east-1:123456789012:service/ecs-cluster-dev/svc-frontend-green-dev",
                     "arn:aws:ecs:us-east-1:123456789012:service/svc-x", "alarm-frontend-green-5xx-dev\n", "\ud800"]),
)
json_values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=10), c, max_size=3)), max_leaves=10)


def outcome(settings_: ReconcilerSettings, event: Any) -> WakeUp | NoWakeUp | EventRejected:
    try:
        result = wake_up_from_eventbridge(settings_, event)
    except EventRejected as exc:
        assert 400 <= exc.status_code < 500
        return exc
    assert isinstance(result, WakeUp | NoWakeUp)
    if isinstance(result, WakeUp):
        detail = event["detail"]
        if result.kind == ALARM:
            assert result.key == detail["alarmName"] and not CONTROL.search(result.key)
            assert detail["state"]["value"] == "ALARM"
        elif result.kind == ECS_SERVICE:
            cluster, service = result.key.split("/")
            assert cluster and service and any(arn.endswith(f"/{service}") for arn in event["resources"])
        else:
            assert result.kind == IMAGE
            repository, digest = result.key.split("@")
            assert repository == detail["repository-name"] and re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    return result


@BOUNDED
@given(st.sampled_from(sorted(SAMPLES)).flatmap(lambda name: mutated(SAMPLES[name], json_values)))
def test_mutated_samples_wake_exactly_what_they_name_or_are_refused(event):
    outcome(SETTINGS, event)


@BOUNDED
@given(st.sampled_from(sorted(SAMPLES)), json_values)
def test_any_detail_under_a_wake_up_event_type(name, detail):
    event = copy.deepcopy(SAMPLES[name])
    event["detail"] = detail
    outcome(SETTINGS, event)


@BOUNDED
@given(st.sampled_from(sorted(SAMPLES)).flatmap(lambda name: mutated(SAMPLES[name], json_values)))
def test_with_the_account_known_only_its_own_events_wake(event):
    result = outcome(PINNED, event)
    if isinstance(result, WakeUp):
        assert event["account"] == "123456789012" and event["region"] == "us-east-1"
