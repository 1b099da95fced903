"""Extracted HL7 v2 patient facts -> canonical ``AgencyRecord``.

Explicit code tables turn native codes into canonical ones (PID-8 sex, NK1-3
relationship, PV1-2 patient class); a code no table knows is kept as a
``RecordIssue`` instead of being guessed. Data problems that do not make the
message unusable (an NHS number failing modulus 11, a malformed date of
birth) are recorded as issues on the record and the value is either kept
untrusted (identifiers) or left empty (dates): nothing silently disappears.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime

from .hl7_extract import (
    Addr,
    Name,
    PatientFacts,
    precision_of,
    to_date,
    verification_status,
)
from .hl7_fast import FastMessage, Hl7ParseError, parse_ts
from .hl7_extract import extract_patient
from ...schemas.codes import AgencyKind, FindingCategory, RelationshipType, Sex
from ...schemas.finding import Finding, SourceRef
from ...schemas.identifiers import Identifier, IdentifierSystem
from ...schemas.person import Address, AddressType, BirthDate, HumanName, NameUse, Person
from ...schemas.record import AgencyRecord, RecordIssue
from ...schemas.relationship import Relationship

#: HL7 table 0001 (administrative sex) -> canonical sex.
SEX_CODES: dict[str, Sex] = {
    "M": Sex.MALE, "F": Sex.FEMALE, "O": Sex.OTHER, "U": Sex.UNKNOWN,
    "A": Sex.OTHER, "N": Sex.NOT_RECORDED,
}

#: HL7 table 0063 (relationship) -> canonical relationship of the NK1 person *to* the patient.
RELATIONSHIP_CODES: dict[str, RelationshipType] = {
    "MTH": RelationshipType.MOTHER, "FTH": RelationshipType.FATHER, "PAR": RelationshipType.PARENT,
    "STP": RelationshipType.STEP_PARENT, "GRD": RelationshipType.GUARDIAN, "CGV": RelationshipType.CARER,
    "FCH": RelationshipType.CARER, "SIB": RelationshipType.SIBLING, "BRO": RelationshipType.SIBLING,
    "SIS": RelationshipType.SIBLING, "GRP": RelationshipType.GRANDPARENT, "EXF": RelationshipType.OTHER_RELATIVE,
    "OAD": RelationshipType.OTHER_RELATIVE, "DOM": RelationshipType.PARTNER_OF_PARENT,
    "EMC": RelationshipType.EMERGENCY_CONTACT, "HOU": RelationshipType.HOUSEHOLD_MEMBER,
    "OTH": RelationshipType.OTHER, "UNK": RelationshipType.OTHER, "FND": RelationshipType.OTHER,
}

#: HL7 table 0190 (address type) -> canonical address type.
ADDRESS_TYPES: dict[str, AddressType] = {
    "H": AddressType.HOME, "HP": AddressType.HOME, "C": AddressType.TEMPORARY, "TMP": AddressType.TEMPORARY,
    "P": AddressType.OTHER, "M": AddressType.OTHER, "B": AddressType.OTHER, "O": AddressType.OTHER,
    "BA": AddressType.PREVIOUS, "PREV": AddressType.PREVIOUS,
}

#: HL7 table 0200 (name type) -> canonical name use.
NAME_TYPES: dict[str, NameUse] = {
    "L": NameUse.OFFICIAL, "D": NameUse.PREFERRED, "N": NameUse.PREFERRED, "A": NameUse.ALIAS,
    "M": NameUse.MAIDEN, "B": NameUse.PREVIOUS, "U": NameUse.OTHER,
}

#: Patient classes (PV1-2) and locations that mean unscheduled / emergency care.
EMERGENCY_CLASSES = frozenset({"E"})
DEFAULT_ED_LOCATIONS = frozenset({"ED", "AE", "A&E", "EMERGENCY", "UTC", "UCC", "MIU", "WIC"})


@dataclass(frozen=True)
class Hl7RecordOptions:
    """Per-deployment settings for HL7 v2 translation (from the agency's connector options)."""

    agency_id: str | None = None
    system: str = "HL7 v2 ADT"
    ed_locations: frozenset[str] = field(default_factory=lambda: DEFAULT_ED_LOCATIONS)


def is_emergency_visit(facts: PatientFacts, options: Hl7RecordOptions | None = None) -> bool:
    """PV1-2 patient class E, or an assigned location (PV1-3.1) configured as ED/urgent care."""
    visit = facts.visit
    if visit is None:
        return False
    locations = (options or Hl7RecordOptions()).ed_locations
    return visit.patient_class.upper() in EMERGENCY_CLASSES or visit.point_of_care.upper() in locations


def _human_name(name: Name) -> HumanName:
    return HumanName(
        use=NAME_TYPES.get(name.type_code.upper(), NameUse.OFFICIAL),
        family=name.family or None,
        given=name.given,
        prefix=name.prefix or None,
    )


def _address(addr: Addr, issues: list[RecordIssue], where: str) -> Address | None:
    if not addr.lines and not addr.postcode:
        issues.append(RecordIssue(field=where, rule="address.incomplete", detail="address has no lines or postcode"))
        return None
    atype = ADDRESS_TYPES.get(addr.type_code.upper(), AddressType.HOME) if addr.type_code else AddressType.HOME
    town = addr.town or None
    return Address(lines=addr.lines, town=town, postcode=addr.postcode or None, type=atype)


def _identifiers(facts: PatientFacts, issues: list[RecordIssue]) -> list[Identifier]:
    ids: list[Identifier] = []
    if facts.nhs_number:
        status = verification_status(facts.verification_code)
        if facts.verification_code and status is None:
            issues.append(
                RecordIssue(field="PID-32", rule="code_table.nsts", detail="verification status is not NSTS01-NSTS08")
            )
        nhs = Identifier(system=IdentifierSystem.NHS_NUMBER, value=facts.nhs_number, verification=status)
        if not nhs.trusted:
            issues.append(
                RecordIssue(field="PID-3[CX.4=NHS]", rule="nhs_number.modulus11",
                            detail="NHS number fails the modulus 11 check: kept, not trusted")
            )
        if not facts.nhs_number_qualified:
            issues.append(
                RecordIssue(field="PID-3[CX.4=NHS]", rule="nhs_number.qualifiers",
                            detail="NHS number repetition should carry CX.4 NHS and CX.5 NH")
            )
        ids.append(nhs)
    elif facts.verification_code:
        issues.append(RecordIssue(field="PID-32", rule="nhs_number.missing", detail="verification status without an NHS number"))
    if facts.mrn is not None:
        ids.append(
            Identifier(
                system=IdentifierSystem.HOSPITAL_MRN,
                value=facts.mrn.value,
                scope=facts.mrn.authority or facts.sending_facility or "UNKNOWN",
            )
        )
    return ids


def _birth(facts: PatientFacts, issues: list[RecordIssue]) -> BirthDate | None:
    if not facts.birth_date:
        return None
    try:
        value = to_date(facts.birth_date, "PID-7")
    except Hl7ParseError as exc:
        issues.append(RecordIssue(field="PID-7", rule="date.format", detail=str(exc)))
        return None
    if value is None:
        return None
    if value > date.today():
        issues.append(RecordIssue(field="PID-7", rule="date.future", detail="date of birth is in the future"))
        return None
    return BirthDate(value=value, precision=precision_of(facts.birth_date))  # type: ignore[arg-type]


def _when(value: str, field_name: str, issues: list[RecordIssue]) -> date | datetime | None:
    try:
        return parse_ts(value, field=field_name)
    except Hl7ParseError as exc:
        issues.append(RecordIssue(field=field_name, rule="date.format", detail=str(exc)))
        return None


def visit_finding_id(facts: PatientFacts) -> str:
    """The id of the visit finding: ``<facility>:<id>``, never empty.

    PV1-19 (visit number) when sent; it is optional in v2.4 and many ED systems
    leave it empty, so then MSH-10 (message control id); and when even that is
    missing (a file export), a stable hash of the event: sending application
    and facility, trigger, patient identifiers, EVN-2 / MSH-7 / PV1-44 times
    and location. The same message read twice gives the same id.
    """
    visit = facts.visit
    facility = (visit.facility if visit else "") or facts.sending_facility or "visit"
    if visit is not None and visit.visit_number:
        return f"{facility}:{visit.visit_number}"
    if facts.control_id:
        return f"{facility}:{facts.control_id}"
    parts = [
        facts.sending_application, facts.sending_facility, facts.trigger,
        *sorted(f"{cx.value}^{cx.authority}^{cx.type_code}" for cx in facts.identifiers),
        facts.event_time, facts.message_time,
        visit.admit_time if visit else "", visit.point_of_care if visit else "", visit.patient_class if visit else "",
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:20]
    return f"{facility}:evt-{digest}"


def facts_to_record(facts: PatientFacts, options: Hl7RecordOptions | None = None) -> AgencyRecord:
    """Build the canonical record of the patient, their next of kin and this visit."""
    opts = options or Hl7RecordOptions()
    issues: list[RecordIssue] = []
    source = SourceRef(
        agency_kind=AgencyKind.HEALTH,
        agency_id=opts.agency_id,
        system=facts.sending_application or opts.system,
        record_id=(facts.mrn.value if facts.mrn else facts.nhs_number) or facts.control_id or "unknown",
        organisation=facts.sending_facility or None,
    )
    sex = None
    if facts.sex:
        sex = SEX_CODES.get(facts.sex.upper())
        if sex is None:
            issues.append(RecordIssue(field="PID-8", rule="code_table.sex", detail="sex code not in HL7 table 0001"))
    addresses = [a for a in (_address(x, issues, "PID-11") for x in facts.addresses) if a is not None]
    death = None
    if facts.death_date:
        d = _when(facts.death_date, "PID-29", issues)
        death = d.date() if isinstance(d, datetime) else d
    person = Person(
        person_id="patient",
        names=[_human_name(n) for n in facts.names],
        birth_date=_birth(facts, issues),
        sex=sex,
        identifiers=_identifiers(facts, issues),
        addresses=addresses,
        death_date=death,
    )
    related: list[Person] = []
    relationships: list[Relationship] = []
    for index, nk in enumerate(facts.next_of_kin, start=1):
        if nk.name is None:
            issues.append(RecordIssue(field=f"NK1({index})-2", rule="name.missing", detail="next of kin without a name"))
            continue
        pid = f"nk1-{index}"
        nk_addr = _address(nk.address, issues, f"NK1({index})-4") if nk.address else None
        related.append(Person(person_id=pid, names=[_human_name(nk.name)], addresses=[nk_addr] if nk_addr else []))
        rel = RELATIONSHIP_CODES.get(nk.relationship.upper())
        if rel is None:
            issues.append(
                RecordIssue(field=f"NK1({index})-3", rule="code_table.relationship",
                            detail="relationship code not in HL7 table 0063; recorded as other")
            )
            rel = RelationshipType.OTHER
        same = None
        if nk.address and facts.addresses and nk.address.postcode and facts.addresses[0].postcode:
            same = (
                nk.address.postcode.replace(" ", "").upper() == facts.addresses[0].postcode.replace(" ", "").upper()
                and nk.address.lines[:1] == facts.addresses[0].lines[:1]
            )
        relationships.append(Relationship(from_person_id=pid, to_person_id="patient", type=rel, same_household=same))
    findings: list[Finding] = []
    visit = facts.visit
    # An A01 / A04 with a PV1 *is* an attendance or admission: no visit number (PV1-19) and no admit
    # time (PV1-44) is common in ED feeds and must not lose it (``visit_finding_id`` derives the id).
    # A03 / A08 describe an existing visit and still need PV1-19 or PV1-44 to say which.
    if visit is not None and (
        facts.trigger in ("A01", "A04")
        or (facts.trigger in ("A03", "A08") and (visit.visit_number or visit.admit_time))
    ):
        emergency = is_emergency_visit(facts, opts)
        category = FindingCategory.HEALTH_ED_ATTENDANCE if emergency else (
            FindingCategory.HEALTH_ADMISSION if visit.patient_class.upper() == "I" or facts.trigger == "A01" else None
        )
        if category is not None:
            start = _when(visit.admit_time, "PV1-44", issues) if visit.admit_time else None
            end = _when(visit.discharge_time, "PV1-45", issues) if visit.discharge_time else None
            findings.append(
                Finding(
                    finding_id=visit_finding_id(facts),
                    subject_person_id="patient",
                    category=category,
                    start=start,
                    end=end,
                    summary=("Emergency department attendance" if emergency else "Hospital admission"),
                    codes=[c for c in (facts.trigger, visit.patient_class, visit.point_of_care) if c],
                    attributes={
                        "patient_class": visit.patient_class or None,
                        "location": visit.point_of_care or None,
                        "facility": visit.facility or None,
                        "hospital_service": visit.hospital_service or None,
                    },
                    source=source,
                )
            )
    return AgencyRecord(
        source=source, person=person, related_people=related, relationships=relationships,
        findings=findings, issues=issues,
    )


def to_agency_record(message: FastMessage | str | bytes, options: Hl7RecordOptions | None = None) -> AgencyRecord:
    """The inbound path in one call: parse (if needed), extract, build the canonical record."""
    msg = message if isinstance(message, FastMessage) else FastMessage.parse(message)
    return facts_to_record(extract_patient(msg), options)
