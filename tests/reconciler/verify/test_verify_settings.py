"""Settings ``verify:``: the waiting checks' bound and poll, the log recency, the HTTP timeout."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reconciler.settings import ReconcilerSettings
from reconciler.verify.wiring import timing_from


def _settings(**verify):
    return ReconcilerSettings.model_validate({"repository": {"url": "."}, "environments": {}, **({"verify": verify} if verify else {})})


def test_defaults():
    timing = timing_from(_settings())
    assert (timing.target_health_timeout_seconds, timing.poll_seconds, timing.recent_log_minutes, timing.http_timeout_seconds) == (300, 10, 15, 5)


def test_camel_case_keys_reach_the_timing():
    timing = timing_from(_settings(targetHealthTimeoutSeconds=45, pollSeconds=3, recentLogMinutes=60, httpTimeoutSeconds=2))
    assert (timing.target_health_timeout_seconds, timing.poll_seconds, timing.recent_log_minutes, timing.http_timeout_seconds) == (45, 3, 60, 2)


@pytest.mark.parametrize("key, value", [("pollSeconds", 0), ("targetHealthTimeoutSeconds", 7200), ("httpTimeoutSeconds", 0)])
def test_out_of_range_is_refused(key, value):
    with pytest.raises(ValidationError):
        _settings(**{key: value})
