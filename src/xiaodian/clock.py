"""The one source of "now". Tests move it forward instead of sleeping.

Times are timezone-aware UTC; the business day is Asia/Shanghai.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 6, 18, 2, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        with self._lock:
            self._now += delta or timedelta(**kwargs)
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


_clock: Clock = Clock()


def now() -> datetime:
    return _clock.now()


def today() -> date:
    """The business day (Asia/Shanghai) of now."""
    return _clock.now().astimezone(BUSINESS_TZ).date()


def use(clock: Clock) -> Clock:
    """Install ``clock`` as the source of now; returns the previous one."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; they were stored as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
