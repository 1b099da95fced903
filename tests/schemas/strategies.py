"""Hypothesis strategies for the canonical safeguarding schema, for any test to reuse.

Everything generated is synthetic and *valid*: NHS numbers come from the 999
test range and pass modulus 11, UPNs carry a correct check letter, postcodes
match the UK pattern, datetimes are timezone-aware and birth dates are not in
the future. Cross-field rules (unborn children, person references, agency
kinds, due after requested) are honoured by construction, so a failure in a
property test points at the code under test, not at the generator.

Usage::

    from hypothesis import given
    from tests.schemas.strategies import referrals, enquiry_responses, MODEL_STRATEGIES

    @given(referrals())
    def test_something(referral): ...

``MODEL_STRATEGIES`` maps every name in
``mashlink.schemas.registry.TOP_LEVEL_MODELS`` to a strategy for that model.
"""

from __future__ import annotations

import string
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from mashlink.schemas.audit import AuditEvent
from mashlink.schemas.codes import (
    FINDING_CATEGORIES_BY_AGENCY,
    AgencyKind,
    Classification,
    ConcernCategory,
    ConsentStatus,
    HandlingCode,
    LawfulBasis,
    MatchMethod,
    OutcomeType,
    Purpose,
    Rag,
    ReferralSource,
    Reliability,
    RelationshipType,
    ResponseStatus,
    Sensitivity,
    Sex,
)
from mashlink.schemas.decision import Decision, Outcome
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse, SubjectMatch
from mashlink.schemas.envelope import Envelope, MessageType
from mashlink.schemas.receipt import DeliveryReceipt, ReceiptStatus
from mashlink.schemas.events import Alert, AlertKind, Escalation, EscalationLevel
from mashlink.schemas.finding import Finding, SourceRef
from mashlink.schemas.identifiers import (
    UPN_ALPHABET,
    UPN_UNKNOWN_CODES,
    Identifier,
    IdentifierSystem,
    VerificationStatus,
    nhs_check_digit,
    upn_check_letter,
)
from mashlink.schemas.person import (
    Address,
    AddressType,
    BirthDate,
    ContactPoint,
    Ethnicity,
    HumanName,
    Language,
    NameUse,
    Period,
    Person,
)
from mashlink.schemas.record import AgencyRecord, RecordIssue
from mashlink.schemas.referral import CONSENT_DECISION_STATUSES, Consent, RagChange, Referral
from mashlink.schemas.relationship import Relationship

# --------------------------------------------------------------------------- scalars

#: Letters, digits, punctuation and inner spaces: survives whitespace stripping unchanged.
_TEXT_ALPHABET = st.characters(categories=("L", "N", "P"), codec="utf-8") | st.just(" ")


def texts(min_size: int = 1, max_size: int = 40) -> st.SearchStrategy[str]:
    """Free text with no leading/trailing whitespace (models strip strings)."""
    return (
        st.text(_TEXT_ALPHABET, min_size=min_size, max_size=max_size)
        .map(str.strip)
        .filter(lambda s: len(s) >= min_size)
    )


def ids(prefix: str = "") -> st.SearchStrategy[str]:
    """Short opaque ids such as person_id, referral_id or message ids."""
    return st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=20).map(
        lambda s: f"{prefix}{s}"
    )


def nine_digit_prefixes_with_check_digit() -> st.SearchStrategy[str]:
    """First nine digits in the 999 test range that have a modulus 11 check digit."""
    return (
        st.integers(min_value=0, max_value=999_999)
        .map(lambda n: f"999{n:06d}")
        .filter(lambda nine: nhs_check_digit(nine) is not None)
    )


def nhs_numbers() -> st.SearchStrategy[str]:
    """Valid synthetic NHS numbers (999 range, modulus 11), never the 9999999999 placeholder."""
    return (
        nine_digit_prefixes_with_check_digit()
        .map(lambda nine: nine + str(nhs_check_digit(nine)))
        .filter(lambda number: number != "9999999999")
    )


