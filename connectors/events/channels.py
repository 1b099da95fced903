"""Channels that put a rendered event into the agency's own tool: web hook and drop folder.

(The FHIR and HL7 v2 channels live in :mod:`.fhir_channel` and
:mod:`.hl7_channel`, so a police deployment never imports health code.)

A channel's ``send`` makes one attempt and returns :class:`Delivered`, or raises

* :class:`TransientDeliveryError`: worth trying again (peer down, time-out,
  HTTP 408/425/429/5xx, HL7 AE, a folder that cannot be written now); the
  consumer retries with back-off through the broker and, after
  ``max_attempts``, publishes a ``failed`` receipt and parks the event;
* :class:`PermanentDeliveryError`: trying again cannot help as it is (HTTP
  4xx, HL7 AR); ``failed`` receipt and parked at once, replayable once fixed.

``acknowledged`` (optional) looks at events already delivered and returns
those the agency's tool has since confirmed (a file moved to ``processed/``,
a FHIR Task completed). Details name the channel, status and rule, never
the message text, and never text from the agency's system (a web hook's
response body, a FHIR ``OperationOutcome``, an HL7 ERR, an OS error's path):
the detail is logged at WARNING, sent in the receipt and copied into the
hub's escalation, and such text can quote a person's name.
"""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from ..files import atomic_write_text, is_temporary, safe_file_name
from ..delivery.signing import sign_headers
from .decode import AgencyEvent
from .store import StoredEvent
from ..referrer.channels import (
    RETRY_HTTP,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from ..referrer.render import RenderedMessage

__all__ = ["Delivered", "DropFolderEventChannel", "EventChannel", "PermanentDeliveryError",
           "TransientDeliveryError", "WebhookEventChannel", "event_payload"]

EVENT_KIND = "mashlink.agency_event"


@dataclass(frozen=True)
class Delivered:
    """One successful delivery: the receipt detail, the channel's reference, and whether it is already acknowledged."""

    detail: str
    ref: str = ""
    acknowledged: bool = False


class EventChannel(Protocol):
    #: The receipt's ``channel``: fhir-communication, hl7-mllp, webhook, drop-folder.
    name: str

    def send(self, event: AgencyEvent, message: RenderedMessage) -> Delivered: ...


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def event_payload(event: AgencyEvent, message: RenderedMessage, *, ack_url: str | None = None) -> dict[str, Any]:
    """The JSON an agency's tool receives (web hook body, drop-folder file): ids, codes and the rendered text.

    ``ack_url``, when the connector serves an acknowledgement endpoint, is where the tool POSTs
    ``{"event_id": ...}`` (signed) once a person has read it.
    """
    extra = {"ack_url": ack_url} if ack_url else {}
    return {**extra,
        "type": EVENT_KIND, "version": "1", "event_id": event.message_id, "event": event.kind,
        "agency_id": event.agency_id, "referral_id": event.referral_id, "outcome_id": event.outcome_id,
        "enquiry_id": event.enquiry_id, "sent_at": event.sent_at.isoformat(),
        "facts": {k: _json_value(v) for k, v in event.facts.items()},
        "subject": message.subject, "text": message.text,
    }


def _dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class WebhookEventChannel:
    """POST the event as signed JSON with ``Idempotency-Key: <event id>``; any 2xx is delivered.

    A 2xx whose JSON body says ``{"acknowledged": true}`` is also an explicit
    acknowledgement (the tool showed it to a person at once); a later one is
    a signed POST to ``ack_url`` (:mod:`.ack_endpoint`).
    """

    name = "webhook"

    def __init__(self, url: str, key: bytes, *, timeout_s: float = 10.0, verify_tls: bool | str = True,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url
        self.key = key
        self.timeout_s = timeout_s
        self.verify_tls = verify_tls
        self.transport = transport
        self.ack_url: str | None = None  # set when the acknowledgement endpoint is listening

    def send(self, event: AgencyEvent, message: RenderedMessage) -> Delivered:
        body = _dumps(event_payload(event, message, ack_url=self.ack_url))
        headers = sign_headers(self.key, body, idempotency_key=event.message_id)
        try:
            with httpx.Client(timeout=self.timeout_s, verify=self.verify_tls, transport=self.transport) as client:
                response = client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"webhook {type(exc).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            acknowledged = False
            try:
                reply = response.json() if response.content else None
                acknowledged = isinstance(reply, dict) and reply.get("acknowledged") is True
            except ValueError:
                pass
            return Delivered(detail=f"http {status}", ref=event.message_id, acknowledged=acknowledged)
        if status in RETRY_HTTP:
            raise TransientDeliveryError(f"webhook http {status}")
        raise PermanentDeliveryError(f"webhook http {status}")


def os_reason(exc: OSError) -> str:
    """``PermissionError EACCES``: the class and errno name only.

    Never ``str(exc)``: it carries the path, and a share's folders are often
    named after people (a pupil's folder, a worker's home drive).
    """
    code = errno.errorcode.get(exc.errno) if isinstance(exc.errno, int) else None
    return f"{type(exc).__name__}{' ' + code if code else ''}"


class DropFolderEventChannel:
    """One JSON file per event in ``outbox/`` (atomic, fsynced); moved to ``processed/`` = acknowledged.

    Re-delivering an event rewrites the same file name, so the tool sees one
    file per event. A folder that cannot be written (missing share, no
    permission, full disk) is a transient failure: retried, then parked.
    """

    name = "drop-folder"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.outbox = self.root / "outbox"
        self.processed = self.root / "processed"

    def send(self, event: AgencyEvent, message: RenderedMessage) -> Delivered:
        name = safe_file_name(event.message_id)
        text = json.dumps(event_payload(event, message), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        try:
            self.processed.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.outbox / name, text)
        except OSError as exc:
            raise TransientDeliveryError(f"drop folder not writable ({os_reason(exc)})") from None
        return Delivered(detail=f"file written outbox/{name}", ref=name)

    def acknowledged(self, delivered: list[StoredEvent]) -> list[tuple[str, str]]:
        """Delivered events whose file the tool moved to ``processed/`` (same name, or ``name.N.json``)."""
        try:
            present = {p.name for p in self.processed.iterdir() if p.is_file() and not is_temporary(p)}
        except OSError:
            return []
        out: list[tuple[str, str]] = []
        for row in delivered:
            if not row.ref:
                continue
            stem = row.ref[:-len(".json")]
            if row.ref in present or any(n.startswith(stem + ".") and n.endswith(".json") for n in present):
                out.append((row.message_id, f"file moved to processed/{row.ref}"))
        return out
