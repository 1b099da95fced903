"""The facts of an ADT (or RRI) message that are about the *event*, not the patient.

The patient, next of kin and visit finding come from the YAML spec
(``hl7_mapping``). What an ADT event and its alert need besides the record is
read here: header (control id, trigger, sending application and facility,
times), the PID-3 identifier list (an ADT message without one is refused),
the PV1 visit key (facility, visit number, class, admit time) that keeps an
ED alert from repeating, and the identifiers MRG-1 merges (A40).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...mapping.paths.hl7_er7 import FastMessage, Hl7ParseError


@dataclass(slots=True)
class Cx:
    """One PID-3 (or MRG-1) repetition."""

    value: str
    authority: str
    type_code: str


@dataclass(slots=True)
class Visit:
    """The PV1 fields that identify a visit and place it in time."""

    patient_class: str
    point_of_care: str
    facility: str
    visit_number: str
    admit_time: str


@dataclass(slots=True)
class EventFacts:
    """What an ADT event carries besides the canonical record (values decoded, not yet validated)."""

    control_id: str
    message_type: str
    trigger: str
    sending_application: str
    sending_facility: str
    message_time: str
    event_time: str
    identifiers: list[Cx] = field(default_factory=list)
    visit: Visit | None = None
    merged_identifiers: list[Cx] = field(default_factory=list)


def _cx_list(msg: FastMessage, raw: str) -> list[Cx]:
    out: list[Cx] = []
    for rep in msg.repetitions(raw):
        comps = msg.components(rep)
        if comps and comps[0]:
            out.append(Cx(comps[0], comps[3] if len(comps) > 3 else "", comps[4] if len(comps) > 4 else ""))
    return out


def extract_event(msg: FastMessage) -> EventFacts:
    """Header, PID-3, PV1 visit key and MRG-1. Raises ``Hl7ParseError`` (101) when PID is missing."""
    pid = msg.fields("PID")
    if pid is None:
        raise Hl7ParseError("PID segment is required", code=101, segment="PID")
    facts = EventFacts(
        control_id=msg.control_id,
        message_type=msg.message_type,
        trigger=msg.trigger,
        sending_application=msg.value("MSH", 3),
        sending_facility=msg.value("MSH", 4),
        message_time=msg.value("MSH", 7),
        event_time=msg.value("EVN", 2),
        identifiers=_cx_list(msg, pid[3] if len(pid) > 3 else ""),
    )
    if msg.has("PV1"):
        facts.visit = Visit(
            patient_class=msg.value("PV1", 2),
            point_of_care=msg.value("PV1", 3),
            facility=msg.value("PV1", 3, 4),
            visit_number=msg.value("PV1", 19),
            admit_time=msg.value("PV1", 44),
        )
    mrg = msg.fields("MRG")
    if mrg is not None:
        facts.merged_identifiers = _cx_list(msg, mrg[1] if len(mrg) > 1 else "")
    return facts
