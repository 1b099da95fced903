"""Closing the loop: delivery receipts, outcome acknowledgement and decision deadlines, alert acknowledgement,
team notifications and cross-border transfers.

Revision ID: 0005_closing_the_loop
Revises: 0004_match_decisions
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_closing_the_loop'
down_revision: str | None = '0004_match_decisions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('loop_escalations',
    sa.Column('escalation_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('referral_id', sa.String(length=64), nullable=False),
    sa.Column('outcome_id', sa.String(length=64), nullable=True),
    sa.Column('recipient', sa.String(length=200), nullable=True),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('escalation_id', name=op.f('pk_loop_escalations'))
    )
    op.create_index(op.f('ix_loop_escalations_referral_id'), 'loop_escalations', ['referral_id'], unique=False)
    op.create_index('ix_loop_escalations_unnotified', 'loop_escalations', ['raised_at'], unique=False, postgresql_where=sa.text('notified_at IS NULL'), sqlite_where=sa.text('notified_at IS NULL'))
    op.create_table('receipts',
    sa.Column('receipt_id', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('event_message_id', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=32), nullable=False),
    sa.Column('referral_id', sa.String(length=64), nullable=False),
    sa.Column('outcome_id', sa.String(length=64), nullable=True),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('receipt_id', name=op.f('pk_receipts'))
    )
    op.create_index(op.f('ix_receipts_event_message_id'), 'receipts', ['event_message_id'], unique=False)
    op.create_index(op.f('ix_receipts_outcome_id'), 'receipts', ['outcome_id'], unique=False)
    op.create_index(op.f('ix_receipts_referral_id'), 'receipts', ['referral_id'], unique=False)
    op.create_table('team_notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subject_kind', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('referral_id', sa.String(length=64), nullable=True),
    sa.Column('channel_index', sa.Integer(), nullable=False),
    sa.Column('channel_name', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_notifications'))
    )
    op.create_index('ix_team_notifications_next_attempt_at', 'team_notifications', ['next_attempt_at'], unique=False)
    op.create_index(op.f('ix_team_notifications_referral_id'), 'team_notifications', ['referral_id'], unique=False)
    op.create_index('uq_team_notifications_subject_channel', 'team_notifications', ['subject_kind', 'subject_id', 'channel_index'], unique=True)
    op.add_column('alerts', sa.Column('watched_because', sa.String(length=32), nullable=True))
    op.add_column('alerts', sa.Column('team_la', sa.String(length=16), nullable=True))
    op.add_column('alerts', sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('alerts', sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('alerts', sa.Column('acknowledged_by', sa.String(length=200), nullable=True))
    op.add_column('alerts', sa.Column('acknowledgement_note', sa.Text(), nullable=True))
    # Alerts stored before this version were never meant for a team channel: mark them queued, so the team
    # notifier does not send a backlog of old attendances the day the hub is upgraded.
    op.execute("UPDATE alerts SET notified_at = received_at")
    op.create_index('ix_alerts_unnotified', 'alerts', ['received_at'], unique=False, postgresql_where=sa.text('notified_at IS NULL'), sqlite_where=sa.text('notified_at IS NULL'))
    op.add_column('outcomes', sa.Column('delivery_status', sa.String(length=16), server_default='sent', nullable=False))
    op.add_column('outcomes', sa.Column('delivery_channel', sa.String(length=32), nullable=True))
    op.add_column('outcomes', sa.Column('delivery_detail', sa.String(length=500), nullable=True))
    op.add_column('outcomes', sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('outcomes', sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('outcomes', sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('outcomes', sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('outcomes', sa.Column('ack_due_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('outcomes', sa.Column('ack_at_risk_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('outcomes', sa.Column('next_escalation_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('outcomes', sa.Column('next_escalation_level', sa.String(length=16), nullable=True))
    op.add_column('outcomes', sa.Column('at_risk_raised_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('outcomes', sa.Column('overdue_raised_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_outcomes_next_escalation_at', 'outcomes', ['next_escalation_at'], unique=False)
    op.add_column('referrals', sa.Column('decision_due_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('referrals', sa.Column('decision_at_risk_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('referrals', sa.Column('decision_next_escalation_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('referrals', sa.Column('decision_next_escalation_level', sa.String(length=16), nullable=True))
    op.add_column('referrals', sa.Column('decision_at_risk_raised_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('referrals', sa.Column('decision_overdue_raised_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('referrals', sa.Column('transfer_to', sa.String(length=16), nullable=True))
    op.create_index('ix_referrals_decision_next_escalation_at', 'referrals', ['decision_next_escalation_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_referrals_decision_next_escalation_at', table_name='referrals')
    op.drop_column('referrals', 'transfer_to')
    op.drop_column('referrals', 'decision_overdue_raised_at')
    op.drop_column('referrals', 'decision_at_risk_raised_at')
    op.drop_column('referrals', 'decision_next_escalation_level')
    op.drop_column('referrals', 'decision_next_escalation_at')
    op.drop_column('referrals', 'decision_at_risk_at')
    op.drop_column('referrals', 'decision_due_at')
    op.drop_index('ix_outcomes_next_escalation_at', table_name='outcomes')
    op.drop_column('outcomes', 'overdue_raised_at')
    op.drop_column('outcomes', 'at_risk_raised_at')
    op.drop_column('outcomes', 'next_escalation_level')
    op.drop_column('outcomes', 'next_escalation_at')
    op.drop_column('outcomes', 'ack_at_risk_at')
    op.drop_column('outcomes', 'ack_due_at')
    op.drop_column('outcomes', 'settled_at')
    op.drop_column('outcomes', 'failed_at')
    op.drop_column('outcomes', 'acknowledged_at')
    op.drop_column('outcomes', 'delivered_at')
    op.drop_column('outcomes', 'delivery_detail')
    op.drop_column('outcomes', 'delivery_channel')
    op.drop_column('outcomes', 'delivery_status')
    op.drop_index('ix_alerts_unnotified', table_name='alerts', postgresql_where=sa.text('notified_at IS NULL'), sqlite_where=sa.text('notified_at IS NULL'))
    op.drop_column('alerts', 'acknowledgement_note')
    op.drop_column('alerts', 'acknowledged_by')
    op.drop_column('alerts', 'acknowledged_at')
    op.drop_column('alerts', 'notified_at')
    op.drop_column('alerts', 'team_la')
    op.drop_column('alerts', 'watched_because')
    op.drop_index('uq_team_notifications_subject_channel', table_name='team_notifications')
    op.drop_index(op.f('ix_team_notifications_referral_id'), table_name='team_notifications')
    op.drop_index('ix_team_notifications_next_attempt_at', table_name='team_notifications')
    op.drop_table('team_notifications')
    op.drop_index(op.f('ix_receipts_referral_id'), table_name='receipts')
    op.drop_index(op.f('ix_receipts_outcome_id'), table_name='receipts')
    op.drop_index(op.f('ix_receipts_event_message_id'), table_name='receipts')
    op.drop_table('receipts')
    op.drop_index('ix_loop_escalations_unnotified', table_name='loop_escalations', postgresql_where=sa.text('notified_at IS NULL'), sqlite_where=sa.text('notified_at IS NULL'))
    op.drop_index(op.f('ix_loop_escalations_referral_id'), table_name='loop_escalations')
    op.drop_table('loop_escalations')
