"""The comparison every path benchmark prints: floor, shipped path against it, each fast path's verdict."""

from __future__ import annotations

from mashlink.bench.report import PathTimes, interleaved_best, path_comparison


def test_ratios_floor_and_fast_path_verdicts() -> None:
    times = PathTimes(label="X", unit="records/s", records=1000, parse_s=0.01, validate_s=0.03, read_s=0.02,
                      general_s=0.2, fast_s={"quick": 0.1, "meh": 0.16}, shipped="quick", target_vs_floor=1.5)
    rows, metrics = path_comparison(times)
    assert metrics["validation_floor_ratio"] == 4.0           # (0.01 + 0.03) / 0.01
    assert metrics["overhead_ratio"] == 10.0                  # shipped 'quick' 0.1 / parse 0.01
    assert metrics["vs_floor"] == 2.5
    assert metrics["quick_speedup"] == 2.0 and metrics["meh_speedup"] == 1.25
    assert (metrics["parse_us"], metrics["reader_us"], metrics["mapping_us"], metrics["validation_us"]) == (
        10.0, 10.0, 150.0, 30.0)
    notes = {row.label: row.note for row in rows}
    assert "earns its keep" in notes["X fast path: quick"] and "(shipped)" in notes["X fast path: quick"]
    assert "below 1.5x" in notes["X fast path: meh"]
    assert "target <= 1.5" in notes["X shipped path / floor"]


def test_general_path_is_the_shipped_one_without_fast_paths() -> None:
    times = PathTimes(label="Y", unit="records/s", records=10, parse_s=1.0, validate_s=1.0, general_s=6.0,
                      target_vs_floor=1.3)
    rows, metrics = path_comparison(times)
    assert metrics["shipped"] == "general" and metrics["overhead_ratio"] == 6.0 and metrics["vs_floor"] == 3.0
    assert not any("fast path" in row.label for row in rows)


def test_interleaved_best_takes_turns_and_keeps_each_best() -> None:
    order: list[str] = []

    def run(name: str, n: int):  # type: ignore[no-untyped-def]
        def go() -> int:
            order.append(name)
            return n
        return go

    best = interleaved_best({"a": run("a", 3), "b": run("b", 5)}, repeats=3)
    assert order == ["a", "b"] * 3
    assert best["a"][1] == 3 and best["b"][1] == 5 and best["a"][0] >= 0
