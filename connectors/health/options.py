"""Typed ``options`` of a health agency's connector (``connector: fhir`` or ``hl7v2``).

``AgencyConfig.options`` is a free dictionary in the settings, because each
connector kind needs different things; this module is where a health
connector's dictionary gets its shape. Every mistake is reported with the
key path an operator would look for in YAML, ``agencies[1].options.base_url``,
all at once (``OptionsError`` is a ``ConfigError``).

Secrets never live in the YAML: the FHIR bearer token is read from an
environment variable or a file (a mounted secret) named in the options, at
start-up, so a missing secret stops the process with the variable's name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ...config.errors import ConfigError, ConfigIssue
from ...config.matching import MatchPolicy
from ..events.options import AgencyEventsOptions
from .fhir_client import FhirClientSettings, RetryPolicy
from .fhir_connector import FhirConnectorOptions
from .fhir_translate import FhirMappingOptions
from .mllp import MllpSettings
from .oauth import JwtClientCredentials
from .tls import ClientTls, ServerTls
from ...schemas.codes import Sensitivity

HEALTH_SENSITIVITIES = frozenset({Sensitivity.STANDARD, Sensitivity.SEXUAL_HEALTH, Sensitivity.MENTAL_HEALTH})
_ODS = r"^[A-Z0-9]{3,10}$"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BearerAuth(_Options):
    """Where the FHIR API's bearer token comes from: one of an environment variable or a file."""

    bearer_token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                         description="Environment variable holding the token")
    bearer_token_file: Path | None = Field(default=None, description="File holding the token (a mounted secret)")

    @model_validator(mode="after")
    def _one_source(self) -> "BearerAuth":
        if (self.bearer_token_env is None) == (self.bearer_token_file is None):
            raise ValueError("give exactly one of bearer_token_env or bearer_token_file "
                             "(tokens are never written in the configuration file)")
        return self

    def resolve(self, environ: dict[str, str] | None = None) -> tuple[SecretStr | None, str, str]:
        """The token, or (None, sub-key, problem) naming what is missing."""
        env = os.environ if environ is None else environ
        if self.bearer_token_env is not None:
            value = env.get(self.bearer_token_env, "").strip()
            if not value:
                return None, "bearer_token_env", f"environment variable {self.bearer_token_env} is not set or empty"
            return SecretStr(value), "", ""
        assert self.bearer_token_file is not None
        try:
            value = self.bearer_token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            return None, "bearer_token_file", f"cannot read {self.bearer_token_file}: {exc.strerror or exc}"
        if not value:
            return None, "bearer_token_file", f"{self.bearer_token_file} is empty"
        return SecretStr(value), "", ""


class AdtListenOptions(_Options):
    """The MLLP listener for the trust's ADT feed (ED attendances raise alerts)."""

    host: str = Field(default="127.0.0.1", min_length=1, description="Interface to bind; 0.0.0.0 for all")
    port: int = Field(ge=0, le=65535, description="TCP port the integration engine sends ADT to (0: any free port)")
    max_frame_bytes: int = Field(default=1_048_576, ge=256)
    idle_timeout_s: float = Field(default=300.0, gt=0)
    frame_timeout_s: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=64, ge=1, le=1024)
    validate_messages: bool = Field(default=False, description="Also run hl7apy strict validation (slower)")
    application: str = Field(default="MASHLINK", min_length=1, max_length=180, description="MSH-3 of our ACKs")
    emergency_locations: frozenset[str] = Field(
        default_factory=frozenset, description="PV1-3 point-of-care codes that mean an emergency department"
    )
    tls: ServerTls | None = Field(default=None, description="MLLP over TLS (certificate, key, optional client CA)")
    spec: Path | None = Field(default=None, description="The HL7 v2 mapping spec the feed is translated with "
                              "(default config/mappings/hl7v2-adt.yaml): a trust's copy with its own codes")

    def mllp(self) -> MllpSettings:
        return MllpSettings(max_frame_bytes=self.max_frame_bytes, idle_timeout=self.idle_timeout_s,
                            frame_timeout=self.frame_timeout_s, max_connections=self.max_connections)


class _HealthOptions(_Options):
    ods_code: str | None = Field(default=None, pattern=_ODS, description="ODS code of the trust (e.g. RXX)")
    responder: str = Field(default="Trust safeguarding team", min_length=1, max_length=200)
    adt_listen: AdtListenOptions | None = Field(default=None, description="Listen for the ADT feed over MLLP")
    state_file: Path | None = Field(
        default=None, description="SQLite file for the watch list and pending Tasks (default: state_dir/<agency>.sqlite)"
    )
    events: AgencyEventsOptions | None = Field(
        default=None, description="How the trust receives outcomes, escalations and alerts (default: a FHIR "
                                  "Communication for fhir, an MDM^T02 over MLLP for hl7v2)")


