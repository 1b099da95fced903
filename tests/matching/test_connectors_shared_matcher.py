"""Every connector searches with the one shared matcher (issue 16).

Education and social care search a ``MatchIndex`` kept up to date as their
files load; health re-scores every Patient its trust's FHIR server returns
with the shared ``Scorer`` and ``decide``. What the issue saw fail, each
checked through a real connector: twins both auto-matched by social care, the
truncating ``LIMIT`` of the SQLite connectors, a sibling's NHS number releasing
the sibling's health record, unborn children never found through their
mother, and the education ingest rescanning a table for every pupil.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mashlink.connectors.education.connector import EducationConnector
from mashlink.connectors.education.index import PupilIndex
from mashlink.connectors.education.ingest import CtfIngest
from mashlink.connectors.health.fhir_client import FhirClient, FhirClientSettings, RetryPolicy
from mashlink.connectors.health.fhir_connector import FhirSearchConnector
from mashlink.connectors.health.fhir_simulator import FhirStore, ThreadedFhirSimulator, seed_patient
from mashlink.connectors.health.synthetic import patient_person, synthetic_patients
from mashlink.connectors.social_care.connector import SocialCareConnector
from mashlink.connectors.social_care.index import SocialCareIndex
from mashlink.connectors.social_care.synthetic import synthetic_nhs_number, synthetic_upn
from mashlink.mapping import load_spec
from mashlink.mapping.formats import mappings_dir
from mashlink.schemas.codes import AgencyKind, FindingCategory, LawfulBasis, Rag, RelationshipType, ResponseStatus
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse
from mashlink.schemas.finding import Finding, SourceRef
from mashlink.schemas.identifiers import Identifier, IdentifierSystem
from mashlink.schemas.person import Address, BirthDate, HumanName, Person
from mashlink.schemas.record import AgencyRecord
from mashlink.schemas.relationship import Relationship

LA = "999"
SC_AGENCY = "csc-999"
EDU_AGENCY = "edu-999"


# ----------------------------------------------------------------------------- builders

def person(pid: str, given: str | None, family: str, born: date | None = None, *, postcode: str | None = "ZY1 4AB",
           sex: str | None = None, identifiers: list[Identifier] | None = None, unborn_due: date | None = None,
           mother: str | None = None) -> Person:
    return Person(
        person_id=pid,
        names=[HumanName(given=[given] if given else [], family=family)],
        birth_date=BirthDate(value=born) if born else None,
        sex=sex,
        addresses=[Address(postcode=postcode)] if postcode else [],
        identifiers=identifiers or [],
        unborn=unborn_due is not None,
        expected_birth_date=unborn_due,
        mother_person_id=mother,
    )


def la_id(value: str) -> Identifier:
    return Identifier(system=IdentifierSystem.LA_CHILD_ID, value=value, scope=LA)


def source(kind: AgencyKind, record_id: str) -> SourceRef:
    return SourceRef(agency_kind=kind, system="CIN" if kind is AgencyKind.SOCIAL_CARE else "CTF",
                     record_id=record_id, organisation=LA)


def finding(kind: AgencyKind, record_id: str, subject: str, n: int = 1) -> Finding:
    category = FindingCategory.SOCIAL_CARE_REFERRAL if kind is AgencyKind.SOCIAL_CARE \
        else FindingCategory.EDUCATION_SEN_EHCP
    return Finding(finding_id=f"{record_id}-f{n}", subject_person_id=subject, category=category,
                   summary="synthetic finding", source=source(kind, record_id))


def sc_record(child_id: str, who: Person, *, related: list[Person] | None = None,
              relationships: list[Relationship] | None = None) -> AgencyRecord:
    who = who.model_copy(update={"identifiers": [*who.identifiers, la_id(child_id)]})
    return AgencyRecord(source=source(AgencyKind.SOCIAL_CARE, child_id), person=who, related_people=related or [],
                        relationships=relationships or [], findings=[finding(AgencyKind.SOCIAL_CARE, child_id,
                                                                             who.person_id)])


def enquiry(kind: AgencyKind, agency_id: str, *subjects: Person,
            relationships: list[Relationship] | None = None) -> Enquiry:
    now = datetime.now(timezone.utc)
    return Enquiry(enquiry_id="enq-shared-1", referral_id="ref-shared-1", agency_id=agency_id, agency_kind=kind,
                   subjects=list(subjects), relationships=relationships or [], rag=Rag.AMBER, requested_at=now,
                   due_at=now + timedelta(hours=6), lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47],
                   requester="MASH")


def confirmed(response: EnquiryResponse) -> set[tuple[str, str]]:
    """(subject, record person) of every automatic link."""
    return {(m.subject_person_id, m.record_person_id) for m in response.matches if not m.candidate}


def shown(response: EnquiryResponse, subject: str) -> dict[str, bool]:
    """Record person -> candidate? for one subject."""
    return {m.record_person_id: m.candidate for m in response.matches if m.subject_person_id == subject}


@pytest.fixture
def social_care(tmp_path: Path) -> SocialCareConnector:
    index = SocialCareIndex(tmp_path / "sc", la_code=LA)
    yield SocialCareConnector(SC_AGENCY, index, la_code=LA)
    index.close()


@pytest.fixture
def education(tmp_path: Path) -> EducationConnector:
    index = PupilIndex(tmp_path / "edu" / "index.sqlite3")
    yield EducationConnector(EDU_AGENCY, index, ingest_on_enquiry=False)
    index.close()


# ----------------------------------------------------------------------------- twins

def test_social_care_never_auto_matches_both_twins(social_care: SocialCareConnector) -> None:
    born = date(2016, 4, 9)
    elsie = person("sc-elsie", "Elsie", "Marsh", born, sex="female")
    libby = person("sc-libby", "Libby", "Marsh", born, sex="female")  # Libby is a nickname of Elizabeth / Elsie
    social_care.index.add_records([sc_record("LA100", elsie), sc_record("LA101", libby)], "cin", "twins.xml")

    # A referral for Elsie: her co-twin's registered name is a nickname of hers, so a person decides.
    (response,) = social_care.handle(enquiry(AgencyKind.SOCIAL_CARE, SC_AGENCY,
                                             person("s1", "Elsie", "Marsh", born, sex="female")))
    assert shown(response, "s1") == {"sc-elsie": True, "sc-libby": True}
    assert confirmed(response) == set() and response.findings == []

    # Both twins referred together: neither record is linked to both subjects, nor to the wrong twin.
    (both,) = social_care.handle(enquiry(AgencyKind.SOCIAL_CARE, SC_AGENCY,
                                         person("s1", "Elsie", "Marsh", born, sex="female"),
                                         person("s2", "Libby", "Marsh", born, sex="female")))
    links = confirmed(both)
    assert len({record for _s, record in links}) == len(links)
    assert not links & {("s1", "sc-libby"), ("s2", "sc-elsie")}
    assert {f.subject_person_id for f in both.findings} <= {record for _s, record in links}


def test_social_care_twins_with_distinct_names_each_match_their_own_record(social_care: SocialCareConnector) -> None:
    born = date(2014, 11, 2)
    oliver = person("sc-oliver", "Oliver", "Pryce", born, sex="male")
    harriet = person("sc-harriet", "Harriet", "Pryce", born, sex="female")
    social_care.index.add_records([sc_record("LA200", oliver), sc_record("LA201", harriet)], "cin", "twins.xml")
    (response,) = social_care.handle(enquiry(AgencyKind.SOCIAL_CARE, SC_AGENCY,
                                             person("s1", "Oliver", "Pryce", born, sex="male")))
    assert confirmed(response) == {("s1", "sc-oliver")}
    assert "sc-harriet" not in shown(response, "s1")  # a clearly different given name is no rival
    assert {f.subject_person_id for f in response.findings} == {"sc-oliver"}


# ----------------------------------------------------------------------------- no truncating LIMIT

def _common_surname_children(n: int, year: int) -> list[Person]:
    """``n`` children called Smith born in ``year``, with different given names and dates (none the target's)."""
    out = []
    for i in range(n):
        born = date(year, 1 + i % 12, 1 + (i * 7) % 27)
        if born == date(year, 8, 28):
            born = date(year, 8, 27)
        out.append(person(f"smith-{i:04d}", f"Kid{i:04d}", "Smith", born, postcode=f"ZY{1 + i % 9} {i % 10}AA"))
    return out


def test_social_care_finds_the_right_child_beyond_the_old_limit_of_200(social_care: SocialCareConnector) -> None:
    others = _common_surname_children(260, 2015)
    records = [sc_record(f"LA{i:04d}", p) for i, p in enumerate(others)]
    target = person("sc-zara", "Zara", "Smith", date(2015, 8, 28), postcode="ZY9 9ZZ")
    records.append(sc_record("LA9999", target))  # sorts last: the old ORDER BY key LIMIT 200 never reached it
    social_care.index.add_records(records, "cin", "big.xml")
    assert social_care.index.count() == 261

    (response,) = social_care.handle(enquiry(AgencyKind.SOCIAL_CARE, SC_AGENCY,
                                             person("s1", "Zara", "Smith", date(2015, 8, 28), postcode=None)))
    assert confirmed(response) == {("s1", "sc-zara")}
    # Day and month swapped on the referral (28/08 cannot swap; a date that can): still found.
    swapped_target = person("sc-yasmin", "Yasmin", "Smith", date(2015, 3, 11), postcode="ZY9 8ZZ")
    social_care.index.add_records([sc_record("LA9998", swapped_target)], "cin", "more.xml")
    (response,) = social_care.handle(enquiry(AgencyKind.SOCIAL_CARE, SC_AGENCY,
                                             person("s2", "Yasmin", "Smith", date(2015, 11, 3), postcode=None)))
    assert "sc-yasmin" in shown(response, "s2")


def test_education_finds_the_right_pupil_beyond_the_old_limit_of_500(education: EducationConnector) -> None:
    others = _common_surname_children(560, 2013)
    records = [AgencyRecord(source=source(AgencyKind.EDUCATION, f"P{i:05d}"), person=p,
                            findings=[finding(AgencyKind.EDUCATION, f"P{i:05d}", p.person_id)])
               for i, p in enumerate(others)]
    target = person("pupil-zara", "Zara", "Smith", date(2013, 8, 28), postcode="ZY9 9ZZ")
    records.append(AgencyRecord(source=source(AgencyKind.EDUCATION, "P99999"), person=target,
                                findings=[finding(AgencyKind.EDUCATION, "P99999", "pupil-zara")]))
    assert education.index.add_file("f" * 64, "big.xml", records, 0)
    (response,) = education.handle(enquiry(AgencyKind.EDUCATION, EDU_AGENCY,
                                           person("s1", "Zara", "Smith", date(2013, 8, 28), postcode=None)))
    assert confirmed(response) == {("s1", "pupil-zara")}
    assert {f.subject_person_id for f in response.findings} == {"pupil-zara"}


# ----------------------------------------------------------------------------- unborn through the mother

MOTHER_BORN = date(2009, 2, 14)
DUE = date.today() + timedelta(days=60)


def _referral_mother_and_unborn(family: str) -> tuple[Person, Person]:
    mother = person("ref-mother", "Keira", family, MOTHER_BORN, sex="female")
    unborn = person("ref-unborn", None, family, unborn_due=DUE + timedelta(days=5), mother="ref-mother")
    return mother, unborn


def test_social_care_finds_an_unborn_child_through_the_mother(social_care: SocialCareConnector) -> None:
    mother = person("sc-mother", "Keira", "Dunmore", MOTHER_BORN, sex="female")
    unborn = person("sc-unborn", None, "Dunmore", unborn_due=DUE, mother="sc-mother")
    record = sc_record("LA300", unborn, related=[mother], relationships=[
        Relationship(from_person_id="sc-mother", to_person_id="sc-unborn", type=RelationshipType.MOTHER)])
    social_care.index.add_records([record], "cin", "prebirth.xml")

    ref_mother, ref_unborn = _referral_mother_and_unborn("Dunmore")
    (response,) = social_care.handle(enquiry(AgencyKind.SOCIAL_CARE, SC_AGENCY, ref_mother, ref_unborn))
    assert "sc-unborn" in shown(response, "ref-unborn")
    assert ("ref-unborn", "sc-unborn") in confirmed(response)
    assert {f.subject_person_id for f in response.findings} == {"sc-unborn"}

    # Without the mother in the enquiry there is nothing to match an unborn child on.
    (alone,) = social_care.handle(enquiry(AgencyKind.SOCIAL_CARE, SC_AGENCY,
                                          ref_unborn.model_copy(update={"mother_person_id": None})))
    assert alone.status is ResponseStatus.NOT_KNOWN


def test_education_finds_an_unborn_child_through_the_mothers_pupil_record(education: EducationConnector) -> None:
    # A pregnant pupil: her record holds her unborn child as a related person.
    pupil = person("pupil-keira", "Keira", "Ashworth", MOTHER_BORN, sex="female")
    baby = person("pupil-keira-unborn", None, "Ashworth", unborn_due=DUE, mother="pupil-keira")
    record = AgencyRecord(
        source=source(AgencyKind.EDUCATION, "K999"), person=pupil, related_people=[baby],
        relationships=[Relationship(from_person_id="pupil-keira", to_person_id="pupil-keira-unborn",
                                    type=RelationshipType.MOTHER)],
        findings=[finding(AgencyKind.EDUCATION, "K999", "pupil-keira")])
    assert education.index.add_file("e" * 64, "pupil.xml", [record], 0)

    ref_mother, ref_unborn = _referral_mother_and_unborn("Ashworth")
    (response,) = education.handle(enquiry(AgencyKind.EDUCATION, EDU_AGENCY, ref_mother, ref_unborn))
    assert ("ref-mother", "pupil-keira") in confirmed(response)
    assert "pupil-keira-unborn" in shown(response, "ref-unborn")
    assert ("ref-unborn", "pupil-keira-unborn") in confirmed(response)
    # The unborn child's link releases nothing about anyone else; the mother's own link releases her findings.
    assert {f.subject_person_id for f in response.findings} == {"pupil-keira"}


def test_police_store_finds_an_unborn_child_through_the_mothers_record() -> None:
    """POLE: the mother is a person record of her own; the unborn child's record names her as its mother."""
    from mashlink.connectors.police.store import PoleStore

    mother = person("pol-mother", "Keira", "Fenwick", MOTHER_BORN, sex="female")
    unborn = person("pol-unborn", None, "Fenwick", unborn_due=DUE, mother="pol-mother")
    police = source(AgencyKind.POLICE, "POLE-1")
    strangers = [AgencyRecord(source=police.model_copy(update={"record_id": f"POLE-S{n}"}),
                              person=person(f"pol-s{n}", "Keira", "Fenwick" if n % 2 else "Ashdown",
                                            MOTHER_BORN + timedelta(days=400 + n), sex="female"))
                 for n in range(5)]
    store = PoleStore([
        AgencyRecord(source=police, person=mother),
        AgencyRecord(source=police.model_copy(update={"record_id": "POLE-2"}), person=unborn, related_people=[mother]),
        *strangers,
    ])
    ref_mother, ref_unborn = _referral_mother_and_unborn("Fenwick")
    found = store.search(ref_unborn, subject_mother=ref_mother)
    assert [m.person.person_id for m in found][:1] == ["pol-unborn"]
    assert not found[0].candidate  # mother confirmed and the expected dates within the window
    # without the mother there is nothing to match an unborn child on
    assert store.search(ref_unborn) == []


# ----------------------------------------------------------------------------- health: a sibling's NHS number

PATIENTS = synthetic_patients(6, seed=1616)


@pytest.fixture(scope="module")
def trust():  # type: ignore[no-untyped-def]
    from dataclasses import replace

    child = replace(PATIENTS[0], family="Holloway", given="Kyle", birth_date=date(2015, 3, 11))
    sibling = replace(PATIENTS[1], family="Holloway", given="Mia", birth_date=date(2018, 9, 23),
                      postcode=child.postcode)
    lone = replace(PATIENTS[2], family="Fairbrother", given="Ruby", birth_date=date(2012, 5, 6))
    store = FhirStore()
    seed_patient(store, child, ed=2)
    seed_patient(store, sibling, flags=True, cp=True)
    seed_patient(store, lone, flags=True)
    with ThreadedFhirSimulator(store) as server:
        yield server, child, sibling, lone


@pytest.fixture
def health(trust):  # type: ignore[no-untyped-def]
    server = trust[0]
    settings = FhirClientSettings(base_url=server.base_url, page_size=20, timeout=5,
                                  retry=RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.02))
    with FhirClient(settings, sleep=lambda s: None) as client:
        yield FhirSearchConnector("synth-trust", client)


