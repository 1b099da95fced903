"""Typed ``options.events`` of every connector: how the agency receives its events.

Each connector kind's options model has an ``events`` field of this shape; an
absent ``events`` means the default for the kind (see ``connectors/*/wiring.py``):
FHIR trusts get a ``Communication`` on their FHIR server, HL7 v2 trusts an
MDM^T02 to their integration engine, and police, education and social care
get the channel their ``delivery`` uses (a web hook or a drop folder), or a
drop folder in the state directory when they have no delivery configured, so
nothing piles up unread in the broker::

    events:
      channel: drop_folder                # fhir | hl7v2 | webhook | drop_folder
      path: /srv/share/police-events      # outbox/ and processed/ under it
      max_attempts: 5                     # deliveries before a failed receipt and parking
      retry_backoff_s: 5
      ack_scan_interval_s: 30             # how often processed/ (or FHIR Tasks) are checked
      ack_scan_batch: 500                 # delivered events checked per pass (FHIR: one GET each);
                                          # the next pass carries on from there, wrapping round

Every mistake is reported at ``agencies[i].options.events.<field>``. Keys are
never in the YAML: ``key_env`` / ``key_file`` name where the web-hook key is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EVENT_CHANNELS = ("fhir", "hl7v2", "webhook", "drop_folder")


def host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("must be host:port, e.g. 0.0.0.0:8443 (port 0 picks a free port)")
    return host.strip("[]"), int(port)
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _EventsCommon(_Options):
    enabled: bool = Field(default=True, description="false: this process does not consume the events queue "
                                                    "(another process must, or events pile up)")
    max_attempts: int = Field(default=5, ge=1, le=50,
                              description="Delivery attempts before the event is parked with a failed receipt")
    retry_backoff_s: float = Field(default=5.0, gt=0, le=3600, description="First retry back-off")
    retry_backoff_max_s: float = Field(default=300.0, gt=0, le=86_400, description="Back-off cap")
    ack_scan_interval_s: float = Field(default=30.0, ge=0.05, le=86_400,
                                       description="How often delivered events are checked for acknowledgement")
    ack_scan_batch: int = Field(default=500, ge=1, le=100_000,
                                description="Delivered events checked per acknowledgement scan pass (FHIR: one "
                                            "GET each); the next pass carries on from there, wrapping round, so "
                                            "every delivered event is checked in turn")
    templates_dir: Path | None = Field(default=None, description="Folder of <kind>/<event>.txt.j2 templates "
                                                                 "(default: the shipped config/outcome_templates/agency)")
    state_file: Path | None = Field(default=None, description="SQLite file of delivered events "
                                                              "(default: state_dir/connector-<id>.events.sqlite)")

    @model_validator(mode="after")
    def _backoff(self) -> "_EventsCommon":
        if self.retry_backoff_s > self.retry_backoff_max_s:
            raise ValueError("retry_backoff_s must not exceed retry_backoff_max_s")
        return self


class FhirEventsOptions(_EventsCommon):
    """A ``Communication`` (and an acknowledgement ``Task``) on the trust's FHIR server; FHIR connectors only."""

    channel: Literal["fhir"]
    acknowledgement_task: bool = Field(default=True, description="Also create a Task asking staff to confirm "
                                                                 "they read it (completed = acknowledged)")
    cancel_open_tasks: bool = Field(default=True, description="On an outcome, cancel the referral's enquiry "
                                                              "Tasks still open (the hub withdrew them)")


class Hl7EventsOptions(_EventsCommon):
    """An MDM^T02 over MLLP to the trust's integration engine; host/port default to the connector's."""

    channel: Literal["hl7v2"]
    host: str | None = Field(default=None, min_length=1, description="Default: the connector's host")
    port: int | None = Field(default=None, ge=1, le=65535, description="Default: the connector's port")
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="Seconds to wait for the ACK")
    sending_facility: str = Field(default="MASH", min_length=1, max_length=180)
    receiving_facility: str = Field(default="", max_length=180)


class WebhookEventsOptions(_EventsCommon):
    """A signed JSON POST with ``Idempotency-Key``; ``url`` and key default to the connector's ``delivery``."""

    channel: Literal["webhook"]
    url: str | None = Field(default=None, description="Default: options.delivery.url")
    key_env: str | None = Field(default=None, pattern=_ENV_NAME, description="Environment variable with the HMAC key")
    key_file: Path | None = Field(default=None, description="File with the HMAC key (a mounted secret)")
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    verify_tls: bool | Path = Field(default=True, description="false, or a CA bundle file for a private CA")
    ack_listen: str | None = Field(default=None, description="host:port of the endpoint the tool POSTs signed "
                                                             "acknowledgements to (none: only 2xx replies saying "
                                                             "acknowledged count)")
    ack_path: str = Field(default="/mashlink/events/ack", pattern=r"^/[A-Za-z0-9/_.-]*$")
    ack_url: str | None = Field(default=None, description="Public URL of the acknowledgement endpoint (behind a "
                                                          "proxy); default from ack_listen")
    ack_window_s: int = Field(default=300, ge=10, le=3600, description="Acknowledgements signed longer ago are "
                                                                        "refused")

    @field_validator("ack_listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            host_port(value)
        return value

    @property
    def listen(self) -> tuple[str, int] | None:
        return host_port(self.ack_listen) if self.ack_listen is not None else None

    @field_validator("url", "ack_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith(("http://", "https://"))
                                  or not value.split("://", 1)[1].strip("/")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _one_key(self) -> "WebhookEventsOptions":
        if self.key_env is not None and self.key_file is not None:
            raise ValueError("give at most one of key_env or key_file")
        listen = self.listen
        if listen is not None and self.ack_url is None and listen[0] in ("0.0.0.0", "::", ""):
            raise ValueError("ack_url is required when ack_listen binds every interface: the agency's tool needs "
                             "an address it can reach")
        return self


class DropFolderEventsOptions(_EventsCommon):
    """A JSON file per event in ``path/outbox``; the tool moves it to ``path/processed`` to acknowledge it."""

    channel: Literal["drop_folder"]
    path: Path | None = Field(default=None, description="Default: <delivery.path>/events, or "
                                                         "state_dir/connector-<id>.events")


AgencyEventsOptions = Annotated[
    FhirEventsOptions | Hl7EventsOptions | WebhookEventsOptions | DropFolderEventsOptions,
    Field(discriminator="channel"),
]
AnyEventsOptions = FhirEventsOptions | Hl7EventsOptions | WebhookEventsOptions | DropFolderEventsOptions


def native_events_problem(events: AnyEventsOptions | None) -> str | None:
    """Police, education and social care take a web hook or a drop folder (fhir / hl7v2 are for trusts)."""
    if events is not None and events.channel in ("fhir", "hl7v2"):
        return (f"channel {events.channel} is for health connectors (fhir, hl7v2); this connector takes webhook "
                "or drop_folder")
    return None
