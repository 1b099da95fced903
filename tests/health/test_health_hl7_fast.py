"""The one HL7 v2 parser and the live record (YAML spec): same values as hl7apy, escapes, separators."""

from __future__ import annotations

from datetime import date

import pytest
from hl7apy.parser import parse_message

from mashlink.connectors.health.hl7_extract import extract_event
from mashlink.mapping.paths.hl7_er7 import (
    Encoding,
    FastMessage,
    Hl7ParseError,
    decode_escapes,
    escape_text,
    parse_ts,
)
from mashlink.connectors.health.hl7_mapping import to_agency_record
from mashlink.connectors.health.synthetic import adt_message, corrupt_nhs_number, synthetic_patients
from mashlink.schemas.codes import FindingCategory, RelationshipType, Sex
from mashlink.schemas.identifiers import IdentifierSystem, VerificationStatus

PATIENTS = synthetic_patients(12, seed=3)
_SIMPLE_ESCAPES = {"\\F\\": "|", "\\S\\": "^", "\\T\\": "&", "\\R\\": "~", "\\E\\": "\\"}


def _messages() -> list[str]:
    triggers = ["A01", "A03", "A04", "A08", "A28", "A31", "A40"]
    out = []
    for i, p in enumerate(PATIENTS):
        trig = triggers[i % len(triggers)]
        out.append(adt_message(p, trig, control_id=f"EQ{i:05d}", emergency=i % 2 == 0,
                               merged_from=f"RXX77{i:05d}^^^RXX01^MR"))
    # one with escape sequences in name and address, as PAS systems send O'Brien-Smith & co
    p = PATIENTS[0]
    p2 = type(p)(**{**p.__dict__, "family": "Smith^Jones", "line1": "Flat 1 & 2 | Rear", "line2": "Back~Lane"})
    out.append(adt_message(p2, "A04", control_id="ESC00001"))
    return out


def _independent_unescape(text: str) -> str:
    for k, v in _SIMPLE_ESCAPES.items():
        text = text.replace(k, v)
    return text


def _apy(segments: dict, name: str, field: int, rep: int = 0, comp: int | None = None, occurrence: int = 0) -> str:
    """A value read through hl7apy's object model (its own splitting), unescaped independently."""
    segs = segments.get(name, [])
    if len(segs) <= occurrence:
        return ""
    values = getattr(segs[occurrence], f"{name.lower()}_{field}")
    if len(values) <= rep:
        return ""
    fld = values[rep]
    if comp is None:
        text = fld.to_er7().split("^")[0]
    else:
        text = getattr(fld, f"{fld.datatype.lower()}_{comp}").to_er7()
    return _independent_unescape(text.split("&")[0])


