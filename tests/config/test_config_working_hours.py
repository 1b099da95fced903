"""Working-hours arithmetic against the England-and-Wales calendar, DST and closures."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mashlink.config import WorkingCalendar, load_settings

LONDON = ZoneInfo("Europe/London")


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    """Mon-Fri 09:00-17:00 Europe/London, England-and-Wales bank holidays, no local closures."""
    return WorkingCalendar()


@pytest.fixture(scope="module")
def configured() -> WorkingCalendar:
    """The packaged default calendar, which adds council closure days 29-31 December."""
    return WorkingCalendar.from_settings(load_settings().calendar)


def test_across_a_weekend(cal: WorkingCalendar) -> None:
    # Fri 2026-11-20 15:00 GMT + 4h: 2h Friday, 2h Monday
    assert cal.add_working_hours(london(2026, 11, 20, 15), 4) == utc(2026, 11, 23, 11)


def test_ends_exactly_at_close_of_day(cal: WorkingCalendar) -> None:
    assert cal.add_working_hours(london(2026, 11, 18, 13), 4) == utc(2026, 11, 18, 17)
    assert cal.add_working_hours(london(2026, 11, 18, 9), 8) == utc(2026, 11, 18, 17)
    assert cal.add_working_hours(london(2026, 11, 18, 9), 8.000001) > utc(2026, 11, 19, 9)


def test_christmas_boxing_day_substitute(cal: WorkingCalendar) -> None:
    # Thu 24 Dec 15:00 + 4h: 2h on the 24th; Fri 25 Christmas; Sat/Sun; Mon 28 Boxing Day (substitute)
    assert cal.add_working_hours(london(2026, 12, 24, 15), 4) == utc(2026, 12, 29, 11)


def test_christmas_with_council_closure_days(configured: WorkingCalendar) -> None:
    # ...and with the council closed 29-31 Dec, New Year's Day, then the weekend: Mon 4 Jan
    assert configured.add_working_hours(london(2026, 12, 24, 15), 4) == utc(2027, 1, 4, 11)
    assert not configured.is_working_day(date(2026, 12, 30))


def test_new_year(cal: WorkingCalendar) -> None:
    # Thu 31 Dec 16:00 + 2h: Fri 1 Jan is a bank holiday, then the weekend
    assert cal.add_working_hours(london(2026, 12, 31, 16), 2) == utc(2027, 1, 4, 10)


def test_christmas_2027_double_substitute(cal: WorkingCalendar) -> None:
    # 25/26 Dec 2027 fall on Sat/Sun: substitutes Mon 27 and Tue 28
    assert cal.add_working_hours(london(2027, 12, 24, 16), 2) == utc(2027, 12, 29, 10)


def test_easter_2027_and_the_clocks_going_forward(cal: WorkingCalendar) -> None:
    # Good Friday 26 Mar, clocks change Sun 28 Mar (Easter Day), Easter Monday 29 Mar.
    # Thu 25 Mar 13:00 GMT + 8h: 4h Thursday, then Tue 30 Mar 13:00 BST (12:00 UTC).
    result = cal.add_working_hours(london(2027, 3, 25, 13), 8)
    assert result == utc(2027, 3, 30, 12)
    assert result.astimezone(LONDON).hour == 13
    assert cal.working_hours_between(london(2027, 3, 25, 9), london(2027, 3, 30, 17)) == 16


def test_clocks_going_back(cal: WorkingCalendar) -> None:
    # Sun 25 Oct 2026 back to GMT: Fri 23 Oct 13:00 BST + 8h = Mon 26 Oct 13:00 GMT
    assert cal.add_working_hours(london(2026, 10, 23, 13), 8) == utc(2026, 10, 26, 13)


def test_may_and_summer_bank_holidays(cal: WorkingCalendar) -> None:
    for day in (date(2027, 5, 3), date(2027, 5, 31), date(2027, 8, 30), date(2027, 3, 26), date(2027, 3, 29)):
        assert not cal.is_working_day(day), day
    # Fri 28 May 16:00 BST + 2h: Mon 31 May is the spring bank holiday
    assert cal.add_working_hours(london(2027, 5, 28, 16), 2) == utc(2027, 6, 1, 9)
    assert cal.is_working_day(date(2027, 6, 1))


def test_start_outside_working_time(cal: WorkingCalendar) -> None:
    assert cal.add_working_hours(london(2026, 11, 18, 7, 30), 1) == utc(2026, 11, 18, 10)  # before opening
    assert cal.add_working_hours(london(2026, 11, 18, 19), 1) == utc(2026, 11, 19, 10)  # after close
    assert cal.add_working_hours(london(2026, 11, 21, 12), 1) == utc(2026, 11, 23, 10)  # Saturday
    assert cal.add_working_hours(london(2026, 12, 25, 10), 1) == utc(2026, 12, 29, 10)  # Christmas Day


def test_zero_hours_is_the_next_working_moment(cal: WorkingCalendar) -> None:
    assert cal.add_working_hours(london(2026, 11, 18, 11, 15), 0) == utc(2026, 11, 18, 11, 15)
    assert cal.next_working_moment(london(2026, 11, 20, 17)) == utc(2026, 11, 23, 9)  # end is exclusive
    assert cal.next_working_moment(london(2026, 11, 22, 23)) == utc(2026, 11, 23, 9)


def test_fractional_hours(cal: WorkingCalendar) -> None:
    assert cal.add_working_hours(london(2026, 11, 18, 16, 30), 0.25) == utc(2026, 11, 18, 16, 45)
    assert cal.add_working_hours(london(2026, 11, 18, 16, 45), 0.5) == utc(2026, 11, 19, 9, 15)
    assert cal.add_working_hours(london(2026, 11, 18, 9), 1.5) == utc(2026, 11, 18, 10, 30)
    assert cal.working_hours_between(london(2026, 11, 18, 16, 45), london(2026, 11, 19, 9, 15)) == 0.5


def test_results_are_utc_whatever_the_input_zone(cal: WorkingCalendar) -> None:
    start = datetime(2026, 11, 18, 5, tzinfo=ZoneInfo("America/New_York"))  # 10:00 GMT
    result = cal.add_working_hours(start, 1)
    assert result.tzinfo is UTC and result == utc(2026, 11, 18, 11)


def test_is_working_time_boundaries(cal: WorkingCalendar) -> None:
    assert cal.is_working_time(london(2026, 11, 18, 9))
    assert cal.is_working_time(london(2026, 11, 18, 16, 59, 59))
    assert not cal.is_working_time(london(2026, 11, 18, 17))
    assert not cal.is_working_time(london(2026, 11, 18, 8, 59))
    assert not cal.is_working_time(london(2026, 11, 21, 12))
    assert not cal.is_working_time(london(2027, 3, 29, 12))  # Easter Monday


def test_working_hours_between_is_antisymmetric(cal: WorkingCalendar) -> None:
    a, b = london(2026, 11, 18, 10), london(2026, 11, 23, 12)
    assert cal.working_hours_between(a, b) == 7 + 8 + 8 + 3  # Wed, Thu, Fri, Mon
    assert cal.working_hours_between(b, a) == -26


def test_bad_inputs_are_rejected(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_working_hours(datetime(2026, 11, 18, 10), 1)
    with pytest.raises(ValueError, match="negative"):
        cal.add_working_hours(london(2026, 11, 18, 10), -1)
    with pytest.raises(ValueError, match="finite"):
        cal.add_working_hours(london(2026, 11, 18, 10), float("nan"))
    with pytest.raises(ValueError, match="day_end"):
        WorkingCalendar(day_start=time(17), day_end=time(9))


def test_custom_week_and_region() -> None:
    # A Scottish MASH that also works Saturdays 08:00-12:00
    cal = WorkingCalendar(day_start=time(8), day_end=time(12), working_weekdays={0, 1, 2, 3, 4, 5},
                          bank_holidays="scotland")
    assert cal.add_working_hours(london(2026, 11, 20, 11), 2) == utc(2026, 11, 21, 9)
    assert not cal.is_working_day(date(2026, 11, 30))  # St Andrew's Day (Scotland only)
    assert WorkingCalendar().is_working_day(date(2026, 11, 30))


def test_long_spans_cross_years(cal: WorkingCalendar) -> None:
    start = london(2026, 6, 1, 9)
    end = cal.add_working_hours(start, 8 * 600)  # ~600 working days
    assert end.year == 2028
    assert cal.working_hours_between(start, end) == 4800


# -- properties ------------------------------------------------------------------------

_starts = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(LONDON)
)
_hours = st.floats(min_value=0, max_value=400, allow_nan=False, allow_infinity=False)
_CAL = WorkingCalendar()  # shared across examples: its tables are a cache, not behaviour


@settings(max_examples=300, deadline=None)
@given(start=_starts, hours=_hours)
def test_between_inverts_add(start: datetime, hours: float) -> None:
    cal = _CAL
    end = cal.add_working_hours(start, hours)
    assert end >= start or not cal.is_working_time(start) and hours == 0
    assert abs(cal.working_hours_between(start, end) - hours) < 1e-6
    # the deadline lands in working time, or exactly at the close of a working day
    assert cal.is_working_time(end) or (hours > 0 and cal.is_working_time(end - timedelta(microseconds=1)))


@settings(max_examples=200, deadline=None)
@given(start=_starts, h1=_hours, h2=_hours)
def test_add_is_monotonic(start: datetime, h1: float, h2: float) -> None:
    cal = _CAL
    lo, hi = sorted((h1, h2))
    assert cal.add_working_hours(start, lo) <= cal.add_working_hours(start, hi)


_BANK = holidays.country_holidays("GB", subdiv="ENG", years=range(2025, 2031))


def _oracle(start: datetime, minutes: int) -> datetime:
    """Independent minute-by-minute reference: slow, obviously right."""
    t = start.astimezone(UTC)

    def working(moment: datetime) -> bool:
        local = moment.astimezone(LONDON)
        return local.weekday() < 5 and local.date() not in _BANK and 9 <= local.hour < 17

    while not working(t):
        t += timedelta(minutes=1)
    while minutes:
        if working(t):
            minutes -= 1
        t += timedelta(minutes=1)
    return t


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 3, 20), max_value=datetime(2027, 4, 10),
                       timezones=st.just(LONDON)).map(lambda d: d.replace(second=0, microsecond=0)),
    minutes=st.integers(min_value=1, max_value=16 * 60),
)
def test_matches_minute_by_minute_reference(start: datetime, minutes: int) -> None:
    assert _CAL.add_working_hours(start, minutes / 60) == _oracle(start, minutes)
