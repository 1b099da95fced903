"""Jinja filters the workspace pages share: times in Europe/London, hours left, labels."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment

LONDON = ZoneInfo("Europe/London")


def when(value: date | datetime | str | None) -> str:
    """``6 Dec 2026 14:05`` in UK time (dates without a time as ``6 Dec 2026``); '' for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        local = value.astimezone(LONDON) if value.tzinfo else value
        return f"{local.day} {local:%b %Y %H:%M}"
    return f"{value.day} {value:%b %Y}"


def hours_left(hours: float | None, clock: bool = False) -> str:
    """``3.5 working hours left`` / ``overdue by 2 hours``; '' when nothing is owed."""
    if hours is None:
        return ""
    unit = "hours" if clock else "working hours"
    if hours < 0:
        return f"overdue by {abs(hours):.1f} {unit}"
    return f"{hours:.1f} {unit} left"


def label(code: object) -> str:
    """``child_protection_plan`` -> ``Child protection plan``; ``social_care.cp_plan`` -> ``Cp plan``."""
    text = str(getattr(code, "value", code) or "")
    text = text.rsplit(".", 1)[-1].replace("_", " ").replace("-", " ")
    return text[:1].upper() + text[1:]


def install(env: Environment) -> None:
    env.filters.setdefault("when", when)
    env.filters.setdefault("hours_left", hours_left)
    env.filters.setdefault("label", label)
