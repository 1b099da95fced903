"""POLE exports written as a force would supply them: one JSON document, or a CSV set.

These writers are the inverse of :mod:`.reader` (same columns, same list
separator), so a POLE export made anywhere (a force's extract tool, a test,
the demo) reaches the police connector in the format it reads. Simulating a
force's export from the synthetic population is the simulators' job
(:func:`mashlink.connectors.simulators.police_export.simulated_force_export`):
production police code imports nothing from the simulated agency systems.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

from ...config.atomic_files import atomic_write_text
from .reader import LIST_SEPARATOR
from .schema import PoleExport


def write_json(export: PoleExport, path: Path) -> Path:
    """The export as one JSON document, written atomically."""
    return atomic_write_text(Path(path), export.dump_json() + "\n")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(v) for v in value)
    return str(value)


def _csv_text(header: list[str], rows: list[dict[str, object]]) -> str:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(h)) for h in header])
    return buf.getvalue()


def csv_set_texts(export: PoleExport) -> dict[str, str]:
    """role -> CSV text of the export as a CSV set (see docs/pole/README.md for the columns)."""
    head = export.export
    persons, names, markers = [], [], []
    for p in export.persons:
        official = p.names[0]
        persons.append({"person_id": p.person_id, "pnc_id": p.pnc_id, "given_names": " ".join(official.given),
                        "family_name": official.family, "birth_date": p.birth_date, "sex": p.sex,
                        "ethnicity": p.ethnicity, "force_code": head.force_code, "system": head.system})
        for n in p.names[1:]:
            names.append({"person_id": p.person_id, "use": n.use, "given_names": " ".join(n.given),
                          "family_name": n.family})
        for m in p.warning_markers:
            markers.append({"person_id": p.person_id, **m.model_dump()})
    attr_keys = sorted({k for e in export.events for k in e.attributes})
    events = []
    for e in export.events:
        row: dict[str, object] = {k: v for k, v in e.model_dump().items() if k not in ("attributes", "ppn")}
        row.update({f"attr_{k}": v for k, v in e.attributes.items()})
        if e.ppn:
            row.update({f"ppn_{k}": v for k, v in e.ppn.model_dump().items()})
        events.append(row)
    # Grading columns (3x5x2 / 5x5x5) only when the export carries a grade, so ungraded sets stay as they were.
    grade_events = [c for c in GRADE_COLUMNS if any(getattr(e, c) for e in export.events)]
    grade_markers = [c for c in GRADE_COLUMNS if any(getattr(m, c) for p in export.persons for m in p.warning_markers)]
    max_lines = max((len(loc.lines) for loc in export.locations), default=1) or 1
    locations = [{"location_id": loc.location_id, **{f"line{i + 1}": v for i, v in enumerate(loc.lines)},
                  "town": loc.town, "postcode": loc.postcode, "uprn": loc.uprn} for loc in export.locations]
    return {
        "persons": _csv_text(["person_id", "pnc_id", "given_names", "family_name", "birth_date", "sex", "ethnicity",
                              "force_code", "system"], persons),
        "names": _csv_text(["person_id", "use", "given_names", "family_name"], names),
        "markers": _csv_text(["person_id", "marker_id", "code", "description", "from_date", "to_date",
                              "handling_code", *grade_markers], markers),
        "events": _csv_text(["event_id", "reference", "type", "occurred_from", "occurred_to", "summary",
                             "handling_code", "classification", "codes", "risk", "reliability", *grade_events]
                            + [f"attr_{k}" for k in attr_keys]
                            + ["ppn_risk_grading", "ppn_concerns", "ppn_referred_to_mash", "ppn_submitted_at",
                               "ppn_local_authority", "ppn_officer"], events),
        "links": _csv_text(["link_id", "type", "from_kind", "from_id", "to_kind", "to_id", "from_date", "to_date",
                            "parental_responsibility"], [lk.model_dump(mode="json") for lk in export.links]),
        "locations": _csv_text(["location_id", *[f"line{i + 1}" for i in range(max_lines)], "town", "postcode",
                                "uprn"], locations),
        "objects": _csv_text(["object_id", "type", "description", "identifier"],
                             [o.model_dump() for o in export.objects]),
    }


GRADE_COLUMNS = ("grading_scheme", "source_evaluation", "intelligence_assessment", "handling_conditions")


def write_csv_set(export: PoleExport, folder: Path, prefix: str = "") -> list[Path]:
    """The export as a CSV set in ``folder`` (each file atomic); returns the paths, persons first."""
    texts = csv_set_texts(export)
    return [atomic_write_text(Path(folder) / f"{prefix}{role}.csv", text) for role, text in texts.items()]
