"""The POLE exchange schema: how a force system's records reach mashlink.

Police records management systems (Niche RMS, Athena and others) hold
records in the **POLE** shape: Persons, Objects, Locations and Events, joined
by typed links ("this person was the *victim* in this event", "this person is
*resident* at this location", "this adult is the *parent* of that child").
This module is *our* documented exchange schema modelled on that data model
(it is not any supplier's format); a force exports to it as one JSON document
or as a set of CSV files carrying the same fields (see ``docs/pole/``).

Every Event carries a handling code (``P`` share lawfully, ``C`` share with
conditions, ``DND`` do not disseminate) and a protective marking; DND
material never leaves the force (see :mod:`mashlink.connectors.police.release`).

These pydantic models are the *writer's* contract: exports produced by
mashlink (the simulated force, the examples) are built through them, and the
JSON Schema shipped in ``schema/pole-export.schema.json`` is generated from
them. The *reader* (:mod:`mashlink.connectors.police.reader`) is lenient on
values on purpose, so one bad record is reported by the mapping spec with its
field and rule instead of failing the whole export.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

SCHEMA_ID = "mashlink-pole/1"
SCHEMA_FILE = Path(__file__).parent / "schema" / "pole-export.schema.json"
EXAMPLES_DIR = Path(__file__).parent / "schema" / "examples"


class _Pole(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class EntityKind(StrEnum):
    PERSON = "person"
    OBJECT = "object"
    LOCATION = "location"
    EVENT = "event"


class LinkType(StrEnum):
    """Typed POLE links; ``LINK_KINDS`` says which entity kinds each may join."""

    # person -> event
    VICTIM = "victim"
    SUSPECT = "suspect"
    OFFENDER = "offender"
    WITNESS = "witness"
    REPORTING_PERSON = "reporting_person"
    MISSING_PERSON = "missing_person"
    ARRESTED = "arrested"
    CHARGED = "charged"
    SUBJECT = "subject"
    SUBJECT_OF_CCTN = "subject_of_cctn"
    PRESENT = "present"
    # person -> person ("from is <type> of to")
    PARENT = "parent"
    GUARDIAN = "guardian"
    STEP_PARENT = "step_parent"
    CARER = "carer"
    PARTNER = "partner"
    SIBLING = "sibling"
    ASSOCIATE = "associate"
    # person -> location
    RESIDENT = "resident"
    PREVIOUS_RESIDENT = "previous_resident"
    # person -> object
    OWNER = "owner"
    USER = "user"
    # event -> location, object -> event
    OCCURRED_AT = "occurred_at"
    INVOLVED_IN = "involved_in"


P, O, L, E = EntityKind.PERSON, EntityKind.OBJECT, EntityKind.LOCATION, EntityKind.EVENT
LINK_KINDS: dict[LinkType, tuple[EntityKind, EntityKind]] = {
    **{t: (P, E) for t in (LinkType.VICTIM, LinkType.SUSPECT, LinkType.OFFENDER, LinkType.WITNESS,
                           LinkType.REPORTING_PERSON, LinkType.MISSING_PERSON, LinkType.ARRESTED,
                           LinkType.CHARGED, LinkType.SUBJECT, LinkType.SUBJECT_OF_CCTN, LinkType.PRESENT)},
    **{t: (P, P) for t in (LinkType.PARENT, LinkType.GUARDIAN, LinkType.STEP_PARENT, LinkType.CARER,
                           LinkType.PARTNER, LinkType.SIBLING, LinkType.ASSOCIATE)},
    LinkType.RESIDENT: (P, L),
    LinkType.PREVIOUS_RESIDENT: (P, L),
    LinkType.OWNER: (P, O),
    LinkType.USER: (P, O),
    LinkType.OCCURRED_AT: (E, L),
    LinkType.INVOLVED_IN: (O, E),
}

#: P / C (3x5x2), DND, or a legacy 5x5x5 handling code 1-5 (see police-handling-codes).
HandlingCodeValue = Literal["P", "C", "DND", "1", "2", "3", "4", "5"]
GradingSchemeValue = Literal["3x5x2", "5x5x5"]
SourceEvaluationValue = Literal["1", "2", "3", "A", "B", "C", "D", "E"]
IntelligenceAssessmentValue = Literal["A", "B", "C", "D", "E", "1", "2", "3", "4", "5"]


class _Graded(_Pole):
    """Intelligence grading of an event or marker: 3x5x2 (national) or legacy 5x5x5.

    3x5x2: source_evaluation 1-3, intelligence_assessment A-E, handling_code P or
    C (C: handling_conditions say what the conditions are). 5x5x5: source A-E,
    intelligence 1-5, handling code 1-5. ``grading_scheme`` may be given; the
    reader otherwise tells the schemes apart by the values.
    """

    grading_scheme: GradingSchemeValue | None = None
    source_evaluation: SourceEvaluationValue | None = None
    intelligence_assessment: IntelligenceAssessmentValue | None = None
    handling_conditions: str | None = Field(default=None, max_length=2000,
                                            description="Conditions of a 3x5x2 C code, set by the originator")
Marking = Literal["OFFICIAL", "OFFICIAL-SENSITIVE"]


class PoleName(_Pole):
    use: Literal["official", "alias", "previous", "preferred"] = "official"
    given: list[str] = Field(default_factory=list, description="Given names, first first")
    family: str | None = None


class WarningMarker(_Graded):
    """A person warning marker (e.g. VI violent, WE weapons); handling-coded like events."""

    marker_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=16, description="Force marker code, e.g. VI, WE, SH")
    description: str = Field(default="", max_length=2000)
    from_date: date | None = None
    to_date: date | None = None
    handling_code: HandlingCodeValue = "C"


class PolePerson(_Pole):
    person_id: str = Field(min_length=1, max_length=64, description="Force person id (unique within the force)")
    pnc_id: str | None = Field(default=None, pattern=r"^\d{2,4}/\d{1,7}[A-Z]$", description="Police National Computer id")
    names: list[PoleName] = Field(min_length=1)
    birth_date: date | None = None
    sex: Literal["M", "F", "X", "U"] | None = Field(default=None, description="M, F, X (other), U (unknown)")
    ethnicity: str | None = Field(default=None, max_length=8, description="Self-defined ethnicity code (e.g. W1, A3)")
    warning_markers: list[WarningMarker] = Field(default_factory=list)


class PoleObject(_Pole):
    object_id: str = Field(min_length=1, max_length=64)
    type: Literal["vehicle", "phone", "weapon", "drugs", "property", "document", "other"]
    description: str = Field(default="", max_length=2000)
    identifier: str | None = Field(default=None, max_length=64, description="VRM, IMEI, serial number")


class PoleLocation(_Pole):
    location_id: str = Field(min_length=1, max_length=64)
    lines: list[str] = Field(default_factory=list)
    town: str | None = None
    postcode: str | None = None
    uprn: str | None = Field(default=None, pattern=r"^\d{1,12}$")


class PpnDetails(_Pole):
    """Public protection notice / child coming to notice: what the officer recorded for the MASH."""

    risk_grading: Literal["standard", "medium", "high"]
    concerns: list[str] = Field(default_factory=list, description="Concern codes, e.g. DA, CSE, CCE, MISSING, NEGLECT")
    referred_to_mash: bool = True
    submitted_at: AwareDatetime | None = None
    local_authority: str | None = Field(default=None, max_length=16, description="LA code of the MASH")
    officer: str | None = Field(default=None, max_length=200, description="Submitting role/unit, not a name")


class PoleEvent(_Graded):
    event_id: str = Field(min_length=1, max_length=64)
    reference: str = Field(min_length=1, max_length=64, description="Occurrence / incident reference the MASH quotes")
    type: str = Field(min_length=1, max_length=16,
                      description="Event type code: DA, MISPER, ARREST, CHARGE, CCTN, PPN, INTEL, WARNING ...")
    occurred_from: date | AwareDatetime
    occurred_to: date | AwareDatetime | None = None
    summary: str = Field(default="", max_length=4000)
    handling_code: HandlingCodeValue
    classification: Marking = "OFFICIAL-SENSITIVE"
    codes: list[str] = Field(default_factory=list)
    risk: Literal["standard", "medium", "high"] | None = None
    reliability: Literal["reliable", "mostly_reliable", "untested", "not_reliable"] = "reliable"
    attributes: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    ppn: PpnDetails | None = None


class PoleLink(_Pole):
    link_id: str = Field(min_length=1, max_length=64)
    type: LinkType
    from_kind: EntityKind
    from_id: str = Field(min_length=1, max_length=64)
    to_kind: EntityKind
    to_id: str = Field(min_length=1, max_length=64)
    from_date: date | None = None
    to_date: date | None = None
    parental_responsibility: bool | None = None

    @model_validator(mode="after")
    def _kinds(self) -> "PoleLink":
        want = LINK_KINDS[self.type]
        if (self.from_kind, self.to_kind) != want:
            raise ValueError(f"link type {self.type.value} joins {want[0].value} -> {want[1].value}")
        return self


class ExportHeader(_Pole):
    export_id: str = Field(min_length=1, max_length=64)
    force_code: str = Field(min_length=1, max_length=16)
    system: str = Field(min_length=1, max_length=100, description="Source system name, e.g. 'Niche RMS'")
    exported_at: AwareDatetime


class PoleExport(_Pole):
    """One POLE export document (the JSON serialisation)."""

    schema_id: Literal["mashlink-pole/1"] = Field(default=SCHEMA_ID, alias="schema")
    export: ExportHeader
    persons: list[PolePerson] = Field(default_factory=list)
    objects: list[PoleObject] = Field(default_factory=list)
    locations: list[PoleLocation] = Field(default_factory=list)
    events: list[PoleEvent] = Field(default_factory=list)
    links: list[PoleLink] = Field(default_factory=list)

    @model_validator(mode="after")
    def _links_resolve(self) -> "PoleExport":
        ids = {
            P: {p.person_id for p in self.persons}, O: {o.object_id for o in self.objects},
            L: {x.location_id for x in self.locations}, E: {e.event_id for e in self.events},
        }
        for i, link in enumerate(self.links):
            for end, kind, ident in (("from_id", link.from_kind, link.from_id), ("to_id", link.to_kind, link.to_id)):
                if ident not in ids[kind]:
                    raise ValueError(f"links[{i}].{end}: no {kind.value} with that id in this export")
        return self

    def dump_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2, exclude_none=True)


def json_schema() -> dict[str, object]:
    """The JSON Schema of a POLE export (generated; shipped as ``schema/pole-export.schema.json``)."""
    schema = PoleExport.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://mashlink.example/schemas/pole-export-1.schema.json"
    schema["title"] = "mashlink POLE export 1"
    return schema


def write_json_schema(path: Path = SCHEMA_FILE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
