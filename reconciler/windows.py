"""Change windows: may this environment change now, and if not, when next? Pure functions.

With any ``allow`` windows configured, a change must fall inside one of them; it must never
fall inside a ``deny`` window. Windows are weekly, in their own time zone (so "09:30-16:00
America/New_York" follows daylight saving), and may run past midnight (start later than end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from reconciler.settings import DAYS, ChangeWindow

LOOKAHEAD_DAYS = 8


@dataclass(frozen=True)
class WindowDecision:
    open: bool
    reason: str
    reopens_at: datetime | None = None


def _inside(window: ChangeWindow, moment: datetime) -> bool:
    local = moment.astimezone(ZoneInfo(window.timezone))
    day = DAYS[local.weekday()]
    now = local.time().replace(tzinfo=None)
    if window.start < window.end:
        return day in window.days and window.start <= now < window.end
    # Past midnight: the part before midnight belongs to the listed day, the rest to the next.
    yesterday = DAYS[(local.weekday() - 1) % 7]
    return (day in window.days and now >= window.start) or (yesterday in window.days and now < window.end)


def _describe(window: ChangeWindow) -> str:
    days = ",".join(window.days) if tuple(window.days) != DAYS else "daily"
    return f"{window.kind} {days} {window.start:%H:%M}-{window.end:%H:%M} {window.timezone}"


def _blocking(windows: Sequence[ChangeWindow], moment: datetime) -> str | None:
    """Why no change may start at ``moment``, or None when one may."""
    for window in windows:
        if window.kind == "deny" and _inside(window, moment):
            return f"inside deny window {_describe(window)}"
    allows = [w for w in windows if w.kind == "allow"]
    if allows and not any(_inside(w, moment) for w in allows):
        return f"outside every allow window ({'; '.join(_describe(w) for w in allows)})"
    return None


def decide(windows: Sequence[ChangeWindow], moment: datetime) -> WindowDecision:
    """Whether a change may start at ``moment`` (timezone-aware), with the reason either way."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    blocked = _blocking(windows, moment)
    if blocked:
        return WindowDecision(False, blocked, _next_open(windows, moment))
    return WindowDecision(True, "inside the change window" if windows else "no change windows configured")


def _candidates(windows: Sequence[ChangeWindow], moment: datetime) -> list[datetime]:
    """Every window boundary in the look-ahead period: the only instants at which the answer can change."""
    found: list[datetime] = []
    for window in windows:
        zone = ZoneInfo(window.timezone)
        local = moment.astimezone(zone)
        for offset in range(LOOKAHEAD_DAYS + 1):
            day = (local + timedelta(days=offset)).date()
            for boundary in (window.start, window.end):
                instant = datetime.combine(day, boundary, tzinfo=zone)
                if instant > moment:
                    found.append(instant)
    return sorted(found)


def _next_open(windows: Sequence[ChangeWindow], moment: datetime) -> datetime | None:
    return next((c for c in _candidates(windows, moment) if _blocking(windows, c) is None), None)
