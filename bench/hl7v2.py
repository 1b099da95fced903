"""HL7 v2 inbound path: the live channel (YAML spec) against hl7apy, the general path and the floor.

All rows read the same synthetic ADT messages (A01/A03/A04/A08/A28/A31/A40,
v2.4, ~1 KB each), measured in the same run:

* **hl7apy** ``parse_message`` alone (no field access, no record): the baseline
  of the issue's target (live >= 20x hl7apy end to end).
* **general path**: the mapping engine's reference interpreter (the rule
  closures) over the same prepared message, then validation.
* **live channel** (the fast path): exactly what the ADT listener runs per
  message, ``Hl7Translator.translate``: the one HL7 parser, ``prepare``, the
  spec's generated translator, the live options, ``AgencyRecord`` validation.
* **floor**: parse + prepare, plus validating the finished canonical records
  (prebuilt dicts); nothing a translation could avoid.

Ratios: live / hl7apy (target >= 20), live / general, floor / live (how close
to the floor the live channel runs).
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


def _rate(fn: Callable[[int], object], count: int, min_seconds: float) -> tuple[float, int]:
    """Items per second over whole passes of ``fn(0..count-1)`` lasting at least ``min_seconds``."""
    done = 0
    started = time.perf_counter()
    while True:
        for i in range(count):
            fn(i)
        done += count
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return done / elapsed, done


def run(quick: bool = False) -> BenchReport:
    from hl7apy.parser import parse_message

    from ..mapping.paths.hl7_er7 import FastMessage
    from ..connectors.health.hl7_mapping import Hl7Translator, apply_live_options, prepare
    from ..mapping.errors import Position
    from ..schemas.record import AgencyRecord

    messages = _messages(60 if quick else 150)
    translator = Hl7Translator()
    mapping = translator.mapping
    position = Position("bench", 1)

    def live(i: int) -> object:
        return translator.translate(messages[i])

    interpret = getattr(mapping, "_interpret", mapping.translate_dict)  # the reference interpreter

    def general(i: int) -> object:
        msg = FastMessage.parse(messages[i])
        out = interpret(prepare(msg), position)
        return AgencyRecord.model_validate(apply_live_options(out, msg, translator.options))

    finished = [translator.translate(m).model_dump(mode="json", exclude_defaults=True) for m in messages]

    def floor(i: int) -> object:
        prepare(FastMessage.parse(messages[i]))
        return AgencyRecord.model_validate(finished[i])

    def apy(i: int) -> object:
        return parse_message(messages[i])

    for i in range(5):  # warm-up every path (imports, caches)
        apy(i), live(i), general(i), floor(i)
    n = len(messages)
    seconds = 1.0 if quick else 4.0
    base_rate, base_n = _rate(apy, n, 2 * seconds)
    live_rate, live_n = _rate(live, n, seconds)
    general_rate, general_n = _rate(general, n, seconds)
    floor_rate, floor_n = _rate(floor, n, seconds)
    speedup = live_rate / base_rate
    return BenchReport(
        name=NAME,
        description="inbound ADT through the live channel (YAML spec) vs hl7apy, the general path and the floor",
        rows=[
            BenchRow(label="hl7apy parse_message (baseline)", value=base_rate, unit="msg/s", note=f"{base_n} messages"),
            BenchRow(label="general path: interpreter + validation", value=general_rate, unit="msg/s",
                     note=f"{general_n} messages"),
            BenchRow(label="live channel: parse + spec (generated) + validation", value=live_rate, unit="msg/s",
                     note=f"{live_n} messages"),
            BenchRow(label="floor: parse + validate finished records", value=floor_rate, unit="msg/s",
                     note=f"{floor_n} messages"),
            BenchRow(label="live / hl7apy", value=speedup, unit="x", note="target >= 20"),
            BenchRow(label="live / general", value=live_rate / general_rate, unit="x",
                     note="compiled mapping's route vs its interpreter (equal without generated code)"),
            BenchRow(label="floor / live (cost vs floor)", value=floor_rate / live_rate, unit="x",
                     note="1.0 = translation costs nothing beyond parse + validation"),
        ],
        metrics={
            "hl7apy_parse_per_s": round(base_rate, 1),
            "general_per_s": round(general_rate, 1),
            "translate_per_s": round(live_rate, 1),
            "floor_per_s": round(floor_rate, 1),
            "speedup": round(speedup, 2),
            "live_vs_general": round(live_rate / general_rate, 2),
            "cost_vs_floor": round(floor_rate / live_rate, 2),
            "messages": len(messages),
        },
        targets={"speedup": ">= 20"},
    )