def _with_nhs(subject: Person, nhs_number: str) -> Person:
    others = [i for i in subject.identifiers if i.system is not IdentifierSystem.NHS_NUMBER]
    return subject.model_copy(update={"identifiers": [*others, Identifier(system=IdentifierSystem.NHS_NUMBER,
                                                                         value=nhs_number)]})


def test_health_a_siblings_nhs_number_does_not_release_the_siblings_record(trust, health) -> None:  # type: ignore[no-untyped-def]
    _server, child, sibling, _lone = trust
    sibling_record = f"Patient/pat-{sibling.nhs_number}"
    referral = _with_nhs(patient_person(child, "child-1"), sibling.nhs_number)
    (response,) = health.handle(enquiry(AgencyKind.HEALTH, "synth-trust", referral))
    assert shown(response, "child-1").get(sibling_record) in (True, None)  # the number's holder: never linked
    assert not any(f.subject_person_id == sibling_record for f in response.findings)
    # The right child is found by demographics and the number explained: the child's record is released.
    assert confirmed(response) == {("child-1", f"Patient/pat-{child.nhs_number}")}
    assert any(f.subject_person_id == f"Patient/pat-{child.nhs_number}" for f in response.findings)


def test_health_an_nhs_number_whose_demographics_disagree_is_a_candidate_at_most(trust, health) -> None:  # type: ignore[no-untyped-def]
    _server, _child, _sibling, lone = trust
    # A child the trust has never met, referred with another child's (valid) NHS number.
    stranger = person("child-2", "Tyler", "Quennell", date(2016, 1, 30), sex="male")
    (response,) = health.handle(enquiry(AgencyKind.HEALTH, "synth-trust", _with_nhs(stranger, lone.nhs_number)))
    assert confirmed(response) == set()
    assert response.findings == [] and response.relationships == []
    assert all(m.candidate for m in response.matches)


