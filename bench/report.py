"""What every benchmark returns, so ``mashlink bench`` can print it uniformly.

A benchmark measures the candidate and its baseline in the same run and
reports both; the table shows them side by side and ``--json`` prints the
metrics dictionary whose keys the issues name.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

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


def best_seconds(fn: Callable[[], int], repeats: int) -> tuple[float, int]:
    """Fastest of ``repeats`` runs of ``fn`` (which returns how many records it did), and that count.

    The best run, not the mean: on a shared machine the slower runs measure
    the neighbours, and every path in one report is measured the same way.
    """
    best = float("inf")
    n = 0
    for _ in range(repeats):
        start = time.perf_counter()
        n = fn()
        best = min(best, time.perf_counter() - start)
    return best, n


def interleaved_best(runs: dict[str, Callable[[], int]], repeats: int) -> dict[str, tuple[float, int]]:
    """``best_seconds`` for several paths, taken in turns (a, b, c, a, b, c, ...).

    On two cores shared with other work the load changes within seconds;
    taking the paths in turns lets each see the same spells of load, so
    their ratio means more than two figures measured a minute apart.
    """
    best = {name: (float("inf"), 0) for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            n = fn()
            best[name] = (min(best[name][0], time.perf_counter() - start), n)
    return best


def validation_seconds(built: list[dict[str, Any]], repeats: int) -> float:
    """Seconds to validate finished canonical records alone (built beforehand, untimed): the floor's second part.

    The held records are moved out of the cyclic collector's sight while
    validating, so it does not re-scan thousands of them: the figure is what
    validation costs a streaming reader, which holds one record at a time.
    """
    from ..schemas.record import AgencyRecord

    validate = AgencyRecord.model_validate
    gc.freeze()
    try:
        return best_seconds(lambda: sum(1 for record in built if validate(record)), repeats)[0]
    finally:
        gc.unfreeze()


class PathTimes(BaseModel):
    """Seconds for the same input, measured in one run: the floor's parts, the general path, each fast path.

    ``parse_s`` reads the records and nothing else; ``validate_s`` validates
    the finished canonical records alone (built beforehand, untimed), so
    ``parse_s + validate_s`` is the floor: what a reader and mapping that cost
    nothing would still take. ``general_s`` is the general path end to end
    (reader, rule interpreter, validation); ``fast_s`` the same with each fast
    path switched on. ``shipped`` names the path ``translate`` runs.
    """

    label: str
    unit: str
    records: int
    parse_s: float
    validate_s: float
    general_s: float
    #: the reader alone, when it does more than parse (the DfE readers annotate each record)
    read_s: float | None = None
    fast_s: dict[str, float] = Field(default_factory=dict)
    shipped: str = "general"
    target_vs_floor: float


def path_comparison(times: PathTimes) -> tuple[list[BenchRow], dict[str, float | int | str | bool]]:
    """Rows and metrics for one format: rates, each fast path's speed-up over the general path, the floor.

    ``overhead_ratio`` is (shipped path) / parse and ``validation_floor_ratio``
    is (parse + validation) / parse; ``vs_floor`` divides the two, which is
    what the target bounds. A fast path earns its keep at ``speedup >= 1.5``.
    """
    n, t = times.records, times
    rate = lambda seconds: round(n / seconds, 1)  # noqa: E731 - local shorthand for the rows below
    floor = (t.parse_s + t.validate_s) / t.parse_s
    shipped_s = t.fast_s.get(t.shipped, t.general_s)
    overhead = shipped_s / t.parse_s
    rows = [
        BenchRow(label=f"{t.label} parse alone", value=rate(t.parse_s), unit=t.unit, note="baseline"),
        BenchRow(label=f"{t.label} floor: parse + validation alone", value=rate(t.parse_s + t.validate_s),
                 unit=t.unit, note=f"x{floor:.2f} of parse"),
        BenchRow(label=f"{t.label} general path (interpreter)", value=rate(t.general_s), unit=t.unit,
                 note=f"x{t.general_s / t.parse_s:.1f} of parse" + (" (shipped)" if t.shipped == "general" else "")),
    ]
    metrics: dict[str, float | int | str | bool] = {
        "records": n, "parse_per_s": rate(t.parse_s), "floor_per_s": rate(t.parse_s + t.validate_s),
        "general_per_s": rate(t.general_s), "validation_floor_ratio": round(floor, 2),
    }
    for name, seconds in t.fast_s.items():
        speedup = t.general_s / seconds
        verdict = "earns its keep" if speedup >= 1.5 else "below 1.5x"
        rows.append(BenchRow(label=f"{t.label} fast path: {name}", value=rate(seconds), unit=t.unit,
                             note=f"x{speedup:.2f} of general, {verdict}" + (" (shipped)" if t.shipped == name else "")))
        metrics[f"{name}_per_s"] = rate(seconds)
        metrics[f"{name}_speedup"] = round(speedup, 2)
    # Where a record's time goes on the general path (per record, microseconds).
    us = 1e6 / n
    read_s = t.parse_s if t.read_s is None else t.read_s
    parts = {"parse": t.parse_s, "reader": read_s - t.parse_s, "mapping": t.general_s - read_s - t.validate_s,
             "validation": t.validate_s}
    rows.append(BenchRow(label=f"{t.label} per record: general path", value=round(t.general_s * us, 1), unit="us",
                         note=", ".join(f"{k} {v * us:.1f}" for k, v in parts.items() if k != "reader" or t.read_s)))
    metrics.update({f"{k}_us": round(v * us, 1) for k, v in parts.items()})
    rows.append(BenchRow(label=f"{t.label} shipped path / floor", value=round(overhead / floor, 2), unit="x",
                         note=f"overhead x{overhead:.1f} vs floor x{floor:.1f} (target <= {t.target_vs_floor})"))
    metrics.update({"shipped": t.shipped, "overhead_ratio": round(overhead, 2), "vs_floor": round(overhead / floor, 2),
                    "target_vs_floor": t.target_vs_floor})
    return rows, metrics