def invalid_nhs_numbers() -> st.SearchStrategy[str]:
    """999-range NHS numbers with a wrong check digit (for kept-but-failed identifiers)."""
    return st.tuples(nine_digit_prefixes_with_check_digit(), st.integers(1, 9)).map(
        lambda t: t[0] + str((nhs_check_digit(t[0]) + t[1]) % 10)  # type: ignore[operator]
    )


def upns(temporary: bool | None = None) -> st.SearchStrategy[str]:
    """Valid UPNs: check letter + LA (3) + establishment (4) + year (2) + serial (3 digits, or 2 + a letter).

    ``temporary=True`` gives temporary UPNs (last character a letter), False
    permanent ones, None either.
    """
    last_digit = st.sampled_from(string.digits)
    last_letter = st.sampled_from(UPN_ALPHABET)
    last = last_letter if temporary else last_digit if temporary is False else last_digit | last_letter
    body = st.tuples(st.text(string.digits, min_size=11, max_size=11), last).map("".join)
    return body.map(lambda b: upn_check_letter(b) + b)


def postcodes() -> st.SearchStrategy[str]:
    """Valid, normalised UK postcodes (e.g. "LS1 1AA", "SW1A 2AA")."""
    area = st.sampled_from(["LS", "M", "B", "SW", "N", "EC", "W", "BD", "HX", "YO", "CR", "E"])
    outward = st.one_of(
        st.tuples(area, st.integers(1, 99).map(str)).map("".join),
        st.tuples(st.sampled_from(["SW", "EC", "W", "N"]), st.integers(1, 9).map(str), st.sampled_from("AEHMNPRTVXY")).map("".join),
    )
    inward = st.tuples(
        st.integers(0, 9).map(str), st.sampled_from("ABDEFGHJLNPQRSTUWXYZ"), st.sampled_from("ABDEFGHJLNPQRSTUWXYZ")
    ).map("".join)
    return st.tuples(outward, inward).map(" ".join)


def raw_postcodes() -> st.SearchStrategy[str]:
    """Postcodes as people type them: any case, any spacing (normalise to :func:`postcodes`)."""
    return postcodes().flatmap(
        lambda pc: st.sampled_from([pc, pc.lower(), pc.replace(" ", ""), pc.replace(" ", "  "), pc.lower().replace(" ", "")])
    )


