"""XML connectors (CIN, CTF): general path vs each fast path vs the floor, and peak memory on a 1 GB CIN file.

For each format the same synthetic file is measured in this run, each the
best of a few runs: a hardened ``iterparse`` over the records (the parse any
streaming reader pays); the floor, that parse plus validating the finished
canonical records alone (built beforehand, untimed); the general path (the
connector's reader, the rule interpreter on lxml XPath, validation). The
target bounds the shipped path at 1.5x the floor. Fast paths would be listed
with their speed-up over the general path; none is left (issue 17 removed
the own XPath evaluator, 1.04-1.08x, and the generated translator,
1.09-1.46x, for earning less than 1.5x).

``peak_rss_mb`` runs ``mashlink translate cin`` on a generated CIN census
in a separate process (written to a temporary file, never committed) and
reads the child's peak RSS. The full run uses a 1 GB file and takes several
minutes; ``--quick`` uses 50 MB. CTF figures need the education connector
(``mashlink.connectors.education``); without it only CIN is reported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .report import BenchReport, BenchRow, PathTimes, interleaved_best, path_comparison, validation_seconds
from ..connectors.social_care.cin import CinReader
from ..connectors.social_care.synthetic import write_cin_file
from ..connectors.xml_safety import iterparse_safe
from ..mapping import CompiledMapping, load_spec, mappings_dir

NAME = "xml"

_RSS_SCRIPT = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def measure_translate_rss(cin_file: Path, output: Path) -> tuple[int, float]:
    """Run the streaming translate in a child process; (exit status, peak RSS in MB of that child)."""
    mashlink = [sys.executable, "-m", "mashlink.ops.cli"]
    cmd = [sys.executable, "-c", _RSS_SCRIPT, *mashlink, "translate", "cin", str(cin_file),
           "--output", str(output), "--jsonl"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1]) / 1024.0


def _parse(path: Path, tag: str) -> Callable[[], int]:
    """Hardened iterparse over the records, touching each: the parse every streaming reader pays."""
    def go() -> int:
        n = 0
        for _event, element in iterparse_safe(path, tag=tag, max_bytes=None):
            n += 1
            len(element)
        return n
    return go


def _read(path: Path, mapping: CompiledMapping, reader: Any) -> Callable[[], int]:
    """The connector's reader alone (parse, annotations, context), no mapping."""
    return lambda: sum(1 for _record in reader(path, mapping, None))


def _translate(path: Path, mapping: CompiledMapping, reader: Any) -> Callable[[], int]:
    def go() -> int:
        n = 0
        for native, position in reader(path, mapping, None):
            mapping.translate(native, position)
            n += 1
        return n
    return go


def path_times(label: str, unit: str, path: Path, spec: Path, reader: Any, tag: str, repeats: int) -> PathTimes:
    """Parse, floor, general path and generated translator on one file, in this run."""
    mapping = load_spec(spec)
    best = interleaved_best({"parse": _parse(path, tag), "read": _read(path, mapping, reader),
                             "general": _translate(path, mapping, reader)}, repeats)
    (parse_s, n0), (read_s, _n), (general_s, n1) = best["parse"], best["read"], best["general"]
    built = [mapping.translate_dict(native, position) for native, position in reader(path, mapping, None)]
    validate_s = validation_seconds(built, repeats)
    assert n0 == n1, f"{label}: every record must be read and translated"
    return PathTimes(label=label, unit=unit, records=n0, parse_s=parse_s, validate_s=validate_s,
                     general_s=general_s, read_s=read_s, target_vs_floor=1.5)


