"""Deadlines: working hours for most ratings, clock hours for ratings worked out of hours."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mashlink.config import DeadlinePolicy, DeadlineState, RagTimescale, RagTimescales, WorkingCalendar, load_settings
from mashlink.schemas.codes import Rag

LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def policy() -> DeadlinePolicy:
    return DeadlinePolicy.from_settings(load_settings())


def test_red_out_of_hours_counts_clock_hours_across_the_clock_change(policy: DeadlinePolicy) -> None:
    # Sat 27 Mar 2027 23:00 GMT; clocks go forward at 01:00 UTC on Sunday 28 Mar
    requested = datetime(2027, 3, 27, 23, tzinfo=LONDON)
    due = policy.deadline_for(Rag.RED, requested)  # LA 999: red 4 clock hours
    assert due == datetime(2027, 3, 28, 3, tzinfo=UTC)
    assert due.astimezone(LONDON).hour == 4  # 04:00 BST on the wall clock
    assert policy.at_risk_at(Rag.RED, requested) == datetime(2027, 3, 28, 2, tzinfo=UTC)  # 0.75 x 4h


def test_amber_and_green_count_working_hours(policy: DeadlinePolicy) -> None:
    # Same Saturday night; Easter Monday 29 Mar is a bank holiday: Tue-Thu = 24 working hours
    requested = datetime(2027, 3, 27, 23, tzinfo=LONDON)
    assert policy.deadline_for("amber", requested) == datetime(2027, 4, 1, 16, tzinfo=UTC)  # 17:00 BST
    assert policy.deadline_for(Rag.GREEN, requested, "998") == datetime(2027, 4, 1, 16, tzinfo=UTC)
    # 0.75 x 24h = 18h: Tue 8, Wed 8, Thu 2 -> Thu 11:00 BST
    assert policy.at_risk_at(Rag.AMBER, requested) == datetime(2027, 4, 1, 10, tzinfo=UTC)


def test_local_authorities_have_their_own_timescales(policy: DeadlinePolicy) -> None:
    requested = datetime(2026, 11, 18, 9, tzinfo=LONDON)
    assert policy.deadline_for(Rag.RED, requested, "999") == datetime(2026, 11, 18, 13, tzinfo=UTC)
    assert policy.deadline_for(Rag.RED, requested, "998") == datetime(2026, 11, 18, 11, tzinfo=UTC)
    assert policy.deadline_for(Rag.AMBER, requested, "998") == datetime(2026, 11, 18, 15, tzinfo=UTC)
    with pytest.raises(KeyError, match="no RAG timescales for local authority '123'"):
        policy.deadline_for(Rag.RED, requested, "123")


def test_red_worked_in_office_hours_only_when_configured() -> None:
    scales = RagTimescales(red=RagTimescale(hours=4), amber=RagTimescale(hours=24),
                           green=RagTimescale(hours=72), at_risk_fraction=0.5)
    policy = DeadlinePolicy({"555": scales}, WorkingCalendar())
    friday_evening = datetime(2026, 11, 20, 18, tzinfo=LONDON)
    assert policy.deadline_for(Rag.RED, friday_evening) == datetime(2026, 11, 23, 13, tzinfo=UTC)
    assert policy.at_risk_at(Rag.RED, friday_evening) == datetime(2026, 11, 23, 11, tzinfo=UTC)


def test_state_and_share_of_time_used(policy: DeadlinePolicy) -> None:
    requested = datetime(2026, 11, 18, 9, tzinfo=LONDON)  # amber due Fri 20 Nov 17:00
    assert policy.state_at(Rag.AMBER, requested, datetime(2026, 11, 19, 9, tzinfo=LONDON)) is DeadlineState.ON_TIME
    assert policy.state_at(Rag.AMBER, requested, datetime(2026, 11, 20, 12, tzinfo=LONDON)) is DeadlineState.AT_RISK
    assert policy.state_at(Rag.AMBER, requested, datetime(2026, 11, 20, 17, tzinfo=LONDON)) is DeadlineState.OVERDUE
    assert policy.hours_used(Rag.AMBER, requested, datetime(2026, 11, 19, 13, tzinfo=LONDON)) == pytest.approx(0.5)
    assert policy.hours_used(Rag.RED, requested, datetime(2026, 11, 18, 11, tzinfo=LONDON)) == pytest.approx(0.5)


def test_naive_request_time_is_rejected(policy: DeadlinePolicy) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        policy.deadline_for(Rag.RED, datetime(2026, 11, 18, 9))
