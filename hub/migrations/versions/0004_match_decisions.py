"""Practitioners' decisions on uncertain identity matches (confirm / reject an agency record link).

Revision ID: 0004_match_decisions
Revises: 0003_legacy_consent
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_match_decisions'
down_revision: str | None = '0003_legacy_consent'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('match_decisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('referral_id', sa.String(length=64), nullable=False),
    sa.Column('subject_person_id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('source_system', sa.String(length=200), nullable=False),
    sa.Column('record_id', sa.String(length=200), nullable=False),
    sa.Column('confirmed', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('superseded_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.referral_id'],
                            name=op.f('fk_match_decisions_referral_id_referrals')),
    sa.ForeignKeyConstraint(['superseded_by'], ['match_decisions.id'],
                            name=op.f('fk_match_decisions_superseded_by_match_decisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_decisions'))
    )
    op.create_index(op.f('ix_match_decisions_referral_id'), 'match_decisions', ['referral_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_match_decisions_referral_id'), table_name='match_decisions')
    op.drop_table('match_decisions')
