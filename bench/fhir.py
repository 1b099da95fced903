"""FHIR R4: the live channel (YAML spec) against bare R4B validation, the general path and the floor.

Every row processes the same searchset Bundles (a synthetic patient with
encounters, flags, conditions, caseloads and related people, as a trust's
``Patient?_revinclude`` style search returns them), in round-robin passes so
all rows see the same background load:

* **R4B validation** (baseline): fhir.resources R4B ``Bundle`` validation alone.
* **live channel** (the fast path): ``translate_document``, what the connector
  and ``translate fhir`` run: R4B validation, grouping per Patient, the spec
  ``config/mappings/fhir-r4.yaml``, live options, ``AgencyRecord`` validation.
* **general path**: the same with the mapping engine's reference interpreter.
* **floor**: R4B validation plus validating the finished canonical records.

``overhead_ratio`` = live time / R4B time per pass (median of the passes;
target <= 1.3); ``floor_ratio`` = floor time / R4B time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .report import BenchReport, BenchRow

NAME = "fhir"


def _bundles(count: int) -> list[dict[str, Any]]:
    from ..connectors.health.fhir_simulator import FhirStore, seed_patient
    from ..connectors.health.fhir_translate import subject_reference
    from ..connectors.health.synthetic import synthetic_patients

    bundles = []
    for i, p in enumerate(synthetic_patients(count, seed=77)):
        store = FhirStore()
        pid = seed_patient(store, p, flags=i % 2 == 0, ed=1 + i % 3, cp=i % 4 == 0, camhs=i % 3 == 0)
        entries = [{"fullUrl": f"https://trust.example/fhir/Patient/{pid}",
                    "resource": store.resources["Patient"][pid], "search": {"mode": "match"}}]
        for rtype, items in store.resources.items():
            if rtype == "Patient":
                continue
            for rid, res in items.items():
                if subject_reference(res) == pid:
                    entries.append({"fullUrl": f"https://trust.example/fhir/{rtype}/{rid}", "resource": res,
                                    "search": {"mode": "include"}})
        bundles.append({"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": entries,
                        "link": [{"relation": "self", "url": f"https://trust.example/fhir/Patient?_id={pid}"}]})
    return bundles


def _pass(fn: Callable[[dict[str, Any]], object], bundles: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for bundle in bundles:
        fn(bundle)
    return time.perf_counter() - started


def _round_robin(fns: list[Callable[[dict[str, Any]], object]], bundles: list[dict[str, Any]],
                 seconds: float) -> list[list[float]]:
    """Whole passes of each function in turn until ``seconds`` elapse (at least 3 each).

    Taking turns exposes every row to the same background load on a shared machine.
    """
    times: list[list[float]] = [[] for _ in fns]
    started = time.perf_counter()
    while len(times[0]) < 3 or time.perf_counter() - started < seconds:
        for fn, out in zip(fns, times):
            out.append(_pass(fn, bundles))
    return times


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def run(quick: bool = False) -> BenchReport:
    from fhir.resources.R4B.bundle import Bundle

    from ..connectors.health.fhir_mapping import FhirTranslator, apply_live_options, native_records, translate_document
    from ..connectors.health.fhir_validate import validate_resource
    from ..mapping.errors import Position
    from ..schemas.record import AgencyRecord

    bundles = _bundles(20 if quick else 60)
    translator = FhirTranslator()
    position = Position("bench", 1)

    interpret = getattr(translator.mapping, "_interpret", translator.mapping.translate_dict)  # reference interpreter

    def general(bundle: dict[str, Any]) -> object:
        validate_resource(bundle)
        return [AgencyRecord.model_validate(apply_live_options(interpret(n, position),
                                                               n["patient"], translator.options))
                for n in native_records(bundle, translator.options)]

    finished = {id(b): [r.model_dump(mode="json", exclude_defaults=True) for r in translate_document(b)]
                for b in bundles}

    def floor(bundle: dict[str, Any]) -> object:
        validate_resource(bundle)
        return [AgencyRecord.model_validate(d) for d in finished[id(bundle)]]

    rows = [("fhir.resources R4B Bundle validation (baseline)", Bundle.parse_obj),
            ("live channel: validate + spec + records", translate_document),
            ("general path: validate + interpreter + records", general),
            ("floor: validate + validate finished records", floor)]
    for b in bundles[:3]:
        for _, fn in rows:
            fn(b)
    times = _round_robin([fn for _, fn in rows], bundles, 3.0 if quick else 12.0)
    base, live, gen, flo = (_median(t) for t in times)
    ratio = _median([t / v for v, t in zip(times[0], times[1])])
    floor_ratio = _median([t / v for v, t in zip(times[0], times[3])])
    n = len(bundles)
    resources = sum(len(b["entry"]) for b in bundles)
    return BenchReport(
        name=NAME,
        description="FHIR R4 search Bundles: live channel (YAML spec) vs R4B validation, general path and floor",
        rows=[
            *(BenchRow(label=label, value=n / t, unit="bundles/s", note=f"{len(ts) * n} bundles")
              for (label, _), t, ts in zip(rows, (base, live, gen, flo), times)),
            BenchRow(label="live / R4B validation (time)", value=ratio, unit="x",
                     note="median of paired passes; target <= 1.3"),
            BenchRow(label="floor / R4B validation (time)", value=floor_ratio, unit="x", note="nothing to save below"),
            BenchRow(label="general / live (time)", value=gen / live, unit="x", note="interpreter vs the live route"),
        ],
        metrics={
            "model_validate_per_s": round(n / base, 1),
            "translate_per_s": round(n / live, 1),
            "general_per_s": round(n / gen, 1),
            "floor_per_s": round(n / flo, 1),
            "overhead_ratio": round(ratio, 3),
            "floor_ratio": round(floor_ratio, 3),
            "passes": len(times[0]),
            "bundles": n,
            "resources_per_bundle": round(resources / n, 1),
        },
        targets={"overhead_ratio": "<= 1.3"},
    )