def test_health_finds_a_surname_typo_with_day_and_month_swapped(trust, health) -> None:  # type: ignore[no-untyped-def]
    _server, child, _sibling, _lone = trust
    referral = patient_person(child, "child-3").model_copy(update={"identifiers": []})
    referral = referral.model_copy(update={
        "names": [referral.names[0].model_copy(update={"family": "Hollowey"})],
        "birth_date": BirthDate(value=date(2015, 11, 3))})  # 11 March keyed as 3 November
    (response,) = health.handle(enquiry(AgencyKind.HEALTH, "synth-trust", referral))
    assert f"Patient/pat-{child.nhs_number}" in shown(response, "child-3")


# ----------------------------------------------------------------------------- linear education ingest

def _ctf(n: int, offset: int) -> str:
    pupils = []
    for i in range(n):
        k = offset + i
        pupils.append(
            f"<Pupil><UPN>{synthetic_upn(LA, k)}</UPN><Surname>Family{k % 97:02d}</Surname>"
            f"<Forename>Pupil{k:06d}</Forename><DOB>{2010 + k % 8}-{1 + k % 12:02d}-{1 + k % 28:02d}</DOB>"
            f"<Sex>{'M' if k % 2 else 'F'}</Sex><Address><PostCode>ZY{1 + k % 9} {k % 10}AB</PostCode></Address>"
            "</Pupil>")
    return ('<?xml version="1.0"?><CTfile><Header><SupplierID>SynthMIS</SupplierID></Header><CTFpupilData>'
            + "".join(pupils) + "</CTFpupilData></CTfile>")


