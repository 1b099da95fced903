"""Enquiries as HL7 v2 ``REF^I12`` and answers as ``RRI^I12``.

An integration engine at a trust routes referral messages to the team that
answers them. One REF^I12 is sent per enquiry subject (REF carries a single
PID); the conventions that tie the answer back are:

* RF1-6 (originating referral identifier) = ``enquiry_id^MASHLINK-ENQUIRY``;
* RF1-11 (external referral identifier) repeats ``referral_id^MASHLINK-REFERRAL``
  and ``person_id^MASHLINK-SUBJECT`` (the enquiry subject);
* RF1-2 priority from the RAG rating (table 0280: S red, A amber, R green);
  RF1-7/RF1-8 requested and due times; NTE segments carry lawful basis,
  concerns, questions and the consent note.

The RRI^I12 answer echoes RF1-6/RF1-11 and reports in RF1-1 (table 0283):
``A`` answered, ``P`` partial (more to follow), ``R`` declined (reason in
RF1-10 text or NTE). PID is the trust's record of the person (absent: not
known); each OBX is one finding: OBX-3 the canonical category code, OBX-4
the source record id, OBX-5 the summary, OBX-13 the sensitivity, OBX-14 the
date.

An unborn subject has no record of its own at a trust: the pregnancy is on the
mother's. Its REF^I12 therefore carries the mother the enquiry names in PID
(RF1-11 still names the unborn subject, and an NTE gives the expected date),
and the answer's PID, the trust's record of her, is re-scored as that
pregnancy's mother (:mod:`.matching`).
"""

from __future__ import annotations

from datetime import datetime, timezone

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message

from .hl7_ack import new_control_id
from .hl7_extract import extract_event
from ...mapping.paths.hl7_er7 import FastMessage, Hl7ParseError, escape_text, parse_ts
from .hl7_mapping import LiveOptions, to_agency_record
from ..indexed_search import claimed_confidence, method_of, mother_in_enquiry
from .matching import health_scorer, score_patient
from ...matching.rules import MatchDecision
from ...matching.scorer import Scorer
from ...schemas.codes import AgencyKind, FindingCategory, MatchMethod, Rag, ResponseStatus, Sensitivity
from ...schemas.enquiry import Enquiry, EnquiryResponse, SubjectMatch
from ...schemas.finding import Finding, SourceRef
from ...schemas.identifiers import IdentifierSystem
from ...schemas.person import Person

VERSION = "2.5.1"
NS_ENQUIRY = "MASHLINK-ENQUIRY"
NS_REFERRAL = "MASHLINK-REFERRAL"
NS_SUBJECT = "MASHLINK-SUBJECT"
PRIORITY = {Rag.RED: "S^Stat^HL70280", Rag.AMBER: "A^ASAP^HL70280", Rag.GREEN: "R^Routine^HL70280"}
SEX_OUT = {"male": "M", "female": "F", "other": "O", "unknown": "U", "not_recorded": "U"}


