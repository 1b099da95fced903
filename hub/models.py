"""The hub's tables (SQLAlchemy 2 declarative), the source of truth for Alembic.

Personal data lives only in the JSON ``body`` columns (the validated
canonical models); the other columns are ids, codes and times the hub queries
on. Times are stored as UTC and always come back timezone-aware, on SQLite as
well as PostgreSQL (see ``UTCDateTime``).

Deadline tracking is one indexed column: ``enquiries.next_escalation_at`` is
the time of the next escalation an enquiry is due (at-risk, then overdue) or
NULL when there is nothing left to raise, so the tracker's query is a range
scan of that index however many enquiries are open.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the hub database; times must be timezone-aware")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ReferralStatus(StrEnum):
    OPEN = "open"          # enquiries outstanding
    CLOSED = "closed"      # every agency answered or its deadline passed: ready to decide
    DECIDED = "decided"    # a decision is recorded


class EnquiryStatus(StrEnum):
    OPEN = "open"            # sent, no answer yet
    PARTIAL = "partial"      # answered with more_to_follow
    ANSWERED = "answered"    # a final answer arrived
    OVERDUE = "overdue"      # deadline passed without a final answer (late answers still accepted)
    WITHDRAWN = "withdrawn"  # the referral was decided before an answer came


OUTSTANDING = (EnquiryStatus.OPEN.value, EnquiryStatus.PARTIAL.value, EnquiryStatus.OVERDUE.value)


class ReferralRow(Base):
    __tablename__ = "referrals"

    referral_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    local_authority: Mapped[str] = mapped_column(String(16))
    rag: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    submitted_by: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The decision deadline (Working Together: one working day from receipt), escalated like an enquiry's.
    decision_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_at_risk_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_next_escalation_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    decision_at_risk_raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_overdue_raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    transfer_to: Mapped[str | None] = mapped_column(
        String(16), nullable=True, doc="Cross-border: the child's home LA (not configured here), to transfer to")

    __table_args__ = (Index("ix_referrals_decision_next_escalation_at", "decision_next_escalation_at"),)


class RagChangeRow(Base):
    __tablename__ = "rag_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.referral_id"), index=True)
    rag: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")


class EnquiryRow(Base):
    __tablename__ = "enquiries"

    enquiry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.referral_id"), index=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    agency_kind: Mapped[str] = mapped_column(String(16))
    rag: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    at_risk_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_escalation_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    at_risk_raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    overdue_raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_response_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_sequence: Mapped[int] = mapped_column(Integer, default=0)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    message_id: Mapped[str] = mapped_column(String(64), doc="The latest enquiry envelope sent")
    body: Mapped[dict[str, Any]] = mapped_column(JSON, doc="The minimised Enquiry as sent")

    __table_args__ = (
        Index("ix_enquiries_next_escalation_at", "next_escalation_at"),
        Index("ix_enquiries_status_agency_rag", "status", "agency_id", "rag"),
    )


class ResponseRow(Base):
    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    response_id: Mapped[str] = mapped_column(String(64))
    enquiry_id: Mapped[str] = mapped_column(ForeignKey("enquiries.enquiry_id"), index=True)
    referral_id: Mapped[str] = mapped_column(String(64), index=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    sequence: Mapped[int] = mapped_column(Integer)
    more_to_follow: Mapped[bool] = mapped_column(Boolean)
    responded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    message_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class DecisionRow(Base):
    __tablename__ = "decisions"

    decision_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.referral_id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(32))
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class OutcomeRow(Base):
    __tablename__ = "outcomes"

    outcome_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.decision_id"), index=True)
    referral_id: Mapped[str] = mapped_column(String(64), index=True)
    recipient: Mapped[str] = mapped_column(String(200))
    routing_key: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What the recipient's receipts say (best so far: sent < failed < delivered < acknowledged).
    delivery_status: Mapped[str] = mapped_column(String(16), default="sent", server_default="sent")
    delivery_channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    delivery_detail: Mapped[str | None] = mapped_column(String(500), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True,
                                                        doc="When a receipt meant nobody needs chasing")
    # The acknowledgement window, escalated like an enquiry deadline (NULL next_*: nothing left to raise).
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ack_at_risk_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_escalation_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    at_risk_raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    overdue_raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_outcomes_next_escalation_at", "next_escalation_at"),)


class ReceiptRow(Base):
    """One delivery receipt from an agency's connector or the referrer notifier (ids and a status only)."""

    __tablename__ = "receipts"

    receipt_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), doc="The receipt envelope")
    event_message_id: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(32))
    referral_id: Mapped[str] = mapped_column(String(64), index=True)
    outcome_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoopEscalationRow(Base):
    """A decision deadline or an outcome acknowledgement at risk, overdue, or (outcomes) failed."""

    __tablename__ = "loop_escalations"

    escalation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), doc="decision | outcome")
    referral_id: Mapped[str] = mapped_column(String(64), index=True)
    outcome_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recipient: Mapped[str | None] = mapped_column(String(200), nullable=True)
    level: Mapped[str] = mapped_column(String(16), doc="at_risk | overdue | failed")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[str] = mapped_column(String(500), default="")
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True,
                                                         doc="When its team notifications were queued")

    __table_args__ = (Index("ix_loop_escalations_unnotified", "raised_at", postgresql_where=notified_at.is_(None),
                            sqlite_where=notified_at.is_(None)),)


