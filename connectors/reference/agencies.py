"""Reference connectors for health, education and children's social care.

Health passes each finding's sensitivity through unchanged (sexual and
mental health are marked, and the hub's sharing policy decides release);
education answers attendance at once and sends suspensions and exclusions as
a follow-up by default, so the hub's partial-then-follow-up merge is
exercised in the demo; social care answers in one go.
"""

from __future__ import annotations

from .connector import ReferenceConnector
from ..simulators.base import SimRecord
from ...schemas.codes import FindingCategory, Sensitivity
from ...schemas.finding import Finding


class HealthReferenceConnector(ReferenceConnector):
    def release(self, findings: list[Finding], records: dict[str, SimRecord]) -> list[Finding]:
        # Sensitivity travels with the finding; a health record can never carry police restrictions.
        bad = [f.finding_id for f in findings if f.sensitivity is Sensitivity.POLICE_RESTRICTED]
        if bad:
            raise ValueError(f"health findings {bad} are marked police_restricted")
        return findings


class EducationReferenceConnector(ReferenceConnector):
    default_follow_up = frozenset({FindingCategory.EDUCATION_SUSPENSION_EXCLUSION})


class SocialCareReferenceConnector(ReferenceConnector):
    pass