def _ts(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S+0000")


def _pid_fields(person: Person) -> dict[int, str]:
    e = escape_text
    ids = []
    for ident in person.identifiers:
        if ident.system is IdentifierSystem.NHS_NUMBER:
            ids.append(f"{e(ident.value)}^^^NHS^NH")
        elif ident.system is IdentifierSystem.HOSPITAL_MRN:
            ids.append(f"{e(ident.value)}^^^{e(ident.scope or '')}^MR")
    if not ids:
        ids.append(f"{e(person.person_id)}^^^{NS_SUBJECT}^PI")
    out = {3: "~".join(ids)}
    names = []
    for name in person.names:
        given = name.given + ["", ""]
        names.append(f"{e(name.family or '')}^{e(given[0])}^{e(given[1])}^^{e(name.prefix or '')}")
    if names:
        out[5] = "~".join(names)
    if person.birth_date:
        out[7] = person.birth_date.value.strftime("%Y%m%d")
    if person.sex:
        out[8] = SEX_OUT.get(person.sex.value, "U")
    addrs = []
    for a in person.addresses:
        lines = a.lines + ["", ""]
        addrs.append(f"{e(lines[0])}^{e(lines[1])}^{e(a.town or '')}^^{e(a.postcode or '')}")
    if addrs:
        out[11] = "~".join(addrs)
    return out


def _set_fields(segment, fields: dict[int, str]) -> None:  # type: ignore[no-untyped-def]
    """Set fields given as ER7 text; repetitions (``~``) become separate hl7apy fields.

    hl7apy escapes a ``~`` in an assigned value, so repetitions must be added
    one by one. Values here are already escaped by the caller.
    """
    name = segment.name.upper()
    for number, value in sorted(fields.items()):
        if not value:
            continue
        for rep in value.split("~"):
            segment.add_field(f"{name}_{number}").value = rep


def build_ref_i12(
    enquiry: Enquiry,
    subject: Person,
    *,
    sending_facility: str = "MASH",
    receiving_application: str = "",
    receiving_facility: str = "",
    control_id: str | None = None,
) -> str:
    """One REF^I12 for one enquiry subject (ER7, CR separators), built with hl7apy.

    For an unborn subject PID is the mother the enquiry names (the trust finds the pregnancy on her record).
    """
    e = escape_text
    mother = mother_in_enquiry(subject, enquiry.subjects, enquiry.relationships) if subject.unborn else None
    msg = Message("REF_I12", version=VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
    msh = msg.msh
    msh.msh_3 = "MASHLINK"
    msh.msh_4 = e(sending_facility)
    if receiving_application:
        msh.msh_5 = e(receiving_application)
    if receiving_facility:
        msh.msh_6 = e(receiving_facility)
    msh.msh_7 = _ts(datetime.now(timezone.utc))
    msh.msh_9 = "REF^I12^REF_I12"
    msh.msh_10 = control_id or new_control_id("RF")
    msh.msh_11 = "P"
    msh.msh_12 = VERSION
    msh.msh_15 = "AL"
    msh.msh_16 = "AL"
    rf1 = msg.add_segment("RF1")
    rf1.rf1_1 = "P^Pending^HL70283"
    rf1.rf1_2 = PRIORITY[enquiry.rag]
    rf1.rf1_3 = "MASH^Safeguarding information request^L"
    rf1.rf1_6 = f"{e(enquiry.enquiry_id)}^{NS_ENQUIRY}"
    rf1.rf1_7 = _ts(enquiry.requested_at)
    rf1.rf1_8 = _ts(enquiry.due_at)
    _set_fields(rf1, {11: f"{e(enquiry.referral_id)}^{NS_REFERRAL}~{e(subject.person_id)}^{NS_SUBJECT}"})
    prd = msg.add_group("REF_I12_PROVIDER_CONTACT").add_segment("PRD")
    prd.prd_1 = "RP^Referring Provider^HL70286"
    prd.prd_2 = f"{e(enquiry.requester)}"
    pid = msg.add_segment("PID")
    pid.pid_1 = "1"
    _set_fields(pid, _pid_fields(mother if mother is not None else subject))
    notes: list[str] = []
    if subject.unborn and subject.expected_birth_date is not None:
        notes.append(f"Unborn child expected {subject.expected_birth_date.isoformat()}"
                     + ("; PID is the mother" if mother is not None else "; the mother is not named"))
    notes += [f"Classification: {enquiry.classification.value}",
             "Lawful basis: " + ", ".join(b.value for b in enquiry.lawful_basis)]
    notes += [f"Concern: {c}" for c in enquiry.concerns]
    notes += [f"Question: {q}" for q in enquiry.questions]
    if enquiry.consent_note:
        notes.append(f"Consent: {enquiry.consent_note}")
    for i, text in enumerate(notes, start=1):
        nte = msg.add_segment("NTE")
        nte.nte_1 = str(i)
        nte.nte_3 = e(text)
    return msg.to_er7()


def build_ref_i12_messages(enquiry: Enquiry, **kwargs: str) -> list[str]:
    """One REF^I12 per subject of the enquiry."""
    return [build_ref_i12(enquiry, subject, **kwargs) for subject in enquiry.subjects]


def build_rri_i12(
    ref: FastMessage,
    *,
    status: str,
    patient: Person | None,
    findings: list[dict[str, str]] | None = None,
    note: str | None = None,
    responder: str = "Safeguarding team",
    facility: str = "RXX01",
) -> str:
    """The trust side: answer a REF^I12 (used by the simulator peer and tests).

    ``findings`` items have ``category``, ``record_id``, ``summary``, ``date``
    (YYYYMMDD) and optional ``sensitivity``.
    """
    e = escape_text
    msg = Message("RRI_I12", version=VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
    msh = msg.msh
    msh.msh_3 = "SYNTHPAS"
    msh.msh_4 = e(facility)
    msh.msh_5 = e(ref.value("MSH", 3))
    msh.msh_6 = e(ref.value("MSH", 4))
    msh.msh_7 = _ts(datetime.now(timezone.utc))
    msh.msh_9 = "RRI^I12^RRI_I12"
    msh.msh_10 = new_control_id("RR")
    msh.msh_11 = "P"
    msh.msh_12 = VERSION
    msa = msg.add_segment("MSA")
    msa.msa_1 = "AA"
    msa.msa_2 = e(ref.control_id)
    rf1 = msg.add_segment("RF1")
    rf1.rf1_1 = {"A": "A^Accepted^HL70283", "P": "P^Pending^HL70283", "R": "R^Rejected^HL70283"}[status]
    rf1.rf1_6 = ref.raw("RF1", 6)
    if status == "R" and note:
        rf1.rf1_10 = f"DECLINED^{e(note)}^L"
    _set_fields(rf1, {11: ref.raw("RF1", 11)})
    prd = msg.add_group("RRI_I12_PROVIDER_CONTACT").add_segment("PRD")
    prd.prd_1 = "RT^Referred to Provider^HL70286"
    prd.prd_2 = e(responder)
    if patient is not None:
        pid = msg.add_segment("PID")
        pid.pid_1 = "1"
        _set_fields(pid, _pid_fields(patient))
    if findings:
        group = msg.add_group("RRI_I12_OBSERVATION")
        obr = group.add_segment("OBR")
        obr.obr_1 = "1"
        obr.obr_4 = "MASH-RESPONSE^Safeguarding information^L"
        for i, f in enumerate(findings, start=1):
            obx = group.add_group("RRI_I12_RESULTS_NOTES").add_segment("OBX")
            obx.obx_1 = str(i)
            obx.obx_2 = "TX"
            obx.obx_3 = f"{e(f['category'])}^^MASHLINK"
            obx.obx_4 = e(f["record_id"])
            obx.obx_5 = e(f["summary"])
            obx.obx_11 = "F"
            if f.get("sensitivity"):
                obx.obx_13 = e(f["sensitivity"])
            if f.get("date"):
                obx.obx_14 = f["date"]
    if note and status != "R":
        nte = msg.add_segment("NTE")
        nte.nte_1 = "1"
        nte.nte_3 = e(note)
    return msg.to_er7()


def _ei_by_namespace(msg: FastMessage, raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for rep in msg.repetitions(raw):
        comps = msg.components(rep)
        if len(comps) >= 2 and comps[0]:
            out[comps[1]] = comps[0]
    return out


def parse_rri_i12(
    text: str | FastMessage,
    *,
    agency_id: str,
    enquiry: Enquiry | None = None,
    system: str = "HL7 v2 RRI",
    scorer: Scorer | None = None,
) -> EnquiryResponse:
    """An RRI^I12 answer as a canonical ``EnquiryResponse``; raises ``Hl7ParseError`` on bad content.

    ``scorer`` re-checks the trust's link (the trust's configured weights; default weights when None).
    """
    msg = text if isinstance(text, FastMessage) else FastMessage.parse(text)
    if (msg.message_type, msg.trigger) != ("RRI", "I12"):
        raise Hl7ParseError("expected an RRI^I12 message", code=200, segment="MSH", field=9, reject=True)
    if not msg.has("RF1"):
        raise Hl7ParseError("RF1 segment is required", code=101, segment="RF1")
    ids = _ei_by_namespace(msg, msg.raw("RF1", 6))
    ids.update(_ei_by_namespace(msg, msg.raw("RF1", 11)))
    enquiry_id = ids.get(NS_ENQUIRY) or (enquiry.enquiry_id if enquiry else "")
    referral_id = ids.get(NS_REFERRAL) or (enquiry.referral_id if enquiry else "")
    subject_id = ids.get(NS_SUBJECT)
    if not enquiry_id or not referral_id:
        raise Hl7ParseError("RF1-6/RF1-11 must carry the enquiry and referral ids", code=101, segment="RF1", field=6)
    if enquiry is not None and enquiry.enquiry_id != enquiry_id:
        raise Hl7ParseError("RF1-6 answers a different enquiry", code=103, segment="RF1", field=6)
    status_code = msg.value("RF1", 1)
    if status_code not in ("A", "P", "R"):
        raise Hl7ParseError("RF1-1 must be A, P or R (table 0283)", code=103, segment="RF1", field=1)
    responder = msg.value("PRD", 2) or "health"
    notes = [msg.part(f[3] if len(f) > 3 else "", 1) for f in msg.all_fields("NTE")]
    note = "\n".join(n for n in notes if n) or None
    now = datetime.now(timezone.utc)
    base = dict(
        response_id=f"rri-{msg.control_id}"[:64], enquiry_id=enquiry_id, referral_id=referral_id,
        agency_id=agency_id, agency_kind=AgencyKind.HEALTH, responder=responder, responded_at=now,
    )
    if status_code == "R":
        reason = msg.value("RF1", 10, 2) or note or "declined without a reason"
        return EnquiryResponse(status=ResponseStatus.DECLINED, declined_reason=reason, **base)  # type: ignore[arg-type]
    if not msg.has("PID"):
        return EnquiryResponse(status=ResponseStatus.NOT_KNOWN, note=note, **base)  # type: ignore[arg-type]
    facts = extract_event(msg)
    record = to_agency_record(msg, LiveOptions(agency_id=agency_id, system=system))
    person = record.person
    source = SourceRef(agency_kind=AgencyKind.HEALTH, agency_id=agency_id, system=facts.sending_application or system,
                       record_id=record.source.record_id, organisation=facts.sending_facility or None)
    findings: list[Finding] = []
    for index, obx in enumerate(msg.all_fields("OBX"), start=1):
        def g(i: int) -> str:
            return obx[i] if i < len(obx) else ""
        code = msg.part(g(3), 1)
        try:
            category = FindingCategory(code)
        except ValueError:
            raise Hl7ParseError(f"OBX({index})-3 is not a canonical health finding category", code=103,
                                segment="OBX", sequence=index, field=3) from None
        sens_code = msg.part(g(13), 1)
        try:
            sensitivity = Sensitivity(sens_code) if sens_code else Sensitivity.STANDARD
        except ValueError:
            raise Hl7ParseError(f"OBX({index})-13 is not a known sensitivity", code=103, segment="OBX",
                                sequence=index, field=13) from None
        when = parse_ts(msg.part(g(14), 1), field=f"OBX({index})-14") if g(14) else None
        record_id = msg.part(g(4), 1) or f"{msg.control_id}-{index}"
        findings.append(
            Finding(
                finding_id=record_id, subject_person_id=person.person_id, category=category, start=when,
                summary=msg.part(g(5), 1), source=source.model_copy(update={"record_id": record_id}),
                sensitivity=sensitivity,
            )
        )
    matches: list[SubjectMatch] = []
    if subject_id:
        asked = next((s for s in enquiry.subjects if s.person_id == subject_id), None) if enquiry else None
        mother = mother_in_enquiry(asked, enquiry.subjects, enquiry.relationships) if asked and enquiry else None
        matches.append(_checked_match(subject_id, asked, person, source, scorer or health_scorer(), mother))
    status = ResponseStatus.PARTIAL if status_code == "P" else ResponseStatus.INFORMATION_FOUND
    return EnquiryResponse(
        status=status, people=[person], matches=matches, findings=findings,
        relationships=[], more_to_follow=status_code == "P", note=note, **base,  # type: ignore[arg-type]
    )


def _checked_match(subject_id: str, asked: Person | None, person: Person, source: SourceRef, scorer: Scorer,
                   mother: Person | None) -> SubjectMatch:
    """The trust's own link, re-checked with the shared matcher before it is called certain.

    Why: the trust's engine may link on an NHS number alone, and a referral
    can carry a sibling's number. Every connector gives no certain result
    without a demographic check, so the returned patient is scored against the
    subject the MASH asked about, with the trust's configured weights
    (``matching.model``; there is no local index of the trust's patients to
    train on), and for an unborn subject as the mother of the pregnancy, against
    the mother the enquiry names. Only a ``match`` is confirmed; anything
    else, or a reply about a subject the enquiry does not hold, is a
    candidate for a person.
    """
    if asked is None:
        return SubjectMatch(subject_person_id=subject_id, record_person_id=person.person_id, source=source,
                            method=MatchMethod.DEMOGRAPHIC, confidence=0.6, candidate=True)
    pair = score_patient(scorer, asked, person, mother=mother)
    confirmed = pair.decision is MatchDecision.MATCH
    return SubjectMatch(subject_person_id=subject_id, record_person_id=person.person_id, source=source,
                        method=method_of(pair), confidence=claimed_confidence(pair, confirmed),
                        candidate=not confirmed)