def _ingest_work(tmp_path: Path, name: str, n: int) -> int:
    """SQLite virtual-machine steps (in thousands) to ingest one CTF file of ``n`` pupils into an empty index."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    def on_connect(db: sqlite3.Connection) -> None:
        db.set_progress_handler(count, 1000)

    index = PupilIndex(tmp_path / name / "index.sqlite3", on_connect=on_connect)
    # The match index keeps one connection of its own; its work counts too.
    index.matcher._db.set_progress_handler(count, 1000)  # noqa: SLF001 (counting work, not timing it)
    drop = CtfIngest(tmp_path / name / "drop")
    (drop.incoming / "pupils.xml").write_text(_ctf(n, 0), encoding="utf-8")
    report = drop.ingest(index, load_spec(mappings_dir() / "ctf.yaml"))
    assert report.accepted == n and index.count() == n and len(index.matcher) == n
    index.close()
    return steps[0]


def test_education_ingest_work_grows_linearly_with_the_file(tmp_path: Path) -> None:
    small = _ingest_work(tmp_path, "small", 300)
    large = _ingest_work(tmp_path, "large", 1200)
    # Four times the pupils: about four times the work (B-tree depth adds a little). The old per-pupil
    # rescan of the surname table made it about sixteen times.
    assert small > 0
    assert large / small < 6.0, (small, large)


def test_a_second_file_updates_the_match_index_incrementally(education: EducationConnector) -> None:
    first = person("pupil-a", "Aisha", "Brennan", date(2012, 6, 1))
    assert education.index.add_file("a" * 64, "one.xml", [AgencyRecord(source=source(AgencyKind.EDUCATION, "A1"),
                                                                        person=first)], 0)
    moved = first.model_copy(update={"names": [HumanName(given=["Aisha"], family="Brennan-Holt")]})
    assert education.index.add_file("b" * 64, "two.xml", [AgencyRecord(source=source(AgencyKind.EDUCATION, "A1"),
                                                                        person=moved)], 0)
    assert len(education.index.matcher) == 1
    (response,) = education.handle(enquiry(AgencyKind.EDUCATION, EDU_AGENCY,
                                           person("s1", "Aisha", "Brennan-Holt", date(2012, 6, 1))))
    assert confirmed(response) == {("s1", "pupil-a")}


# ----------------------------------------------------------------------------- the hub's re-check

def _linked_view(subjects: list[Person], response: EnquiryResponse, ask: Enquiry):  # type: ignore[no-untyped-def]
    from mashlink.hub.linked_view import build_linked_view
    from mashlink.schemas.codes import ConcernCategory, ConsentStatus, ReferralSource
    from mashlink.schemas.referral import Consent, RagChange, Referral

    now = datetime.now(timezone.utc)
    referral = Referral(referral_id=ask.referral_id, received_at=now, local_authority=LA,
                        source=ReferralSource.SCHOOLS, referrer="School DSL", concerns=[ConcernCategory.NEGLECT],
                        subjects=subjects, rag_history=[RagChange(rag=Rag.AMBER, at=now, by="screener")],
                        lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47], consent=Consent(status=ConsentStatus.GIVEN))
    return build_linked_view(referral, [ask], [response], now=now)


def test_the_hub_recheck_accepts_the_shared_matchers_links(social_care: SocialCareConnector) -> None:
    born = date(2014, 11, 2)
    social_care.index.add_records([sc_record("LA200", person("sc-oliver", "Oliver", "Pryce", born, sex="male"))],
                                  "cin", "one.xml")
    mother = person("sc-mother", "Keira", "Dunmore", MOTHER_BORN, sex="female")
    unborn = person("sc-unborn", None, "Dunmore", unborn_due=DUE, mother="sc-mother")
    social_care.index.add_records([sc_record("LA300", unborn, related=[mother], relationships=[
        Relationship(from_person_id="sc-mother", to_person_id="sc-unborn", type=RelationshipType.MOTHER)])],
        "cin", "prebirth.xml")
    ref_mother, ref_unborn = _referral_mother_and_unborn("Dunmore")
    child = person("s1", "Oliver", "Pryce", born, sex="male")
    ask = enquiry(AgencyKind.SOCIAL_CARE, SC_AGENCY, child, ref_mother, ref_unborn)
    (response,) = social_care.handle(ask)
    view = _linked_view([child, ref_mother, ref_unborn], response, ask)
    oliver = view.person("s1")
    assert oliver is not None and [m.record_person_id for m in oliver.matches] == ["sc-oliver"]
    # The unborn child's record reaches the hub with its mother, so the hub's own check can see the pregnancy.
    linked = view.person("ref-unborn")
    assert linked is not None
    assert "sc-unborn" in [m.record_person_id for m in [*linked.matches, *linked.candidates]]


def test_simulated_agencies_keep_a_twin_name_form_as_a_rival() -> None:
    """Twins registered as Amelia and Millie: a referral for "Amelia" is not linked automatically (the referrer
    may have written the formal name of Millie), though Millie alone would be shown to nobody."""
    from mashlink.connectors.simulators.matching import match_subject

    born = date(2017, 5, 6)
    amelia = person("sim-amelia", "Amelia", "Corran", born, sex="female")
    millie = person("sim-millie", "Millie", "Corran", born, sex="female")
    referral = person("s1", "Amelia", "Corran", born, sex="female")
    both = match_subject(referral, [("A", amelia), ("M", millie)])
    assert [m.record for m in both] == ["A", "M"] and all(m.candidate for m in both)
    assert match_subject(referral, [("M", millie)]) == []
    (alone,) = match_subject(referral, [("A", amelia)])
    assert alone.record == "A" and not alone.candidate


# ----------------------------------------------------------------------------- the referral's other people

def test_social_care_twins_referred_together_each_link_to_their_own_record(social_care: SocialCareConnector) -> None:
    """Elsie and Libby on one referral: each listed twin explains the other's record, so both are linked."""
    born = date(2016, 4, 9)
    elsie = person("sc-elsie", "Elsie", "Marsh", born, sex="female")
    libby = person("sc-libby", "Libby", "Marsh", born, sex="female")
    social_care.index.add_records([sc_record("LA100", elsie), sc_record("LA101", libby)], "cin", "twins.xml")
    (both,) = social_care.handle(enquiry(AgencyKind.SOCIAL_CARE, SC_AGENCY,
                                         person("s1", "Elsie", "Marsh", born, sex="female"),
                                         person("s2", "Libby", "Marsh", born, sex="female")))
    assert confirmed(both) == {("s1", "sc-elsie"), ("s2", "sc-libby")}
    assert shown(both, "s1") == {"sc-elsie": False} and shown(both, "s2") == {"sc-libby": False}