def write_ctf(path: Path, pupils: int) -> None:
    """A synthetic CTF (CTfile / Header / CTFpupilData / Pupil) with attendance and an exclusion each."""
    from ..connectors.social_care.synthetic import synthetic_children

    with path.open("w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<CTfile><Header><DocumentName>Common Transfer File'
                 "</DocumentName><CTFversion>23.0</CTFversion><DateTime>2024-05-01T09:00:00</DateTime>"
                 "<SupplierID>Synthetic MIS</SupplierID><SourceSchool><LEA>999</LEA><Estab>2001</Estab>"
                 "<SchoolName>Example Primary</SchoolName></SourceSchool><DestSchool><LEA>999</LEA>"
                 "<Estab>4001</Estab></DestSchool></Header><CTFpupilData>\n")
        for child in synthetic_children("999", pupils):
            assert child.birth_date is not None
            fh.write(
                f"<Pupil><UPN>{child.upn}</UPN><Surname>{child.family}</Surname><Forename>{child.given}</Forename>"
                f"<DOB>{child.birth_date.isoformat()}</DOB><Sex>{'M' if child.sex == '1' else 'F'}</Sex>"
                "<BasicDetails><Ethnicity>WBRI</Ethnicity></BasicDetails>"
                "<Address><PostCode>LS1 1AA</PostCode></Address>"
                "<Attendance><YearData><Year>2023</Year><SessionsPossible>320</SessionsPossible>"
                "<SessionsAuthorised>20</SessionsAuthorised><SessionsUnauthorised>16</SessionsUnauthorised>"
                "</YearData></Attendance>"
                "<Exclusions><Exclusion><StartDate>2023-11-02</StartDate><Category>FIXD</Category>"
                "<Reason>PA</Reason><Sessions>2</Sessions></Exclusion></Exclusions></Pupil>\n")
        fh.write("</CTFpupilData></CTfile>\n")


def _ctf(tmp: Path, count: int) -> tuple[Path, Path, Any, str] | None:
    """The education connector's CTF spec and reader, when that package exists."""
    try:
        from ..connectors.education.ctf_reader import read_ctf
        from ..connectors.education.formats import ctf_spec_path
    except ImportError:
        return None
    path = tmp / "ctf.xml"
    write_ctf(path, count)
    return path, ctf_spec_path(), read_ctf, "Pupil"


def run(quick: bool) -> BenchReport:
    rows: list[BenchRow] = []
    metrics: dict[str, Any] = {}
    children = 1500 if quick else 4000
    repeats = 5
    with tempfile.TemporaryDirectory(prefix="mashlink-bench-xml-") as tmpdir:
        tmp = Path(tmpdir)
        cin = tmp / "cin.xml"
        write_cin_file(cin, children=children)
        times = path_times("CIN", "children/s", cin, mappings_dir() / "cin.yaml", CinReader(), "Child", repeats)
        assert times.records == children
        rows_cin, metrics["cin"] = path_comparison(times)
        rows += rows_cin
        ctf = _ctf(tmp, children)
        if ctf is None:
            metrics["ctf"] = "not measured: mashlink.connectors.education (CTF reader/spec) is not available"
            rows.append(BenchRow(label="CTF", value=0, unit="-", note="education connector absent: not measured"))
        else:
            path, spec, reader, tag = ctf
            rows_ctf, metrics["ctf"] = path_comparison(path_times("CTF", "pupils/s", path, spec, reader, tag, repeats))
            rows += rows_ctf
        size = (50 if quick else 1024) * 1024 * 1024
        big = tmp / "cin-big.xml"
        written = write_cin_file(big, target_bytes=size)
        start = time.perf_counter()
        rc, rss = measure_translate_rss(big, tmp / "out.jsonl")
        elapsed = time.perf_counter() - start
        metrics["peak_rss_mb"] = round(rss, 1)
        metrics["rss_file_mb"] = round(os.path.getsize(big) / 1024 / 1024, 1)
        metrics["rss_children"] = written
        metrics["rss_translate_s"] = round(elapsed, 1)
        metrics["rss_exit_status"] = rc
        rows.append(BenchRow(label=f"peak RSS, CIN {metrics['rss_file_mb']} MB", value=round(rss, 1), unit="MB",
                             note=f"{written} children in {elapsed:.0f} s, exit {rc} (target < 300 MB)"))
    return BenchReport(name=NAME, description="XML connectors: parse, floor, general path, fast paths; streaming memory",
                       rows=rows, metrics=metrics,
                       targets={"cin.vs_floor": "<= 1.5", "ctf.vs_floor": "<= 1.5",
                                "<fast path>_speedup": ">= 1.5 or removed", "peak_rss_mb": "< 300"})
