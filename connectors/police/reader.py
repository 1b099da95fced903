"""Read POLE exports (one JSON document, or a set of CSV files) into person views.

POLE is a graph; a canonical ``AgencyRecord`` is about one person. The reader
does the join once, for both serialisations, so one mapping spec
(``config/mappings/pole.yaml``) serves JSON and CSV alike: for every Person it
yields a *person view*::

    {"force", "system", "export_id",
     "person":    {person_id, pnc_id, names[], birth_date, sex, ethnicity, warning_markers[]},
     "addresses": [{location fields, link_type, from_date, to_date}],      # resident links
     "events":    [{event fields, roles, finding_id, location{...}}],       # person -> event links
     "markers":   [{marker fields, finding_id}],
     "relatives": [{person fields, relationship, from_id, to_id, parental_responsibility,
                    same_household, link_id}]}                               # person <-> person links

Values are passed through as found (CSV cells stay text) so the mapping spec
judges them and a bad value rejects one record with its field and rule. What
the reader itself rejects (a link to an entity that is not in the export, a
duplicate id, a row with the wrong number of fields) is reported as a
``RowProblem`` naming the file, the record by its id (never a name), the
field and the rule; the rest of the export is still read.

CSV set: files named ``<prefix>persons.csv``, ``<prefix>events.csv``,
``<prefix>links.csv`` (required) and ``<prefix>locations.csv``,
``<prefix>objects.csv``, ``<prefix>names.csv``, ``<prefix>markers.csv``
(optional), in one folder. Give every file of the set (``export/*.csv``):
records are produced once, when the persons file is read; the other files of
the set are read with it.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .schema import LINK_KINDS, EntityKind, LinkType
from ...mapping.errors import InputError, Position
from ...mapping.readers import MappingLike, RowProblem
from ...schemas.codes import GRADING_VALUES, GradingScheme, Reliability

CSV_ROLES = ("persons", "events", "links", "locations", "objects", "names", "markers")
CSV_REQUIRED = ("persons", "events", "links")
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "persons": ("person_id",),
    "events": ("event_id", "type", "handling_code"),
    "links": ("link_id", "type", "from_kind", "from_id", "to_kind", "to_id"),
    "locations": ("location_id",),
    "objects": ("object_id",),
    "names": ("person_id",),
    "markers": ("person_id", "marker_id"),
}
LIST_SEPARATOR = ";"
_PERSON_EVENT = {t for t, kinds in LINK_KINDS.items() if kinds == (EntityKind.PERSON, EntityKind.EVENT)}
_PERSON_PERSON = {t for t, kinds in LINK_KINDS.items() if kinds == (EntityKind.PERSON, EntityKind.PERSON)}
_RESIDENT = {LinkType.RESIDENT.value, LinkType.PREVIOUS_RESIDENT.value}


@dataclass
class Item:
    """One native entity with where it was read from."""

    data: dict[str, Any]
    position: Position


@dataclass
class PoleDocument:
    """A POLE export in memory, from either serialisation, positions kept."""

    header: dict[str, Any]
    persons: list[Item] = field(default_factory=list)
    events: list[Item] = field(default_factory=list)
    links: list[Item] = field(default_factory=list)
    locations: list[Item] = field(default_factory=list)
    objects: list[Item] = field(default_factory=list)
    problems: list[tuple[RowProblem, Position]] = field(default_factory=list)


# --------------------------------------------------------------------------- JSON
def load_json(path: Path) -> PoleDocument:
    """A POLE JSON export; raises InputError when the file is not a POLE document at all."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(str(path), "file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not valid utf-8 text (byte offset {exc.start})") from None
    from ...mapping.safe_json import loads as safe_loads  # bounded depth/numbers/size, InputError

    try:
        raw = safe_loads(text, str(path))
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("export"), dict):
        raise InputError(str(path), "not a POLE export: an object with 'export' (header) and 'persons' is expected")
    schema = raw.get("schema")
    if schema is not None and schema != "mashlink-pole/1":
        raise InputError(str(path), f"schema: unknown POLE schema version (expected mashlink-pole/1)")
    doc = PoleDocument(header=raw["export"])
    for section in ("persons", "events", "links", "locations", "objects"):
        value = raw.get(section, [])
        if not isinstance(value, list):
            raise InputError(str(path), f"{section}: must be an array")
        items = getattr(doc, section)
        for i, entry in enumerate(value):
            pos = Position(str(path), i + 1, path=f"$.{section}[{i}]")
            if not isinstance(entry, dict):
                doc.problems.append((RowProblem(f"{section}[{i}]: type: must be an object"), pos))
                continue
            items.append(Item(entry, pos))
    return doc


