"""ACK and NAK messages, built with hl7apy.

An acknowledgement answers every message an MLLP peer sends, even one that
could not be read: MSA-1 says accepted (AA), error (AE: the message was read
but its content is wrong or processing failed) or reject (AR: the message
cannot be processed at all: bad header, unsupported type or version, frame
too large); MSA-2 echoes the sender's control id (MSH-10) so the sender can
match it. On failure an ERR segment says what went wrong, in the shape of
the version being answered: ERR-1 (ELD) up to v2.4, ERR-2/3/4/8 from v2.5.

hl7apy does not escape values, so free text is escaped here before it is set.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message

from ...mapping.paths.hl7_er7 import DEFAULT_ENCODING, FastMessage, escape_text

SUPPORTED_VERSIONS = ("2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2")
DEFAULT_VERSION = "2.5.1"

#: HL7 table 0357 message error condition codes used by this connector.
ERROR_TEXT = {
    0: "Message accepted",
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    104: "Value too long",
    200: "Unsupported message type",
    201: "Unsupported event code",
    202: "Unsupported processing id",
    203: "Unsupported version id",
    206: "Application record locked",
    207: "Application internal error",
}


class AckCode(StrEnum):
    ACCEPT = "AA"
    ERROR = "AE"
    REJECT = "AR"


@dataclass(frozen=True)
class AckError:
    """What goes into ERR: the table 0357 code, where, and a message (no personal data)."""

    code: int
    message: str
    segment: str | None = None
    sequence: int | None = None
    field: int | None = None


_counter = itertools.count(1)


def new_control_id(prefix: str = "ML") -> str:
    """Unique-enough control id for messages this process sends (<= 20 chars)."""
    stamp = datetime.now(timezone.utc).strftime("%y%m%d%H%M%S")
    return f"{prefix}{stamp}{os.getpid() % 1000:03d}{next(_counter) % 1000:03d}"[:20]


def _version_for(version: str) -> str:
    return version if version in SUPPORTED_VERSIONS else DEFAULT_VERSION


def build_ack(
    code: AckCode,
    *,
    control_id: str = "",
    version: str = "",
    message_type: str = "",
    trigger: str = "",
    sending_application: str = "MASHLINK",
    sending_facility: str = "",
    receiving_application: str = "",
    receiving_facility: str = "",
    error: AckError | None = None,
    text: str | None = None,
) -> str:
    """An ACK (or NAK) as ER7 text with CR separators."""
    ver = _version_for(version)
    msg = Message("ACK", version=ver, validation_level=VALIDATION_LEVEL.TOLERANT)
    esc = escape_text
    msg.msh.msh_3 = esc(sending_application)
    if sending_facility:
        msg.msh.msh_4 = esc(sending_facility)
    if receiving_application:
        msg.msh.msh_5 = esc(receiving_application)
    if receiving_facility:
        msg.msh.msh_6 = esc(receiving_facility)
    msg.msh.msh_7 = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S+0000")
    msh9 = "ACK"
    if trigger and trigger.isalnum() and len(trigger) <= 3:
        msh9 += f"^{trigger}^ACK" if ver not in ("2.2", "2.3", "2.3.1", "2.4") else f"^{trigger}"
    msg.msh.msh_9 = msh9
    msg.msh.msh_10 = new_control_id()
    msg.msh.msh_11 = "P"
    msg.msh.msh_12 = ver
    msg.msa.msa_1 = code.value
    msg.msa.msa_2 = esc(control_id[:199]) if control_id else ""
    if text:
        msg.msa.msa_3 = esc(text[:80])
    if error is not None:
        err = msg.add_segment("ERR")
        label = ERROR_TEXT.get(error.code, "Error")
        if ver in ("2.2", "2.3", "2.3.1", "2.4"):
            # ELD: segment id ^ sequence ^ field position ^ code&text&HL70357
            seg = error.segment or ""
            seq = str(error.sequence or (1 if seg else ""))
            fld = str(error.field or "")
            err.err_1 = f"{seg}^{seq}^{fld}^{error.code}&{esc(label)}&HL70357"
            if not msg.msa.msa_3.value:
                msg.msa.msa_3 = esc(error.message[:80])
        else:
            if error.segment:
                loc = f"{error.segment}^{error.sequence or 1}"
                if error.field:
                    loc += f"^{error.field}"
                err.err_2 = loc
            err.err_3 = f"{error.code}^{esc(label)}^HL70357"
            err.err_4 = "E"
            err.err_8 = esc(error.message[:250])
    return msg.to_er7()


def ack_for(
    message: FastMessage,
    code: AckCode = AckCode.ACCEPT,
    error: AckError | None = None,
    *,
    application: str = "MASHLINK",
    facility: str = "",
) -> str:
    """Acknowledge a parsed message: routing fields swapped, control id echoed."""
    return build_ack(
        code,
        control_id=message.control_id,
        version=message.version,
        message_type=message.message_type,
        trigger=message.trigger,
        sending_application=application,
        sending_facility=facility or message.value("MSH", 6),
        receiving_application=message.value("MSH", 3),
        receiving_facility=message.value("MSH", 4),
        error=error,
    )


@dataclass(frozen=True)
class ParsedAck:
    """An acknowledgement as the client reads it."""

    code: str
    control_id: str
    text: str
    error_code: str
    error_message: str
    raw: str

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")


def parse_ack(text: str) -> ParsedAck:
    """Read MSA and ERR from an ACK (either ERR layout)."""
    msg = FastMessage.parse(text)
    err_code = msg.value("ERR", 3, 1) or msg.value("ERR", 1, 4, 1)
    err_msg = msg.value("ERR", 8) or msg.value("MSA", 3) or msg.value("ERR", 1, 4, 2)
    return ParsedAck(
        code=msg.value("MSA", 1),
        control_id=msg.value("MSA", 2),
        text=msg.value("MSA", 3),
        error_code=err_code,
        error_message=err_msg,
        raw=text,
    )


__all__ = [
    "AckCode", "AckError", "ParsedAck", "ack_for", "build_ack", "parse_ack", "new_control_id",
    "DEFAULT_ENCODING",
]
