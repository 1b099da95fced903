"""Referrals stored before consent decisions were recorded still load, visibly marked.

Since 0.2 a referral whose consent is ``not_sought``, ``refused`` or
``overridden`` must say who decided, when, and who authorised it. Referrals
stored earlier carry only a reason, so re-validating them (every read does)
would fail. This fills the missing fields with an explicit "not recorded"
marker, never an invented name, and the decision time with the referral's
receipt time, so a case review sees exactly what was and was not recorded.

Revision ID: 0003_legacy_consent
Revises: 0002_disclosures
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003_legacy_consent"
down_revision: str | None = "0002_disclosures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_RECORDED = "not recorded (referral stored before mashlink recorded consent decisions)"
DECISION_STATUSES = ("not_sought", "refused", "overridden")


def _fill(body: dict[str, Any]) -> bool:
    consent = body.get("consent")
    if not isinstance(consent, dict) or consent.get("status") not in DECISION_STATUSES:
        return False
    changed = False
    for name in ("decided_by", "authorised_by"):
        if not consent.get(name):
            consent[name] = NOT_RECORDED
            changed = True
    if not consent.get("decided_at"):
        consent["decided_at"] = body.get("received_at")
        changed = True
    if not consent.get("reason"):
        consent["reason"] = NOT_RECORDED
        changed = True
    return changed


def upgrade() -> None:
    bind = op.get_bind()
    referrals = sa.table("referrals", sa.column("referral_id", sa.String), sa.column("body", sa.JSON))
    rows = bind.execute(sa.select(referrals.c.referral_id, referrals.c.body)).all()
    for referral_id, body in rows:
        data = json.loads(body) if isinstance(body, str) else body
        if isinstance(data, dict) and _fill(data):
            bind.execute(referrals.update().where(referrals.c.referral_id == referral_id).values(body=data))


def downgrade() -> None:
    """Nothing to undo: the markers say "not recorded", which stays true."""