# --------------------------------------------------------------------------- CSV set
def csv_role(path: Path) -> tuple[str, str] | None:
    """(prefix, role) of a CSV set member, e.g. 'zz-2025-events.csv' -> ('zz-2025-', 'events')."""
    stem = path.stem.lower()
    for role in CSV_ROLES:
        if stem.endswith(role):
            return path.stem[: len(path.stem) - len(role)], role
    return None


def _csv_rows(path: Path, role: str, doc: PoleDocument) -> Iterator[tuple[dict[str, str], Position]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not valid utf-8 text (byte offset {exc.start})") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError(str(path), "empty file: no header row") from None
    except csv.Error as exc:
        raise InputError(str(path), f"bad CSV header: {exc}", 1) from None
    missing = [c for c in CSV_COLUMNS[role] if c not in header]
    if missing:
        raise InputError(str(path), f"required columns missing from the header: {', '.join(missing)}", 1)
    number = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(str(path), f"bad CSV: {exc}", reader.line_num) from None
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        number += 1
        pos = Position(str(path), number, line=reader.line_num)
        if len(row) != len(header):
            ident = row[0].strip() if row and row[0].strip() else None
            doc.problems.append((RowProblem(f"row has {len(row)} fields, the header has {len(header)}"),
                                 pos.with_record_id(ident)))
            continue
        yield {h: v.strip() for h, v in zip(header, row)}, pos


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(LIST_SEPARATOR) if v.strip()]


def _blank_to_none(row: dict[str, str]) -> dict[str, Any]:
    return {k: (v if v != "" else None) for k, v in row.items()}


def load_csv_set(persons_path: Path) -> PoleDocument:
    """The CSV set around ``persons_path`` (same folder, same prefix) as a PoleDocument."""
    found = csv_role(persons_path)
    if found is None or found[1] != "persons":
        raise InputError(str(persons_path), "not the persons file of a POLE CSV set")
    prefix = found[0]
    folder = persons_path.parent
    paths = {role: folder / f"{prefix}{role}.csv" for role in CSV_ROLES}
    for role in CSV_REQUIRED:
        if not paths[role].exists():
            raise InputError(str(persons_path), f"POLE CSV set is incomplete: {paths[role].name} is missing")
    doc = PoleDocument(header={"export_id": prefix.rstrip("-_") or folder.name, "force_code": None, "system": None})

    extra_names: dict[str, list[dict[str, Any]]] = defaultdict(list)
    markers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if paths["names"].exists():
        for row, _pos in _csv_rows(paths["names"], "names", doc):
            extra_names[row["person_id"]].append(
                {"use": row.get("use") or "alias", "given": row.get("given_names", "").split(),
                 "family": row.get("family_name") or None})
    if paths["markers"].exists():
        for row, _pos in _csv_rows(paths["markers"], "markers", doc):
            markers[row["person_id"]].append(_blank_to_none({k: v for k, v in row.items() if k != "person_id"}))
    for row, pos in _csv_rows(paths["persons"], "persons", doc):
        # The header columns force_code / system may repeat on every person row (flat exports).
        for key in ("force_code", "system"):
            if row.get(key) and not doc.header.get(key):
                doc.header[key] = row[key]
        person = _blank_to_none({k: v for k, v in row.items()
                                 if k not in ("given_names", "family_name", "force_code", "system")})
        person["names"] = [{"use": "official", "given": (row.get("given_names") or "").split(),
                            "family": row.get("family_name") or None}] + extra_names.get(row["person_id"], [])
        person["warning_markers"] = markers.get(row["person_id"], [])
        doc.persons.append(Item(person, pos))
    for row, pos in _csv_rows(paths["events"], "events", doc):
        event: dict[str, Any] = {}
        ppn: dict[str, Any] = {}
        attributes: dict[str, Any] = {}
        for key, value in row.items():
            if key.startswith("ppn_"):
                if value:
                    ppn[key[4:]] = _split(value) if key == "ppn_concerns" else value
            elif key.startswith("attr_"):
                if value:
                    attributes[key[5:]] = value
            elif key == "codes":
                event["codes"] = _split(value)
            else:
                event[key] = value if value != "" else None
        event["attributes"] = attributes
        if ppn:
            event["ppn"] = ppn
        doc.events.append(Item(event, pos))
    for row, pos in _csv_rows(paths["links"], "links", doc):
        doc.links.append(Item(_blank_to_none(row), pos))
    if paths["locations"].exists():
        for row, pos in _csv_rows(paths["locations"], "locations", doc):
            loc = _blank_to_none({k: v for k, v in row.items() if not k.startswith("line")})
            loc["lines"] = [row[k] for k in sorted(row) if k.startswith("line") and row[k]]
            doc.locations.append(Item(loc, pos))
    if paths["objects"].exists():
        for row, pos in _csv_rows(paths["objects"], "objects", doc):
            doc.objects.append(Item(_blank_to_none(row), pos))
    return doc


