"""Delivery receipts: proof that an event reached the agency's own tool.

Why a message of its own: the hub publishes outcomes, decisions, escalations
and alerts to each agency's events queue, but "published" is not "received".
The connector that delivers an event into the agency's tool (a FHIR Task or
Communication, an HL7 message over MLLP, a web hook, a drop folder) reports
what happened as a ``receipt`` envelope on the events exchange
(routing key ``receipt.<agency>``), so the hub can show on the referral
whether each outcome was delivered, acknowledged by a person, or failed and
why, and escalate one that nobody acknowledged in time.

A receipt carries ids and a status, never case content.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .base import CanonicalModel, UtcDatetime


class ReceiptStatus(StrEnum):
    DELIVERED = "delivered"          # the agency's tool accepted it (MLLP AA, HTTP 2xx, file written, Task created)
    ACKNOWLEDGED = "acknowledged"    # a person or the agency system confirmed it was read / acted on
    FAILED = "failed"                # could not be delivered; ``detail`` says why (it is also parked for replay)


class DeliveryReceipt(CanonicalModel):
    receipt_id: str = Field(min_length=1, max_length=64, description="Stable per (event, status): a resent receipt is one effect")
    event_message_id: str = Field(min_length=1, max_length=64, description="Message id of the delivered event envelope")
    event_type: str = Field(min_length=1, max_length=32, description="outcome, decision, escalation, alert ...")
    referral_id: str = Field(min_length=1, max_length=64)
    outcome_id: str | None = Field(default=None, max_length=64, description="Set when the event was an outcome")
    agency_id: str = Field(min_length=1, max_length=64, description="The agency (or 'referrer') that received it")
    status: ReceiptStatus
    channel: str = Field(min_length=1, max_length=32, description="fhir-task, fhir-communication, hl7-mllp, webhook, drop-folder, email")
    detail: str = Field(default="", max_length=500, description="Reason for a failure, or the ack reference; no personal data")
    at: UtcDatetime
