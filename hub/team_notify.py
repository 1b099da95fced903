"""The team notifier: alerts and loop escalations reach the MASH team's configured channels.

Why a table and a loop rather than sending from the event handler: a channel
that is down (a mail relay restarting, a web hook timing out) must neither
hold up the hub's events queue nor lose the notification. So the handler and
the tracker only write rows; this notifier

1. queues one ``team_notifications`` row per configured channel for every
   alert and escalation not yet queued (``notified_at`` NULL: a partial-index
   scan), for the responsible team (the alert's team, else the referral's LA,
   else the hub's own), recording on the row that team's LA and the chosen
   channel (``TeamChannel.ref()``): the row is sent to that channel and no
   other, whatever the configuration says by the time it is sent (a channel
   since removed fails with the reason, naming the setting to fix);
2. claims due rows (``next_attempt_at`` <= now) by pushing their next attempt
   out by a lease and committing, so two hubs never send one row at once and
   a hub that dies mid-send leaves the row to be retried after the lease;
3. sends each (``hub.team_channels``), then records ``sent`` (with audit
   ``alert.notified`` / ``escalation.notified``), a retry with doubling
   back-off, or ``failed`` with the reason after ``max_attempts`` or a
   permanent refusal (audited as ``*.notify_failed``; it still shows on the
   referral page and in metrics, and ``retry_failed`` queues it again).

A team with no channel configured still sees every alert in the workspace
and in the metrics; the queue step then records nothing to send.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from pydantic import BaseModel
from sqlalchemy import select

from ..config.loop import TeamChannel
from ..config.settings import MashlinkSettings
from .alerts import alert_facts, email_text, escalation_facts
from .models import AlertRow, LoopEscalationRow, ReferralRow, TeamNotificationRow
from .team_channels import PermanentSendError, TransientSendError, send_email, send_webhook
from .unit import HubStore, UnitOfWork

log = structlog.get_logger("mashlink.hub.team_notify")

PENDING, SENT, FAILED = "pending", "sent", "failed"
ACTOR = "team-notifier"
_LEASE_SLACK_S = 30.0


class NotifyResult(BaseModel):
    queued: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Claimed:
    """A row claimed for one send attempt: what the send needs, copied out of the claiming transaction."""

    row_id: int
    index: int
    kind: str
    payload: dict[str, Any]
    subject_id: str
    attempts: int
    team_la: str | None
    channel_name: str
    channel_ref: str | None


class TeamNotifier:
    def __init__(self, store: HubStore, settings: MashlinkSettings, *, clock: Callable[[], datetime],
                 batch_size: int = 50, transport: httpx.BaseTransport | None = None) -> None:
        self.store = store
        self.settings = settings
        self.config = settings.loop.alerts
        self.clock = clock
        self.batch_size = batch_size
        self.transport = transport
        self.agency_names = {a.id: a.name for a in settings.agencies}

    # ------------------------------------------------------------------ queueing
    def _team_la(self, session: Any, referral_id: str | None) -> str:
        if referral_id:
            row = session.get(ReferralRow, referral_id)
            if row is not None:
                return str(row.local_authority)
        return self.settings.local_authority.code

    def _queue_rows(self, uow: UnitOfWork, kind: str, subject_id: str, referral_id: str | None, team_la: str,
                    channels: list[TeamChannel], payload: dict[str, Any]) -> int:
        for index, channel in enumerate(channels):
            uow.session.add(TeamNotificationRow(
                subject_kind=kind, subject_id=subject_id, referral_id=referral_id, channel_index=index,
                channel_name=channel.name(), team_la=team_la, channel_ref=channel.ref(), status=PENDING,
                attempts=0, next_attempt_at=uow.now, created_at=uow.now, payload=payload))
        return len(channels)

    def queue_new(self, now: datetime | None = None) -> int:
        """Queue notifications for alerts and escalations not yet queued; returns rows queued."""
        queued = 0
        with self.store.unit(now) as uow:
            session = uow.session
            postgres = session.get_bind().dialect.name == "postgresql"
            q_alerts = select(AlertRow).where(AlertRow.notified_at.is_(None)).order_by(AlertRow.received_at) \
                .limit(self.batch_size)
            q_escalations = select(LoopEscalationRow).where(LoopEscalationRow.notified_at.is_(None)) \
                .order_by(LoopEscalationRow.raised_at).limit(self.batch_size)
            if postgres:
                q_alerts = q_alerts.with_for_update(skip_locked=True)
                q_escalations = q_escalations.with_for_update(skip_locked=True)
            for alert in session.execute(q_alerts).scalars().all():
                la = alert.team_la or self._team_la(session, alert.referral_id)
                channels = self.config.channels.for_la(la)
                queued += self._queue_rows(uow, "alert", alert.alert_id, alert.referral_id, la, channels,
                                           alert_facts(alert, self.agency_names.get(alert.agency_id, alert.agency_id)))
                alert.notified_at = uow.now
            for esc in session.execute(q_escalations).scalars().all():
                la = self._team_la(session, esc.referral_id)
                channels = self.config.channels.for_la(la) if self.config.notify_escalations else []
                queued += self._queue_rows(uow, "escalation", esc.escalation_id, esc.referral_id, la, channels,
                                           escalation_facts(esc))
                esc.notified_at = uow.now
        return queued

    # ------------------------------------------------------------------ sending
    def _claim(self, now: datetime) -> list[_Claimed]:
        lease = timedelta(seconds=max(c.timeout_s for c in self._all_channels()) + _LEASE_SLACK_S) \
            if self._all_channels() else timedelta(seconds=_LEASE_SLACK_S)
        with self.store.unit(now) as uow:
            query = (select(TeamNotificationRow)
                     .where(TeamNotificationRow.status == PENDING, TeamNotificationRow.next_attempt_at <= now)
                     .order_by(TeamNotificationRow.next_attempt_at).limit(self.batch_size))
            if uow.session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = uow.session.execute(query).scalars().all()
            claimed = []
            for row in rows:
                row.attempts += 1
                row.next_attempt_at = now + lease
                claimed.append(_Claimed(row.id, row.channel_index, row.subject_kind, dict(row.payload),
                                        row.subject_id, row.attempts, row.team_la, row.channel_name,
                                        row.channel_ref))
        return claimed

    def _all_channels(self) -> list[TeamChannel]:
        out = list(self.config.channels.default)
        for channels in self.config.channels.by_local_authority.values():
            out.extend(channels)
        return out

    def _channel_for(self, claim: _Claimed) -> tuple[TeamChannel | None, str]:
        """The channel chosen when the row was queued, as configured now; else None and why not.

        Looked up in the list of the team recorded on the row, by the channel's ref, never by position:
        a list reordered or shortened since must not send an alert to another team's inbox. Rows queued
        before the ref was recorded (migration 0006) fall back to the referral's LA and the position,
        and only when the channel there still has the recorded name.
        """
        la = claim.team_la
        if la is None:
            with self.store.read() as session:
                la = self._team_la(session, claim.payload.get("referral_id"))
        channels = self.config.channels.for_la(la)
        if claim.channel_ref is not None:
            channel = next((c for c in channels if c.ref() == claim.channel_ref), None)
        else:
            at = channels[claim.index] if claim.index < len(channels) else None
            channel = at if at is not None and at.name() == claim.channel_name else None
        if channel is not None:
            return channel, ""
        setting = f"loop.alerts.channels.by_local_authority.{la}" if la in self.config.channels.by_local_authority \
            else "loop.alerts.channels.default"
        return None, f"channel {claim.channel_name} is no longer configured for local authority {la} ({setting})"

    def _send(self, channel: TeamChannel, payload: dict[str, Any], key: str) -> str:
        if channel.kind == "webhook":
            return send_webhook(channel, payload, key, transport=self.transport)
        assert channel.to is not None
        subject, text = email_text(payload)
        return send_email(self.config.smtp, channel.to, subject, text, key)

    def send_due(self, now: datetime | None = None) -> NotifyResult:
        """One attempt at every notification due now."""
        now = now or self.clock()
        result = NotifyResult()
        for claim in self._claim(now):
            channel, missing = self._channel_for(claim)
            outcome: tuple[str, str]
            if channel is None:
                outcome = (FAILED, missing)
            else:
                try:
                    outcome = (SENT, self._send(channel, claim.payload, f"{claim.subject_id}:{claim.index}"))
                except TransientSendError as exc:
                    outcome = (PENDING if claim.attempts < self.config.max_attempts else FAILED, str(exc))
                except PermanentSendError as exc:
                    outcome = (FAILED, str(exc))
            self._record(claim.row_id, claim.kind, claim.subject_id, claim.payload, outcome, claim.attempts, result)
        return result

    def _record(self, row_id: int, kind: str, subject_id: str, payload: dict[str, Any],
                outcome: tuple[str, str], attempts: int, result: NotifyResult) -> None:
        status, detail = outcome
        with self.store.unit() as uow:
            row = uow.session.get(TeamNotificationRow, row_id, with_for_update=True)
            if row is None:  # pragma: no cover - rows are never deleted
                return
            row.last_error = None if status == SENT else detail[:500]
            if status == PENDING:
                backoff = min(self.config.retry_backoff_s * 2 ** (attempts - 1), self.config.retry_backoff_max_s)
                row.next_attempt_at = uow.now + timedelta(seconds=backoff)
                result.retried += 1
                log.warning("team_notify.retry", subject_kind=kind, subject_id=subject_id, channel=row.channel_name,
                            attempts=attempts, detail=detail)
                return
            row.status = status
            row.next_attempt_at = None
            action = f"{kind}.notified" if status == SENT else f"{kind}.notify_failed"
            if status == SENT:
                row.sent_at = uow.now
                result.sent += 1
            else:
                result.failed += 1
            uow.audit(action, actor=ACTOR, referral_id=payload.get("referral_id"), detail={
                f"{kind}_id": subject_id, "channel": row.channel_name[:200], "attempts": attempts,
                "result": detail[:200]})  # audit details are short codes (hub.audit.MAX_DETAIL_TEXT)
        log.info("team_notify." + status, subject_kind=kind, subject_id=subject_id, attempts=attempts)

    def retry_failed(self, subject_id: str) -> int:
        """Queue a failed notification again (after its channel is fixed); returns rows re-queued."""
        with self.store.unit() as uow:
            rows = uow.session.execute(select(TeamNotificationRow).where(
                TeamNotificationRow.subject_id == subject_id, TeamNotificationRow.status == FAILED)).scalars().all()
            for row in rows:
                row.status, row.next_attempt_at, row.attempts = PENDING, uow.now, 0
            return len(rows)

    def run_once(self, now: datetime | None = None) -> NotifyResult:
        now = now or self.clock()
        queued = self.queue_new(now)
        result = self.send_due(now)
        result.queued = queued
        return result

    def run(self, stop: threading.Event, *, interval_s: float = 1.0, error_wait_s: float = 5.0) -> None:
        """Queue and send every ``interval_s`` until ``stop`` is set; errors are logged, never fatal."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("team_notify.error")
                stop.wait(error_wait_s)
                continue
            stop.wait(interval_s)
