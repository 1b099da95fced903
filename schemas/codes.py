"""Controlled vocabularies of the canonical safeguarding schema.

Every agency has its own code lists (CIN census, CTF, FHIR, police); the
canonical model uses these enumerations and the mapping engine translates
native codes into them through explicit code tables, so a value that no table
knows is an error rather than a silent guess.
"""

from __future__ import annotations

from enum import StrEnum


class AgencyKind(StrEnum):
    """The partners a MASH enquires of: the four statutory kinds, and ``other``.

    ``other`` is any further partner (housing, youth justice, a voluntary
    service) declared in configuration and served by a declared channel; its
    findings use the ``other.*`` categories and name the agency by id.
    """

    POLICE = "police"
    HEALTH = "health"
    EDUCATION = "education"
    SOCIAL_CARE = "social_care"
    OTHER = "other"


#: The statutory partners, in their fixed order (seeded simulations iterate these).
STATUTORY_AGENCY_KINDS: tuple[AgencyKind, ...] = (
    AgencyKind.POLICE, AgencyKind.HEALTH, AgencyKind.EDUCATION, AgencyKind.SOCIAL_CARE)


class Rag(StrEnum):
    """Screening rating; sets how fast partners must answer."""

    RED = "red"
    AMBER = "amber"
    GREEN = "green"


RAG_ORDER: dict[Rag, int] = {Rag.RED: 0, Rag.AMBER: 1, Rag.GREEN: 2}


class Sex(StrEnum):
    """Canonical sex/gender; native codes (CIN 0/1/2/9, CTF M/F, FHIR) map here via code tables."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"
    NOT_RECORDED = "not_recorded"


class ConcernCategory(StrEnum):
    """Why a child has come to the MASH's attention."""

    NEGLECT = "neglect"
    PHYSICAL_ABUSE = "physical_abuse"
    EMOTIONAL_ABUSE = "emotional_abuse"
    SEXUAL_ABUSE = "sexual_abuse"
    DOMESTIC_ABUSE = "domestic_abuse"
    CHILD_SEXUAL_EXPLOITATION = "child_sexual_exploitation"
    CHILD_CRIMINAL_EXPLOITATION = "child_criminal_exploitation"
    MISSING = "missing"
    FGM = "fgm"
    RADICALISATION = "radicalisation"
    OTHER = "other"


class ReferralSource(StrEnum):
    """CIN census referral source codes (DfE), kept as the native code values."""

    INDIVIDUAL_FAMILY = "1A"
    INDIVIDUAL_ACQUAINTANCE = "1B"
    INDIVIDUAL_SELF = "1C"
    INDIVIDUAL_OTHER = "1D"
    SCHOOLS = "2A"
    EDUCATION_SERVICES = "2B"
    HEALTH_GP = "3A"
    HEALTH_VISITOR = "3B"
    HEALTH_SCHOOL_NURSE = "3C"
    HEALTH_OTHER_PRIMARY = "3D"
    HEALTH_A_AND_E = "3E"
    HEALTH_OTHER = "3F"
    HOUSING = "4"
    LA_SOCIAL_CARE = "5A"
    LA_OTHER_INTERNAL = "5B"
    LA_EXTERNAL = "5C"
    LA_EARLY_HELP = "5D"
    POLICE = "6"
    OTHER_LEGAL_AGENCY = "7"
    OTHER = "8"
    ANONYMOUS = "9"
    UNKNOWN = "10"


