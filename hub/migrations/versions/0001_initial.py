"""Initial hub schema: referrals, enquiries, responses, decisions, outcomes,
escalations, alerts, outbox, inbox and the audit chain (with its head row).

Revision ID: 0001
Revises: 
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('alert_id', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('referral_id', sa.String(length=64), nullable=True),
    sa.Column('enquiry_id', sa.String(length=64), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_alerts'))
    )
    op.create_index(op.f('ix_alerts_referral_id'), 'alerts', ['referral_id'], unique=False)

    op.create_table('audit_events',
    sa.Column('sequence', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('referral_id', sa.String(length=64), nullable=True),
    sa.Column('enquiry_id', sa.String(length=64), nullable=True),
    sa.Column('message_id', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('previous_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('sequence', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_audit_events_event_id'))
    )
    op.create_index(op.f('ix_audit_events_action'), 'audit_events', ['action'], unique=False)
    op.create_index(op.f('ix_audit_events_referral_id'), 'audit_events', ['referral_id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('sequence', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    audit_head = sa.table('audit_head', sa.column('id', sa.Integer), sa.column('sequence', sa.BigInteger),
                          sa.column('hash', sa.String))
    op.bulk_insert(audit_head, [{'id': 1, 'sequence': 0, 'hash': '0' * 64}])
    op.create_table('inbox',
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('message_type', sa.String(length=32), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_inbox'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('message_type', sa.String(length=32), nullable=False),
    sa.Column('exchange', sa.String(length=255), nullable=False),
    sa.Column('routing_key', sa.String(length=255), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('message_id', name=op.f('uq_outbox_message_id'))
    )
    op.create_index('ix_outbox_unpublished', 'outbox', ['id'], unique=False, postgresql_where=sa.text('published_at IS NULL'), sqlite_where=sa.text('published_at IS NULL'))

    op.create_table('referrals',
    sa.Column('referral_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_authority', sa.String(length=16), nullable=False),
    sa.Column('rag', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_reason', sa.String(length=32), nullable=True),
    sa.Column('submitted_by', sa.String(length=200), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('referral_id', name=op.f('pk_referrals'))
    )
    op.create_index(op.f('ix_referrals_status'), 'referrals', ['status'], unique=False)

    op.create_table('decisions',
    sa.Column('decision_id', sa.String(length=64), nullable=False),
    sa.Column('referral_id', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.referral_id'], name=op.f('fk_decisions_referral_id_referrals')),
    sa.PrimaryKeyConstraint('decision_id', name=op.f('pk_decisions')),
    sa.UniqueConstraint('referral_id', name=op.f('uq_decisions_referral_id'))
    )
    op.create_table('enquiries',
    sa.Column('enquiry_id', sa.String(length=64), nullable=False),
    sa.Column('referral_id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('agency_kind', sa.String(length=16), nullable=False),
    sa.Column('rag', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('at_risk_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_escalation_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_escalation_level', sa.String(length=16), nullable=True),
    sa.Column('at_risk_raised_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('overdue_raised_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_response_status', sa.String(length=32), nullable=True),
    sa.Column('last_sequence', sa.Integer(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.referral_id'], name=op.f('fk_enquiries_referral_id_referrals')),
    sa.PrimaryKeyConstraint('enquiry_id', name=op.f('pk_enquiries'))
    )
    op.create_index('ix_enquiries_next_escalation_at', 'enquiries', ['next_escalation_at'], unique=False)
    op.create_index(op.f('ix_enquiries_referral_id'), 'enquiries', ['referral_id'], unique=False)
    op.create_index('ix_enquiries_status_agency_rag', 'enquiries', ['status', 'agency_id', 'rag'], unique=False)

    op.create_table('rag_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('referral_id', sa.String(length=64), nullable=False),
    sa.Column('rag', sa.String(length=8), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('by', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.referral_id'], name=op.f('fk_rag_changes_referral_id_referrals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rag_changes'))
    )
    op.create_index(op.f('ix_rag_changes_referral_id'), 'rag_changes', ['referral_id'], unique=False)

    op.create_table('escalations',
    sa.Column('escalation_id', sa.String(length=64), nullable=False),
    sa.Column('enquiry_id', sa.String(length=64), nullable=False),
    sa.Column('referral_id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('rag', sa.String(length=8), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['enquiry_id'], ['enquiries.enquiry_id'], name=op.f('fk_escalations_enquiry_id_enquiries')),
    sa.PrimaryKeyConstraint('escalation_id', name=op.f('pk_escalations'))
    )
    op.create_index(op.f('ix_escalations_enquiry_id'), 'escalations', ['enquiry_id'], unique=False)
    op.create_index(op.f('ix_escalations_referral_id'), 'escalations', ['referral_id'], unique=False)

    op.create_table('outcomes',
    sa.Column('outcome_id', sa.String(length=64), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=False),
    sa.Column('referral_id', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('routing_key', sa.String(length=255), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['decisions.decision_id'], name=op.f('fk_outcomes_decision_id_decisions')),
    sa.PrimaryKeyConstraint('outcome_id', name=op.f('pk_outcomes'))
    )
    op.create_index(op.f('ix_outcomes_decision_id'), 'outcomes', ['decision_id'], unique=False)
    op.create_index(op.f('ix_outcomes_referral_id'), 'outcomes', ['referral_id'], unique=False)

    op.create_table('responses',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('response_id', sa.String(length=64), nullable=False),
    sa.Column('enquiry_id', sa.String(length=64), nullable=False),
    sa.Column('referral_id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('more_to_follow', sa.Boolean(), nullable=False),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['enquiry_id'], ['enquiries.enquiry_id'], name=op.f('fk_responses_enquiry_id_enquiries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responses'))
    )
    op.create_index(op.f('ix_responses_enquiry_id'), 'responses', ['enquiry_id'], unique=False)
    op.create_index(op.f('ix_responses_referral_id'), 'responses', ['referral_id'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_responses_referral_id'), table_name='responses')
    op.drop_index(op.f('ix_responses_enquiry_id'), table_name='responses')

    op.drop_table('responses')
    op.drop_index(op.f('ix_outcomes_referral_id'), table_name='outcomes')
    op.drop_index(op.f('ix_outcomes_decision_id'), table_name='outcomes')

    op.drop_table('outcomes')
    op.drop_index(op.f('ix_escalations_referral_id'), table_name='escalations')
    op.drop_index(op.f('ix_escalations_enquiry_id'), table_name='escalations')

    op.drop_table('escalations')
    op.drop_index(op.f('ix_rag_changes_referral_id'), table_name='rag_changes')

    op.drop_table('rag_changes')
    op.drop_index('ix_enquiries_status_agency_rag', table_name='enquiries')
    op.drop_index(op.f('ix_enquiries_referral_id'), table_name='enquiries')
    op.drop_index('ix_enquiries_next_escalation_at', table_name='enquiries')

    op.drop_table('enquiries')
    op.drop_table('decisions')
    op.drop_index(op.f('ix_referrals_status'), table_name='referrals')

    op.drop_table('referrals')
    op.drop_index('ix_outbox_unpublished', table_name='outbox', postgresql_where=sa.text('published_at IS NULL'), sqlite_where=sa.text('published_at IS NULL'))

    op.drop_table('outbox')
    op.drop_table('inbox')
    op.drop_table('audit_head')
    op.drop_index(op.f('ix_audit_events_referral_id'), table_name='audit_events')
    op.drop_index(op.f('ix_audit_events_action'), table_name='audit_events')

    op.drop_table('audit_events')
    op.drop_index(op.f('ix_alerts_referral_id'), table_name='alerts')

    op.drop_table('alerts')
