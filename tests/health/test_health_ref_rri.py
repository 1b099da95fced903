"""REF^I12 out, RRI^I12 back, over real MLLP against the simulated trust peer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hl7apy.parser import parse_message

from mashlink.connectors.health.hl7_ack import parse_ack
from mashlink.mapping.paths.hl7_er7 import FastMessage, Hl7ParseError
from mashlink.connectors.health.hl7_peer import SyntheticTrustPeer
from mashlink.connectors.health.mllp import MllpClient, ThreadedMllpServer
from mashlink.connectors.health.referral import build_ref_i12, build_ref_i12_messages, parse_rri_i12
from mashlink.connectors.health.synthetic import patient_person, synthetic_patients
from mashlink.schemas.codes import (
    AgencyKind,
    FindingCategory,
    LawfulBasis,
    MatchMethod,
    Rag,
    ResponseStatus,
    Sensitivity,
)
from mashlink.schemas.enquiry import Enquiry

PATIENTS = synthetic_patients(6, seed=31)
KNOWN, DECLINED, PARTIAL, UNKNOWN = PATIENTS[0], PATIENTS[1], PATIENTS[2], PATIENTS[3]
FINDINGS = {
    KNOWN.nhs_number: [
        {"category": "health.ed_attendance", "record_id": "RXX01:V1001", "summary": "ED attendance: head injury & bruising",
         "date": "20240301"},
        {"category": "health.condition", "record_id": "RXX01:C77", "summary": "Referred to CAMHS",
         "date": "20231115", "sensitivity": "mental_health"},
    ]
}


def _enquiry(person, rag: Rag = Rag.RED) -> Enquiry:  # type: ignore[no-untyped-def]
    now = datetime.now(timezone.utc)
    return Enquiry(
        enquiry_id="ENQ-0001", referral_id="REF-0001", agency_id="synth-trust", agency_kind=AgencyKind.HEALTH,
        subjects=[person], questions=["Any ED attendances in the last 12 months?"], concerns=["neglect"],
        rag=rag, requested_at=now, due_at=now + timedelta(hours=4),
        lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47, LawfulBasis.UK_GDPR_9_2_G],
        consent_note="Not sought: would place the child at risk", requester="Synthshire MASH",
    )


@pytest.fixture(scope="module")
def peer():  # type: ignore[no-untyped-def]
    sim = SyntheticTrustPeer(PATIENTS, FINDINGS, declined={DECLINED.nhs_number: "Under court order; contact the named nurse"},
                             partial={PARTIAL.nhs_number})
    with ThreadedMllpServer(sim) as srv:
        yield srv


def _round_trip(srv, person):  # type: ignore[no-untyped-def]
    enquiry = _enquiry(person)
    (ref,) = build_ref_i12_messages(enquiry, receiving_facility="RXX01")
    with MllpClient("127.0.0.1", srv.port, timeout=10) as client:
        answer = client.send(ref)
    return enquiry, ref, parse_rri_i12(answer, agency_id="synth-trust", enquiry=enquiry)


def test_ref_i12_is_well_formed_for_hl7apy() -> None:
    person = patient_person(KNOWN, "child-1")
    ref = build_ref_i12(_enquiry(person), person)
    parsed = parse_message(ref, find_groups=False)
    names = [s.name for s in parsed.children]
    assert names[:4] == ["MSH", "RF1", "PRD", "PID"] and "NTE" in names
    msg = FastMessage.parse(ref)
    assert msg.value("RF1", 2) == "S"
    assert msg.value("RF1", 6) == "ENQ-0001"
    assert KNOWN.nhs_number in msg.raw("PID", 3)
    notes = [msg.part(f[3], 1) for f in msg.all_fields("NTE")]
    assert "Lawful basis: children_act_1989_s47, uk_gdpr_art9_2_g" in notes


def test_round_trip_information_found(peer) -> None:
    _enq, _ref, resp = _round_trip(peer, patient_person(KNOWN, "child-1"))
    assert resp.status is ResponseStatus.INFORMATION_FOUND
    assert (resp.enquiry_id, resp.referral_id) == ("ENQ-0001", "REF-0001")
    match = resp.matches[0]
    assert (match.subject_person_id, match.method, match.confidence, match.candidate) == (
        "child-1", MatchMethod.NHS_NUMBER, 1.0, False)
    assert [f.category for f in resp.findings] == [FindingCategory.HEALTH_ED_ATTENDANCE, FindingCategory.HEALTH_CONDITION]
    assert resp.findings[0].summary == "ED attendance: head injury & bruising"
    assert resp.findings[1].sensitivity is Sensitivity.MENTAL_HEALTH
    assert resp.findings[0].source.record_id == "RXX01:V1001"


def test_round_trip_not_known(peer) -> None:
    _e, _r, resp = _round_trip(peer, patient_person(UNKNOWN, "child-2").model_copy(
        update={"identifiers": [i.model_copy(update={"value": "9434765870"}) if i.system.value == "nhs_number" else i
                                for i in patient_person(UNKNOWN).identifiers]}))
    assert resp.status is ResponseStatus.NOT_KNOWN
    assert resp.findings == [] and resp.people == []


def test_round_trip_declined_and_partial(peer) -> None:
    _e, _r, resp = _round_trip(peer, patient_person(DECLINED, "child-3"))
    assert resp.status is ResponseStatus.DECLINED
    assert resp.declined_reason == "Under court order; contact the named nurse"
    _e, _r, resp = _round_trip(peer, patient_person(PARTIAL, "child-4"))
    assert resp.status is ResponseStatus.PARTIAL and resp.more_to_follow


def test_peer_naks_non_referral_messages(peer) -> None:
    with MllpClient("127.0.0.1", peer.port, timeout=10) as client:
        ack = parse_ack(client.send("MSH|^~\\&|A|B|C|D|20240101||ADT^A04|X1|P|2.5.1\rPID|1"))
    assert (ack.code, ack.error_code, ack.control_id) == ("AR", "200", "X1")


def test_rri_with_unknown_category_is_an_error_with_location(peer) -> None:
    enquiry = _enquiry(patient_person(KNOWN, "child-1"))
    (ref,) = build_ref_i12_messages(enquiry)
    with MllpClient("127.0.0.1", peer.port, timeout=10) as client:
        answer = client.send(ref)
    bad = answer.replace("health.condition^", "health.horoscope^")
    with pytest.raises(Hl7ParseError) as err:
        parse_rri_i12(bad, agency_id="synth-trust", enquiry=enquiry)
    assert err.value.location == "OBX-3" and err.value.code == 103
    with pytest.raises(Hl7ParseError):
        parse_rri_i12(answer, agency_id="synth-trust", enquiry=enquiry.model_copy(update={"enquiry_id": "OTHER"}))


def test_referral_connector_merges_subjects_and_is_deterministic(peer) -> None:
    from mashlink.connectors.health.hl7_connector import Hl7ReferralConnector

    enquiry = _enquiry(patient_person(KNOWN, "child-1"))
    enquiry = enquiry.model_copy(update={"subjects": [patient_person(KNOWN, "child-1"), patient_person(PARTIAL, "child-2")]})
    conn = Hl7ReferralConnector("synth-trust", "127.0.0.1", peer.port, timeout=10)
    (first,) = conn.handle(enquiry)
    (again,) = conn.handle(enquiry)
    assert first.response_id == again.response_id
    assert first.status is ResponseStatus.PARTIAL and first.more_to_follow
    assert sorted(m.subject_person_id for m in first.matches) == ["child-1", "child-2"]
    assert len({p.person_id for p in first.people}) == len(first.people) == 2
    assert len(first.findings) == 2


def test_a_trust_link_on_a_siblings_nhs_number_is_only_a_candidate(peer) -> None:  # type: ignore[no-untyped-def]
    """The trust's engine links on the NHS number; the connector re-checks the demographics.

    A referral keyed with a sibling's NHS number (different given name and date
    of birth) gets the sibling's record back: it is a candidate for a person,
    never a certain match whose findings reach the chronology.
    """
    known = patient_person(KNOWN, "child-1")
    assert known.birth_date is not None and known.birth_date.value is not None
    sibling_keyed = known.model_copy(update={
        "names": [n.model_copy(update={"given": ["Zebedee"]}) for n in known.names],
        "birth_date": known.birth_date.model_copy(update={"value": known.birth_date.value - timedelta(days=700)}),
    })
    _e, _r, resp = _round_trip(peer, sibling_keyed)
    [match] = resp.matches
    assert match.candidate and match.confidence < 0.95
