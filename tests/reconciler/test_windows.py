"""Change windows are pure: allow/deny, overnight, daylight saving in America/New_York, when they reopen."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from reconciler.settings import ChangeWindow
from reconciler.windows import decide

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
MARKET_HOURS = ChangeWindow(kind="deny", days=WEEKDAYS, start=time(9, 30), end=time(16, 0), timezone="America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_no_windows_is_always_open():
    decision = decide((), utc(2025, 3, 5, 15, 0))
    assert decision.open and decision.reason == "no change windows configured" and decision.reopens_at is None


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (utc(2025, 3, 5, 14, 29), True),  # Wed 09:29 EST
        (utc(2025, 3, 5, 14, 30), False),  # Wed 09:30 EST: start is inside
        (utc(2025, 3, 5, 20, 59), False),  # Wed 15:59 EST
        (utc(2025, 3, 5, 21, 0), True),  # Wed 16:00 EST: end is outside
        (utc(2025, 3, 8, 15, 0), True),  # Saturday
        (utc(2025, 1, 8, 13, 45), True),  # winter: 08:45 EST
        (utc(2025, 7, 2, 13, 45), False),  # summer: 09:45 EDT
        (utc(2025, 7, 2, 19, 59), False),  # summer: 15:59 EDT
        (utc(2025, 7, 2, 20, 0), True),  # summer: 16:00 EDT
        (utc(2025, 3, 10, 13, 45), False),  # the Monday after the spring-forward Sunday: 09:45 EDT
    ],
)
def test_deny_window_in_new_york_follows_daylight_saving(moment, is_open):
    decision = decide((MARKET_HOURS,), moment)
    assert decision.open is is_open
    if not is_open:
        assert decision.reason == "inside deny window deny mon,tue,wed,thu,fri 09:30-16:00 America/New_York"


def test_deny_window_reopens_at_its_end_in_local_time():
    assert decide((MARKET_HOURS,), utc(2025, 3, 5, 15, 0)).reopens_at == utc(2025, 3, 5, 21, 0)  # 16:00 EST
    assert decide((MARKET_HOURS,), utc(2025, 7, 2, 15, 0)).reopens_at == utc(2025, 7, 2, 20, 0)  # 16:00 EDT
    reopens = decide((MARKET_HOURS,), utc(2025, 3, 5, 15, 0)).reopens_at
    assert reopens.utcoffset().total_seconds() == -5 * 3600 and (reopens.hour, reopens.minute) == (16, 0)


def test_allow_window_over_a_weekend_and_a_dst_change_reopens_monday_evening():
    evenings = ChangeWindow(kind="allow", days=WEEKDAYS, start=time(18, 0), end=time(20, 0), timezone="America/New_York")
    assert decide((evenings,), utc(2025, 3, 7, 23, 30)).open  # Fri 18:30 EST
    friday_late = utc(2025, 3, 8, 2, 0)  # Fri 21:00 EST
    decision = decide((evenings,), friday_late)
    assert not decision.open
    assert decision.reason.startswith("outside every allow window (allow mon,tue,wed,thu,fri 18:00-20:00 America/New_York")
    # Clocks spring forward on Sunday 9 March: Monday 18:00 is EDT, 22:00 UTC (not 23:00).
    assert decision.reopens_at == utc(2025, 3, 10, 22, 0)


def test_overnight_deny_window_belongs_to_the_day_it_starts():
    friday_night = ChangeWindow(kind="deny", days=("fri",), start=time(22, 0), end=time(6, 0), timezone="UTC")
    assert not decide((friday_night,), utc(2025, 3, 7, 23, 0)).open  # Fri 23:00
    saturday_early = decide((friday_night,), utc(2025, 3, 8, 1, 0))  # Sat 01:00, still Friday's night
    assert not saturday_early.open and saturday_early.reopens_at == utc(2025, 3, 8, 6, 0)
    assert decide((friday_night,), utc(2025, 3, 8, 6, 0)).open
    assert decide((friday_night,), utc(2025, 3, 8, 23, 0)).open  # Saturday night is not listed
    assert decide((friday_night,), utc(2025, 3, 7, 5, 0)).open  # Friday early belongs to Thursday's night
    assert decide((friday_night,), utc(2025, 3, 7, 21, 59)).open


def test_overnight_allow_window():
    nightly = ChangeWindow(kind="allow", start=time(22, 0), end=time(2, 0), timezone="Europe/London")
    assert decide((nightly,), utc(2025, 1, 15, 23, 30)).open
    assert decide((nightly,), utc(2025, 1, 16, 1, 59)).open
    closed = decide((nightly,), utc(2025, 1, 16, 2, 0))
    assert not closed.open and closed.reopens_at == utc(2025, 1, 16, 22, 0)
    # In British Summer Time the same local window is an hour earlier in UTC.
    assert decide((nightly,), utc(2025, 7, 16, 21, 30)).open
    assert not decide((nightly,), utc(2025, 7, 16, 1, 30)).open


def test_deny_inside_allow_reopens_at_the_first_instant_both_agree():
    allow = ChangeWindow(kind="allow", start=time(8, 0), end=time(18, 0), timezone="UTC")
    lunch = ChangeWindow(kind="deny", start=time(12, 0), end=time(13, 0), timezone="UTC")
    assert decide((allow, lunch), utc(2025, 3, 5, 11, 0)).open
    assert decide((allow, lunch), utc(2025, 3, 5, 12, 30)).reopens_at == utc(2025, 3, 5, 13, 0)
    assert decide((allow, lunch), utc(2025, 3, 5, 7, 0)).reopens_at == utc(2025, 3, 5, 8, 0)
    assert decide((allow, lunch), utc(2025, 3, 5, 18, 30)).reopens_at == utc(2025, 3, 6, 8, 0)


def test_fall_back_hour_happens_twice_and_the_window_covers_both():
    night = ChangeWindow(kind="deny", start=time(1, 0), end=time(2, 0), timezone="America/New_York")
    # 2 Nov 2025: 01:00-02:00 local happens at 05:00-06:00 UTC (EDT) and again at 06:00-07:00 UTC (EST).
    first = decide((night,), utc(2025, 11, 2, 5, 30))
    second = decide((night,), utc(2025, 11, 2, 6, 30))
    assert not first.open and not second.open
    assert first.reopens_at == second.reopens_at == utc(2025, 11, 2, 7, 0)
    assert decide((night,), utc(2025, 11, 2, 7, 0)).open


def test_never_open_within_the_lookahead_has_no_reopening():
    allow = ChangeWindow(kind="allow", days=("mon",), start=time(10, 0), end=time(11, 0), timezone="UTC")
    deny = ChangeWindow(kind="deny", days=("mon",), start=time(9, 0), end=time(12, 0), timezone="UTC")
    decision = decide((allow, deny), utc(2025, 3, 5, 10, 0))
    assert not decision.open and decision.reopens_at is None


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        decide((MARKET_HOURS,), datetime(2025, 3, 5, 15, 0))


def test_window_settings_are_validated():
    with pytest.raises(ValueError, match="IANA time zone"):
        ChangeWindow(kind="deny", start=time(9, 0), end=time(10, 0), timezone="Eastern")
    with pytest.raises(ValueError, match="empty"):
        ChangeWindow(kind="deny", start=time(9, 0), end=time(9, 0), timezone="UTC")
