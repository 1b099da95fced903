"""Targeted extraction of patient facts from an ADT (or RRI) message.

Reads exactly the fields the safeguarding picture needs, from the segments
that hold them, into plain dataclasses (cheap to build), and turns them into
the canonical ``AgencyRecord`` on request. Every rule here is the UK
interpretation of HL7 v2 that trusts' integration engines send:

* NHS number: the PID-3 repetition with CX.4 ``NHS`` and CX.5 ``NH``;
  verification status from PID-32 ``NSTS01``..``NSTS08``.
* Hospital number (MRN): a PID-3 repetition with CX.5 ``MR`` (or ``PI``),
  scoped by its assigning authority (CX.4), else the sending facility.
* GP practice: PD1-3 (XON: name, ODS code in XON.3 or XON.10).
* Relations: NK1-2 name, NK1-3 relationship (table 0063), NK1-4 address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from .hl7_fast import FastMessage, Hl7ParseError, parse_ts, ts_precision

VERIFICATION_CODES = {f"NSTS0{i}": f"0{i}" for i in range(1, 9)}
MRN_TYPES = frozenset({"MR", "PI", "PT"})


@dataclass(slots=True)
class Cx:
    """One PID-3 (or MRG-1) repetition."""

    value: str
    authority: str
    type_code: str


@dataclass(slots=True)
class Name:
    family: str
    given: list[str]
    prefix: str
    type_code: str


@dataclass(slots=True)
class Addr:
    lines: list[str]
    town: str
    county: str
    postcode: str
    type_code: str


@dataclass(slots=True)
class NextOfKin:
    set_id: str
    name: Name | None
    relationship: str
    relationship_text: str
    address: Addr | None
    phone: str
    contact_role: str


@dataclass(slots=True)
class Visit:
    patient_class: str
    point_of_care: str
    room: str
    bed: str
    facility: str
    visit_number: str
    admit_time: str
    discharge_time: str
    hospital_service: str


@dataclass(slots=True)
class PatientFacts:
    """What the inbound path extracts from one message (values decoded, not yet validated)."""

    control_id: str
    message_type: str
    trigger: str
    structure: str
    version: str
    sending_application: str
    sending_facility: str
    message_time: str
    event_type: str
    event_time: str
    identifiers: list[Cx] = field(default_factory=list)
    nhs_number: str = ""
    nhs_number_qualified: bool = False
    verification_code: str = ""
    mrn: Cx | None = None
    names: list[Name] = field(default_factory=list)
    birth_date: str = ""
    sex: str = ""
    addresses: list[Addr] = field(default_factory=list)
    death_date: str = ""
    gp_practice_name: str = ""
    gp_practice_code: str = ""
    gp_code: str = ""
    next_of_kin: list[NextOfKin] = field(default_factory=list)
    visit: Visit | None = None
    merged_identifiers: list[Cx] = field(default_factory=list)


def _cx_list(msg: FastMessage, raw: str) -> list[Cx]:
    out: list[Cx] = []
    for rep in msg.repetitions(raw):
        comps = msg.components(rep)
        if not comps or not comps[0]:
            continue
        out.append(
            Cx(
                comps[0],
                comps[3] if len(comps) > 3 else "",
                comps[4] if len(comps) > 4 else "",
            )
        )
    return out


def _name(msg: FastMessage, rep: str) -> Name | None:
    comps = msg.components(rep)
    if not comps or not any(comps[:3]):
        return None
    family = comps[0]
    given = [g for g in (comps[1] if len(comps) > 1 else "", comps[2] if len(comps) > 2 else "") if g]
    return Name(
        family,
        given,
        comps[4] if len(comps) > 4 else "",
        comps[6] if len(comps) > 6 else "",
    )


def _addr(msg: FastMessage, rep: str) -> Addr | None:
    comps = msg.components(rep)
    if not comps or not any(comps[:5]):
        return None

    def c(i: int) -> str:
        return comps[i] if len(comps) > i else ""

    lines = [x for x in (c(0), c(1)) if x]
    return Addr(lines, c(2), c(3), c(4), c(6))


def extract_patient(msg: FastMessage) -> PatientFacts:
    """Extract header, PID, PD1, NK1, PV1 and MRG facts. Raises ``Hl7ParseError`` when PID is missing."""
    msh = msg.fields("MSH") or []
    facts = PatientFacts(
        control_id=msg.control_id,
        message_type=msg.message_type,
        trigger=msg.trigger,
        structure=msg.structure,
        version=msg.version,
        sending_application=msg.value("MSH", 3),
        sending_facility=msg.value("MSH", 4),
        message_time=msg.value("MSH", 7),
        event_type=msg.value("EVN", 1),
        event_time=msg.value("EVN", 2),
    )
    del msh
    pid = msg.fields("PID")
    if pid is None:
        raise Hl7ParseError("PID segment is required", code=101, segment="PID")
    get = pid.__getitem__
    n = len(pid)

    def f(i: int) -> str:
        return get(i) if i < n else ""

    facts.identifiers = ids = _cx_list(msg, f(3))
    best_rank = 0
    for cx in ids:
        auth, typ = cx.authority.upper(), cx.type_code.upper()
        if auth == "NHS" or typ == "NH":
            rank = 2 if (auth == "NHS" and typ == "NH") else 1
            if rank > best_rank:
                best_rank = rank
                facts.nhs_number = cx.value
                facts.nhs_number_qualified = rank == 2
        elif typ in MRN_TYPES and facts.mrn is None:
            facts.mrn = cx
    for rep in msg.repetitions(f(5)):
        name = _name(msg, rep)
        if name is not None:
            facts.names.append(name)
    facts.birth_date = msg.part(f(7), 1)
    facts.sex = msg.part(f(8), 1)
    for rep in msg.repetitions(f(11)):
        addr = _addr(msg, rep)
        if addr is not None:
            facts.addresses.append(addr)
    facts.death_date = msg.part(f(29), 1)
    facts.verification_code = msg.part(f(32), 1, first_rep=True)

    pd1 = msg.fields("PD1")
    if pd1 is not None:
        org = pd1[3] if len(pd1) > 3 else ""
        facts.gp_practice_name = msg.part(org, 1, first_rep=True)
        facts.gp_practice_code = msg.part(org, 3, first_rep=True) or msg.part(org, 10, first_rep=True)
        facts.gp_code = msg.part(pd1[4] if len(pd1) > 4 else "", 1, first_rep=True)

    for nk1 in msg.all_fields("NK1"):
        k = len(nk1)
        name_raw = nk1[2] if k > 2 else ""
        rel_raw = nk1[3] if k > 3 else ""
        addr_raw = nk1[4] if k > 4 else ""
        first_name = msg.repetitions(name_raw)
        first_addr = msg.repetitions(addr_raw)
        facts.next_of_kin.append(
            NextOfKin(
                set_id=nk1[1] if k > 1 else "",
                name=_name(msg, first_name[0]) if first_name else None,
                relationship=msg.part(rel_raw, 1),
                relationship_text=msg.part(rel_raw, 2),
                address=_addr(msg, first_addr[0]) if first_addr else None,
                phone=msg.part(nk1[5] if k > 5 else "", 1, first_rep=True),
                contact_role=msg.part(nk1[7] if k > 7 else "", 1),
            )
        )

    pv1 = msg.fields("PV1")
    if pv1 is not None:
        v = len(pv1)

        def g(i: int) -> str:
            return pv1[i] if i < v else ""

        loc = g(3)
        facts.visit = Visit(
            patient_class=msg.part(g(2), 1),
            point_of_care=msg.part(loc, 1),
            room=msg.part(loc, 2),
            bed=msg.part(loc, 3),
            facility=msg.part(loc, 4),
            visit_number=msg.part(g(19), 1),
            admit_time=msg.part(g(44), 1),
            discharge_time=msg.part(g(45), 1, first_rep=True),
            hospital_service=msg.part(g(10), 1),
        )

    mrg = msg.fields("MRG")
    if mrg is not None:
        facts.merged_identifiers = _cx_list(msg, mrg[1] if len(mrg) > 1 else "")
    return facts


def verification_status(code: str) -> str | None:
    """``NSTS01`` -> ``01``; None when absent or not an NSTS code."""
    return VERIFICATION_CODES.get(code.upper()) if code else None


def to_date(value: str, field_name: str) -> date | None:
    parsed = parse_ts(value, field=field_name)
    if isinstance(parsed, datetime):
        return parsed.date()
    return parsed


def precision_of(value: str) -> str:
    return ts_precision(value)
