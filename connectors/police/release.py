"""What may leave the force: handling codes applied before anything is sent.

``DND`` (do not disseminate) material is never sent: every DND finding about
a person is replaced by ONE ``police.information_held`` finding that says
only that information is held, whom to contact, and a reference the MASH
team can quote (the force person id, which the response already carries).
No summary, date, code, attribute, event reference or linked person of the
DND material survives, not even how many DND records there are. ``C``
(conditions) findings are sent marked ``police_restricted`` with the contact
for the conditions. The hub checks again on receipt; this is the first line,
because once a message leaves the force it cannot be recalled.
"""

from __future__ import annotations

from ...schemas.codes import FindingCategory, HandlingCode, Reliability, Sensitivity
from ...schemas.finding import Finding, SourceRef

INFORMATION_HELD_SUMMARY = (
    "The police hold information about this person that cannot be shared in this response. "
    "Contact the police MASH team, quoting the reference."
)


def information_held(person_id: str, source: SourceRef, *, contact: str) -> Finding:
    """The content-free finding that stands in for all DND material about one person."""
    reference = person_id
    return Finding(
        finding_id=f"{person_id}:information-held",
        subject_person_id=person_id,
        category=FindingCategory.POLICE_INFORMATION_HELD,
        summary=INFORMATION_HELD_SUMMARY,
        attributes={"reference": reference},
        source=SourceRef(agency_kind=source.agency_kind, agency_id=source.agency_id, system=source.system,
                         record_id=reference, organisation=source.organisation),
        handling_code=HandlingCode.PERMITTED,
        sensitivity=Sensitivity.STANDARD,
        reliability=Reliability.RELIABLE,
        contact=contact,
    )


def release_findings(findings: list[Finding], *, contact: str, agency_id: str | None = None) -> list[Finding]:
    """Findings that may leave the force, in order, DND replaced (one stand-in per person, last)."""
    out: list[Finding] = []
    held: dict[str, Finding] = {}
    for finding in findings:
        if agency_id is not None and finding.source.agency_id is None:
            finding = finding.model_copy(update={"source": finding.source.model_copy(update={"agency_id": agency_id})})
        if finding.do_not_disseminate:
            if finding.subject_person_id not in held:
                held[finding.subject_person_id] = information_held(finding.subject_person_id, finding.source,
                                                                   contact=contact)
            continue
        if finding.handling_code is HandlingCode.CONDITIONS:
            finding = finding.model_copy(update={"sensitivity": Sensitivity.POLICE_RESTRICTED,
                                                 "contact": finding.contact or contact})
        out.append(finding)
    return out + list(held.values())