# --------------------------------------------------------------------------- grading
GRADE_FIELDS = ("source_evaluation", "intelligence_assessment", "handling_code")
_3X5X2, _5X5X5 = GradingScheme.NATIONAL_3X5X2, GradingScheme.LEGACY_5X5X5
#: Coarse reliability of a source evaluation (the native grade is kept alongside). 5x5x5 C
#: ("sometimes reliable") and E ("untested") are "untested": neither is vouched for.
SOURCE_RELIABILITY: dict[GradingScheme, dict[str, Reliability]] = {
    _3X5X2: {"1": Reliability.RELIABLE, "2": Reliability.UNTESTED, "3": Reliability.NOT_RELIABLE},
    _5X5X5: {"A": Reliability.RELIABLE, "B": Reliability.MOSTLY_RELIABLE, "C": Reliability.UNTESTED,
             "D": Reliability.NOT_RELIABLE, "E": Reliability.UNTESTED},
}


def _grade_text(value: Any) -> str | None:
    """A grade value as text (JSON numbers allowed: 1 -> '1'); None when blank; TypeError for structure."""
    if value is None:
        return None
    if isinstance(value, (list, dict)):
        raise TypeError("a list or object where a single value is expected")
    text = str(value).strip().upper()
    return text or None


def _infer_scheme(values: dict[str, str | None]) -> GradingScheme | None:
    """3x5x2 or 5x5x5 from the values: the two schemes use letters and digits the other way round."""
    for position in (2, 0, 1):  # handling code first (P/C versus 1-5), then source, then intelligence
        value = values[GRADE_FIELDS[position]]
        for scheme in (_3X5X2, _5X5X5):
            if value is not None and value in GRADING_VALUES[scheme][position]:
                return scheme
    return None


def grading_of(entity: dict[str, Any], finding_id: str, issues: list[dict[str, str]]) -> dict[str, Any] | None:
    """The intelligence grade of one event or marker, or None when it carries none.

    The scheme is ``grading_scheme`` when the export says so (``3x5x2`` / ``5x5x5``),
    otherwise read from the values (3x5x2 grades sources 1-3 and handles P/C;
    5x5x5 grades sources A-E and handles 1-5). A value outside the scheme is
    left out of the grade and reported in ``issues`` (field named by finding id,
    never by a person's name); a 3x5x2 ``C`` without conditions is reported too.
    An event with only a ``P``/``C``/``DND`` handling code has no grade.
    """
    where = f"findings[{finding_id}].grading"
    values: dict[str, str | None] = {}
    for name in (*GRADE_FIELDS, "grading_scheme"):
        try:
            values[name] = _grade_text(entity.get(name))
        except TypeError as exc:
            issues.append({"field": f"{where}.{name}", "rule": "structure", "detail": f"{exc}; left out"})
            values[name] = None
    conditions = entity.get("handling_conditions")
    conditions = conditions.strip() if isinstance(conditions, str) and conditions.strip() else None
    graded = values["source_evaluation"] or values["intelligence_assessment"] or values["grading_scheme"]
    legacy_handling = values["handling_code"] in GRADING_VALUES[_5X5X5][2]
    if not (graded or legacy_handling or conditions):
        return None
    scheme: GradingScheme | None = None
    if values["grading_scheme"]:
        try:
            scheme = GradingScheme(values["grading_scheme"].lower().replace(" ", ""))
        except ValueError:
            issues.append({"field": f"{where}.scheme", "rule": "grading_scheme",
                           "detail": f"unknown grading scheme (expected {_3X5X2.value} or {_5X5X5.value}); "
                                     "scheme read from the values"})
    scheme = scheme or _infer_scheme(values)
    if scheme is None:
        issues.append({"field": where, "rule": "grading_scheme",
                       "detail": "grade values fit neither 3x5x2 nor 5x5x5; grade left out"})
        return None
    grade: dict[str, Any] = {"scheme": scheme.value, "conditions": conditions}
    for name, allowed in zip(GRADE_FIELDS, GRADING_VALUES[scheme]):
        value = values[name]
        if value is None:
            continue
        if value in allowed:
            grade[name] = value
        elif name != "handling_code" or value not in ("DND", "NFD"):
            issues.append({"field": f"{where}.{name}", "rule": "grading_scheme",
                           "detail": f"not a {scheme.value} {name.replace('_', ' ')} "
                                     f"(one of {', '.join(sorted(allowed))}); left out"})
    if scheme is _3X5X2 and grade.get("handling_code") == "C" and not conditions:
        issues.append({"field": f"{where}.conditions", "rule": "conditions_missing",
                       "detail": "3x5x2 handling code C without conditions: shared as restricted; "
                                 "the recipient is told to contact the police MASH team"})
    reliability = SOURCE_RELIABILITY[scheme].get(grade.get("source_evaluation") or "")
    if reliability is not None:
        grade["reliability"] = reliability.value
    return grade


