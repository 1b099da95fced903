"""Police connector: search with match confidence and candidates; DND never leaves (checked on the bytes)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from mashlink.matching.policy import MatchPolicy
from mashlink.broker.client import Broker
from mashlink.broker.codec import EnvelopeCodec
from mashlink.broker.messages import Delivery, HandlerResult
from mashlink.broker.topology import Topology
from mashlink.connectors.police.connector import PoliceConnector, PoliceOptions
from mashlink.connectors.police.store import PoleStore
from mashlink.connectors.runtime import ConnectorRunner, RunnerSettings
from mashlink.connectors.simulators.population import Population, Scenario
from mashlink.schemas.codes import AgencyKind, Rag
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse
from mashlink.schemas.envelope import Envelope, MessageType
from mashlink.schemas.identifiers import IdentifierSystem
from mashlink.schemas.person import Address, BirthDate, HumanName, Person

AGENCY = "police-synth"
KEYS = {"hub": b"hub-test-key-0a1b2c3d4eabcdef", AGENCY: b"police-synth-test-key-01234x56789"}


def enquiry(*subjects: Person, rag: Rag = Rag.AMBER) -> Enquiry:
    now = datetime.now(UTC)
    return Enquiry(enquiry_id=uuid.uuid4().hex, referral_id=uuid.uuid4().hex, agency_id=AGENCY,
                   agency_kind=AgencyKind.POLICE, subjects=list(subjects), rag=rag, requested_at=now,
                   due_at=now + timedelta(hours=4), lawful_basis=["children_act_1989_s47"], requester="MASH")


def test_search_by_name_dob_address_and_by_police_id(force_files: dict[str, list[Path]],
                                                      population: Population) -> None:
    store = PoleStore.load(force_files["json"])
    connector = PoliceConnector(AGENCY, store)
    family = population.by_scenario(Scenario.RED_DOMESTIC_ABUSE)
    mother = population.as_person(f"{family.family_id}-M", person_id="s1")
    partner = population.as_person(f"{family.family_id}-P", person_id="s2",
                                   identifiers=(IdentifierSystem.POLICE_PERSON_ID,), with_address=False)
    [response] = connector.handle(enquiry(mother, partner))
    assert response.status.value == "information_found" and response.sequence == 1
    by_subject = {m.subject_person_id: m for m in response.matches}
    assert by_subject["s1"].method.value == "demographic" and by_subject["s1"].confidence >= 0.9
    assert by_subject["s2"].method.value == "police_id" and not by_subject["s2"].candidate
    partner_record = population.person(f"{family.family_id}-P").police_id
    assert by_subject["s2"].record_person_id == partner_record
    cats = {f.category.value for f in response.findings if f.subject_person_id == partner_record}
    assert {"police.arrest_charge", "police.domestic_abuse_incident", "police.warning_marker"} <= cats
    record = next(p for p in response.people if p.person_id == partner_record)
    assert record.identifier(IdentifierSystem.POLICE_PERSON_ID).scope == "ZZ"  # type: ignore[union-attr]
    assert record.identifier(IdentifierSystem.PNC_ID) is not None


def _one_digit_wrong(value: date) -> date:
    """The same date with one digit of the day mistyped (a typo, not a different person).

    The synthetic population is generated relative to today, so the mother's
    day of birth varies from run to run; a fixed shift of days can cross a
    month or change two digits, which is a *different* date of birth.
    """
    for delta in (1, -1, 10, -10):
        try:
            typo = value.replace(day=value.day + delta)
        except ValueError:
            continue
        if sum(a != b for a, b in zip(f"{value:%Y%m%d}", f"{typo:%Y%m%d}")) == 1:
            return typo
    raise AssertionError(f"no one-digit typo of {value}")


def test_uncertain_match_is_a_candidate_without_findings(force_files: dict[str, list[Path]],
                                                         population: Population) -> None:
    store = PoleStore.load(force_files["csv"])
    connector = PoliceConnector(AGENCY, store)
    family = population.by_scenario(Scenario.RED_DOMESTIC_ABUSE)
    true = population.as_person(f"{family.family_id}-M", person_id="s1")
    assert true.birth_date is not None
    shifted = true.model_copy(update={"addresses": [], "birth_date": BirthDate(
        value=_one_digit_wrong(true.birth_date.value))})
    [response] = connector.handle(enquiry(shifted))
    [match] = response.matches
    # A one-digit date-of-birth slip with no address: shown to a person (at or above the review
    # threshold of the shared matcher's default policy), never a clear match.
    review, auto = MatchPolicy.default().review, MatchPolicy.default().auto_match
    assert match.candidate and review <= match.confidence < auto
    assert response.findings == [] and "need confirmation" in (response.note or "")
    [person] = response.people
    assert person.identifiers == [] and all(a.lines == [] for a in person.addresses)
    stranger = Person(person_id="s9", names=[HumanName(given=["Nobody"], family="Unknownperson")],
                      birth_date=BirthDate(value=datetime(2001, 1, 1).date()))
    [none] = connector.handle(enquiry(stranger))
    assert none.status.value == "not_known" and none.matches == [] and none.findings == []


def _dnd_export(example_doc: dict, tmp_path: Path) -> Path:
    """The example plus a second person who appears ONLY in the DND intelligence event."""
    doc = json.loads(json.dumps(example_doc))
    doc["persons"].append({"person_id": "ZZP0000777", "names": [{"given": ["Hiddenperson"], "family": "Covertly"}],
                           "birth_date": "1979-09-09", "sex": "M"})
    doc["links"].append({"link_id": "LK-777", "type": "present", "from_kind": "person", "from_id": "ZZP0000777",
                         "to_kind": "event", "to_id": "EV-5"})
    doc["persons"][1]["warning_markers"].append({"marker_id": "WM-DND", "code": "SECRETMK",
                                                 "description": "Restricted marker text", "from_date": "2024-02-29",
                                                 "handling_code": "DND"})
    path = tmp_path / "dnd.json"
    path.write_text(json.dumps(doc))
    return path


def test_dnd_material_never_appears_in_published_bytes(example_doc: dict, tmp_path: Path, unique_name: str) -> None:
    store = PoleStore.load([_dnd_export(example_doc, tmp_path)])
    carl = store.record("ZZP0000102")
    assert sum(f.do_not_disseminate for f in carl.findings) == 2  # the example's intel + the DND marker
    connector = PoliceConnector(AGENCY, store, PoliceOptions(contact="Police MASH team, ext 0000 (synthetic)"))
    subject = Person(person_id="s1", names=[HumanName(given=["Carl"], family="Samplesworth")],
                     birth_date=BirthDate(value=datetime(1986, 11, 2).date()),
                     addresses=[Address(lines=["12 Sample Row"], postcode="ZY1 2AB")])
    enq = enquiry(subject, rag=Rag.RED)

    topology = Topology(f"pol{unique_name}")
    hub = Broker("memory://", EnvelopeCodec(KEYS), topology)
    hub.declare([AGENCY])
    raw: list[bytes] = []
    envelopes: list[Envelope] = []
    codec = EnvelopeCodec(KEYS)

    def collect(deliveries: list[Delivery]) -> list[HandlerResult]:
        for d in deliveries:
            envelopes.append(d.envelope)
            raw.append(codec.encode(d.envelope))  # the bytes as signed and published (signature verified on decode)
        return [HandlerResult.ack() for _ in deliveries]

    consumer = hub.consumer([topology.responses_queue], collect, name="test-hub")
    runner = ConnectorRunner(connector, lambda: Broker("memory://", EnvelopeCodec(KEYS, signer=AGENCY), topology),
                             RunnerSettings(red_workers=1, standard_workers=1))
    with runner:
        hub.publish([topology.enquiry(Envelope(
            message_id=uuid.uuid4().hex, correlation_id=enq.referral_id, enquiry_id=enq.enquiry_id,
            message_type=MessageType.ENQUIRY, sender="hub", recipient=AGENCY, sent_at=datetime.now(UTC),
            due_at=enq.due_at, rag=enq.rag, body=enq.model_dump(mode="json")))])
        for _ in range(100):
            consumer.run_once(0.3)
            if envelopes:
                break
    hub.close()
    assert len(raw) == 1
    body = raw[0].decode("utf-8")
    response = EnquiryResponse.model_validate(envelopes[0].body)
    assert not response.matches[0].candidate
    held = [f for f in response.findings if f.category.value == "police.information_held"]
    assert len(held) == 1
    assert held[0].contact == "Police MASH team, ext 0000 (synthetic)"
    assert held[0].attributes["reference"] == "ZZP0000102" and held[0].start is None
    assert any(f.category.value == "police.domestic_abuse_incident" for f in response.findings)
    for secret in ("must never leave", "INT-RESTRICTED", "2025-03-17", "ZZ-2025-000999", "EV-5", "untested",
                   "SECRETMK", "Restricted marker", "2024-02-29", "WM-DND", "ZZP0000777", "Hiddenperson", "Covertly",
                   "LK-777", "DND"):
        assert secret not in body, secret
