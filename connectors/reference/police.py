"""Police reference connector: DND material never leaves the force.

Intelligence with handling code ``DND`` (do not disseminate) is replaced by
one ``police.information_held`` finding per person: "information held,
contact the police MASH team", with the force's reference and contact, and
no content, not even how much is held. The hub checks again on receipt; this
is the first line, because once a message leaves the force it cannot be
recalled. A matched record under live investigation makes the connector
decline the enquiry with a reason (configurable).
"""

from __future__ import annotations

from .connector import ReferenceConnector, ReferenceOptions
from ..simulators.base import AgencySimulator, SimRecord
from ..simulators.police import LIVE_INVESTIGATION
from ...schemas.codes import AgencyKind, FindingCategory, HandlingCode, Reliability
from ...schemas.enquiry import Enquiry
from ...schemas.finding import Finding

INFORMATION_HELD_SUMMARY = "Information held. Contact the police MASH team, quoting the reference."
LIVE_INVESTIGATION_REASON = (
    "Disclosure now may prejudice an ongoing police investigation. Contact the police MASH team to discuss."
)


def withhold_dnd(findings: list[Finding], *, contact: str) -> list[Finding]:
    """Replace every DND finding by one content-free ``information_held`` finding per person."""
    out: list[Finding] = []
    held: dict[str, Finding] = {}
    for finding in findings:
        if not finding.do_not_disseminate:
            out.append(finding)
            continue
        person = finding.subject_person_id
        if person in held:
            continue
        reference = person  # the force's person record: what the MASH team quotes back
        held[person] = Finding(
            finding_id=f"{person}:information-held",
            subject_person_id=person,
            category=FindingCategory.POLICE_INFORMATION_HELD,
            summary=INFORMATION_HELD_SUMMARY,
            attributes={"reference": reference},
            source=finding.source.model_copy(update={"record_id": reference}),
            handling_code=HandlingCode.PERMITTED,
            reliability=Reliability.RELIABLE,
            contact=contact,
        )
    return out + list(held.values())


class PoliceReferenceConnector(ReferenceConnector):
    def __init__(
        self, agency_id: str, simulator: AgencySimulator, options: ReferenceOptions | None = None
    ) -> None:
        if simulator.kind is not AgencyKind.POLICE:
            raise ValueError("PoliceReferenceConnector needs a police simulator")
        super().__init__(agency_id, simulator, options)

    def decline_reason_for(self, enquiry: Enquiry, records: list[SimRecord]) -> str | None:
        if self.options.decline_live_investigations and any(LIVE_INVESTIGATION in r.flags for r in records):
            return LIVE_INVESTIGATION_REASON
        return None

    def release(self, findings: list[Finding], records: dict[str, SimRecord]) -> list[Finding]:
        return withhold_dnd(findings, contact=self.options.police_mash_contact)
