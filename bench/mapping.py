"""Mapping engine throughput: parse + compiled mapping + validation vs parse alone.

Generates 10,000 synthetic case records (made-up names, NHS numbers in the
999 test range that pass modulus 11) as the generic JSON and CSV exports,
then measures, in the same run: raw parsing (``json.loads`` / CSV reading,
iterating the records) and parsing + translation into fully validated
``AgencyRecord`` models. Headline metrics are for JSON; CSV figures are
reported alongside, and so are the same JSON pipeline through the rule
interpreter alone (before code generation) and a per-record breakdown on
already-parsed records: building the canonical dict, then validating it.

``validation_floor_ratio`` is (parse + validation of the finished canonical
dicts) / parse: the ratio a mapping that cost nothing would still show,
because every record leaves as a validated ``AgencyRecord``. When it is above
the target, the target cannot be met without skipping validation.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import random
import string
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .report import BenchReport, BenchRow
from ..mapping import Position, load_spec, mappings_dir, read_csv, read_json
from ..schemas.identifiers import nhs_check_digit
from ..schemas.record import AgencyRecord

NAME = "mapping"

_GIVEN = ["amy", "ben", "cara", "dev", "ella", "finn", "gina", "harry", "isla", "jack", "kai", "lena"]
_FAMILY = ["testerson", "sampleton", "exampleby", "mockridge", "fakeham", "dummett", "placeholt"]
_TYPES = ["referral", "assessment", "s47", "cp_plan"]
_FACTORS = ["3A", "10A", "11A", "24A", "1B", "4B"]


def _nhs_numbers(rng: random.Random, count: int) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        body = "999" + "".join(rng.choice(string.digits) for _ in range(6))
        check = nhs_check_digit(body)
        if check is not None:
            out.append(body + str(check))
    return out


def _records(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    nhs = _nhs_numbers(rng, count)
    records = []
    for i in range(count):
        records.append({
            "id": f"C-{i:06d}",
            "la_code": "999",
            "child": {
                "forename": rng.choice(_GIVEN), "middle_names": rng.choice(["", "jo"]),
                "surname": rng.choice(_FAMILY),
                "dob": f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2008, 2023)}",
                "gender": rng.choice("129"), "ethnicity": rng.choice(["WBRI", "MWBC", "AIND", "BAFR"]),
                "nhs_number": nhs[i],
                "address": {"line1": f"{rng.randint(1, 200)} Example Road", "town": "Testtown",
                            "postcode": rng.choice(["ls1 1aa", "M1 1AE", "b33 8th"])},
            },
            "records": [{
                "id": f"R-{i:06d}-{j}", "type": rng.choice(_TYPES),
                "date": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "factors": rng.sample(_FACTORS, 2), "referral_source": "2A", "primary_need": "N1",
            } for j in range(2)],
            "contacts": [{"id": f"P-{i:06d}", "forename": rng.choice(_GIVEN), "surname": rng.choice(_FAMILY),
                          "relationship": "mum", "lives_with_child": "Y"}],
        })
    return records


def _csv_text(records: list[dict]) -> str:
    header = ["child_id", "la_code", "forename", "middle_names", "surname", "dob", "gender", "ethnic_category",
              "nhs_number", "address_line1", "address_line2", "town", "postcode", "referral_id", "referral_date",
              "referral_source", "primary_need", "assessment_factors", "on_cp_plan"]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for r in records:
        c, ref = r["child"], r["records"][0]
        d = ref["date"]
        writer.writerow([r["id"], "999", c["forename"], c["middle_names"], c["surname"], c["dob"], c["gender"], "A",
                         c["nhs_number"], c["address"]["line1"], "", c["address"]["town"], c["address"]["postcode"],
                         ref["id"], f"{d[8:10]}/{d[5:7]}/{d[0:4]}", "2A", "N1", ";".join(ref["factors"]), "no"])
    return buf.getvalue()


def _best(fn: Callable[[], int], repeats: int) -> tuple[float, int]:
    best = float("inf")
    n = 0
    for _ in range(repeats):
        start = time.perf_counter()
        n = fn()
        best = min(best, time.perf_counter() - start)
    return best, n


def run(quick: bool = False) -> BenchReport:
    count = 2_000 if quick else 10_000
    repeats = 1 if quick else 3
    records = _records(count)
    json_spec = load_spec(mappings_dir() / "generic-json.yaml")
    csv_spec = load_spec(mappings_dir() / "generic-csv.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        json_path = Path(tmp) / "cases.json"
        json_path.write_text(json.dumps({"cases": records}), encoding="utf-8")
        csv_path = Path(tmp) / "cases.csv"
        csv_path.write_text(_csv_text(records), encoding="utf-8")

        def raw_json() -> int:
            doc = json.loads(json_path.read_text(encoding="utf-8-sig"))
            return sum(1 for _ in doc["cases"])

        def mapped(spec, reader, path) -> Callable[[], int]:  # type: ignore[no-untyped-def]
            def go() -> int:
                return sum(1 for native, pos in reader(path, spec) if spec.translate(native, pos))
            return go

        def raw_csv() -> int:
            with csv_path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.reader(handle)
                header = next(reader)
                return sum(1 for row in reader if dict(zip(header, row)))

        raw_j, n1 = _best(raw_json, repeats)
        map_j, n2 = _best(mapped(json_spec, read_json, json_path), repeats)
        raw_c, n3 = _best(raw_csv, repeats)
        map_c, n4 = _best(mapped(csv_spec, read_csv, csv_path), repeats)
        # The same pipeline through the rule interpreter alone (what the
        # generated fast path replaced; still used to report bad records).
        interpreted = load_spec(mappings_dir() / "generic-json.yaml")
        interpreted._fast = None
        int_j, n5 = _best(mapped(interpreted, read_json, json_path), 1)
    assert n1 == n2 == n3 == n4 == n5 == count, "every synthetic record must translate"
    # Where the time goes, on records already parsed: building the dicts, then validating them.
    position = Position(str(json_path), 1)
    natives = json.loads(json.dumps(records))
    dicts: list[dict] = []

    def build() -> int:
        dicts[:] = [json_spec.translate_dict(r, position) for r in natives]
        return len(dicts)

    build_s, _ = _best(build, repeats)
    validate = AgencyRecord.model_validate
    # The built dicts are moved out of the collector's sight while validating, so the cyclic GC
    # does not re-scan 10,000 held records: the figure is what validation costs a streaming reader.
    gc.freeze()
    try:
        validate_s, _ = _best(lambda: sum(1 for d in dicts if validate(d)), repeats)
    finally:
        gc.unfreeze()
    # The floor: parsing plus validating the finished canonical records, with a mapping that cost
    # nothing. No translator that hands out validated AgencyRecords can beat this ratio.
    floor_ratio = (raw_j + validate_s) / raw_j
    raw_per_s, mapped_per_s = count / raw_j, count / map_j
    csv_raw, csv_mapped = count / raw_c, count / map_c
    us = 1e6 / count
    return BenchReport(
        name=NAME,
        description=f"{count:,} synthetic records: parse alone vs parse + compiled mapping + validation",
        rows=[
            BenchRow(label="JSON raw parse (json.loads, iterate)", value=raw_per_s, unit="records/s", note="baseline"),
            BenchRow(label="JSON parse + mapping + AgencyRecord validation", value=mapped_per_s, unit="records/s"),
            BenchRow(label="JSON overhead ratio (raw / mapped)", value=raw_per_s / mapped_per_s, unit="x",
                     note="target <= 1.3"),
            BenchRow(label="CSV raw read (csv.reader + dict rows)", value=csv_raw, unit="records/s", note="baseline"),
            BenchRow(label="CSV read + mapping + AgencyRecord validation", value=csv_mapped, unit="records/s"),
            BenchRow(label="CSV overhead ratio (raw / mapped)", value=csv_raw / csv_mapped, unit="x"),
            BenchRow(label="JSON parse + mapping (interpreter only) + validation", value=count / int_j,
                     unit="records/s", note="before code generation"),
            BenchRow(label="per record: JSON parse", value=raw_j * us, unit="us"),
            BenchRow(label="per record: build canonical dict (generated code)", value=build_s * us, unit="us"),
            BenchRow(label="per record: AgencyRecord validation", value=validate_s * us, unit="us"),
            BenchRow(label="floor ratio: (parse + validation alone) / parse", value=floor_ratio, unit="x",
                     note="a zero-cost mapping still pays validation"),
        ],
        metrics={
            "raw_per_s": round(raw_per_s, 1),
            "mapped_per_s": round(mapped_per_s, 1),
            "overhead_ratio": round(raw_per_s / mapped_per_s, 2),
            "csv_raw_per_s": round(csv_raw, 1),
            "csv_mapped_per_s": round(csv_mapped, 1),
            "csv_overhead_ratio": round(csv_raw / csv_mapped, 2),
            "interpreted_per_s": round(count / int_j, 1),
            "parse_us": round(raw_j * us, 1),
            "build_us": round(build_s * us, 1),
            "validate_us": round(validate_s * us, 1),
            "validation_floor_ratio": round(floor_ratio, 2),
            "records": count,
        },
        targets={"overhead_ratio": "<= 1.3"},
    )
