"""Model 3 over FHIR: enquiries become Tasks on the trust's server; completed Tasks answer later.

``FhirTaskConnector.handle`` creates one ``Task`` per subject (idempotent on
the enquiry identifier, so a redelivered enquiry never creates a second
Task), remembers the enquiry in the connector's state file, and answers at
once with an acknowledgement (sequence 1, partial, ``more_to_follow``): the
hub sees the enquiry was received and is being worked.

The real answer comes when trust staff complete the Tasks in their own tool,
minutes or days later. ``TaskPoller`` (a background thread owned by the
connector process) checks open Tasks on an interval and publishes the answer
out of band as sequence 2 through the shared ``AnswerPublisher``. Every id is
deterministic (response id from the enquiry and sequence, envelope id from
agency, enquiry and sequence), so a re-poll after a crash between publishing
and recording republishes the *same* message and the hub drops the repeat.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from ..base import PermanentEnquiryError, response_id_for
from ..delivery.answers import AnswerPublisher
from ..delivery.pending import PendingEnquiry
from .fhir_connector import FhirTaskDelivery
from .state import HealthState
from ...schemas.codes import AgencyKind, ResponseStatus
from ...schemas.enquiry import Enquiry, EnquiryResponse

log = structlog.get_logger("mashlink.connectors.health.tasks")

ACK_SEQUENCE = 1
ANSWER_SEQUENCE = 2
CHANNEL = "fhir-task"


class FhirTaskConnector:
    """``AgencyConnector`` that delivers enquiries as FHIR Tasks (Model 3)."""

    agency_kind = AgencyKind.HEALTH

    def __init__(self, agency_id: str, delivery: FhirTaskDelivery, state: HealthState, *,
                 responder: str = "Trust safeguarding team") -> None:
        self.agency_id = agency_id
        self.delivery = delivery
        self.state = state
        self.responder = responder

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        # Deliver first, then remember: a crash in between redelivers the enquiry and both are redone
        # (delivery finds the Tasks it created), whereas remembering first could poll for Tasks never made.
        task_ids = self.delivery.deliver(enquiry)
        self.state.remember_tasks(enquiry, task_ids)
        return [EnquiryResponse(
            response_id=response_id_for(enquiry.enquiry_id, self.agency_id, ACK_SEQUENCE),
            enquiry_id=enquiry.enquiry_id, referral_id=enquiry.referral_id, agency_id=self.agency_id,
            agency_kind=AgencyKind.HEALTH, status=ResponseStatus.PARTIAL, responder=self.responder,
            responded_at=datetime.now(UTC), sequence=ACK_SEQUENCE, more_to_follow=True,
            note=f"Received and delivered to the trust as {len(task_ids)} FHIR Task(s); the answer will follow.",
        )]


def pending_for(enquiry: Enquiry, agency_id: str) -> PendingEnquiry:
    """What ``AnswerPublisher`` needs to address an out-of-band answer."""
    return PendingEnquiry(enquiry_id=enquiry.enquiry_id, agency_id=agency_id, agency_kind=AgencyKind.HEALTH,
                          referral_id=enquiry.referral_id, rag=enquiry.rag, due_at=enquiry.due_at,
                          delivered_at=enquiry.requested_at, channel=CHANNEL)


class TaskPoller:
    """Checks open Tasks every ``interval_s`` and publishes completed ones as answers.

    ``poll_once`` is the unit of work (tests call it directly); ``start`` runs
    it in a daemon thread until ``stop``. A FHIR or broker failure leaves the
    enquiry open for the next poll: nothing is marked answered until the
    broker confirmed the answer.
    """

    name = "fhir-task-poller"

    def __init__(self, delivery: FhirTaskDelivery, state: HealthState, publisher: AnswerPublisher, *,
                 interval_s: float = 30.0, on_error: Callable[[Exception], None] | None = None) -> None:
        self.delivery = delivery
        self.state = state
        self.publisher = publisher
        self.interval_s = interval_s
        self.on_error = on_error
        self.published = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> int:
        """One pass over open Tasks; returns the number of answers published."""
        published = 0
        agency_id = self.delivery.agency_id
        for enquiry, answered in self.state.open_tasks():
            if self._stop.is_set():
                break
            if answered >= ANSWER_SEQUENCE:
                continue
            try:
                response = self.delivery.collect(enquiry, sequence=ANSWER_SEQUENCE)
                if response is None:
                    continue
                self.publisher.publish(response, pending_for(enquiry, agency_id))
            except PermanentEnquiryError as exc:
                self.errors += 1
                log.warning("fhir_task.unusable_output", enquiry_id=enquiry.enquiry_id, detail=exc.detail)
                continue
            except Exception as exc:  # noqa: BLE001 - FHIR or broker down: try again next poll
                self.errors += 1
                log.warning("fhir_task.poll_failed", enquiry_id=enquiry.enquiry_id, error=type(exc).__name__)
                if self.on_error is not None:
                    self.on_error(exc)
                continue
            self.state.mark_answered(enquiry.enquiry_id, ANSWER_SEQUENCE, final=True)
            published += 1
            log.info("fhir_task.answered", enquiry_id=enquiry.enquiry_id, status=response.status.value)
        self.published += published
        return published

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - the state file itself failing: keep the thread alive
                self.errors += 1
                log.error("fhir_task.poller_failed", error=type(exc).__name__)
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("task poller already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        self.publisher.close()
