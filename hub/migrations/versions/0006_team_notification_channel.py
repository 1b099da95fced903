"""Team notifications remember the channel chosen when they were queued: the team's LA and the channel's ref.

Before, the notifier looked the channel up again at send time by the referral's LA and the row's position in
that LA's list, so a configuration change (channels reordered, one removed, two at the same domain) between
queueing and sending sent the alert to another channel than the one recorded. Rows queued before this version
have neither column; the notifier then resolves them as before (referral LA, position and name).

Revision ID: 0006_team_notification_channel
Revises: 0005_closing_the_loop
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_team_notification_channel'
down_revision: str | None = '0005_closing_the_loop'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('team_notifications', sa.Column('team_la', sa.String(length=16), nullable=True))
    op.add_column('team_notifications', sa.Column('channel_ref', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('team_notifications', 'channel_ref')
    op.drop_column('team_notifications', 'team_la')
