"""Events to a FHIR trust: a ``Communication`` on the trust's server, with an acknowledgement ``Task``.

For each event:

1. the referral's enquiry Tasks still open on the server (Model 3; known from
   the connector's state) are cancelled on an outcome or decision, with the
   reason, because the hub withdrew those enquiries;
2. a ``Communication`` (status completed) carries the rendered text in
   ``payload.contentString``; ``about`` names the referral by identifier
   (``urn:mashlink:referral``), ``basedOn`` the enquiry Tasks; its
   ``identifier`` is the event id (``urn:mashlink:event``), found by a
   search before creating, so a redelivered event creates nothing new;
3. with ``acknowledgement_task``, a ``Task`` (``focus`` the Communication,
   identifier ``urn:mashlink:event-ack``) asks staff to confirm they read
   it; when a person completes it in their tool, the acknowledgement scan
   sees ``status: completed`` and the consumer publishes ``acknowledged``.

The Communication's creation (HTTP 201) is ``delivered``. FHIR failures are
transient after the client's own retries (server busy or down) and permanent
for a 4xx the server will give again (400 invalid, 401/403 not authorised).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from .channels import Delivered, PermanentDeliveryError, TransientDeliveryError
from .decode import AgencyEvent
from .store import StoredEvent
from ..health.fhir_client import FhirAuthError, FhirClient, FhirError, FhirUnavailable
from ..health.fhir_connector import ENQUIRY_SYSTEM, REFERRAL_SYSTEM, FhirTaskDelivery
from ..health.state import HealthState
from ..referrer.render import RenderedMessage

log = structlog.get_logger(__name__)

EVENT_SYSTEM = "urn:mashlink:event"
ACK_TASK_SYSTEM = "urn:mashlink:event-ack"
CATEGORY = {"outcome": "MASH outcome", "decision": "MASH decision", "escalation": "MASH enquiry escalation",
            "alert": "MASH alert", "withdrawal": "MASH enquiry withdrawn"}
TERMINAL = ("completed", "rejected", "cancelled", "failed", "entered-in-error")


def _priority(event: AgencyEvent) -> str:
    if event.kind == "alert" or (event.kind == "escalation" and event.facts.get("level") == "overdue"):
        return "urgent"
    return "routine"


class FhirEventChannel:
    name = "fhir-communication"

    def __init__(self, client: FhirClient, *, sender: str = "MASH", recipient: str = "Trust safeguarding team",
                 state: HealthState | None = None,
                 acknowledgement_task: bool = True, cancel_open_tasks: bool = True) -> None:
        self.client = client
        self.sender = sender
        self.recipient = recipient
        self.state = state
        self.acknowledgement_task = acknowledgement_task
        self.cancel_open_tasks = cancel_open_tasks

    # ---- helpers ---------------------------------------------------------------
    def _find(self, resource_type: str, system: str, value: str) -> dict[str, Any] | None:
        found = self.client.search(resource_type, {"identifier": f"{system}|{value}"})
        return found[0] if found else None

    def _enquiry_tasks(self, referral_id: str) -> list[dict[str, Any]]:
        """The referral's enquiry Tasks on the server that this connector delivered and has not closed."""
        if self.state is None:
            return []
        out: list[dict[str, Any]] = []
        for enquiry, _answered in self.state.open_tasks():
            if enquiry.referral_id != referral_id:
                continue
            for subject in enquiry.subjects:
                task = self._find("Task", ENQUIRY_SYSTEM, FhirTaskDelivery.task_identifier(enquiry, subject))
                if task is not None:
                    out.append(task)
        return out

    def _cancel(self, tasks: list[dict[str, Any]], event: AgencyEvent) -> int:
        cancelled = 0
        for task in tasks:
            if task.get("status") in TERMINAL:
                continue
            updated = {**task, "status": "cancelled",
                       "statusReason": {"text": f"MASH {event.kind} recorded on referral {event.referral_id}; "
                                                "the enquiry is withdrawn"},
                       "lastModified": datetime.now(UTC).isoformat()}
            updated.pop("meta", None)
            self.client.update(updated)
            cancelled += 1
        return cancelled

    def communication(self, event: AgencyEvent, message: RenderedMessage,
                      enquiry_tasks: list[dict[str, Any]]) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Communication",
            "identifier": [{"system": EVENT_SYSTEM, "value": event.message_id}],
            "status": "completed",
            "category": [{"text": CATEGORY.get(event.kind, "MASH event")}],
            "priority": _priority(event),
            "about": [{"identifier": {"system": REFERRAL_SYSTEM, "value": event.referral_id}}],
            "sent": datetime.now(UTC).isoformat(),
            "sender": {"display": self.sender},
            "recipient": [{"display": self.recipient}],
            "payload": [{"contentString": f"{message.subject}\n\n{message.text}"}],
        }
        if enquiry_tasks:
            resource["basedOn"] = [{"reference": f"Task/{t['id']}"} for t in enquiry_tasks]
        return resource

    def ack_task(self, event: AgencyEvent, message: RenderedMessage, communication_id: str) -> dict[str, Any]:
        return {
            "resourceType": "Task",
            "identifier": [{"system": ACK_TASK_SYSTEM, "value": event.message_id}],
            "groupIdentifier": {"system": REFERRAL_SYSTEM, "value": event.referral_id},
            "status": "requested", "intent": "order", "priority": _priority(event),
            "code": {"text": "Confirm receipt of MASH message"},
            "description": message.subject,
            "focus": {"reference": f"Communication/{communication_id}"},
            "authoredOn": datetime.now(UTC).isoformat(),
            "requester": {"display": self.sender},
        }

    # ---- channel ---------------------------------------------------------------
    def send(self, event: AgencyEvent, message: RenderedMessage) -> Delivered:
        try:
            enquiry_tasks = self._enquiry_tasks(event.referral_id)
            cancelled = 0
            if self.cancel_open_tasks and event.kind in ("outcome", "decision", "withdrawal"):
                targets = enquiry_tasks if event.kind != "withdrawal" else [
                    t for t in enquiry_tasks if any(i.get("value", "").startswith(f"{event.enquiry_id}/")
                                                    for i in t.get("identifier", []))]
                cancelled = self._cancel(targets, event)
            comm = self._find("Communication", EVENT_SYSTEM, event.message_id)
            status = 200
            if comm is None:
                comm = self.client.create(self.communication(event, message, enquiry_tasks))
                status = 201
            ref = f"Communication/{comm['id']}"
            if self.acknowledgement_task:
                task = self._find("Task", ACK_TASK_SYSTEM, event.message_id)
                if task is None:
                    task = self.client.create(self.ack_task(event, message, comm["id"]))
                ref += f"|Task/{task['id']}"
        except FhirAuthError as exc:
            raise PermanentDeliveryError(f"fhir {exc.status}: not authorised") from None
        except FhirUnavailable as exc:
            raise TransientDeliveryError(f"fhir {exc.status or 'transport'}: server unavailable") from None
        except FhirError as exc:
            if exc.status in (400, 404, 405, 409, 412, 422):
                raise PermanentDeliveryError(f"fhir {exc.status}: request refused") from None
            raise TransientDeliveryError(f"fhir {exc.status}: request failed") from None
        if cancelled:
            log.info("events.fhir_tasks_cancelled", referral_id=event.referral_id, tasks=cancelled)
        return Delivered(detail=f"fhir {status} {ref.split('|')[0]}", ref=ref)

    def acknowledged(self, delivered: list[StoredEvent]) -> list[tuple[str, str]]:
        """Events whose acknowledgement Task a person completed in the trust's tool."""
        out: list[tuple[str, str]] = []
        for row in delivered:
            task_ref = next((p for p in row.ref.split("|") if p.startswith("Task/")), None)
            if task_ref is None:
                continue
            try:
                task = self.client.read("Task", task_ref.split("/", 1)[1])
            except FhirError as exc:
                log.warning("events.fhir_ack_check_failed", status=exc.status)
                break  # the server is away: try the rest on the next scan
            if task is not None and task.get("status") == "completed":
                out.append((row.message_id, f"{task_ref} completed"))
        return out