class FhirOptions(_HealthOptions):
    """``connector: fhir``: a trust FHIR R4 (UK Core) API, searched (Model 2) or given Tasks (Model 3)."""

    base_url: str = Field(min_length=1, description="FHIR base URL, e.g. https://fhir.trust.example.nhs.uk/R4")
    auth: BearerAuth | None = None
    oauth: JwtClientCredentials | None = Field(
        default=None, description="OAuth 2.0 client credentials with a signed JWT (NHS / SMART backend services)")
    ca_file: Path | None = Field(
        default=None, description="PEM CA bundle for the FHIR server's and token endpoint's certificates "
                                  "(a trust's private CA); default: the system store")
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    page_size: int = Field(default=50, ge=1, le=1000)
    max_pages: int = Field(default=20, ge=1, le=1000)
    retry: RetryPolicy = RetryPolicy()
    delivery: Literal["search", "task"] = Field(
        default="search", description="search: answer from the API (Model 2); task: create a Task for staff (Model 3)"
    )
    task_poll_interval_s: float = Field(default=30.0, ge=0.05, le=3600,
                                        description="How often open Tasks are checked for completion")
    release: frozenset[Sensitivity] = Field(
        default=frozenset({Sensitivity.STANDARD}),
        description="Sensitivities the trust releases to the MASH (sexual_health, mental_health need local policy)",
    )
    auto_match_threshold: float = Field(default=0.95, ge=0, le=1)
    candidate_threshold: float = Field(default=0.5, ge=0, le=1)
    watch_cp_flags: bool = Field(
        default=False, description="Alert on ED attendance of children with a child-protection Flag on this server"
    )
    mapping: dict[str, Any] = Field(default_factory=dict, description="FhirMappingOptions overrides (code sets)")

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1].strip("/")) == 0:
            raise ValueError("must be an http:// or https:// URL of the FHIR base")
        return value.rstrip("/")

    @field_validator("release")
    @classmethod
    def _health_only(cls, value: frozenset[Sensitivity]) -> frozenset[Sensitivity]:
        wrong = sorted(s.value for s in value - HEALTH_SENSITIVITIES)
        if wrong:
            raise ValueError(f"a trust releases health sensitivities only; not {', '.join(wrong)}")
        return value

    @field_validator("mapping")
    @classmethod
    def _mapping(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "agency_id" in value:
            raise ValueError("mapping.agency_id is set from the agency id; remove it")
        FhirMappingOptions.model_validate(value)  # errors name mapping.<field>
        return value

    @model_validator(mode="after")
    def _thresholds(self) -> "FhirOptions":
        if self.candidate_threshold > self.auto_match_threshold:
            raise ValueError("candidate_threshold must not exceed auto_match_threshold")
        if self.auth is not None and self.oauth is not None:
            raise ValueError("give auth (a fixed bearer token) or oauth (client credentials), not both")
        return self

    @field_validator("events")
    @classmethod
    def _fhir_events(cls, value: Any) -> Any:
        if value is not None and value.channel == "hl7v2":
            raise ValueError("channel hl7v2 needs connector: hl7v2; a FHIR trust takes fhir, webhook or drop_folder")
        return value

    def mapping_options(self, agency_id: str) -> FhirMappingOptions:
        return FhirMappingOptions.model_validate({"organisation": self.ods_code, **self.mapping,
                                                  "agency_id": agency_id})

    def client_settings(self, token: SecretStr | None) -> FhirClientSettings:
        return FhirClientSettings(base_url=self.base_url, timeout=self.timeout_s, bearer_token=token,
                                  ca_file=self.ca_file, page_size=self.page_size, max_pages=self.max_pages,
                                  retry=self.retry)

    def connector_options(self, agency_id: str, matching: MatchPolicy | None = None) -> FhirConnectorOptions:
        """The search connector's options; ``matching`` is the agency's ``matching:`` block (thresholds)."""
        return FhirConnectorOptions(release=self.release, auto_match_threshold=self.auto_match_threshold,
                                    candidate_threshold=self.candidate_threshold, responder=self.responder,
                                    mapping=self.mapping_options(agency_id),
                                    matching=matching or MatchPolicy.default())


class Hl7v2Options(_HealthOptions):
    """``connector: hl7v2``: enquiries as REF^I12 to the trust's integration engine, answers as RRI^I12."""

    host: str = Field(min_length=1, description="Integration engine host for REF^I12")
    port: int = Field(ge=1, le=65535)
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="Seconds to wait for each RRI^I12")
    sending_facility: str = Field(default="MASH", min_length=1, max_length=180)
    receiving_facility: str = Field(default="", max_length=180)
    tls: ClientTls | None = Field(default=None, description="MLLP over TLS to the integration engine")

    @field_validator("events")
    @classmethod
    def _hl7_events(cls, value: Any) -> Any:
        if value is not None and value.channel == "fhir":
            raise ValueError("channel fhir needs connector: fhir; an HL7 v2 trust takes hl7v2, webhook or drop_folder")
        return value


def _prefix(agency_index: int) -> str:
    return f"agencies[{agency_index}].options"


def parse_options(model: type[_Options], options: dict[str, Any], agency_index: int,
                  *, file: Path | None = None) -> Any:
    """Validate ``options`` as ``model``; a ``ConfigError`` names ``agencies[i].options.<field>``.

    The generic parser also drops pydantic's union tags (``events.fhir.x`` is reported as ``events.x``).
    """
    from ..delivery.options import parse_connector_options

    return parse_connector_options(model, options, agency_index, file=file)


def resolve_token(options: FhirOptions, agency_index: int, *, file: Path | None = None,
                  environ: dict[str, str] | None = None) -> SecretStr | None:
    """The bearer token from the environment or secret file; ``ConfigError`` naming the key if missing."""
    if options.auth is None:
        return None
    token, key, problem = options.auth.resolve(environ)
    if token is None:
        raise ConfigError([ConfigIssue(path=f"{_prefix(agency_index)}.auth.{key}", rule=problem)], file=file)
    return token
