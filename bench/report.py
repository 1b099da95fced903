"""What every benchmark returns, so ``mashlink bench`` can print it uniformly.

A benchmark measures the candidate and its baseline in the same run and
reports both; the table shows them side by side and ``--json`` prints the
metrics dictionary whose keys the issues name.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class BenchRow(BaseModel):
    """One line of the printed comparison table."""

    label: str
    value: float
    unit: str
    note: str = ""


class BenchReport(BaseModel):
    """A benchmark's result: rows for people, metrics for machines."""

    name: str
    description: str
    rows: list[BenchRow] = Field(default_factory=list)
    metrics: dict[str, float | int | str | bool | dict[str, float | int | str | bool]] = Field(
        default_factory=dict
    )
    targets: dict[str, str] = Field(default_factory=dict)