_TIMEZONES = st.sampled_from(
    [timezone.utc, ZoneInfo("Europe/London"), timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
)


def aware_datetimes(
    min_value: datetime = datetime(2000, 1, 1), max_value: datetime = datetime(2035, 12, 31)
) -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes (UTC, Europe/London and fixed offsets), never imaginary."""
    return st.datetimes(min_value=min_value, max_value=max_value, timezones=_TIMEZONES, allow_imaginary=False)


def past_dates(min_value: date = date(1900, 1, 1)) -> st.SearchStrategy[date]:
    """Dates up to today (dates of birth, periods)."""
    return st.dates(min_value=min_value, max_value=date.today())


def hex_hashes() -> st.SearchStrategy[str]:
    return st.binary(min_size=32, max_size=32).map(bytes.hex)


def _json_scalars() -> st.SearchStrategy[object]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**53), max_value=2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        texts(min_size=0),
    )


def json_objects() -> st.SearchStrategy[dict[str, object]]:
    """Small JSON objects (envelope bodies, free-form details)."""
    values = st.recursive(
        _json_scalars(),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(ids(), children, max_size=3),
        max_leaves=8,
    )
    return st.dictionaries(ids(), values, max_size=4)


# --------------------------------------------------------------------------- identifiers


def identifiers(include_failed: bool = True) -> st.SearchStrategy[Identifier]:
    """Identifiers of every system; ``include_failed`` adds kept-but-failed NHS numbers."""
    scope = st.sampled_from(["E08000035", "383", "RR8", "WYP", "13"])
    options = [
        st.builds(
            Identifier,
            system=st.just(IdentifierSystem.NHS_NUMBER),
            value=nhs_numbers(),
            verification=st.none() | st.sampled_from(VerificationStatus),
        ),
        st.builds(Identifier, system=st.just(IdentifierSystem.UPN), value=upns()),
        st.builds(Identifier, system=st.just(IdentifierSystem.UPN), value=st.sampled_from(sorted(UPN_UNKNOWN_CODES))),
        st.builds(
            Identifier,
            system=st.sampled_from(
                [IdentifierSystem.LA_CHILD_ID, IdentifierSystem.POLICE_PERSON_ID, IdentifierSystem.HOSPITAL_MRN]
            ),
            value=ids(),
            scope=scope,
        ),
        st.builds(Identifier, system=st.just(IdentifierSystem.SCHOOL_URN), value=st.from_regex(r"\A\d{6}\Z")),
        st.builds(Identifier, system=st.just(IdentifierSystem.PNC_ID), value=st.from_regex(r"\A\d{2}/\d{1,7}[A-Z]\Z")),
        st.builds(Identifier, system=st.just(IdentifierSystem.OTHER), value=ids(), scope=st.none() | scope),
    ]
    if include_failed:
        options.append(st.builds(Identifier, system=st.just(IdentifierSystem.NHS_NUMBER), value=invalid_nhs_numbers()))
    return st.one_of(options)


# --------------------------------------------------------------------------- people


def human_names() -> st.SearchStrategy[HumanName]:
    return st.builds(
        HumanName,
        use=st.sampled_from(NameUse),
        given=st.lists(texts(max_size=20), min_size=1, max_size=3),
        family=st.none() | texts(max_size=30),
        prefix=st.none() | st.sampled_from(["Mr", "Ms", "Mrs", "Dr"]),
    )


def birth_dates() -> st.SearchStrategy[BirthDate]:
    return st.builds(
        BirthDate, value=past_dates(), precision=st.sampled_from(["day", "month", "year"]), estimated=st.booleans()
    )


@st.composite
def periods(draw: st.DrawFn) -> Period:
    start = draw(st.none() | past_dates(date(1990, 1, 1)))
    end = draw(st.none() | (st.dates(min_value=start, max_value=date(2035, 12, 31)) if start else past_dates()))
    return Period(start=start, end=end)


def addresses() -> st.SearchStrategy[Address]:
    return st.builds(
        Address,
        lines=st.lists(texts(max_size=40), min_size=1, max_size=3),
        town=st.none() | texts(max_size=30),
        postcode=st.none() | raw_postcodes() | texts(max_size=8),
        uprn=st.none() | st.from_regex(r"\A\d{1,12}\Z"),
        type=st.sampled_from(AddressType),
        period=st.none() | periods(),
    )


def contact_points() -> st.SearchStrategy[ContactPoint]:
    return st.builds(
        ContactPoint,
        system=st.sampled_from(["phone", "email", "other"]),
        value=texts(max_size=30),
        use=st.none() | st.sampled_from(["home", "mobile", "work", "other"]),
    )


@st.composite
def persons(draw: st.DrawFn, person_id: str | None = None, unborn: bool | None = None, mother_person_id: str | None = None) -> Person:
    """A valid person; ``unborn=True`` gives an unborn child with an expected date (and optional mother)."""
    is_unborn = draw(st.booleans()) if unborn is None else unborn
    common = dict(
        person_id=person_id or draw(ids("P")),
        names=draw(st.lists(human_names(), max_size=2)),
        sex=draw(st.none() | st.sampled_from(Sex)),
        ethnicity=draw(
            st.none()
            | st.builds(Ethnicity, code_set=st.sampled_from(["dfe", "nhs"]), code=st.from_regex(r"\A[A-Z]{1,4}\Z"))
        ),
        language=draw(
            st.none()
            | st.builds(Language, code=st.sampled_from(["en", "pl", "ur", "ro"]), interpreter_needed=st.none() | st.booleans())
        ),
        identifiers=draw(st.lists(identifiers(), max_size=3)),
        addresses=draw(st.lists(addresses(), max_size=2)),
        contacts=draw(st.lists(contact_points(), max_size=2)),
    )
    if is_unborn:
        return Person(
            unborn=True,
            expected_birth_date=draw(st.dates(min_value=date.today() - timedelta(days=60), max_value=date.today() + timedelta(days=280))),
            mother_person_id=mother_person_id,
            **common,
        )
    return Person(birth_date=draw(st.none() | birth_dates()), **common)


@st.composite
def relationships(draw: st.DrawFn, person_ids: list[str]) -> Relationship:
    """A relationship between two different people from ``person_ids`` (needs at least two)."""
    from_id, to_id = draw(st.permutations(person_ids))[:2]
    return Relationship(
        from_person_id=from_id,
        to_person_id=to_id,
        type=draw(st.sampled_from(RelationshipType)),
        parental_responsibility=draw(st.none() | st.booleans()),
        same_household=draw(st.none() | st.booleans()),
        period=draw(st.none() | periods()),
        source_record_id=draw(st.none() | ids("R")),
    )


def _unique_ids(prefix: str, min_size: int, max_size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(ids(prefix), min_size=min_size, max_size=max_size, unique=True)


# --------------------------------------------------------------------------- findings and records


def source_refs(agency_kind: AgencyKind | None = None) -> st.SearchStrategy[SourceRef]:
    kind = st.just(agency_kind) if agency_kind else st.sampled_from(AgencyKind)
    return st.builds(
        SourceRef,
        agency_kind=kind,
        agency_id=st.none() | ids("A"),
        system=st.sampled_from(["Mosaic", "Niche RMS", "SystmOne", "SIMS", "Liquidlogic LCS"]),
        record_id=ids("REC"),
        organisation=st.none() | st.sampled_from(["RR8", "383", "WYP", "107000"]),
    )


def _date_or_datetime() -> st.SearchStrategy[date | datetime]:
    return past_dates(date(2000, 1, 1)) | aware_datetimes(max_value=datetime(2024, 12, 31))


@st.composite
def findings(draw: st.DrawFn, agency_kind: AgencyKind | None = None, subject_ids: list[str] | None = None) -> Finding:
    """A finding whose category and handling code fit its source agency kind."""
    kind = agency_kind or draw(st.sampled_from(AgencyKind))
    start = draw(st.none() | _date_or_datetime())
    end = None
    if start is not None and draw(st.booleans()):
        start_day = start.date() if isinstance(start, datetime) else start
        end = draw(st.dates(min_value=start_day, max_value=date(2035, 12, 31)))
    attribute_values = st.one_of(
        st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False), texts(max_size=20)
    )
    return Finding(
        finding_id=draw(ids("F")),
        subject_person_id=draw(st.sampled_from(subject_ids)) if subject_ids else draw(ids("P")),
        category=draw(st.sampled_from(sorted(FINDING_CATEGORIES_BY_AGENCY[kind]))),
        start=start,
        end=end,
        summary=draw(texts(min_size=0, max_size=80)),
        codes=draw(st.lists(st.sampled_from(["3A", "10A", "11A", "24A", "N1", "NEG"]), max_size=3)),
        attributes=draw(st.dictionaries(ids(), attribute_values, max_size=3)),
        source=draw(source_refs(kind)),
        sensitivity=draw(st.sampled_from(Sensitivity)),
        handling_code=draw(st.none() | st.sampled_from(HandlingCode)) if kind is AgencyKind.POLICE else None,
        reliability=draw(st.sampled_from(Reliability)),
        contact=draw(st.none() | texts(max_size=30)),
    )


@st.composite
def agency_records(draw: st.DrawFn) -> AgencyRecord:
    source = draw(source_refs())
    person_ids = draw(_unique_ids("P", 1, 3))
    people = [draw(persons(person_id=pid, unborn=False)) for pid in person_ids]
    return AgencyRecord(
        source=source,
        person=people[0],
        related_people=people[1:],
        relationships=draw(st.lists(relationships(person_ids), max_size=2)) if len(person_ids) > 1 else [],
        findings=draw(st.lists(findings(source.agency_kind, person_ids), max_size=3)),
        issues=draw(
            st.lists(st.builds(RecordIssue, field=ids(), rule=ids(), detail=texts(min_size=0, max_size=40)), max_size=2)
        ),
    )


# --------------------------------------------------------------------------- referrals and enquiries


@st.composite
def consents(draw: st.DrawFn) -> Consent:
    status = draw(st.sampled_from(ConsentStatus))
    decided = status in CONSENT_DECISION_STATUSES  # who, when, why and who authorised are then required

    def maybe(strategy: st.SearchStrategy) -> object:
        return draw(strategy) if decided else draw(st.none() | strategy)

    return Consent(
        status=status,
        reason=maybe(texts(max_size=80)),
        recorded_by=draw(st.none() | texts(max_size=30)),
        decided_by=maybe(texts(max_size=30)),
        decided_at=maybe(aware_datetimes()),
        authorised_by=maybe(texts(max_size=30)),
    )


def rag_changes() -> st.SearchStrategy[RagChange]:
    return st.builds(
        RagChange, rag=st.sampled_from(Rag), at=aware_datetimes(), by=texts(max_size=30), reason=texts(min_size=0, max_size=60)
    )


@st.composite
def referrals(draw: st.DrawFn) -> Referral:
    """A referral with 1-3 subjects (possibly an unborn child linked to its mother) and 0-3 household members."""
    person_ids = draw(_unique_ids("P", 1, 6))
    n_subjects = draw(st.integers(1, min(3, len(person_ids))))
    subject_ids, household_ids = person_ids[:n_subjects], person_ids[n_subjects:]
    household = [draw(persons(person_id=pid, unborn=False)) for pid in household_ids]
    subjects = []
    for pid in subject_ids:
        mother = draw(st.none() | st.sampled_from(household_ids)) if household_ids else None
        subjects.append(draw(persons(person_id=pid, mother_person_id=mother)))
    return Referral(
        referral_id=draw(ids("REF")),
        received_at=draw(aware_datetimes()),
        local_authority=draw(st.sampled_from(["383", "E08000035", "380"])),
        source=draw(st.sampled_from(ReferralSource)),
        referrer=draw(texts(max_size=60)),
        concerns=draw(st.lists(st.sampled_from(ConcernCategory), min_size=1, max_size=3, unique=True)),
        narrative=draw(texts(min_size=0, max_size=200)),
        subjects=subjects,
        household=household,
        relationships=draw(st.lists(relationships(person_ids), max_size=3)) if len(person_ids) > 1 else [],
        rag_history=draw(st.lists(rag_changes(), min_size=1, max_size=3)),
        purpose=draw(st.sampled_from(Purpose)),
        lawful_basis=draw(st.lists(st.sampled_from(LawfulBasis), min_size=1, max_size=3, unique=True)),
        consent=draw(consents()),
        classification=draw(st.sampled_from(Classification)),
    )


@st.composite
def enquiries(draw: st.DrawFn) -> Enquiry:
    person_ids = draw(_unique_ids("P", 1, 3))
    requested_at = draw(aware_datetimes())
    return Enquiry(
        enquiry_id=draw(ids("ENQ")),
        referral_id=draw(ids("REF")),
        agency_id=draw(ids("A")),
        agency_kind=draw(st.sampled_from(AgencyKind)),
        subjects=[draw(persons(person_id=pid)) for pid in person_ids],
        relationships=draw(st.lists(relationships(person_ids), max_size=2)) if len(person_ids) > 1 else [],
        questions=draw(st.lists(texts(max_size=60), max_size=2)),
        concerns=draw(st.lists(st.sampled_from([c.value for c in ConcernCategory]), max_size=3)),
        rag=draw(st.sampled_from(Rag)),
        requested_at=requested_at,
        due_at=requested_at + draw(st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=10))),
        purpose=draw(st.sampled_from(Purpose)),
        lawful_basis=draw(st.lists(st.sampled_from(LawfulBasis), min_size=1, max_size=3, unique=True)),
        consent_note=draw(st.none() | texts(max_size=60)),
        requester=draw(texts(max_size=30)),
        classification=draw(st.sampled_from(Classification)),
    )


@st.composite
def enquiry_responses(draw: st.DrawFn, status: ResponseStatus | None = None) -> EnquiryResponse:
    """A response whose matches and findings refer to its people and whose findings fit its agency kind."""
    kind = draw(st.sampled_from(AgencyKind))
    chosen = status or draw(st.sampled_from(ResponseStatus))
    person_ids = draw(_unique_ids("R", 0, 3))
    people = [draw(persons(person_id=pid, unborn=False)) for pid in person_ids]
    matches = []
    if person_ids:
        matches = draw(
            st.lists(
                st.builds(
                    SubjectMatch,
                    subject_person_id=ids("P"),
                    record_person_id=st.sampled_from(person_ids),
                    source=source_refs(kind),
                    method=st.sampled_from(MatchMethod),
                    confidence=st.floats(0.0, 1.0),
                    candidate=st.booleans(),
                ),
                max_size=3,
            )
        )
    found = []
    if person_ids and chosen is not ResponseStatus.NOT_KNOWN:
        found = draw(st.lists(findings(kind, person_ids), max_size=3))
    return EnquiryResponse(
        response_id=draw(ids("RSP")),
        enquiry_id=draw(ids("ENQ")),
        referral_id=draw(ids("REF")),
        agency_id=draw(ids("A")),
        agency_kind=kind,
        status=chosen,
        declined_reason=draw(texts(max_size=60)) if chosen is ResponseStatus.DECLINED else None,
        people=people,
        matches=matches,
        findings=found,
        relationships=draw(st.lists(relationships(person_ids), max_size=2)) if len(person_ids) > 1 else [],
        responder=draw(texts(max_size=30)),
        responded_at=draw(aware_datetimes()),
        sequence=draw(st.integers(1, 5)),
        more_to_follow=draw(st.booleans()),
        note=draw(st.none() | texts(max_size=60)),
    )


# --------------------------------------------------------------------------- decisions, events, audit, envelope


def decisions() -> st.SearchStrategy[Decision]:
    return st.builds(
        Decision,
        decision_id=ids("D"),
        referral_id=ids("REF"),
        outcome=st.sampled_from(OutcomeType),
        rationale=texts(max_size=120),
        decided_by=texts(max_size=30),
        decided_at=aware_datetimes(),
        notify=st.lists(ids("A"), max_size=4),
    )


def outcomes() -> st.SearchStrategy[Outcome]:
    return st.builds(
        Outcome,
        outcome_id=ids("O"),
        referral_id=ids("REF"),
        decision_id=ids("D"),
        outcome=st.sampled_from(OutcomeType),
        recipient=ids("A"),
        summary=texts(min_size=0, max_size=80),
        sent_at=aware_datetimes(),
    )


def escalations() -> st.SearchStrategy[Escalation]:
    return st.builds(
        Escalation,
        escalation_id=ids("ESC"),
        enquiry_id=ids("ENQ"),
        referral_id=ids("REF"),
        agency_id=ids("A"),
        rag=st.sampled_from(Rag),
        level=st.sampled_from(EscalationLevel),
        due_at=aware_datetimes(),
        raised_at=aware_datetimes(),
    )


def alerts() -> st.SearchStrategy[Alert]:
    return st.builds(
        Alert,
        alert_id=ids("AL"),
        kind=st.sampled_from(AlertKind),
        agency_id=ids("A"),
        agency_kind=st.sampled_from(AgencyKind),
        referral_id=st.none() | ids("REF"),
        enquiry_id=st.none() | ids("ENQ"),
        person_ref=ids("S"),
        occurred_at=aware_datetimes(),
        location=st.none() | st.sampled_from(["RR8", "RAE"]),
        detail=texts(min_size=0, max_size=60),
    )


def audit_events() -> st.SearchStrategy[AuditEvent]:
    detail_values = st.one_of(
        st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False),
        texts(min_size=0, max_size=20), st.lists(texts(max_size=10), max_size=3),
    )
    return st.builds(
        AuditEvent,
        sequence=st.integers(1, 10**9),
        event_id=ids("EV"),
        at=aware_datetimes(),
        actor=ids("U"),
        action=st.sampled_from(["referral.created", "enquiry.sent", "response.received", "dlq.replayed"]),
        referral_id=st.none() | ids("REF"),
        enquiry_id=st.none() | ids("ENQ"),
        message_id=st.none() | ids("M"),
        detail=st.dictionaries(ids(), detail_values, max_size=3),
        reason=st.none() | texts(max_size=40),
        previous_hash=hex_hashes(),
        hash=hex_hashes(),
    )


def receipts() -> st.SearchStrategy[DeliveryReceipt]:
    return st.builds(
        DeliveryReceipt,
        receipt_id=ids("RC"),
        event_message_id=ids("M"),
        event_type=st.sampled_from(["outcome", "decision", "escalation", "alert"]),
        referral_id=ids("REF"),
        outcome_id=st.none() | ids("OUT"),
        agency_id=ids("A"),
        status=st.sampled_from(ReceiptStatus),
        channel=st.sampled_from(["fhir-task", "hl7-mllp", "webhook", "drop-folder", "email"]),
        detail=texts(min_size=0, max_size=60),
        at=aware_datetimes(),
    )


#: Strategy for the body of each message type (dumped to JSON-mode dicts for an envelope).
BODY_STRATEGIES: dict[MessageType, st.SearchStrategy] = {
    MessageType.ENQUIRY: enquiries(),
    MessageType.ENQUIRY_RESPONSE: enquiry_responses(),
    MessageType.DECISION: decisions(),
    MessageType.OUTCOME: outcomes(),
    MessageType.ESCALATION: escalations(),
    MessageType.ALERT: alerts(),
    MessageType.REFERRAL: referrals(),
    MessageType.RECEIPT: receipts(),
}


@st.composite
def envelopes(draw: st.DrawFn, message_type: MessageType | None = None, signed: bool | None = None) -> Envelope:
    """An envelope whose body is a valid canonical model of its message type (dumped in JSON mode)."""
    kind = message_type or draw(st.sampled_from(MessageType))
    body = draw(BODY_STRATEGIES[kind]).model_dump(mode="json")
    sent_at = draw(aware_datetimes())
    is_signed = draw(st.booleans()) if signed is None else signed
    return Envelope(
        message_id=draw(ids("M")),
        correlation_id=draw(ids("REF")),
        causation_id=draw(st.none() | ids("M")),
        enquiry_id=draw(st.none() | ids("ENQ")),
        message_type=kind,
        sender=draw(ids("A")),
        recipient=draw(ids("A")),
        sent_at=sent_at,
        due_at=draw(st.none() | st.just(sent_at + timedelta(hours=4))),
        rag=draw(st.none() | st.sampled_from(Rag)),
        body=body,
        signature=draw(hex_hashes()) if is_signed else None,
    )


#: One strategy per top-level canonical model (keys match ``TOP_LEVEL_MODELS``).
MODEL_STRATEGIES: dict[str, st.SearchStrategy] = {
    "Person": persons(),
    "Identifier": identifiers(),
    "Relationship": _unique_ids("P", 2, 3).flatmap(relationships),
    "Finding": findings(),
    "AgencyRecord": agency_records(),
    "Referral": referrals(),
    "Enquiry": enquiries(),
    "EnquiryResponse": enquiry_responses(),
    "Decision": decisions(),
    "Outcome": outcomes(),
    "AuditEvent": audit_events(),
    "Escalation": escalations(),
    "Alert": alerts(),
    "DeliveryReceipt": receipts(),
    "Envelope": envelopes(),
}
