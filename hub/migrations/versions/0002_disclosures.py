"""The disclosure log: one row per read or send of an agency's records.

Revision ID: 0002_disclosures
Revises: 0001
Create Date: 2025-06-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002_disclosures'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('disclosures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('audit_event_id', sa.String(length=64), nullable=False),
    sa.Column('principal_subject', sa.String(length=256), nullable=False),
    sa.Column('principal_name', sa.String(length=256), nullable=True),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=True),
    sa.Column('referral_id', sa.String(length=64), nullable=True),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('what', sa.String(length=32), nullable=False),
    sa.Column('lawful_basis', sa.JSON(), nullable=False),
    sa.Column('break_glass', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosures'))
    )
    op.create_index(op.f('ix_disclosures_audit_event_id'), 'disclosures', ['audit_event_id'], unique=False)
    op.create_index(op.f('ix_disclosures_referral_id'), 'disclosures', ['referral_id'], unique=False)
    op.create_index('ix_disclosures_agency_id_id', 'disclosures', ['agency_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_disclosures_agency_id_id', table_name='disclosures')
    op.drop_index(op.f('ix_disclosures_referral_id'), table_name='disclosures')
    op.drop_index(op.f('ix_disclosures_audit_event_id'), table_name='disclosures')
    op.drop_table('disclosures')
