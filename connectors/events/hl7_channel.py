"""Events to an HL7 v2 trust: an MDM^T02 (original document notification and content) over MLLP.

Why MDM^T02: what the trust receives is a document (the MASH's letter about
the referral) to be filed and read, not a clinical result (ORU) or an order
(OMG); integration engines route MDM into document management and
work-queues as they do clinic letters. The message (v2.5.1)::

    MSH|^~\\&|MASHLINK|<sending facility>|<receiving app>|<receiving facility>|<ts>||MDM^T02^MDM_T02|<control id>|P|2.5.1|||AL|NE
    EVN|T02|<ts>
    PID|1||<referral id>^^^MASHLINK-REFERRAL^RI
    PV1|1|N
    TXA|1|MASHOUT^MASH outcome^L|TX|<ts>||<ts>||||||<event id>^MASHLINK-EVENT||||||AU||AV
    OBX|1|TX|MASH^MASH outcome^L||<line 1>~<line 2>~...||||||F

PID-3 carries the MASH referral reference in the namespace the trust's
engine already received in RF1-11 of the REF^I12 enquiry, so the document is
filed against that referral; no demographics travel. TXA-12 (unique document
number) is the event's message id and MSH-10 is derived from it, so an
engine that de-duplicates on either keeps one document. TXA-2 names the
event: MASHOUT (outcome or decision), MASHESC (escalation), MASHALT (alert),
MASHWDN (withdrawal).

The ACK decides: AA delivered; AE (the engine could not process it now)
transient, retried then failed; AR (it never will) failed at once. The
failure detail carries the ACK code and the ERR code with a fixed
description of what they mean (:func:`ack_reason`), never the engine's own
text (MSA-3 / ERR-8 are free text the trust's system writes and can quote
a patient's name) and never the document: the detail is logged at WARNING,
sent in the failed receipt and copied into the team's escalation. A
transport failure is described by a fixed phrase (:func:`mllp_reason`).
"""

from __future__ import annotations

import errno
import hashlib
import re
import socket
import ssl
from datetime import UTC, datetime

from .channels import Delivered, PermanentDeliveryError, TransientDeliveryError
from .decode import AgencyEvent
from ..health.hl7_ack import parse_ack
from ...mapping.paths.hl7_er7 import Hl7ParseError, escape_text
from ..health.mllp import MllpClient, MllpError
from ..referrer.render import RenderedMessage

VERSION = "2.5.1"
NS_REFERRAL = "MASHLINK-REFERRAL"
NS_EVENT = "MASHLINK-EVENT"
DOCUMENT_TYPES = {
    "outcome": ("MASHOUT", "MASH outcome"), "decision": ("MASHOUT", "MASH outcome"),
    "escalation": ("MASHESC", "MASH enquiry escalation"), "alert": ("MASHALT", "MASH alert"),
    "withdrawal": ("MASHWDN", "MASH enquiry withdrawn"),
}


#: MSA-1 acknowledgement codes (HL7 table 0008) and what they mean.
ACK_MEANING = {
    "AA": "accepted", "AE": "application error", "AR": "application reject",
    "CA": "commit accept", "CE": "commit error", "CR": "commit reject",
}
#: ERR-3 / ERR-1.4 message error condition codes (HL7 table 0357) and what they mean.
ERROR_MEANING = {
    "0": "message accepted", "100": "segment sequence error", "101": "required field missing",
    "102": "data type error", "103": "table value not found", "104": "value too long",
    "200": "unsupported message type", "201": "unsupported event code", "202": "unsupported processing id",
    "203": "unsupported version id", "204": "unknown key identifier", "205": "duplicate key identifier",
    "206": "application record locked", "207": "application internal error",
}
_LOCAL_CODE = re.compile(r"^[0-9]{1,6}$")


def ack_reason(code: str | None, error_code: str | None) -> str:
    """``hl7 AE 207 (application error; application internal error)``: codes and fixed meanings only.

    Why not the engine's text: MSA-3 and ERR-8 are written by the trust's
    system and may quote the record ("no match for Ada Testchild ..."); the
    reason is logged, sent in the failed receipt and copied into an
    escalation. An MSA-1 outside table 0008 is reported as unrecognised, and
    an error code is shown only when it is a number (table 0357 or a local
    numeric code), since a free-text "code" is text again.
    """
    ack = (code or "").strip().upper()
    if ack in ACK_MEANING:
        head, meanings = f"hl7 {ack}", [ACK_MEANING[ack]]
    else:
        head, meanings = "hl7 ACK", ["unrecognised MSA-1" if ack else "no MSA-1"]
    err = (error_code or "").strip()
    if err:
        if _LOCAL_CODE.match(err):
            head += f" {int(err)}"
            meanings.append(ERROR_MEANING.get(str(int(err)), "error code outside HL7 table 0357"))
        else:
            meanings.append("non-numeric error code (not shown)")
    return f"{head} ({'; '.join(meanings)})"


