"""Working-hours arithmetic: when is "24 working hours from now"?

Deadlines for amber and green enquiries count only the MASH's working time:
weekdays between day start and day end, local time (Europe/London), minus
bank holidays and local closure days. The calendar is turned into per-day
working windows in UTC with a running total of working time before each day,
so adding hours or measuring between two instants is a binary search plus
integer arithmetic, never a per-minute (or per-day) walk: a million deadlines
stay cheap. Windows are built in local time and converted to UTC per day, so
a clock change (GMT/BST) moves the window in UTC but never its length in
working time unless the change falls inside working hours.

Conventions:
- Working time is the half-open window ``[day_start, day_end)`` of each
  working day. A start outside it counts from the next working moment.
- Adding hours that end exactly at a day's end returns that day's end
  (17:00), not the next morning; adding zero hours returns the next working
  moment at or after the start.
- Inputs must be timezone-aware; results are in UTC.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from .models import BANK_HOLIDAY_REGIONS, CalendarSettings

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_US_PER_HOUR = 3_600_000_000
_MIN_YEAR, _MAX_YEAR = 1971, 9998


def _to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def require_aware(moment: datetime, name: str) -> None:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {moment.isoformat()})")


@dataclass(frozen=True)
class _Tables:
    """Per-day working windows for whole years ``first_year .. last_year``.

    ``ws[i]``/``we[i]`` are the UTC window of day ``base + i`` in epoch
    microseconds (equal on non-working days); ``cum[i]`` is the working time
    before day ``i``, so ``len(cum) == len(ws) + 1``.
    """

    first_year: int
    last_year: int
    base: int
    ws: list[int]
    we: list[int]
    cum: list[int]

    def covers(self, first: int, last: int) -> bool:
        return self.first_year <= first and last <= self.last_year

    def index(self, day: date) -> int:
        return day.toordinal() - self.base


class WorkingCalendar:
    """Working time of one MASH, from ``CalendarSettings``.

    The instance caches per-day windows for the years it has been asked about
    (a private, per-instance cache: no module-level state). The cache is one
    immutable object swapped in whole, so sharing a calendar between threads
    is safe.
    """

    def __init__(
        self,
        timezone: str = "Europe/London",
        day_start: time = time(9, 0),
        day_end: time = time(17, 0),
        working_weekdays: Iterable[int] = (0, 1, 2, 3, 4),
        bank_holidays: str = "england-and-wales",
        closures: Iterable[date] = (),
    ) -> None:
        if day_end <= day_start:
            raise ValueError("day_end must be after day_start")
        self.tz = ZoneInfo(timezone)
        self.day_start = day_start
        self.day_end = day_end
        self.working_weekdays = frozenset(working_weekdays)
        if not self.working_weekdays or not self.working_weekdays <= set(range(7)):
            raise ValueError("working_weekdays must be a non-empty subset of 0 (Mon) .. 6 (Sun)")
        if bank_holidays not in BANK_HOLIDAY_REGIONS:
            raise ValueError(f"unknown bank-holiday region {bank_holidays!r}")
        self.region = bank_holidays
        self.closures = frozenset(closures)
        self._tables: _Tables | None = None

    @classmethod
    def from_settings(cls, calendar: CalendarSettings) -> "WorkingCalendar":
        return cls(
            timezone=calendar.timezone,
            day_start=calendar.day_start,
            day_end=calendar.day_end,
            working_weekdays=calendar.weekday_indexes,
            bank_holidays=calendar.bank_holidays,
            closures=calendar.closures,
        )

    # -- calendar facts -------------------------------------------------------------
    def _holidays(self, first_year: int, last_year: int) -> set[date]:
        region = BANK_HOLIDAY_REGIONS[self.region]
        if region is None:
            return set()
        country, subdiv = region
        return set(holidays.country_holidays(country, subdiv=subdiv, years=range(first_year, last_year + 1)))

    def is_working_day(self, day: date) -> bool:
        """A working weekday that is neither a bank holiday nor a closure day."""
        t = self._tables_for(day.year, day.year)
        i = t.index(day)
        return t.we[i] > t.ws[i]

    # -- tables ------------------------------------------------------------------------
    def _tables_for(self, first: int, last: int) -> _Tables:
        """Tables covering years ``first..last``; the start year never moves later."""
        current = self._tables
        if current is not None and current.covers(first, last):
            return current
        if first < _MIN_YEAR or last > _MAX_YEAR:
            raise ValueError(f"dates must fall between {_MIN_YEAR} and {_MAX_YEAR}")
        if current is not None:
            # Widen only the side that needs it, by a year of slack.
            first = current.first_year if first >= current.first_year else max(_MIN_YEAR, first - 1)
            last = current.last_year if last <= current.last_year else min(_MAX_YEAR, last + 1)
        else:
            first, last = max(_MIN_YEAR, first - 1), min(_MAX_YEAR, last + 1)
        tables = self._build(first, last)
        self._tables = tables
        return tables

    def _build(self, first: int, last: int) -> _Tables:
        closed = self._holidays(first, last) | self.closures
        base = date(first, 1, 1).toordinal()
        n = date(last, 12, 31).toordinal() - base + 1
        ws: list[int] = []
        we: list[int] = []
        cum = [0]
        total = 0
        for i in range(n):
            day = date.fromordinal(base + i)
            start = _to_us(datetime.combine(day, self.day_start, tzinfo=self.tz))
            if day.weekday() in self.working_weekdays and day not in closed:
                end = _to_us(datetime.combine(day, self.day_end, tzinfo=self.tz))
                total += end - start
            else:
                end = start
            ws.append(start)
            we.append(end)
            cum.append(total)
        return _Tables(first, last, base, ws, we, cum)

    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    @staticmethod
    def _cumulative(t: _Tables, day: date, moment: datetime) -> int:
        """Working microseconds from the start of ``t`` up to ``moment`` (on local ``day``)."""
        i = t.index(day)
        us = _to_us(moment)
        ws, we = t.ws[i], t.we[i]
        return t.cum[i] + (min(max(us, ws), we) - ws)

    def _moment_at(self, t: _Tables, target: int, *, next_moment: bool) -> datetime:
        """The instant at which cumulative working time (relative to ``t``) reaches ``target``.

        With ``next_moment=False`` (target > 0) the earliest such instant: a
        day's end when the target is reached exactly there. With ``True`` the
        latest: the next working moment, used for zero-length additions.
        """
        while True:
            if next_moment and target < t.cum[-1]:
                i = bisect_right(t.cum, target) - 1
                return _from_us(t.ws[i] + (target - t.cum[i]))
            if not next_moment and 0 < target <= t.cum[-1]:
                i = bisect_left(t.cum, target) - 1
                return _from_us(t.ws[i] + (target - t.cum[i]))
            if t.last_year >= _MAX_YEAR:
                raise ValueError("the result falls beyond the supported calendar range")
            # Extend forwards only, so the base (and so ``target``) stays valid.
            t = self._tables_for(t.first_year, min(_MAX_YEAR, t.last_year + 4))

    # -- public arithmetic ----------------------------------------------------------------
    def is_working_time(self, moment: datetime) -> bool:
        """Is ``moment`` inside a working window (start inclusive, end exclusive)?"""
        require_aware(moment, "moment")
        day = self._local_day(moment)
        t = self._tables_for(day.year, day.year)
        i = t.index(day)
        return t.ws[i] <= _to_us(moment) < t.we[i]

    def next_working_moment(self, moment: datetime) -> datetime:
        """``moment`` itself (in UTC) if it is working time, else the start of the next working window."""
        return self.add_working_hours(moment, 0)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The UTC instant ``hours`` working hours after ``start``.

        Counting begins at the next working moment if ``start`` is outside
        working time. ``hours`` may be fractional; it is resolved to the
        microsecond.
        """
        require_aware(start, "start")
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours):
            raise ValueError(f"hours must be a finite number (got {hours!r})")
        if hours < 0:
            raise ValueError(f"hours must not be negative (got {hours})")
        amount = round(hours * _US_PER_HOUR)
        day = self._local_day(start)
        t = self._tables_for(day.year, day.year)
        target = self._cumulative(t, day, start) + amount
        return self._moment_at(t, target, next_moment=(amount == 0))

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours from ``a`` to ``b`` (negative if ``b`` is before ``a``)."""
        require_aware(a, "a")
        require_aware(b, "b")
        day_a, day_b = self._local_day(a), self._local_day(b)
        t = self._tables_for(min(day_a.year, day_b.year), max(day_a.year, day_b.year))
        return (self._cumulative(t, day_b, b) - self._cumulative(t, day_a, a)) / _US_PER_HOUR

    def working_days_between(self, first: date, last: date) -> list[date]:
        """Working days in ``[first, last]`` (for reports and tests)."""
        t = self._tables_for(first.year, last.year)
        return [
            date.fromordinal(o)
            for o in range(first.toordinal(), last.toordinal() + 1)
            if t.we[t.index(date.fromordinal(o))] > t.ws[t.index(date.fromordinal(o))]
        ]
