"""A simulated trust HL7 v2 peer: answers REF^I12 enquiries with RRI^I12 over MLLP.

Used by the tests (real TCP) and ``mashlink demo``. It looks the subject up by
the NHS number in PID-3 among synthetic patients; unknown patients get an
answer without PID ("not known"), patients listed in ``declined`` a
rejection with a reason. MDM^T02 documents (the MASH's outcome and
escalation letters, :mod:`mashlink.connectors.events.hl7_channel`) are kept
in ``documents`` and acknowledged with the next code in ``document_acks``
(AA once it is empty), so tests can make the engine answer AE or AR.
Anything else is a NAK.
"""

from __future__ import annotations

from dataclasses import dataclass

from .hl7_ack import AckCode, AckError, ack_for, build_ack
from .hl7_extract import extract_event
from ...mapping.paths.hl7_er7 import FastMessage, Hl7ParseError, peek_header
from ...mapping.paths.hl7 import compile_hl7_path
from .referral import build_rri_i12
from .synthetic import SyntheticPatient, patient_person

#: The NHS number of a REF^I12's patient, as the HL7 v2 spec reads it.
_NHS_NUMBER = compile_hl7_path("PID-3[CX.4=NHS].1")


@dataclass(frozen=True)
class ReceivedDocument:
    """An MDM^T02 the peer accepted: control id, document number (TXA-12), type (TXA-2), referral (PID-3), text."""

    control_id: str
    document_number: str
    document_type: str
    referral: str
    text: str


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
        self.documents: list[ReceivedDocument] = []
        self.document_acks: list[AckCode] = []

    def _document(self, msg: FastMessage) -> str:
        code = self.document_acks.pop(0) if self.document_acks else AckCode.ACCEPT
        if code is AckCode.ERROR:
            return ack_for(msg, code, AckError(207, "document store unavailable (simulated)"))
        if code is AckCode.REJECT:
            return ack_for(msg, code, AckError(204, "unknown document type (simulated)", "TXA", 1, 2))
        lines = [msg.part(rep) for rep in msg.repetitions(msg.raw("OBX", 5))]
        self.documents.append(ReceivedDocument(
            control_id=msg.control_id, document_number=msg.value("TXA", 12), document_type=msg.value("TXA", 2),
            referral=msg.value("PID", 3), text="\n".join(lines)))
        return ack_for(msg, AckCode.ACCEPT)

    def __call__(self, data: bytes) -> str:
        try:
            msg = FastMessage.parse(data)
        except Hl7ParseError as exc:
            control_id, _t, trigger, version = peek_header(data)
            return build_ack(AckCode.REJECT, control_id=control_id, version=version, trigger=trigger,
                             error=AckError(exc.code, str(exc)))
        if (msg.message_type, msg.trigger) == ("MDM", "T02"):
            return self._document(msg)
        if (msg.message_type, msg.trigger) != ("REF", "I12"):
            return ack_for(msg, AckCode.REJECT, AckError(200, "this peer only answers REF^I12 and MDM^T02", "MSH", 1, 9))
        self.received.append(msg.control_id)
        try:
            extract_event(msg)  # a REF^I12 without PID is refused as the live feed refuses it
        except Hl7ParseError as exc:
            return ack_for(msg, AckCode.ERROR, AckError(exc.code, str(exc), exc.segment, exc.sequence, exc.field))
        patient = self.by_nhs.get(_NHS_NUMBER.first(msg.to_path_message(("PID",))) or "")
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
