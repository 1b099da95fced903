"""Model 3 for any agency kind: deliver the enquiry into the agency's tool, answer later.

:class:`Model3Delivery` is the delivery step on its own (a channel plus the
durable pending record), used by :class:`Model3Connector` and by connectors
that also search (police: search answer now, the team's answer later).

:class:`Model3Connector` is an ``AgencyConnector`` whose ``handle`` delivers
the task and returns a first response saying so (``partial``,
``more_to_follow``), so the hub sees at once that the enquiry reached the
agency; the agency's answer arrives later through the web-hook endpoint or
the inbox and is published by the :class:`~mashlink.connectors.delivery.answers.AnswerPublisher`
as sequence 2, 3, ... . Redelivery of an enquiry is harmless: the task is
delivered with the same idempotency key / file name, the pending record is
kept, and the first response has the same ids.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from ..base import PermanentEnquiryError, response_id_for
from .dropfolder import DropFolder, deliver_task
from .models import DeliveryTask
from .pending import PendingStore
from .webhook import DeliveryRefused, WebhookSender
from ...schemas.codes import AgencyKind, ResponseStatus
from ...schemas.enquiry import Enquiry, EnquiryResponse


class DeliveryChannel(Protocol):
    name: str

    def deliver(self, task: DeliveryTask) -> str: ...


class WebhookChannel:
    name = "webhook"

    def __init__(self, sender: WebhookSender, *, reply_to: str | None = None) -> None:
        self.sender = sender
        self.reply_to = reply_to

    def deliver(self, task: DeliveryTask) -> str:
        try:
            self.sender.send(task)
        except DeliveryRefused as exc:
            raise PermanentEnquiryError(f"agency web hook refused the task: HTTP {exc.status}") from None
        return f"web hook task {task.task_id}"


class DropFolderChannel:
    name = "drop_folder"

    def __init__(self, folder: DropFolder) -> None:
        self.folder = folder
        self.reply_to = None

    def deliver(self, task: DeliveryTask) -> str:
        path = deliver_task(self.folder, task)
        return f"worklist file {path.name}"


class Model3Delivery:
    def __init__(self, agency_id: str, channel: DeliveryChannel, pending: PendingStore) -> None:
        self.agency_id = agency_id
        self.channel = channel
        self.pending = pending

    def task_for(self, enquiry: Enquiry) -> DeliveryTask:
        return DeliveryTask(task_id=enquiry.enquiry_id, agency_id=self.agency_id, delivered_at=datetime.now(UTC),
                            answer_by=enquiry.due_at, reply_to=getattr(self.channel, "reply_to", None),
                            enquiry=enquiry)

    def deliver(self, enquiry: Enquiry) -> str:
        """Record, then deliver (so an answer arriving at once finds its pending record)."""
        self.pending.remember(enquiry, self.channel.name)
        return self.channel.deliver(self.task_for(enquiry))


class Model3Connector:
    """``AgencyConnector`` that only delivers (education, social care, or police without search)."""

    def __init__(self, agency_id: str, agency_kind: AgencyKind, delivery: Model3Delivery, *,
                 responder: str | None = None) -> None:
        self.agency_id = agency_id
        self.agency_kind = AgencyKind(agency_kind)
        self.delivery = delivery
        self.responder = responder or f"{self.agency_kind.value.replace('_', ' ').title()} MASH team"

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        if enquiry.agency_id != self.agency_id or enquiry.agency_kind is not self.agency_kind:
            raise PermanentEnquiryError(f"enquiry is not for {self.agency_kind.value} agency {self.agency_id}")
        receipt = self.delivery.deliver(enquiry)
        return [EnquiryResponse(
            response_id=response_id_for(enquiry.enquiry_id, self.agency_id, 1),
            enquiry_id=enquiry.enquiry_id, referral_id=enquiry.referral_id, agency_id=self.agency_id,
            agency_kind=self.agency_kind, status=ResponseStatus.PARTIAL, responder=self.responder,
            responded_at=datetime.now(UTC), sequence=1, more_to_follow=True,
            note=f"Received and delivered to the agency's own tool ({receipt}); the answer will follow.",
        )]