def test_social_care_a_never_met_twin_is_not_offered_the_listed_co_twins_record(
        social_care: SocialCareConnector) -> None:
    """Only Amelia is known; the referral names her twin Millie and lists Amelia: Amelia is not offered for Millie."""
    born = date(2016, 4, 9)
    social_care.index.add_records([sc_record("LA100", person("sc-amelia", "Amelia", "Marsh", born, sex="female"))],
                                  "cin", "twin.xml")
    millie = person("s2", "Millie", "Marsh", born, sex="female")
    (alone,) = social_care.handle(enquiry(AgencyKind.SOCIAL_CARE, SC_AGENCY, millie))
    assert shown(alone, "s2") == {"sc-amelia": True}  # without the household: a nickname, so a candidate
    (listed,) = social_care.handle(enquiry(AgencyKind.SOCIAL_CARE, SC_AGENCY, millie,
                                           person("s1", "Amelia", "Marsh", born, sex="female")))
    assert shown(listed, "s2") == {}
    assert confirmed(listed) == {("s1", "sc-amelia")}


def test_health_a_patient_two_referral_people_fit_is_for_a_person(trust, health) -> None:  # type: ignore[no-untyped-def]
    """Two people on one referral both fit the trust's Kyle Holloway: neither is linked, both are shown."""
    _server, child, _sibling, _lone = trust
    kyle = f"Patient/pat-{child.nhs_number}"
    one = patient_person(child, "child-a").model_copy(update={"identifiers": []})
    (alone,) = health.handle(enquiry(AgencyKind.HEALTH, "synth-trust", one))
    assert confirmed(alone) == {("child-a", kyle)}
    (both,) = health.handle(enquiry(AgencyKind.HEALTH, "synth-trust", one, one.model_copy(update={"person_id": "child-b"})))
    assert confirmed(both) == set() and both.findings == []
    assert shown(both, "child-a") == {kyle: True} and shown(both, "child-b") == {kyle: True}