class TeamNotificationRow(Base):
    """One alert or escalation to send to one of the MASH team's channels; retried until sent or failed."""

    __tablename__ = "team_notifications"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    subject_kind: Mapped[str] = mapped_column(String(16), doc="alert | escalation")
    subject_id: Mapped[str] = mapped_column(String(64))
    referral_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    channel_index: Mapped[int] = mapped_column(Integer)
    channel_name: Mapped[str] = mapped_column(String(300))
    team_la: Mapped[str | None] = mapped_column(
        String(16), nullable=True, doc="The responsible team (LA code) whose channel list was used when queued")
    channel_ref: Mapped[str | None] = mapped_column(
        String(64), nullable=True, doc="TeamChannel.ref() when queued: the one channel this row is sent to")
    status: Mapped[str] = mapped_column(String(16), doc="pending | sent | failed")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, doc="The facts sent (ids, times, places; no names)")

    __table_args__ = (
        Index("uq_team_notifications_subject_channel", "subject_kind", "subject_id", "channel_index", unique=True),
        Index("ix_team_notifications_next_attempt_at", "next_attempt_at"),
    )


class EscalationRow(Base):
    __tablename__ = "escalations"

    escalation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    enquiry_id: Mapped[str] = mapped_column(ForeignKey("enquiries.enquiry_id"), index=True)
    referral_id: Mapped[str] = mapped_column(String(64), index=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    rag: Mapped[str] = mapped_column(String(8))
    level: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    message_id: Mapped[str] = mapped_column(String(64))


class AlertRow(Base):
    __tablename__ = "alerts"

    alert_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    agency_id: Mapped[str] = mapped_column(String(64))
    referral_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    enquiry_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    watched_because: Mapped[str | None] = mapped_column(String(32), nullable=True)
    team_la: Mapped[str | None] = mapped_column(String(16), nullable=True, doc="The responsible MASH team's LA")
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True,
                                                         doc="When its team notifications were queued")
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    acknowledgement_note: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_alerts_unnotified", "received_at", postgresql_where=notified_at.is_(None),
                            sqlite_where=notified_at.is_(None)),)


class OutboxRow(Base):
    """A signed message waiting to be published (``published_at`` NULL) or already confirmed."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    message_type: Mapped[str] = mapped_column(String(32))
    exchange: Mapped[str] = mapped_column(String(255))
    routing_key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[bytes] = mapped_column(LargeBinary, doc="The encoded, signed envelope")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)

    __table_args__ = (
        Index("ix_outbox_unpublished", "id", postgresql_where=published_at.is_(None),
              sqlite_where=published_at.is_(None)),
    )


class InboxRow(Base):
    """A message id whose effect is committed: a redelivery of it has no second effect."""

    __tablename__ = "inbox"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_type: Mapped[str] = mapped_column(String(32))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    sequence: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                          autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64), index=True)
    referral_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    enquiry_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The single row that holds the chain's tip; locking it serialises appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sequence: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


class DisclosureRow(Base):
    """One agency's records shown or sent to someone: the disclosure log an agency may ask for.

    One row per (read or send event, agency whose records it disclosed), so
    "whom did the hub show police records to, when, why" is one indexed
    query per agency. ``audit_event_id`` names the ``record.read`` audit
    event the row belongs to: the tamper-evident chain vouches for the event,
    this table makes it answerable.
    """

    __tablename__ = "disclosures"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    audit_event_id: Mapped[str] = mapped_column(String(64), index=True)
    principal_subject: Mapped[str] = mapped_column(String(256))
    principal_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    role: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str | None] = mapped_column(String(64), nullable=True)
    referral_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    what: Mapped[str] = mapped_column(String(32))
    lawful_basis: Mapped[list[str]] = mapped_column(JSON)
    break_glass: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_disclosures_agency_id_id", "agency_id", "id"),)


class MatchDecisionRow(Base):
    """A person's decision on one agency record link: confirmed (into the chronology) or rejected (withheld).

    The key is (referral, subject, agency, source system, record id). A later
    decision on the same key replaces the earlier one for the linked view:
    the earlier row gets ``superseded_by`` = the later row's id and both are
    kept, so a case review sees every change of mind, by whom and why.
    """

    __tablename__ = "match_decisions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.referral_id"), index=True)
    subject_person_id: Mapped[str] = mapped_column(String(64))
    agency_id: Mapped[str] = mapped_column(String(64))
    source_system: Mapped[str] = mapped_column(String(200))
    record_id: Mapped[str] = mapped_column(String(200))
    confirmed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    superseded_by: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("match_decisions.id"), nullable=True)