def mllp_reason(exc: BaseException) -> str:
    """A transport failure as a fixed phrase (never the exception text, which can quote the peer)."""
    cause = exc.__cause__
    text = str(exc)
    if isinstance(cause, ssl.SSLError):
        return "mllp TLS handshake failed"
    if isinstance(cause, (socket.timeout, TimeoutError)) or text.startswith("timed out"):
        return "mllp timed out waiting for the ACK" if text.startswith("timed out") else "mllp connection timed out"
    if isinstance(cause, OSError) and cause.errno in errno.errorcode:
        return f"mllp {errno.errorcode[cause.errno]}"
    if text.startswith("connection closed by peer"):
        return "mllp connection closed by the engine before an ACK"
    if "malformed or oversize" in text:
        return "mllp malformed or oversize frame from the engine"
    return f"mllp transport failure ({type(cause).__name__ if cause is not None else type(exc).__name__})"


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def control_id_for(message_id: str) -> str:
    """MSH-10 from the event id (<= 20 characters): the same event, the same control id."""
    digest = hashlib.sha256(message_id.encode()).hexdigest()
    return f"EV{int(digest[:16], 16) % 10**18:018d}"


def build_mdm_t02(event: AgencyEvent, message: RenderedMessage, *, sending_facility: str = "MASH",
                  receiving_application: str = "", receiving_facility: str = "",
                  now: datetime | None = None) -> str:
    """The MDM^T02 for one event (ER7, CR separators); every value is escaped."""
    e = escape_text
    ts = _ts(now or datetime.now(UTC))
    code, label = DOCUMENT_TYPES.get(event.kind, ("MASHEVT", "MASH event"))
    lines = [message.subject, "", *message.text.rstrip("\n").split("\n")]
    segments = [
        f"MSH|^~\\&|MASHLINK|{e(sending_facility)}|{e(receiving_application)}|{e(receiving_facility)}|{ts}||"
        f"MDM^T02^MDM_T02|{control_id_for(event.message_id)}|P|{VERSION}|||AL|NE",
        f"EVN|T02|{ts}",
        f"PID|1||{e(event.referral_id)}^^^{NS_REFERRAL}^RI",
        "PV1|1|N",
        f"TXA|1|{code}^{e(label)}^L|TX|{_ts(event.sent_at)}||{ts}||||||{e(event.message_id)}^{NS_EVENT}"
        "||||||AU||AV",
        f"OBX|1|TX|MASH^{e(label)}^L||{'~'.join(e(line) for line in lines)}||||||F",
    ]
    return "\r".join(segments) + "\r"


class Hl7EventChannel:
    name = "hl7-mllp"

    def __init__(self, host: str, port: int, *, timeout_s: float = 30.0, sending_facility: str = "MASH",
                 receiving_facility: str = "", ssl_context: ssl.SSLContext | None = None,
                 server_name: str | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.sending_facility = sending_facility
        self.receiving_facility = receiving_facility
        self.ssl_context = ssl_context
        self.server_name = server_name

    def send(self, event: AgencyEvent, message: RenderedMessage) -> Delivered:
        mdm = build_mdm_t02(event, message, sending_facility=self.sending_facility,
                            receiving_facility=self.receiving_facility)
        try:
            with MllpClient(self.host, self.port, timeout=self.timeout_s, ssl_context=self.ssl_context,
                            server_name=self.server_name) as client:
                reply = client.send(mdm)
        except MllpError as exc:
            raise TransientDeliveryError(mllp_reason(exc)) from None
        try:
            ack = parse_ack(reply)
        except Hl7ParseError as exc:
            raise TransientDeliveryError(f"mllp reply is not an ACK ({exc.code})") from None
        control = control_id_for(event.message_id)
        if ack.control_id and ack.control_id != control:
            raise TransientDeliveryError("hl7 ACK MSA-2 does not echo the MDM^T02 control id")
        if ack.code in ("AA", "CA"):
            return Delivered(detail=f"hl7 {ack.code} {control}", ref=control)
        reason = ack_reason(ack.code, ack.error_code)
        if ack.code in ("AR", "CR"):
            raise PermanentDeliveryError(reason)
        raise TransientDeliveryError(reason)
