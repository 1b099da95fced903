"""An ``AgencyConnector`` for trusts that take enquiries as HL7 v2 REF^I12 over MLLP.

Each subject goes out as one REF^I12; the trust's engine answers each with an
RRI^I12 (original acknowledgement mode: the RRI is the reply on the same
connection). The per-subject answers are merged into one ``EnquiryResponse``
with a deterministic id, so a redelivered enquiry yields the same response.
A NAK from the trust (AE/AR) is a permanent error for AR and a retry for AE.
"""

from __future__ import annotations

import hashlib
import ssl
from datetime import datetime, timezone
from typing import Any

from ..base import PermanentEnquiryError, response_id_for
from .hl7_ack import parse_ack
from ...mapping.paths.hl7_er7 import FastMessage, Hl7ParseError
from .mllp import MllpClient
from .referral import build_ref_i12, parse_rri_i12
from ...matching.scorer import Scorer
from ...schemas.codes import AgencyKind, ResponseStatus
from ...schemas.enquiry import Enquiry, EnquiryResponse


def _rename(resp: EnquiryResponse, prefix: str) -> dict[str, Any]:
    """The response's people ids prefixed, so answers about several subjects can be merged."""
    data = resp.model_dump()
    ids = {p["person_id"] for p in data["people"]}

    def fix(value: str) -> str:
        return f"{prefix}:{value}" if value in ids else value

    for p in data["people"]:
        p["person_id"] = fix(p["person_id"])
    for m in data["matches"]:
        m["record_person_id"] = fix(m["record_person_id"])
    for f in data["findings"]:
        f["subject_person_id"] = fix(f["subject_person_id"])
    for r in data["relationships"]:
        r["from_person_id"], r["to_person_id"] = fix(r["from_person_id"]), fix(r["to_person_id"])
    return data


class Hl7ReferralConnector:
    """REF^I12 out / RRI^I12 back, over one MLLP connection per enquiry."""

    agency_kind = AgencyKind.HEALTH

    def __init__(self, agency_id: str, host: str, port: int, *, timeout: float = 30.0,
                 sending_facility: str = "MASH", receiving_facility: str = "",
                 ssl_context: ssl.SSLContext | None = None, server_name: str | None = None,
                 scorer: Scorer | None = None) -> None:
        self.agency_id = agency_id
        self.ssl_context = ssl_context
        self.server_name = server_name
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sending_facility = sending_facility
        self.receiving_facility = receiving_facility
        self.scorer = scorer  # the trust's matching thresholds and weights; None: defaults

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        answers: list[EnquiryResponse] = []
        with MllpClient(self.host, self.port, timeout=self.timeout, ssl_context=self.ssl_context,
                        server_name=self.server_name) as client:
            for subject in enquiry.subjects:
                digest = hashlib.sha256(f"{enquiry.enquiry_id}/{subject.person_id}".encode()).hexdigest()
                control_id = f"RF{int(digest[:15], 16) % 10**12:012d}"  # same enquiry+subject, same id
                ref = build_ref_i12(enquiry, subject, control_id=control_id,
                                    sending_facility=self.sending_facility,
                                    receiving_facility=self.receiving_facility)
                reply = client.send(ref)
                msg = FastMessage.parse(reply)
                if msg.message_type == "ACK":
                    ack = parse_ack(reply)
                    if ack.code == "AR":
                        raise PermanentEnquiryError(f"trust rejected REF^I12 (error {ack.error_code})")
                    raise RuntimeError(f"trust could not process REF^I12 now (error {ack.error_code})")
                try:
                    answers.append(parse_rri_i12(msg, agency_id=self.agency_id, enquiry=enquiry,
                                                 scorer=self.scorer))
                except Hl7ParseError as exc:
                    raise PermanentEnquiryError(f"RRI^I12 answer unusable: {exc.location}: code {exc.code}") from None
        return [self._merge(enquiry, answers)]

    def _merge(self, enquiry: Enquiry, answers: list[EnquiryResponse]) -> EnquiryResponse:
        parts = [_rename(a, f"s{i + 1}") for i, a in enumerate(answers)]
        statuses = [a.status for a in answers]
        found = [s for s in statuses if s in (ResponseStatus.INFORMATION_FOUND, ResponseStatus.PARTIAL)]
        declined = [a.declined_reason for a in answers if a.status is ResponseStatus.DECLINED]
        if not found and declined and len(declined) == len(answers):
            status = ResponseStatus.DECLINED
        elif not found:
            status = ResponseStatus.NOT_KNOWN
        elif declined or ResponseStatus.PARTIAL in statuses:
            status = ResponseStatus.PARTIAL
        else:
            status = ResponseStatus.INFORMATION_FOUND
        notes = [a.note for a in answers if a.note] + [f"declined for one subject: {d}" for d in declined if d]
        return EnquiryResponse(
            response_id=response_id_for(enquiry.enquiry_id, self.agency_id, 1), enquiry_id=enquiry.enquiry_id,
            referral_id=enquiry.referral_id, agency_id=self.agency_id, agency_kind=AgencyKind.HEALTH, status=status,
            declined_reason="; ".join(d for d in declined if d)[:2000] if status is ResponseStatus.DECLINED else None,
            people=[p for part in parts for p in part["people"]] if found else [],
            matches=[m for part in parts for m in part["matches"]] if found else [],
            findings=[f for part in parts for f in part["findings"]],
            relationships=[r for part in parts for r in part["relationships"]] if found else [],
            responder=answers[0].responder if answers else "health", responded_at=datetime.now(timezone.utc),
            more_to_follow=any(a.more_to_follow for a in answers), note="\n".join(notes)[:4000] or None,
        )