class FindingCategory(StrEnum):
    """What an agency record says, from a controlled vocabulary per agency.

    The prefix names the agency kind that may produce the category; see
    ``FINDING_CATEGORIES_BY_AGENCY``.
    """

    # police
    POLICE_DOMESTIC_ABUSE_INCIDENT = "police.domestic_abuse_incident"
    POLICE_MISSING_EPISODE = "police.missing_episode"
    POLICE_ARREST_CHARGE = "police.arrest_charge"
    POLICE_WARNING_MARKER = "police.warning_marker"
    POLICE_CHILD_COMING_TO_NOTICE = "police.child_coming_to_notice"
    POLICE_INFORMATION_HELD = "police.information_held"
    # health
    HEALTH_ED_ATTENDANCE = "health.ed_attendance"
    HEALTH_ADMISSION = "health.admission"
    HEALTH_SAFEGUARDING_FLAG = "health.safeguarding_flag"
    HEALTH_CHILD_PROTECTION_FLAG = "health.child_protection_flag"
    HEALTH_CONDITION = "health.condition"
    HEALTH_CASELOAD = "health.caseload"
    # education
    EDUCATION_ATTENDANCE = "education.attendance"
    EDUCATION_SUSPENSION_EXCLUSION = "education.suspension_exclusion"
    EDUCATION_SEN_EHCP = "education.sen_ehcp"
    EDUCATION_FREE_SCHOOL_MEALS = "education.free_school_meals"
    EDUCATION_MISSING_EDUCATION = "education.missing_education"
    EDUCATION_SCHOOL_MOVE = "education.school_move"
    EDUCATION_IN_CARE = "education.in_care"
    # children's social care
    SOCIAL_CARE_REFERRAL = "social_care.referral"
    SOCIAL_CARE_ASSESSMENT = "social_care.assessment"
    SOCIAL_CARE_SECTION_47 = "social_care.section_47"
    SOCIAL_CARE_CHILD_PROTECTION_PLAN = "social_care.child_protection_plan"
    SOCIAL_CARE_LOOKED_AFTER_EPISODE = "social_care.looked_after_episode"
    SOCIAL_CARE_MISSING_EPISODE = "social_care.missing_episode"
    # any other partner declared in configuration (housing, youth justice, ...)
    OTHER_INFORMATION_HELD = "other.information_held"
    OTHER_CONCERN = "other.concern"

    @property
    def agency_kind(self) -> AgencyKind:
        # A table lookup: every finding of every record checks its category
        # against its source, and building the enum from the prefix each time
        # (``AgencyKind(value.split(".")[0])``) is slow.
        return _AGENCY_OF_CATEGORY[self]


#: The agency kind of each category (its prefix); built once, at import.
_AGENCY_OF_CATEGORY: dict[FindingCategory, AgencyKind] = {
    category: AgencyKind(category.value.split(".", 1)[0]) for category in FindingCategory
}

FINDING_CATEGORIES_BY_AGENCY: dict[AgencyKind, frozenset[FindingCategory]] = {
    kind: frozenset(c for c in FindingCategory if c.value.startswith(kind.value + "."))
    for kind in AgencyKind
}


class Sensitivity(StrEnum):
    """How carefully a finding must be handled when it is shared onwards.

    ``sexual_health`` and ``mental_health`` are released only where the sharing
    policy says so; ``police_restricted`` is police material that may be shared
    only with named partners.
    """

    STANDARD = "standard"
    SEXUAL_HEALTH = "sexual_health"
    MENTAL_HEALTH = "mental_health"
    POLICE_RESTRICTED = "police_restricted"


class HandlingCode(StrEnum):
    """What may be done with a piece of police material: the release decision.

    ``P`` lawful sharing permitted; ``C`` with conditions (3x5x2: the
    originator's conditions travel with it); ``DND`` do not disseminate: never
    sent, only "information held, contact the police MASH". Native codes map
    here through the ``police-handling-codes`` table: 3x5x2 ``P``/``C``, and the
    legacy 5x5x5 handling codes ``1``-``5`` (only ``2``, UK non-prosecuting
    parties, reaches MASH partners, with conditions; the rest are withheld).

    ``UNRECOGNISED``: a native code no table knows (or none at all). Fail safe:
    the material is withheld exactly like ``DND`` and the record is flagged, so
    the rest of what the force holds about the person can still be shared.
    """

    PERMITTED = "P"
    CONDITIONS = "C"
    DO_NOT_DISSEMINATE = "DND"
    UNRECOGNISED = "unrecognised"


#: Handling codes whose material never leaves the force (replaced by "information held").
WITHHELD_HANDLING_CODES: frozenset[HandlingCode] = frozenset(
    {HandlingCode.DO_NOT_DISSEMINATE, HandlingCode.UNRECOGNISED})


class GradingScheme(StrEnum):
    """Police intelligence grading schemes (College of Policing APP, Intelligence management).

    ``3x5x2``: the national scheme since 2016 (source evaluation 1-3,
    intelligence assessment A-E, handling code P/C with conditions).
    ``5x5x5``: the legacy scheme still found in older records and exports
    (source evaluation A-E, intelligence evaluation 1-5, handling code 1-5).
    """

    NATIONAL_3X5X2 = "3x5x2"
    LEGACY_5X5X5 = "5x5x5"


class SourceEvaluation(StrEnum):
    """3x5x2 source evaluation."""

    RELIABLE = "1"
    UNTESTED = "2"
    NOT_RELIABLE = "3"


class IntelligenceAssessment(StrEnum):
    """3x5x2 intelligence assessment."""

    KNOWN_DIRECTLY = "A"  # known directly to the source
    KNOWN_INDIRECTLY_CORROBORATED = "B"  # known indirectly to the source but corroborated
    KNOWN_INDIRECTLY = "C"  # known indirectly to the source
    NOT_KNOWN = "D"  # not known
    SUSPECTED_FALSE = "E"  # suspected to be false or malicious


