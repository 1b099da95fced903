"""Fuzz `mashlink translate` longer than CI does: inputs per format, failures by class, inputs/s.

The same structure-aware mutants and oracle as ``tests/fuzz`` (exit 0 or 1,
no traceback, valid canonical output, a deadline per input), drawn from a
``random.Random`` with a fixed seed so a run can be repeated. Needs a source checkout: the seeds are the test suite's example
files and the public corpus (``tests/corpus``). The baseline, measured on the
same inputs in the same run, is the plain parse (``json.loads``, lxml, the csv
module, splitting HL7 segments): what reading the bytes costs before any
mapping. Failing inputs are saved (``MASHLINK_FUZZ_FAILURES``, else
``$TMPDIR/mashlink-fuzz-failures``) with the command that reproduces them.

``--quick``: 15 inputs per format; otherwise ``MASHLINK_FUZZ_EXAMPLES``
(default 250) per format. Sized for 2 cores: one process, one input at a time.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .report import BenchReport, BenchRow

NAME = "fuzz"


def _engine() -> Any:
    """``tests.fuzz`` from the checkout this package is installed from (editable install)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "tests" / "fuzz" / "oracle.py").exists():
        raise SystemExit("mashlink bench fuzz needs a source checkout (tests/fuzz and its seed files)")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from tests.fuzz import mutators, oracle, seeds

    return mutators, oracle, seeds


def _plain_parse(name: str, data: bytes) -> None:
    """The baseline: read the bytes with the standard parser of their syntax, nothing else."""
    from lxml import etree

    low = name.lower()
    try:
        if low.endswith(".json"):
            json.loads(data.decode("utf-8-sig", "replace"))
        elif low.endswith(".xml"):
            etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        elif low.endswith(".csv"):
            for _row in csv.reader(io.StringIO(data.decode("utf-8-sig", "replace"), newline="")):
                pass
        else:
            text = data.decode("utf-8", "replace")
            [s.split("|") for s in text.replace("\n", "\r").split("\r")]
    except Exception:  # noqa: BLE001 - a parse error is a result here, like any other
        pass


def run(quick: bool = False) -> BenchReport:
    mutators, oracle, seeds = _engine()
    per_format = 15 if quick else int(os.environ.get("MASHLINK_FUZZ_EXAMPLES", "250") or 250)
    rng = random.Random(1818)
    rows: list[BenchRow] = []
    failures: Counter[str] = Counter()
    metrics: dict[str, Any] = {}
    total_inputs, total_s, total_parse_s = 0, 0.0, 0.0
    examples: dict[str, str] = {}
    for fmt in seeds.FORMATS:
        fmt_seeds = seeds.all_seeds()[fmt]
        tried, spent, parse_spent, exits = 0, 0.0, 0.0, Counter()
        for _ in range(per_format):
            seed = rng.choice(fmt_seeds)
            name = rng.choice(sorted(seed.files))
            files = {**seed.files, name: mutators.apply(name, seed.files[name], mutators.random_ops(rng, name))}
            t0 = time.perf_counter()
            for member, data in files.items():
                _plain_parse(member, data)
            t1 = time.perf_counter()
            outcome = oracle.run_in_process(fmt, files, seed.args)
            failure = outcome.failure
            t2 = time.perf_counter()
            tried += 1
            parse_spent += t1 - t0
            spent += t2 - t1
            exits[str(outcome.exit_code)] += 1
            if failure is not None:
                key = f"{fmt}/{failure.kind}"
                failures[key] += 1
                examples.setdefault(key, str(failure))
        total_inputs += tried
        total_s += spent
        total_parse_s += parse_spent
        rows.append(BenchRow(label=f"{fmt}: inputs/s through translate + oracle", value=tried / spent, unit="inputs/s",
                             note=f"{tried} inputs; exit 0: {exits['0']}, exit 1: {exits['1']}"))
        rows.append(BenchRow(label=f"{fmt}: inputs/s plain parse (baseline)", value=tried / max(parse_spent, 1e-9),
                             unit="inputs/s"))
        metrics[f"{fmt}_inputs"] = tried
        metrics[f"{fmt}_inputs_per_s"] = round(tried / spent, 2)
        metrics[f"{fmt}_parse_inputs_per_s"] = round(tried / max(parse_spent, 1e-9), 2)
    for key, count in sorted(failures.items()):
        rows.append(BenchRow(label=f"failures {key}", value=count, unit="inputs", note=examples[key][:120]))
    rows.append(BenchRow(label="failures, all classes", value=sum(failures.values()), unit="inputs"))
    metrics.update({"inputs": total_inputs, "inputs_per_s": round(total_inputs / max(total_s, 1e-9), 2),
                    "parse_inputs_per_s": round(total_inputs / max(total_parse_s, 1e-9), 2),
                    "failures": sum(failures.values()), "failures_by_class": dict(failures),
                    "failures_saved_in": str(oracle.failures_dir())})
    return BenchReport(name=NAME, description="structure-aware mutants of every translate format vs the oracle",
                       rows=rows, metrics=metrics, targets={"failures": "0"})
