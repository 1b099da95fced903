"""Security settings: who may call the hub, what each role may do, where audit proof goes.

The permission table is configuration, not code, because information-governance
staff must be able to read (and a council to adapt) exactly which role may do
what. Route code never checks role names: it asks the authorisation function
(``mashlink.hub.auth.authorise``) whether a principal holds a permission, and
that function reads this table.

Defaults run on one machine (``environment: development`` with the embedded
development issuer). A production configuration must name its identity
provider (``security.oidc.issuer``); the hub refuses to start otherwise.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class Role(StrEnum):
    """The roles a principal can hold (mapped from identity-provider claims)."""

    PRACTITIONER = "practitioner"  # MASH social worker: reads and works referrals of their LAs
    MANAGER = "manager"  # also decides and re-rates
    AGENCY_LIAISON = "agency_liaison"  # sees enquiries to their agency and its own answers only
    OPS = "ops"  # queues, dead letters, deadlines, connector health: no personal data
    AUDITOR = "auditor"  # audit list, verify, disclosure log
    SYSTEM = "system"  # agency systems and connectors (OAuth client credentials / mTLS)


class Permission(StrEnum):
    """Everything the hub lets a caller do; each route is guarded by exactly one."""

    REFERRAL_CREATE = "referral.create"
    REFERRAL_READ = "referral.read"  # status, deadlines, RAG history (no names)
    LINKED_VIEW_READ = "linked_view.read"  # the child's picture: personal data
    REFERRAL_RERATE = "referral.rerate"
    REFERRAL_DECIDE = "referral.decide"
    BREAK_GLASS = "referral.break_glass"  # open a referral outside one's LA scope, with a reason
    ENQUIRY_STATS_READ = "enquiry_stats.read"
    AUDIT_READ = "audit.read"
    AUDIT_VERIFY = "audit.verify"
    DISCLOSURES_READ = "disclosures.read"
    METRICS_READ = "metrics.read"
    DLQ_READ = "dlq.read"
    DLQ_BODY_READ = "dlq.body_read"
    DLQ_ACT = "dlq.act"
    MATCH_CONFIRM = "match.confirm"  # confirm or reject an agency record's link to a referral person
    RECEIPTS_READ = "receipts.read"  # who has been told the outcome, and did they acknowledge it (no names)
    ALERTS_READ = "alerts.read"  # ED attendance / police alerts about a referral's children (facts, no names)
    ALERTS_ACKNOWLEDGE = "alerts.acknowledge"  # record that a practitioner has seen an alert and is acting


#: Roles whose principals are people (authorised per LA); ``system`` is a client.
PERSON_ROLES: frozenset[Role] = frozenset(set(Role) - {Role.SYSTEM})


def default_permissions() -> dict[Role, frozenset[Permission]]:
    """The shipped permission table (also written out in config/mashlink.yaml for IG review)."""
    P = Permission
    return {
        Role.PRACTITIONER: frozenset({P.REFERRAL_CREATE, P.REFERRAL_READ, P.LINKED_VIEW_READ, P.BREAK_GLASS,
                                      P.ENQUIRY_STATS_READ, P.MATCH_CONFIRM, P.RECEIPTS_READ, P.ALERTS_READ,
                                      P.ALERTS_ACKNOWLEDGE}),
        Role.MANAGER: frozenset({P.REFERRAL_CREATE, P.REFERRAL_READ, P.LINKED_VIEW_READ, P.BREAK_GLASS,
                                 P.ENQUIRY_STATS_READ, P.REFERRAL_RERATE, P.REFERRAL_DECIDE, P.MATCH_CONFIRM,
                                 P.RECEIPTS_READ, P.ALERTS_READ, P.ALERTS_ACKNOWLEDGE}),
        Role.AGENCY_LIAISON: frozenset({P.REFERRAL_READ, P.LINKED_VIEW_READ, P.DISCLOSURES_READ}),
        Role.OPS: frozenset({P.ENQUIRY_STATS_READ, P.METRICS_READ, P.DLQ_READ, P.DLQ_ACT, P.AUDIT_VERIFY}),
        Role.AUDITOR: frozenset({P.AUDIT_READ, P.AUDIT_VERIFY, P.DISCLOSURES_READ, P.DLQ_READ}),
        Role.SYSTEM: frozenset({P.REFERRAL_CREATE, P.REFERRAL_READ}),
    }


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Algorithm = Literal["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"]


class OidcSettings(_Section):
    """The council's OpenID Connect identity provider (Microsoft Entra ID, Keycloak, ...).

    Only asymmetric algorithms are accepted: a shared-secret (HS*) token could
    be forged by anyone holding the public key material, and ``none`` is never
    a signature.
    """

    issuer: str = Field(min_length=1, description="Expected 'iss', e.g. https://login.microsoftonline.com/<tenant>/v2.0")
    # str | list: pydantic-settings then takes MASHLINK_SECURITY__OIDC__AUDIENCE=mashlink-hub as plain text
    # (a list-only field would insist on JSON in the environment).
    audience: str | list[str] = Field(description="Accepted 'aud' value(s) (the hub's app id / client id)")
    jwks_url: str | None = Field(default=None, description="JWKS address; default: from the issuer's "
                                                            ".well-known/openid-configuration")
    algorithms: list[Algorithm] = Field(default_factory=lambda: ["RS256", "ES256"], min_length=1)
    leeway_s: int = Field(default=60, ge=0, le=300, description="Clock skew allowed on exp / nbf / iat")
    jwks_cache_s: int = Field(default=300, ge=10, le=86_400)
    ca_file: Path | None = Field(default=None, description="CA bundle for a privately issued IdP certificate")
    role_claim: str = Field(default="roles", description="Claim holding roles or groups; dotted path for "
                                                         "nested claims (Keycloak: realm_access.roles)")
    role_map: dict[str, Role] = Field(default_factory=dict, description="Claim value (group id, app role) -> "
                                                                        "mashlink role; role names map to themselves")
    la_claim: str = Field(default="mashlink_la", description="Claim listing the LA codes the person works for")
    agency_claim: str = Field(default="mashlink_agency", description="Claim naming an agency liaison's or "
                                                                     "client's agency id")
    name_claim: str = "name"
    # Browser sign-in (authorization code flow with PKCE, ops/web/workspace/oidc.py).
    client_id: str | None = Field(default=None, description="The hub's client (application) id at the IdP; "
                                                            "browser sign-in needs it")
    client_secret: SecretStr | None = Field(default=None, description="Set for a confidential client (sent "
                                                                      "with client_secret_basic, or _post when "
                                                                      "that is all the IdP offers); leave unset "
                                                                      "for a public client (PKCE only)")
    redirect_url: str | None = Field(default=None, description="The hub's external https://.../sign-in/callback, "
                                                               "registered at the IdP (needed behind a proxy); "
                                                               "default: derived from the request")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile"],
                              description="Scopes asked for at sign-in; add the hub's API scope "
                                          "(Entra: api://mashlink-hub/.default) so the access token is for the hub")
    token_use: Literal["access_token", "id_token"] = Field(
        default="access_token",
        description="Which token the hub verifies (against audience) and keeps as the session: the access "
                    "token (Entra, Keycloak with an audience mapper: issued for the hub's own API) or the id "
                    "token (IdPs whose access tokens are opaque or for another API; its 'aud' is client_id, so "
                    "audience must include client_id)")

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError("scopes must include 'openid' (sign-in needs the id token)")
        return value

    @field_validator("redirect_url")
    @classmethod
    def _absolute_redirect(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith(("https://", "http://")) and "#" not in value):
            raise ValueError("redirect_url must be an absolute http(s) URL without a fragment, "
                             "e.g. https://mash.example.gov.uk/sign-in/callback")
        return value

    @field_validator("audience")
    @classmethod
    def _some_audience(cls, value: str | list[str]) -> str | list[str]:
        if not (value if isinstance(value, list) else value.strip()) or (isinstance(value, list)
                                                                       and not all(v.strip() for v in value)):
            raise ValueError("at least one non-empty audience is required")
        return value

    @property
    def audiences(self) -> list[str]:
        return [self.audience] if isinstance(self.audience, str) else list(self.audience)


class DevIssuerSettings(_Section):
    """The embedded development issuer: for the demo, tests and one-machine trials only."""

    issuer: str = "urn:mashlink:dev-issuer"
    audience: str = "mashlink-hub"
    token_ttl_s: int = Field(default=900, ge=30, le=12 * 3600, description="Life of a printed token")


class MetricsAccess(_Section):
    """How /metrics is protected: a bearer token of its own, or a principal with metrics.read."""

    token: SecretStr | None = Field(default=None, description="Static bearer token for the Prometheus scraper")


class SecuritySettings(_Section):
    oidc: OidcSettings | None = None
    dev_issuer: DevIssuerSettings = Field(default_factory=DevIssuerSettings)
    permissions: dict[Role, frozenset[Permission]] = Field(default_factory=default_permissions)
    metrics: MetricsAccess = Field(default_factory=MetricsAccess)
    public_docs: bool = Field(default=True, description="Serve /docs and /openapi.json without a token "
                                                         "(they hold no personal data)")
    trusted_client_header: str | None = Field(
        default=None, description="Header a mutual-TLS proxy sets to the verified client's identity "
                                  "(only honoured for the clients listed in mtls_clients)")
    mtls_clients: dict[str, str] = Field(default_factory=dict,
                                         description="Verified client identity -> agency id it acts for")
    max_body_bytes: int = Field(default=2_000_000, ge=1024, le=100_000_000)
    audit_key: SecretStr | None = Field(
        default=None, description="Key of the audit chain's HMAC; default: generated into state_dir/keys "
                                  "(keep it off the database host in production)")
    audit_anchor_dir: Path | None = Field(
        default=None, description="Write-once location (e.g. a WORM mount) each scheduled anchor is copied to")

    @field_validator("permissions", mode="before")
    @classmethod
    def _complete(cls, value: Any) -> Any:
        """A table in YAML lists permissions per role; roles left out keep no permission at all."""
        if isinstance(value, dict):
            filled = dict(value)
            for role in Role:
                if role.value not in filled and role not in filled:
                    filled[role.value] = []
            return filled
        return value

    @model_validator(mode="after")
    def _mtls(self) -> "SecuritySettings":
        if self.mtls_clients and not self.trusted_client_header:
            raise ValueError("mtls_clients needs trusted_client_header (the header the TLS proxy sets)")
        return self

    def may(self, roles: frozenset[Role] | set[Role], permission: Permission) -> bool:
        return any(permission in self.permissions.get(role, frozenset()) for role in roles)


__all__ = ["DevIssuerSettings", "MetricsAccess", "OidcSettings", "PERSON_ROLES", "Permission", "Role",
           "SecuritySettings", "default_permissions"]
