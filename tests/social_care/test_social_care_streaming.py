"""Streaming: peak memory of ``translate cin`` stays flat as the file grows.

The full 1 GB run is in ``mashlink bench xml``; here the same code path runs
on a small and a ~15 MB census in child processes, and the peak RSS of the
larger must stay under the 300 MB budget and close to the small one.
"""

from __future__ import annotations

import json
from pathlib import Path

from mashlink.bench.xml import measure_translate_rss
from mashlink.connectors.social_care.synthetic import write_cin_file


def test_peak_rss_stays_flat_as_the_cin_file_grows(tmp_path: Path) -> None:
    small, big = tmp_path / "small.xml", tmp_path / "big.xml"
    write_cin_file(small, children=200)
    children = write_cin_file(big, target_bytes=15 * 1024 * 1024, referrals=2)
    rc_small, rss_small = measure_translate_rss(small, tmp_path / "small.jsonl")
    rc_big, rss_big = measure_translate_rss(big, tmp_path / "big.jsonl")
    assert rc_small == rc_big == 0
    with (tmp_path / "big.jsonl").open() as fh:
        lines = sum(1 for _ in fh)
    assert lines == children
    with (tmp_path / "big.jsonl").open() as fh:
        assert json.loads(fh.readline())["source"]["organisation"] == "999"
    assert rss_big < 300
    assert rss_big - rss_small < 30, (rss_small, rss_big)
