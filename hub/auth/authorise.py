"""The one authorisation function: may this principal do this to this referral?

Route code, web pages and the CLI ask ``authorise`` and never check role
names themselves, so the permission table in configuration
(``security.permissions``) is the single source an information-governance
officer reads. Referral-level rules on top of the table:

* people in MASH roles (practitioner, manager) work referrals of the local
  authorities their token grants; outside them only by **break-glass**: a
  stated reason, allowed, flagged and audited for the auditor;
* an agency liaison sees only referrals that sent an enquiry to their
  agency; an agency client likewise, plus referrals it submitted itself;
* everyone else (ops, auditor) holds no referral-level access at all.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ...config.security import Permission, Role, SecuritySettings
from .principal import Principal

MASH_ROLES: frozenset[Role] = frozenset({Role.PRACTITIONER, Role.MANAGER})
#: Break-glass opens a referral to read it; changing one outside your scope is never allowed.
BREAK_GLASS_READS: frozenset[Permission] = frozenset({Permission.REFERRAL_READ, Permission.LINKED_VIEW_READ})
MAX_BREAK_GLASS_REASON = 500
MIN_BREAK_GLASS_REASON = 10  # a reason a reviewer can read, not a dash


class ReferralScope(BaseModel):
    """What the authorisation rules need to know about one referral (no personal data)."""

    model_config = ConfigDict(frozen=True)

    referral_id: str
    local_authority: str
    agencies: frozenset[str] = Field(default_factory=frozenset, description="Agencies sent an enquiry")
    submitted_by: str | None = None


class AccessDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    allowed: bool
    reason: str = ""
    break_glass: bool = False
    roles: frozenset[Role] = Field(default_factory=frozenset, description="Roles through which it is allowed")


def _deny(reason: str) -> AccessDecision:
    return AccessDecision(allowed=False, reason=reason)


def authorise(principal: Principal, permission: Permission, security: SecuritySettings, *,
              referral: ReferralScope | None = None, local_authority: str | None = None,
              break_glass_reason: str | None = None) -> AccessDecision:
    """Decide one request. ``local_authority`` is for actions that create a referral in that LA."""
    granting = frozenset(r for r in principal.roles if permission in security.permissions.get(r, frozenset()))
    if not granting:
        held = ", ".join(sorted(r.value for r in principal.roles)) or "no mashlink role"
        return _deny(f"{held} may not {permission.value} (security.permissions)")
    la = referral.local_authority if referral is not None else local_authority
    if la is None:
        return AccessDecision(allowed=True, roles=granting)
    allowed_roles: set[Role] = set()
    for role in granting:
        if role in MASH_ROLES and la in principal.local_authorities:
            allowed_roles.add(role)
        elif role in (Role.AGENCY_LIAISON, Role.SYSTEM) and referral is not None and principal.agency_id \
                and principal.agency_id in referral.agencies:
            allowed_roles.add(role)
        elif role is Role.SYSTEM and referral is not None and referral.submitted_by in (principal.actor,
                                                                                         principal.label[:200]):
            allowed_roles.add(role)
        elif role is Role.SYSTEM and referral is None:
            allowed_roles.add(role)  # an agency system may refer into the hub's LAs
        elif role not in MASH_ROLES | {Role.AGENCY_LIAISON, Role.SYSTEM}:
            continue  # ops / auditor: no referral-level access whatever the table says
    if allowed_roles:
        return AccessDecision(allowed=True, roles=frozenset(allowed_roles))
    mash = granting & MASH_ROLES
    if mash and referral is not None and permission in BREAK_GLASS_READS \
            and security.may(principal.roles, Permission.BREAK_GLASS):
        reason = (break_glass_reason or "").strip()
        if len(reason.strip(" -_.")) >= MIN_BREAK_GLASS_REASON:
            if len(reason) > MAX_BREAK_GLASS_REASON:
                return _deny(f"break-glass reason: at most {MAX_BREAK_GLASS_REASON} characters")
            return AccessDecision(allowed=True, break_glass=True, roles=frozenset(mash), reason=reason)
        if reason:
            return _deny(f"break-glass reason: at least {MIN_BREAK_GLASS_REASON} characters saying why")
        return _deny(f"referral {referral.referral_id!r} is in local authority {la!r}, outside your scope; "
                     "to open it anyway give a reason in the X-Break-Glass-Reason header (audited)")
    if mash:
        return _deny(f"local authority {la!r} is outside your scope")
    return _deny("this referral sent no enquiry to your agency")
