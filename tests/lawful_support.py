"""Lawful basis and consent values for synthetic test referrals.

One place for what a test referral needs to pass ``check_lawful_basis`` under
the default rules for every agency kind (police, health, education, social
care), and for a consent record that says who decided, when, why and who
authorised it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

#: Sufficient for every agency kind under the default rules, and for the
#: purposes mash_screening, section_47_enquiry, strategy_discussion and
#: immediate_protection: s47 + s11 gateways, UK GDPR Art 6(1)(e), Art 9(2)(g)
#: with DPA 2018 Sch 1 para 18, and the police Part 3 route (s35 + Sch 8 para 4).
SAFEGUARDING_BASIS: list[str] = [
    "children_act_1989_s47", "children_act_2004_s11", "uk_gdpr_art6_1_e", "uk_gdpr_art9_2_g",
    "dpa2018_sch1_para18", "dpa2018_s35", "dpa2018_sch8_para4",
]


def consent_not_sought(decided_at: datetime | str,
                       reason: str = "Seeking consent could place the child at risk.") -> dict[str, Any]:
    """A ``not_sought`` consent record with the decision fields the schema requires."""
    at = decided_at if isinstance(decided_at, str) else decided_at.isoformat()
    return {"status": "not_sought", "reason": reason, "decided_by": "mash-screener",
            "decided_at": at, "authorised_by": "mash-team-manager"}
