"""A simulated trust HL7 v2 peer: answers REF^I12 enquiries with RRI^I12 over MLLP.

Used by the tests (real TCP) and ``mashlink demo``. It looks the subject up by
the NHS number in PID-3 among synthetic patients; unknown patients get an
answer without PID ("not known"), patients listed in ``declined`` a
rejection with a reason, anything else that is not REF^I12 a NAK.
"""

from __future__ import annotations

from mashlink.connectors.health.hl7_ack import AckCode, AckError, ack_for, build_ack
from mashlink.connectors.health.hl7_extract import extract_patient
from mashlink.connectors.health.hl7_fast import FastMessage, Hl7ParseError, peek_header
from mashlink.connectors.health.referral import build_rri_i12
from mashlink.connectors.health.synthetic import SyntheticPatient, patient_person


class SyntheticTrustPeer:
    """MLLP ``MessageHandler`` that plays the trust's side of REF/RRI I12."""

    def __init__(
        self,
        patients: list[SyntheticPatient],
        findings: dict[str, list[dict[str, str]]] | None = None,
        declined: dict[str, str] | None = None,
        partial: set[str] | None = None,
    ) -> None:
        self.by_nhs = {p.nhs_number: p for p in patients}
        self.findings = findings or {}
        self.declined = declined or {}
        self.partial = partial or set()
        self.received: list[str] = []

    def __call__(self, data: bytes) -> str:
        try:
            msg = FastMessage.parse(data)
        except Hl7ParseError as exc:
            control_id, _t, trigger, version = peek_header(data)
            return build_ack(AckCode.REJECT, control_id=control_id, version=version, trigger=trigger,
                             error=AckError(exc.code, str(exc)))
        if (msg.message_type, msg.trigger) != ("REF", "I12"):
            return ack_for(msg, AckCode.REJECT, AckError(200, "this peer only answers REF^I12", "MSH", 1, 9))
        self.received.append(msg.control_id)
        try:
            facts = extract_patient(msg)
        except Hl7ParseError as exc:
            return ack_for(msg, AckCode.ERROR, AckError(exc.code, str(exc), exc.segment, exc.sequence, exc.field))
        patient = self.by_nhs.get(facts.nhs_number)
        if patient is None:
            return build_rri_i12(msg, status="A", patient=None, note="Not known to this trust")
        if patient.nhs_number in self.declined:
            return build_rri_i12(msg, status="R", patient=None, note=self.declined[patient.nhs_number])
        return build_rri_i12(
            msg,
            status="P" if patient.nhs_number in self.partial else "A",
            patient=patient_person(patient),
            findings=self.findings.get(patient.nhs_number, []),
        )
