"""The HL7 v2 application layer behind an MLLP listener: parse, dispatch, acknowledge.

``Hl7Receiver`` is the ``MessageHandler`` an ``MllpServer`` calls. It decides
the acknowledgement from what happened, so the transport never has to:

* header unreadable, wrong version, message type not accepted -> AR;
* content wrong (missing PID, bad data type) or strict validation failed -> AE
  with the HL7 error code and location in ERR;
* the callback raised anything else -> AE 207 (internal error; the detail is
  logged by type only, never echoed to the peer);
* otherwise AA.

``validate=True`` also runs hl7apy's strict parser on the message, for
deployments that want conformance checking and can afford its cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import structlog
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from .hl7_ack import AckCode, AckError, ack_for, build_ack
from ...mapping.paths.hl7_er7 import FastMessage, Hl7ParseError, peek_header

log = structlog.get_logger("mashlink.connectors.health.hl7")

#: Called with each readable message; raise ``Hl7ParseError`` for content errors.
MessageCallback = Callable[[FastMessage], None]


class Hl7Receiver:
    """Turns raw message bytes into an ACK/NAK, calling ``on_message`` for good ones."""

    def __init__(
        self,
        on_message: MessageCallback,
        *,
        accept: Iterable[str] | None = None,
        validate: bool = False,
        application: str = "MASHLINK",
        facility: str = "",
    ) -> None:
        self.on_message = on_message
        self.accept = frozenset(accept) if accept is not None else None
        self.validate = validate
        self.application = application
        self.facility = facility

    def __call__(self, data: bytes) -> str:
        try:
            msg = FastMessage.parse(data)
        except Hl7ParseError as exc:
            control_id, _t, trigger, version = peek_header(data)
            log.warning("hl7.unreadable", code=exc.code, location=exc.location)
            return build_ack(
                AckCode.REJECT if exc.reject else AckCode.ERROR,
                control_id=control_id, version=version, trigger=trigger,
                sending_application=self.application, sending_facility=self.facility,
                error=AckError(exc.code, str(exc), exc.segment, exc.sequence, exc.field),
            )
        nak = self._check_header(msg)
        if nak is not None:
            return nak
        if self.validate:
            try:
                parse_message(msg.to_er7(), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
            except Exception as exc:  # hl7apy raises many types; all mean "does not conform"
                log.warning("hl7.validation_failed", control_id=msg.control_id, error_type=type(exc).__name__)
                return self._ack(msg, AckCode.ERROR, AckError(102, f"message does not conform: {exc}"[:250]))
        try:
            self.on_message(msg)
        except Hl7ParseError as exc:
            log.warning("hl7.content_error", control_id=msg.control_id, code=exc.code, location=exc.location)
            return self._ack(
                msg, AckCode.REJECT if exc.reject else AckCode.ERROR,
                AckError(exc.code, str(exc), exc.segment, exc.sequence, exc.field),
            )
        except Exception as exc:
            log.error("hl7.processing_failed", control_id=msg.control_id, error_type=type(exc).__name__)
            return self._ack(msg, AckCode.ERROR, AckError(207, "application internal error; message not processed"))
        return self._ack(msg, AckCode.ACCEPT)

    def _ack(self, msg: FastMessage, code: AckCode, error: AckError | None = None) -> str:
        return ack_for(msg, code, error, application=self.application, facility=self.facility)

    def _check_header(self, msg: FastMessage) -> str | None:
        if not msg.control_id:
            return self._ack(msg, AckCode.REJECT, AckError(101, "MSH-10 message control id is required", "MSH", 1, 10))
        if not msg.message_type:
            return self._ack(msg, AckCode.REJECT, AckError(101, "MSH-9 message type is required", "MSH", 1, 9))
        version = msg.version
        if not version.startswith("2."):
            return self._ack(msg, AckCode.REJECT, AckError(203, "MSH-12 must be an HL7 v2 version", "MSH", 1, 12))
        if self.accept is not None:
            key = f"{msg.message_type}^{msg.trigger}"
            if key not in self.accept and msg.message_type not in self.accept:
                code = 200 if not any(a.split("^")[0] == msg.message_type for a in self.accept) else 201
                return self._ack(
                    msg, AckCode.REJECT,
                    AckError(code, f"message type {key} is not accepted by this endpoint", "MSH", 1, 9),
                )
        return None
