"""Telling the referrer the outcome: channels, SMTP, templates and the MASH's contact details.

The referrer may be outside every agency (a GP surgery, a school, a member of
the public's contact), so the hub cannot address them by agency id. The
``Outcome`` on the ``referrer.outcomes`` queue names the referrer only as
``recipient`` (the organisation or role given on the referral), and the
canonical schema carries no contact address for them. The channel is
therefore configuration, chosen by that name:

* ``channels.by_referrer``: keys are referrer organisations or roles, compared
  case-insensitively with runs of white space collapsed; a key may hold
  ``*`` / ``?`` wildcards (``"* Primary School"``), tried in the order given
  after every exact key;
* ``channels.default``: everything else. The shipped default sends to the
  MASH's own outcomes mailbox, so a referrer with no channel of their own is
  told by a person (telephone or letter) and nothing goes astray;
  ``default: null`` parks an outcome for an unknown referrer instead
  (reason ``processing_failure``; replay it once a channel is configured).

Each outcome type has its own template (``<templates_dir>/<outcome>.txt.j2``,
shipped defaults under ``config/outcome_templates/referrer/``): its first
line is ``Subject: ...``, the rest the body. Templates see only the referral
reference, the outcome and its date, and the MASH's contact details: never a
child's name, date of birth, identifier or another agency's findings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

#: A deliberately plain address check (local@domain.tld); SMTP has the last word.
EMAIL_PATTERN = r"^[^@\s<>,;\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
MIN_SECRET_LENGTH = 16


def default_templates_dir() -> Path:
    """The shipped referrer templates, next to this module (not the CWD)."""
    return Path(__file__).resolve().with_name("outcome_templates") / "referrer"


def normalise_referrer(name: str) -> str:
    """How referrer names are compared: case-insensitive, white space collapsed."""
    return " ".join(name.split()).casefold()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MashContact(_Section):
    """Who the referrer contacts about the outcome (the MASH team, never a named worker by default)."""

    name: str = Field(default="Synthshire MASH", min_length=1, max_length=200)
    phone: str = Field(default="01632 960000", min_length=1, max_length=40)
    email: str = Field(default="mash@synthshire.example", pattern=EMAIL_PATTERN, max_length=254)
    hours: str = Field(default="Monday to Friday, 9am to 5pm", max_length=200)
    out_of_hours: str = Field(default="Emergency Duty Team: 01632 960999", max_length=200)


class SmtpSettings(_Section):
    """The mail server outcomes are sent through."""

    host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = Field(
        default="none", description="none (local relay only), starttls (port 587) or tls (implicit, port 465)")
    username: str | None = Field(default=None, max_length=254)
    password: SecretStr | None = Field(default=None, repr=False)
    from_address: str = Field(default="mash-outcomes@synthshire.example", pattern=EMAIL_PATTERN, max_length=254)
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _credentials_together(self) -> SmtpSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("smtp.username and smtp.password are given together or not at all")
        return self


class ReferrerChannel(_Section):
    """One way of telling a referrer: ``email`` to ``to``, or a signed ``webhook`` POST to ``url``."""

    kind: Literal["email", "webhook"]
    to: str | None = Field(default=None, pattern=EMAIL_PATTERN, max_length=254, description="email: the address")
    url: str | None = Field(default=None, max_length=2000, description="webhook: http(s) URL")
    secret: SecretStr | None = Field(default=None, repr=False, description="webhook: HMAC-SHA256 key")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="webhook: request time-out")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("url must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _fields_for_kind(self) -> ReferrerChannel:
        if self.kind == "email":
            if not self.to:
                raise ValueError("an email channel needs 'to' (the address)")
            if self.url or self.secret:
                raise ValueError("an email channel takes 'to' only, not 'url' or 'secret'")
        else:
            if not self.url:
                raise ValueError("a webhook channel needs 'url'")
            if self.secret is None or len(self.secret.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ValueError(f"a webhook channel needs 'secret' of at least {MIN_SECRET_LENGTH} characters")
            if self.to:
                raise ValueError("a webhook channel takes 'url' and 'secret', not 'to'")
        return self


def _default_channel() -> ReferrerChannel:
    return ReferrerChannel(kind="email", to="mash-outcomes@synthshire.example")


class ReferrerChannels(_Section):
    default: ReferrerChannel | None = Field(default_factory=_default_channel)
    by_referrer: dict[str, ReferrerChannel] = Field(default_factory=dict, max_length=5000)

    @field_validator("by_referrer")
    @classmethod
    def _distinct_keys(cls, value: dict[str, ReferrerChannel]) -> dict[str, ReferrerChannel]:
        seen: dict[str, str] = {}
        for key in value:
            norm = normalise_referrer(key)
            if not norm:
                raise ValueError("a by_referrer key is empty")
            if norm in seen:
                raise ValueError(f"by_referrer keys {seen[norm]!r} and {key!r} are the same referrer")
            seen[norm] = key
        return value

    def channel_for(self, referrer: str) -> tuple[str, ReferrerChannel] | None:
        """``(channel name, channel)`` for a referrer: exact key, then wildcard keys in order, then default."""
        from fnmatch import fnmatchcase

        wanted = normalise_referrer(referrer)
        patterns: list[tuple[str, ReferrerChannel]] = []
        for key, channel in self.by_referrer.items():
            norm = normalise_referrer(key)
            if norm == wanted:
                return key, channel
            if "*" in norm or "?" in norm:
                patterns.append((key, channel))
        for key, channel in patterns:
            if fnmatchcase(wanted, normalise_referrer(key)):
                return key, channel
        return ("default", self.default) if self.default is not None else None


class ReferrerNotifySettings(_Section):
    """``mashlink notify-referrers``: how referrers are told the outcome (see the module docstring)."""

    contact: MashContact = Field(default_factory=MashContact)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    channels: ReferrerChannels = Field(default_factory=ReferrerChannels)
    templates_dir: Path | None = Field(
        default=None, description="Folder of <outcome>.txt.j2 templates; default: the shipped ones")
    max_attempts: int = Field(default=8, ge=1, le=100, description="Deliveries before an outcome is parked")
    retry_backoff_s: float = Field(default=5.0, gt=0, le=3600, description="First retry back-off")
    retry_backoff_max_s: float = Field(default=600.0, gt=0, le=86400, description="Back-off cap")

    def templates_path(self) -> Path:
        return self.templates_dir if self.templates_dir is not None else default_templates_dir()