@pytest.mark.parametrize("text", _messages(), ids=lambda t: t.split("|")[9])
def test_live_record_and_event_facts_equal_hl7apy(text: str) -> None:
    """What the live path sends (the YAML spec over the one parser) holds the values hl7apy reads."""
    apy = parse_message(text, find_groups=False)
    segs: dict[str, list] = {}
    for seg in apy.children:
        segs.setdefault(seg.name, []).append(seg)
    facts = extract_event(FastMessage.parse(text))
    record = to_agency_record(text)

    assert facts.control_id == _apy(segs, "MSH", 10)
    assert facts.message_type == _apy(segs, "MSH", 9, comp=1)
    assert facts.trigger == _apy(segs, "MSH", 9, comp=2)
    ids = [(c.value, c.authority, c.type_code) for c in facts.identifiers]
    apy_ids = [(_apy(segs, "PID", 3, r, 1), _apy(segs, "PID", 3, r, 4), _apy(segs, "PID", 3, r, 5))
               for r in range(len(segs["PID"][0].pid_3))]
    assert ids == apy_ids
    person = record.person
    nhs = [v for v, a, t in apy_ids if a == "NHS" and t == "NH"]
    assert person.identifier(IdentifierSystem.NHS_NUMBER).value == nhs[0]  # type: ignore[union-attr]
    mrn = [(v, a) for v, a, t in apy_ids if t == "MR"]
    got = person.identifier(IdentifierSystem.HOSPITAL_MRN)
    assert got is not None and (got.value, got.scope) == mrn[0]
    assert person.names[0].family == _apy(segs, "PID", 5, comp=1)
    assert person.names[0].given[0] == _apy(segs, "PID", 5, comp=2)
    assert person.birth_date is not None and f"{person.birth_date.value:%Y%m%d}" == _apy(segs, "PID", 7)
    assert person.sex is (Sex.FEMALE if _apy(segs, "PID", 8) == "F" else Sex.MALE)
    addr = person.addresses[0]
    assert addr.lines[0] == _apy(segs, "PID", 11, comp=1)
    assert (addr.lines[1] if len(addr.lines) > 1 else "") == _apy(segs, "PID", 11, comp=2)
    assert addr.town == _apy(segs, "PID", 11, comp=3)
    assert addr.postcode == _apy(segs, "PID", 11, comp=5)
    assert person.identifier(IdentifierSystem.NHS_NUMBER).verification.value == _apy(segs, "PID", 32)[-2:]  # type: ignore[union-attr]
    if "NK1" in segs:
        [nk] = record.related_people
        assert nk.names[0].family == _apy(segs, "NK1", 2, comp=1)
        assert record.relationships[0].type is RelationshipType.MOTHER and _apy(segs, "NK1", 3, comp=1) == "MTH"
        assert nk.addresses[0].postcode == _apy(segs, "NK1", 4, comp=5)
    else:
        assert record.related_people == []
    if "PV1" in segs:
        assert facts.visit is not None
        assert facts.visit.patient_class == _apy(segs, "PV1", 2)
        assert facts.visit.point_of_care == _apy(segs, "PV1", 3, comp=1)
        assert facts.visit.facility == _apy(segs, "PV1", 3, comp=4)
        assert facts.visit.visit_number == _apy(segs, "PV1", 19, comp=1)
        assert facts.visit.admit_time == _apy(segs, "PV1", 44)
        [finding] = record.findings
        assert finding.finding_id == "visit-" + _apy(segs, "PV1", 19, comp=1)
        assert finding.attributes["facility"] == _apy(segs, "PV1", 3, comp=4)
    if "MRG" in segs:
        assert [c.value for c in facts.merged_identifiers] == [_apy(segs, "MRG", 1, comp=1)]


def test_escape_sequences_decoded_including_hex_and_custom_escape_char() -> None:
    assert decode_escapes(r"A\F\B\S\C\T\D\R\E\E\F") == "A|B^C&D~E\\F"
    assert decode_escapes(r"caf\XC3A9\ \H\bold\N\ line\.br\two") == "café bold line\ntwo"
    assert decode_escapes(r"keep \Z\ and \unterminated") == r"keep \Z\ and \unterminated"
    enc = Encoding("|", "^", "~", "#", "&")
    assert decode_escapes("A#F#B#E#", enc) == "A|B#"
    assert decode_escapes(escape_text("x|y^z&w~v\\u")) == "x|y^z&w~v\\u"


def test_escaped_values_reach_the_canonical_record() -> None:
    text = _messages()[-1]
    record = to_agency_record(text)
    assert record.person.names[0].family == "Smith^Jones"
    assert record.person.addresses[0].lines == ["Flat 1 & 2 | Rear", "Back~Lane"]


@pytest.mark.parametrize("separator", ["\r", "\n", "\r\n"])
def test_cr_lf_and_crlf_segment_separators(separator: str) -> None:
    text = adt_message(PATIENTS[1], "A04", control_id="SEP00001", separator=separator)
    msg = FastMessage.parse(text)
    assert [s[:3] for s in msg.segments] == ["MSH", "EVN", "PID", "PD1", "NK1", "PV1"]
    record = to_agency_record(msg)
    assert record.person.identifier(IdentifierSystem.NHS_NUMBER).value == PATIENTS[1].nhs_number  # type: ignore[union-attr]
    assert len(record.findings) == 1


