"""HL7 v2 inbound path: fast targeted parsing to canonical records vs hl7apy parse_message.

Both sides read the same synthetic ADT messages (A01/A03/A04/A08/A28/A31/A40,
v2.4, ~1 KB each). The baseline is hl7apy's ``parse_message`` alone (no
field access, no canonical record); the candidate is the connector's whole
inbound translation: split, extract, and build the validated canonical
``AgencyRecord`` (pydantic). ``speedup`` = translate_per_s / hl7apy_parse_per_s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .report import BenchReport, BenchRow

NAME = "hl7v2"


def _messages(count: int) -> list[str]:
    from ..connectors.health.synthetic import adt_message, synthetic_patients

    triggers = ["A04", "A01", "A08", "A03", "A28", "A31", "A40"]
    patients = synthetic_patients(count, seed=2024)
    return [
        adt_message(p, triggers[i % len(triggers)], control_id=f"BENCH{i:06d}", emergency=i % 3 == 0,
                    merged_from=f"RXX9{i:06d}^^^RXX01^MR")
        for i, p in enumerate(patients)
    ]


def _rate(fn: Callable[[str], object], messages: list[str], min_seconds: float) -> tuple[float, int]:
    """Messages per second over whole passes of ``messages`` lasting at least ``min_seconds``."""
    done = 0
    started = time.perf_counter()
    while True:
        for text in messages:
            fn(text)
        done += len(messages)
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return done / elapsed, done


def run(quick: bool = False) -> BenchReport:
    from hl7apy.parser import parse_message

    from ..connectors.health.hl7_record import to_agency_record

    messages = _messages(60 if quick else 150)
    for text in messages[:5]:  # warm-up both paths (imports, caches)
        parse_message(text)
        to_agency_record(text)
    base_rate, base_n = _rate(parse_message, messages, 2.0 if quick else 8.0)
    fast_rate, fast_n = _rate(to_agency_record, messages, 1.0 if quick else 4.0)
    speedup = fast_rate / base_rate
    return BenchReport(
        name=NAME,
        description="inbound ADT: targeted parse -> canonical AgencyRecord vs hl7apy parse_message",
        rows=[
            BenchRow(label="hl7apy parse_message (baseline)", value=base_rate, unit="msg/s", note=f"{base_n} messages"),
            BenchRow(label="fast parse + canonical record", value=fast_rate, unit="msg/s", note=f"{fast_n} messages"),
            BenchRow(label="speedup", value=speedup, unit="x", note="target >= 20"),
        ],
        metrics={
            "hl7apy_parse_per_s": round(base_rate, 1),
            "translate_per_s": round(fast_rate, 1),
            "speedup": round(speedup, 2),
            "messages": len(messages),
        },
        targets={"speedup": ">= 20"},
    )