class NationalHandlingCode(StrEnum):
    """3x5x2 handling code (``C``: conditions must be stated by the originator)."""

    PERMITTED = "P"
    CONDITIONS = "C"


class LegacySourceEvaluation(StrEnum):
    """5x5x5 source evaluation."""

    ALWAYS_RELIABLE = "A"
    MOSTLY_RELIABLE = "B"
    SOMETIMES_RELIABLE = "C"
    UNRELIABLE = "D"
    UNTESTED = "E"


class LegacyIntelligenceEvaluation(StrEnum):
    """5x5x5 intelligence evaluation."""

    KNOWN_TRUE = "1"  # known to be true without reservation
    KNOWN_TO_SOURCE = "2"  # known personally to the source but not to the officer
    CORROBORATED = "3"  # not personally known to the source but corroborated
    CANNOT_BE_JUDGED = "4"
    SUSPECTED_FALSE = "5"


class LegacyHandlingCode(StrEnum):
    """5x5x5 handling code (who the material may be disseminated to)."""

    LAW_ENFORCEMENT = "1"  # other UK law enforcement and prosecuting agencies
    UK_NON_PROSECUTING = "2"  # UK non-prosecuting parties (authorisation and records needed)
    NON_UK_LAW_ENFORCEMENT = "3"  # non-UK law enforcement agencies (special conditions)
    ORIGINATING_AGENCY_ONLY = "4"
    NO_FURTHER_DISSEMINATION = "5"  # refer to the originator; special handling conditions


#: The values each scheme allows in each part of the grade.
GRADING_VALUES: dict[GradingScheme, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    GradingScheme.NATIONAL_3X5X2: (frozenset(SourceEvaluation), frozenset(IntelligenceAssessment),
                                   frozenset(NationalHandlingCode)),
    GradingScheme.LEGACY_5X5X5: (frozenset(LegacySourceEvaluation), frozenset(LegacyIntelligenceEvaluation),
                                 frozenset(LegacyHandlingCode)),
}


class Reliability(StrEnum):
    """How far a finding can be relied on (source evaluation)."""

    RELIABLE = "reliable"
    MOSTLY_RELIABLE = "mostly_reliable"
    UNTESTED = "untested"
    NOT_RELIABLE = "not_reliable"


class ResponseStatus(StrEnum):
    """An agency's answer to an enquiry."""

    INFORMATION_FOUND = "information_found"
    NOT_KNOWN = "not_known"
    PARTIAL = "partial"
    DECLINED = "declined"


class MatchMethod(StrEnum):
    """How an agency record was matched to an enquiry subject."""

    NHS_NUMBER = "nhs_number"
    UPN = "upn"
    LA_CHILD_ID = "la_child_id"
    POLICE_ID = "police_id"
    DEMOGRAPHIC = "demographic"
    MANUAL = "manual"


class OutcomeType(StrEnum):
    """MASH decision outcomes."""

    NFA_ADVICE = "nfa_advice"
    EARLY_HELP = "early_help"
    SECTION_17 = "section_17"
    STRATEGY_SECTION_47 = "strategy_section_47"
    IMMEDIATE_PROTECTION = "immediate_protection"
    TRANSFER = "transfer"  # the child lives in another LA: referred on to its front door


class LawfulBasis(StrEnum):
    """Statutory and data-protection gateways that travel with every enquiry.

    Which combinations suffice for an enquiry to each agency kind, and for
    each ``Purpose``, is configuration (``mashlink.config.lawful_basis``);
    these are only the codes. Each cites the provision it names.
    """

    # Statutory gateways: the duty or power under which the agencies co-operate.
    CHILDREN_ACT_1989_S17 = "children_act_1989_s17"  # CA 1989 s17: services for children in need
    CHILDREN_ACT_1989_S47 = "children_act_1989_s47"  # CA 1989 s47: LA duty to enquire; s47(9)-(11) duty to assist
    CHILDREN_ACT_2004_S10 = "children_act_2004_s10"  # CA 2004 s10: co-operation to improve well-being
    CHILDREN_ACT_2004_S11 = "children_act_2004_s11"  # CA 2004 s11: duty to safeguard and promote welfare
    # Education Act 2002 s175: LAs and governing bodies of maintained schools and
    # FE institutions safeguard and promote the welfare of children (schools are
    # not among the bodies CA 2004 s11 names).
    EDUCATION_ACT_2002_S175 = "education_act_2002_s175"
    # UK GDPR (general processing: health, education, social care).
    UK_GDPR_6_1_E = "uk_gdpr_art6_1_e"  # Art 6(1)(e): public task / official authority
    # Art 9(2)(g): substantial public interest, with a DPA 2018 Sch 1 Part 2 condition (s10(3)).
    UK_GDPR_9_2_G = "uk_gdpr_art9_2_g"
    # Art 9(2)(h): health or social care, with DPA 2018 Sch 1 para 2 (s10(2)) and s11(1)
    # (by or under the responsibility of a health or social work professional).
    UK_GDPR_9_2_H = "uk_gdpr_art9_2_h"
    DPA_2018_SCH1_PARA2 = "dpa2018_sch1_para2"  # DPA 2018 Sch 1 Part 1 para 2: health or social care purposes
    # DPA 2018 Sch 1 Part 2 para 18: safeguarding of children and of individuals at risk.
    DPA_2018_SCH1_PARA18 = "dpa2018_sch1_para18"
    # DPA 2018 Part 3 (law enforcement processing by competent authorities: police).
    # DPA 2018 s35: the first data protection principle; s35(5) sensitive processing that is
    # strictly necessary for a law enforcement purpose and meets a Schedule 8 condition.
    DPA_2018_S35 = "dpa2018_s35"
    # DPA 2018 Sch 8 para 4: safeguarding of children and of individuals at risk.
    DPA_2018_SCH8_PARA4 = "dpa2018_sch8_para4"


