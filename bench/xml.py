"""XML connectors: raw lxml streaming vs full translation (CTF, CIN), and peak memory on a 1 GB CIN file.

For each format the same synthetic file is measured twice in this run:
``raw_parse_per_s`` is a hardened ``iterparse`` over the records (clearing
as it goes: the floor any streaming reader pays), ``translate_per_s`` is the
connector's reader plus the compiled mapping into validated
``AgencyRecord`` models. ``overhead_ratio`` = raw / translate.

``validation_floor_ratio`` is (raw parse + validating the finished canonical
records alone) / raw parse: what a reader and mapping costing nothing would
still show. Above the target, the target needs validation skipped.

``peak_rss_mb`` runs ``mashlink social-care translate cin`` on a generated
CIN census in a separate process (written to a temporary file, never
committed) and reads the child's peak RSS. The full run uses a 1 GB file and
takes several minutes at current translate rates; ``--quick`` uses 50 MB.
CTF figures need the education connector (``mashlink.connectors.education``);
without it only CIN is reported and the report says so.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .report import BenchReport, BenchRow
from ..connectors.social_care.cin import CinReader
from ..connectors.social_care.synthetic import write_cin_file
from ..connectors.xml_safety import iterparse_safe
from ..mapping import load_spec, mappings_dir
from ..schemas.record import AgencyRecord

NAME = "xml"

_RSS_SCRIPT = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def measure_translate_rss(cin_file: Path, output: Path) -> tuple[int, float]:
    """Run the streaming translate in a child process; (exit status, peak RSS in MB of that child)."""
    mashlink = [sys.executable, "-m", "mashlink.ops.cli"]
    cmd = [sys.executable, "-c", _RSS_SCRIPT, *mashlink, "social-care", "translate", "cin", str(cin_file),
           "--output", str(output), "--jsonl"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1]) / 1024.0


def _raw_rate(path: Path, tag: str) -> tuple[int, float]:
    start = time.perf_counter()
    n = 0
    for _event, element in iterparse_safe(path, tag=tag, max_bytes=None):
        n += 1
        len(element)
    return n, n / (time.perf_counter() - start)


def _translate_rate(path: Path, spec: Path, reader: Any) -> tuple[int, float]:
    mapping = load_spec(spec)
    start = time.perf_counter()
    n = 0
    for native, position in reader(path, mapping, None):
        mapping.translate(native, position)
        n += 1
    return n, n / (time.perf_counter() - start)


def _validation_seconds(path: Path, spec: Path, reader: Any) -> tuple[int, float]:
    """Seconds to validate the finished canonical records alone (built beforehand, untimed).

    With the raw parse this gives the floor: the overhead a reader and mapping
    that cost nothing would still show, because every record leaves as a
    validated ``AgencyRecord``.
    """
    mapping = load_spec(spec)
    built = [mapping.translate_dict(native, position) for native, position in reader(path, mapping, None)]
    gc.freeze()  # the held records are not what a streaming reader's collector scans
    try:
        start = time.perf_counter()
        for record in built:
            AgencyRecord.model_validate(record)
        return len(built), time.perf_counter() - start
    finally:
        gc.unfreeze()


def _floor(raw_per_s: float, records: int, validate_s: float) -> float:
    """(raw parse + validation alone) / raw parse, per record."""
    raw_s = 1.0 / raw_per_s
    return (raw_s + validate_s / records) / raw_s


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
    with tempfile.TemporaryDirectory(prefix="mashlink-bench-xml-") as tmpdir:
        tmp = Path(tmpdir)
        cin = tmp / "cin.xml"
        write_cin_file(cin, children=children)
        n_raw, raw = _raw_rate(cin, "Child")
        n_tr, tr = _translate_rate(cin, mappings_dir() / "cin.yaml", CinReader())
        n_val, val_s = _validation_seconds(cin, mappings_dir() / "cin.yaml", CinReader())
        assert n_raw == n_tr == n_val == children
        floor = _floor(raw, n_val, val_s)
        metrics["cin"] = {"raw_parse_per_s": round(raw, 1), "translate_per_s": round(tr, 1),
                          "overhead_ratio": round(raw / tr, 2), "records": children,
                          "validation_floor_ratio": round(floor, 2)}
        rows += [BenchRow(label="CIN raw iterparse", value=round(raw, 1), unit="children/s", note="baseline"),
                 BenchRow(label="CIN translate", value=round(tr, 1), unit="children/s",
                          note=f"overhead x{raw / tr:.1f} (target <= 2)"),
                 BenchRow(label="CIN floor: (raw + validation alone) / raw", value=round(floor, 2), unit="x",
                          note="a zero-cost reader and mapping still pay validation")]
        ctf = _ctf(tmp, children)
        if ctf is None:
            metrics["ctf"] = "not measured: mashlink.connectors.education (CTF reader/spec) is not available"
            rows.append(BenchRow(label="CTF", value=0, unit="-", note="education connector absent: not measured"))
        else:
            path, spec, reader, tag = ctf
            _n, craw = _raw_rate(path, tag)
            _n, ctr = _translate_rate(path, spec, reader)
            n_val, val_s = _validation_seconds(path, spec, reader)
            cfloor = _floor(craw, n_val, val_s)
            metrics["ctf"] = {"raw_parse_per_s": round(craw, 1), "translate_per_s": round(ctr, 1),
                              "overhead_ratio": round(craw / ctr, 2), "validation_floor_ratio": round(cfloor, 2)}
            rows += [BenchRow(label="CTF raw iterparse", value=round(craw, 1), unit="pupils/s", note="baseline"),
                     BenchRow(label="CTF translate", value=round(ctr, 1), unit="pupils/s",
                              note=f"overhead x{craw / ctr:.1f}"),
                     BenchRow(label="CTF floor: (raw + validation alone) / raw", value=round(cfloor, 2), unit="x")]
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
    return BenchReport(name=NAME, description="XML connectors: raw lxml streaming vs translation; streaming memory",
                       rows=rows, metrics=metrics,
                       targets={"overhead_ratio": "<= 2", "peak_rss_mb": "< 300"})