def test_canonical_record_from_adt() -> None:
    p = PATIENTS[2]
    record = to_agency_record(adt_message(p, "A04", control_id="REC00001", emergency=True))
    person = record.person
    nhs = person.identifier(IdentifierSystem.NHS_NUMBER)
    assert nhs is not None and nhs.value == p.nhs_number and nhs.trusted
    assert nhs.verification is VerificationStatus.VERIFIED
    mrn = person.identifier(IdentifierSystem.HOSPITAL_MRN)
    assert mrn is not None and (mrn.value, mrn.scope) == (p.mrn, "RXX01")
    assert person.birth_date is not None and person.birth_date.value == p.birth_date
    assert person.sex is (Sex.FEMALE if p.sex == "F" else Sex.MALE)
    assert record.relationships[0].type is RelationshipType.MOTHER
    assert record.relationships[0].to_person_id == "patient"
    assert record.findings[0].category is FindingCategory.HEALTH_ED_ATTENDANCE
    assert record.issues == []


def test_nhs_number_failing_modulus_11_is_kept_but_not_trusted() -> None:
    p = PATIENTS[3]
    record = to_agency_record(adt_message(p, "A08", nhs_number=corrupt_nhs_number(p.nhs_number)))
    nhs = record.person.identifier(IdentifierSystem.NHS_NUMBER)
    assert nhs is not None and nhs.check == "failed" and not nhs.trusted
    assert any(i.rule == "nhs_number.modulus11" for i in record.issues)


def test_bad_dob_and_unknown_codes_become_issues_not_silence() -> None:
    text = adt_message(PATIENTS[4], "A08").replace(f"|{PATIENTS[4].birth_date:%Y%m%d}|", "|2015133|")
    text = text.replace("|NSTS01", "|NSTS99").replace("MTH^Mother", "ZZZ^Mystery")
    record = to_agency_record(text)
    rules = {(i.field, i.rule) for i in record.issues}
    assert {("person.birth_date.value", "transform"), ("person.identifiers[].verification", "code table nhs-verification"),
            ("relationships[].type", "code table hl7-relationship")} <= rules
    assert record.person.birth_date is None
    assert [r.type for r in record.relationships] == [RelationshipType.OTHER]  # kept, as other


def test_unreadable_headers_raise_with_location() -> None:
    with pytest.raises(Hl7ParseError) as err:
        FastMessage.parse("PID|1||x")
    assert err.value.code == 100 and err.value.reject
    with pytest.raises(Hl7ParseError) as err:
        FastMessage.parse("MSH|^~\\&&|A")
    assert err.value.location == "MSH-2"
    with pytest.raises(Hl7ParseError):
        extract_event(FastMessage.parse("MSH|^~\\&|A|B|C|D|2024||ADT^A04|1|P|2.4\rEVN|A04"))


def test_timestamps() -> None:
    assert parse_ts("20150412") == date(2015, 4, 12)
    ts = parse_ts("202403011015+0100")
    assert ts is not None and ts.utcoffset().total_seconds() == 3600  # type: ignore[union-attr]
    with pytest.raises(Hl7ParseError):
        parse_ts("20151301")


def test_path_message_for_mapping_engine_matches() -> None:
    pytest.importorskip("mashlink.mapping.paths.hl7")
    from mashlink.mapping.paths.hl7 import compile_hl7_path

    p = PATIENTS[5]
    msg = FastMessage.parse(adt_message(p, "A04"))
    pm = msg.to_path_message(("MSH", "PID", "PV1"))
    assert compile_hl7_path("PID-3[CX.4=NHS].1").first(pm) == p.nhs_number
    assert compile_hl7_path("PID-5.1").first(pm) == p.family
    assert compile_hl7_path("MSH-10").first(pm) == "MSG00001"