class Purpose(StrEnum):
    """Why the MASH is asking: the stage of the safeguarding process an enquiry serves.

    Stages follow *Working Together to Safeguard Children* (HM Government,
    2023) and mirror the MASH decisions in ``OutcomeType``. The purpose is
    recorded alongside the lawful basis because necessity and proportionality
    are judged against it (golden rules of information sharing, 2024), and
    some purposes need a particular gateway (a s47 enquiry needs CA 1989 s47).
    """

    #: Screening a contact / referral in the MASH to decide the response: the
    #: routine purpose of every MASH enquiry, and the default.
    MASH_SCREENING = "mash_screening"
    #: Early help assessment and support (Working Together 2023 ch. 2; CA 2004 s10).
    EARLY_HELP = "early_help"
    #: Child in need assessment (CA 1989 s17 and Sch 2 para 3).
    SECTION_17_ASSESSMENT = "section_17_assessment"
    #: Strategy discussion where there is reasonable cause to suspect significant
    #: harm (Working Together 2023 ch. 4; the CA 1989 s47 threshold).
    STRATEGY_DISCUSSION = "strategy_discussion"
    #: Child protection enquiry (CA 1989 s47).
    SECTION_47_ENQUIRY = "section_47_enquiry"
    #: Immediate protection: emergency action (CA 1989 s44 emergency protection
    #: order, s46 police protection), followed by a strategy discussion and s47 enquiry.
    IMMEDIATE_PROTECTION = "immediate_protection"


class ConsentStatus(StrEnum):
    """Consent to share, and whether the sharing goes ahead without it.

    Consent is not the lawful basis for safeguarding sharing (that is public
    task with a statutory gateway); it is sought where that is safe. Where it
    is not sought, or refused, the record must say who decided, when, why and
    who authorised it (DPA 2018 Sch 1 para 18(2) and Sch 8 para 4: consent
    cannot be given, cannot reasonably be obtained, or seeking it would
    prejudice the child's protection; HM Government, *Information sharing
    advice*, 2024). Every status other than ``given`` therefore requires the
    decision fields of ``Consent``.
    """

    GIVEN = "given"
    #: Sought and refused (or withdrawn); the decision about sharing is recorded.
    REFUSED = "refused"
    #: Deliberately not sought: seeking it would place the child at risk or
    #: prejudice enquiries, or it cannot reasonably be obtained.
    NOT_SOUGHT = "not_sought"
    #: Sought and refused, and shared regardless because the child's safety comes first.
    OVERRIDDEN = "overridden"


class Classification(StrEnum):
    """Government Security Classification marking."""

    OFFICIAL = "OFFICIAL"
    OFFICIAL_SENSITIVE = "OFFICIAL-SENSITIVE"


class RelationshipType(StrEnum):
    """Person-to-person relationships that matter for safeguarding."""

    MOTHER = "mother"
    FATHER = "father"
    STEP_PARENT = "step_parent"
    PARENT = "parent"
    CARER = "carer"
    GUARDIAN = "guardian"
    SIBLING = "sibling"
    GRANDPARENT = "grandparent"
    PARTNER_OF_PARENT = "partner_of_parent"
    OTHER_RELATIVE = "other_relative"
    HOUSEHOLD_MEMBER = "household_member"
    EMERGENCY_CONTACT = "emergency_contact"
    OTHER = "other"
