"""Closing the loop: how long recipients have to acknowledge, the decision deadline, the team's alert channels.

Why configuration: every timescale here is local practice. Working Together
2023 asks for a decision within one working day of a referral, but a local
authority may set a shorter one; how long an agency has to acknowledge an
outcome is agreed in each MASH's information-sharing protocol; and which
delivery channel can tell "read by a person" apart from "arrived" depends on
the agency's tool (an email has no read receipt; a FHIR Task does).

All times are **working hours** on the MASH calendar (``calendar:``), so a
window spans a weekend or a bank holiday the way an enquiry deadline does.

YAML (every key optional; the defaults below run as shipped)::

    loop:
      outcome_acknowledgement:
        working_hours: 8            # one working day
        at_risk_fraction: 0.75
        by_local_authority: {"999": {working_hours: 4}}
        settled_by: {email: delivered, hl7-mllp: delivered}   # other channels: acknowledged
      decision:
        working_hours: 8
        at_risk_fraction: 0.75
      alerts:
        smtp: {host: 127.0.0.1, port: 25, from_address: mash-alerts@synthshire.example}
        channels:                   # the responsible MASH team's channels, per LA code or default
          default: [{kind: email, to: mash-team@synthshire.example}]   # none by default
          by_local_authority: {}
        max_attempts: 8
        retry_backoff_s: 30
    other_local_authorities:
      - {code: "888", name: "Elsewhere Borough Council", email: mash@elsewhere.example,
         phone: "01632 960111", secure_mailbox: mash@elsewhere.gcsx.example}
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from .referrer import EMAIL_PATTERN, MIN_SECRET_LENGTH, SmtpSettings

#: What settles an outcome on a channel: a person acknowledged it, or delivery is the most the channel can say.
Settlement = Literal["delivered", "acknowledged"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkingWindow(_Section):
    """A span of working hours with an at-risk warning part-way through."""

    working_hours: float = Field(default=8.0, gt=0, le=24 * 60, description="Working hours allowed")
    at_risk_fraction: float = Field(default=0.75, gt=0, lt=1, description="Share of the window before at-risk")


def _string_keys(value: object) -> object:
    # YAML reads an unquoted LA code (999) as an int; it is an identifier.
    if isinstance(value, dict):
        return {str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v for k, v in value.items()}
    return value


class OutcomeAcknowledgement(WorkingWindow):
    """How long a recipient has to acknowledge an outcome before it escalates."""

    by_local_authority: dict[str, WorkingWindow] = Field(default_factory=dict, max_length=500)
    settled_by: dict[str, Settlement] = Field(
        default_factory=lambda: {"email": "delivered", "hl7-mllp": "delivered"},
        description="Receipt channel -> the status that settles an outcome there (default: acknowledged)")

    @field_validator("by_local_authority", mode="before")
    @classmethod
    def _la_keys(cls, value: object) -> object:
        return _string_keys(value)

    def window(self, la_code: str | None) -> WorkingWindow:
        return self.by_local_authority.get(la_code or "", self)

    def settles(self, channel: str, status: str) -> bool:
        """True when a receipt of ``status`` on ``channel`` means nobody needs chasing."""
        if status == "acknowledged":
            return True
        return status == "delivered" and self.settled_by.get(channel, "acknowledged") == "delivered"


class DecisionDeadline(WorkingWindow):
    """The MASH decision is due this many working hours after the referral was received."""

    by_local_authority: dict[str, WorkingWindow] = Field(default_factory=dict, max_length=500)

    @field_validator("by_local_authority", mode="before")
    @classmethod
    def _la_keys(cls, value: object) -> object:
        return _string_keys(value)

    def window(self, la_code: str | None) -> WorkingWindow:
        return self.by_local_authority.get(la_code or "", self)


class TeamChannel(_Section):
    """One way of telling the MASH team: ``email`` to ``to``, or a signed ``webhook`` POST to ``url``."""

    kind: Literal["email", "webhook"]
    to: str | None = Field(default=None, pattern=EMAIL_PATTERN, max_length=254)
    url: str | None = Field(default=None, max_length=2000)
    secret: SecretStr | None = Field(default=None, repr=False, description="webhook: HMAC-SHA256 key")
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("url must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _fields_for_kind(self) -> "TeamChannel":
        if self.kind == "email":
            if not self.to or self.url or self.secret:
                raise ValueError("an email channel takes 'to' (the address) only")
        else:
            if not self.url or self.to:
                raise ValueError("a webhook channel takes 'url' and 'secret' only")
            if self.secret is None or len(self.secret.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ValueError(f"a webhook channel needs 'secret' of at least {MIN_SECRET_LENGTH} characters")
        return self

    def ref(self) -> str:
        """A stable reference to this one channel (its kind and destination), stored on each queued
        notification so the notifier sends to the channel chosen when it was queued: ``name()`` alone is
        shared by two addresses at one domain or two hooks on one host. A digest, so no address is stored."""
        destination = self.to if self.kind == "email" else self.url
        return hashlib.sha256(f"{self.kind}\n{destination}".encode("utf-8")).hexdigest()

    def name(self) -> str:
        """How the channel is shown and recorded: its kind and host or domain, never a full address."""
        if self.kind == "email":
            return f"email:{(self.to or '').rpartition('@')[2]}"
        host = re.sub(r"^https?://", "", self.url or "").split("/", 1)[0]
        return f"webhook:{host}"


class TeamChannels(_Section):
    default: list[TeamChannel] = Field(
        default_factory=list, max_length=10,
        description="Channels of the hub's own MASH team; none: alerts show in the workspace and metrics only")
    by_local_authority: dict[str, list[TeamChannel]] = Field(default_factory=dict, max_length=500)

    @field_validator("by_local_authority", mode="before")
    @classmethod
    def _la_keys(cls, value: object) -> object:
        return _string_keys(value)

    def for_la(self, la_code: str | None) -> list[TeamChannel]:
        return self.by_local_authority.get(la_code or "", self.default)


class AlertSettings(_Section):
    """Raising alerts and escalations to the responsible MASH team."""

    smtp: SmtpSettings = Field(default_factory=lambda: SmtpSettings(from_address="mash-alerts@synthshire.example"))
    channels: TeamChannels = Field(default_factory=TeamChannels)
    max_attempts: int = Field(default=8, ge=1, le=100, description="Sends before a notification is failed")
    retry_backoff_s: float = Field(default=30.0, gt=0, le=3600, description="First retry back-off (doubles)")
    retry_backoff_max_s: float = Field(default=900.0, gt=0, le=86400)
    notify_escalations: bool = Field(default=True, description="Decision and outcome escalations go to the "
                                                               "team's channels as well as the worklist")


class LoopSettings(_Section):
    outcome_acknowledgement: OutcomeAcknowledgement = Field(default_factory=OutcomeAcknowledgement)
    decision: DecisionDeadline = Field(default_factory=DecisionDeadline)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    def production_problems(self) -> list[str]:
        """What may not run with ``environment: production``, each naming the setting, its position and the rule.

        A team web hook carries when and where a watched child attended and why the child is watched, with
        the signature over it; over ``http://`` anyone on the path reads it (and could replay it), so
        production takes ``https://`` only. Plain http stays allowed in development (a local receiver).
        Called by ``MashlinkSettings`` (which knows the environment; this section does not).
        """
        lists = [("loop.alerts.channels.default", self.alerts.channels.default)]
        lists += [(f"loop.alerts.channels.by_local_authority.{code}", channels)
                  for code, channels in self.alerts.channels.by_local_authority.items()]
        return [f"{where}[{i}].url is an http:// URL but environment is production: the team's alerts and their "
                "signatures would cross the network unencrypted; use an https:// URL"
                for where, channels in lists for i, c in enumerate(channels)
                if c.kind == "webhook" and (c.url or "").lower().startswith("http://")]


class OtherLocalAuthority(_Section):
    """A neighbouring authority a cross-border child is transferred to, with how to reach its front door."""

    code: str = Field(pattern=r"^[0-9A-Z]{3,9}$", description="DfE LA code or ONS code")
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=EMAIL_PATTERN, max_length=254)
    phone: str | None = Field(default=None, min_length=1, max_length=40)
    secure_mailbox: str | None = Field(default=None, pattern=EMAIL_PATTERN, max_length=254)

    @field_validator("code", mode="before")
    @classmethod
    def _int_code(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _some_contact(self) -> "OtherLocalAuthority":
        if not (self.email or self.phone or self.secure_mailbox):
            raise ValueError("give at least one of email, phone, secure_mailbox (how to make the transfer)")
        return self

    def contact_line(self) -> str:
        parts = [f"{label} {value}" for label, value in (("secure mailbox", self.secure_mailbox),
                                                        ("email", self.email), ("phone", self.phone)) if value]
        return f"{self.name} ({self.code}) front door: " + ", ".join(parts)


def find_other_la(others: list[OtherLocalAuthority], code: str) -> OtherLocalAuthority | None:
    return next((o for o in others if o.code == code), None)


__all__ = ["AlertSettings", "DecisionDeadline", "LoopSettings", "OtherLocalAuthority", "OutcomeAcknowledgement",
           "TeamChannel", "TeamChannels", "WorkingWindow", "find_other_la"]