def _graded(entity: dict[str, Any], finding_id: str, issues: list[dict[str, str]]) -> dict[str, Any]:
    """A copy of an event or marker with its ``grading`` (and, unless the export says, its reliability)."""
    out = dict(entity)
    grade = grading_of(entity, finding_id, issues)
    if grade is not None:
        out["grading"] = grade
        if out.get("reliability") in (None, "") and grade.get("reliability"):
            out["reliability"] = grade["reliability"]
    return out


# --------------------------------------------------------------------------- join
def _problem(pos: Position, record_id: str | None, field_path: str, rule: str, message: str
             ) -> tuple[RowProblem, Position]:
    return RowProblem(f"{field_path}: {rule}: {message}"), pos.with_record_id(record_id)


def _structure_name(value: Any) -> str:
    return {list: "a list", dict: "an object"}.get(type(value), f"a {type(value).__name__}")


def person_views(doc: PoleDocument) -> Iterator[tuple[Any, Position]]:
    """Problems first, then one person view per person (see module docstring)."""
    yield from doc.problems
    header = doc.header
    indexes: dict[EntityKind, dict[str, Item]] = {k: {} for k in EntityKind}
    id_field = {EntityKind.PERSON: "person_id", EntityKind.EVENT: "event_id",
                EntityKind.LOCATION: "location_id", EntityKind.OBJECT: "object_id"}
    sections = {EntityKind.PERSON: doc.persons, EntityKind.EVENT: doc.events,
                EntityKind.LOCATION: doc.locations, EntityKind.OBJECT: doc.objects}
    for kind, items in sections.items():
        key = id_field[kind]
        for item in items:
            ident = item.data.get(key)
            if isinstance(ident, (list, dict)):
                yield _problem(item.position, None, key, "structure",
                               f"{_structure_name(ident)} where a single id is expected")
                continue
            if not isinstance(ident, str) or not ident.strip():
                yield _problem(item.position, None, key, "required", f"every {kind.value} needs a {key}")
                continue
            if ident in indexes[kind]:
                yield _problem(item.position, ident, key, "duplicate_id",
                               f"another {kind.value} in this export has the same {key}")
                continue
            indexes[kind][ident] = item

    events_of: dict[str, dict[str, list[str]]] = defaultdict(dict)  # person -> event -> roles
    event_location: dict[str, str] = {}
    residence: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    family: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in doc.links:
        link = item.data
        link_id = link.get("link_id") if isinstance(link.get("link_id"), str) else None
        try:
            ltype = LinkType(str(link.get("type", "")).strip().lower())
        except ValueError:
            yield _problem(item.position, link_id, "type", "unknown_link_type",
                           f"link type must be one of {', '.join(t.value for t in LinkType)}")
            continue
        want_from, want_to = LINK_KINDS[ltype]
        bad = False
        for end, want in (("from", want_from), ("to", want_to)):
            kind_text = str(link.get(f"{end}_kind", "")).strip().lower()
            ident = link.get(f"{end}_id")
            if ident is not None and not isinstance(ident, str):
                yield _problem(item.position, link_id, f"{end}_id", "structure",
                               f"{_structure_name(ident)} where a single id is expected")
                bad = True
                break
            if kind_text != want.value:
                yield _problem(item.position, link_id, f"{end}_kind", "link_kind",
                               f"a {ltype.value} link joins {want_from.value} -> {want_to.value}")
                bad = True
                break
            if ident not in indexes[want]:
                yield _problem(item.position, link_id, f"{end}_id", "unknown_reference",
                               f"no {want.value} with that id in this export")
                bad = True
                break
        if bad:
            continue
        src, dst = link["from_id"], link["to_id"]
        if ltype in _PERSON_EVENT:
            events_of[src].setdefault(dst, []).append(ltype.value)
        elif ltype in _PERSON_PERSON:
            family[src].append({**link, "other": dst})
            family[dst].append({**link, "other": src})
        elif ltype.value in _RESIDENT:
            residence[src].append((dst, link))
        elif ltype is LinkType.OCCURRED_AT:
            event_location[src] = dst

    def current_homes(person_id: str) -> set[str]:
        return {loc for loc, link in residence.get(person_id, [])
                if link.get("type") == LinkType.RESIDENT.value and not link.get("to_date")}

    for person_id, item in indexes[EntityKind.PERSON].items():
        person = dict(item.data)
        markers = person.get("warning_markers") or []
        view_markers = []
        grading_issues: list[dict[str, str]] = []
        for i, marker in enumerate(markers if isinstance(markers, list) else []):
            if isinstance(marker, dict):
                finding_id = f"{person_id}:marker:{marker.get('marker_id', i + 1)}"
                marker = _graded(marker, finding_id, grading_issues)
                if marker.get("handling_code") in (None, ""):
                    marker["handling_code"] = "C"  # the exchange schema's default for markers
                view_markers.append({**marker, "finding_id": finding_id})
        events = []
        for event_id, roles in events_of.get(person_id, {}).items():
            event = _graded(indexes[EntityKind.EVENT][event_id].data, f"{person_id}:{event_id}", grading_issues)
            loc_id = event_location.get(event_id)
            if loc_id:
                event["location"] = dict(indexes[EntityKind.LOCATION][loc_id].data)
            event["roles"] = roles
            event["finding_id"] = f"{person_id}:{event_id}"
            events.append(event)
        addresses = [
            {**indexes[EntityKind.LOCATION][loc].data, "link_type": link.get("type"),
             "from_date": link.get("from_date"), "to_date": link.get("to_date")}
            for loc, link in residence.get(person_id, [])
        ]
        homes = current_homes(person_id)
        relatives = []
        seen: set[str] = set()
        for link in family.get(person_id, []):
            other = link["other"]
            if other in seen or other == person_id:
                continue
            seen.add(other)
            relatives.append({
                **indexes[EntityKind.PERSON][other].data,
                "relationship": str(link.get("type")).lower(), "from_id": link["from_id"], "to_id": link["to_id"],
                "parental_responsibility": link.get("parental_responsibility"), "link_id": link.get("link_id"),
                "same_household": bool(homes & current_homes(other)) if homes else None,
            })
        yield {
            "force": header.get("force_code"), "system": header.get("system"), "export_id": header.get("export_id"),
            "person": person, "addresses": addresses, "events": events, "markers": view_markers,
            "relatives": relatives, "grading_issues": grading_issues,
        }, item.position.with_record_id(person_id)


def load_document(path: Path) -> PoleDocument | None:
    """The document in ``path``: JSON, or the CSV set anchored at a persons file (None: another set member)."""
    if path.suffix.lower() == ".csv":
        found = csv_role(path)
        if found is None:
            raise InputError(str(path), "not a POLE CSV set file (expected a name ending in "
                                        + ", ".join(f"{r}.csv" for r in CSV_ROLES) + ")")
        if found[1] != "persons":
            if not (path.parent / f"{found[0]}persons.csv").exists():
                raise InputError(str(path), f"POLE CSV set is incomplete: {found[0]}persons.csv is missing")
            return None
        return load_csv_set(path)
    return load_json(path)


def read_pole(path: Path, mapping: MappingLike, warn: Any = None) -> Iterator[tuple[Any, Position]]:
    """Reader for ``mashlink translate pole``: a JSON export or the files of a CSV set."""
    doc = load_document(Path(path))
    if doc is None:
        if warn is not None:
            warn(f"{path}: part of a POLE CSV set; its rows are read with the set's persons file")
        return
    yield from person_views(doc)
