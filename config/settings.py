"""``MashlinkSettings``: every setting, from ``MASHLINK_*`` environment over YAML.

Precedence, highest first: keyword overrides given to ``load_settings``,
``MASHLINK_*`` environment variables (nested with ``__``, e.g.
``MASHLINK_SIGNING__PRIVATE_KEY``; an agency id's hyphens may be written as underscores in
``MASHLINK_SIGNING__PUBLIC_KEYS__HEALTH_TRUST``), the YAML file (``MASHLINK_CONFIG`` or the
packaged ``config/mashlink.yaml``), then the defaults below, each of which
runs on one machine. There is no global settings object: callers load
settings once at start-up and pass them on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from .errors import ConfigError, ConfigIssue, issues_from_validation_error
from .lawful_basis import LawfulBasisRules
from .loop import LoopSettings, OtherLocalAuthority
from .models import (
    SENSITIVE_HEALTH,
    SLUG_PATTERN,
    AgencyConfig,
    CalendarSettings,
    LocalAuthority,
    RagTimescale,
    RagTimescales,
    SharingPolicy,
)
from .referrer import ReferrerNotifySettings
from .security import SecuritySettings
from .signing import DEV_KEY_PREFIX, SignerKey, SigningSettings, VerifierKey, dev_secret
from .yaml_source import MashlinkYamlSource, line_for, yaml_line_map
from ..schemas.codes import AgencyKind

ENV_PREFIX = "MASHLINK_"
_Model = TypeVar("_Model", bound=BaseModel)
CONFIG_ENV_VAR = "MASHLINK_CONFIG"
HUB_SENDER_ID = "hub"
#: The referrer notifier's envelope identity: it may send delivery receipts for agency_id "referrer".
REFERRER_NOTIFIER_ID = "referrer-notifier"
#: Where an old configuration's HMAC keys went, for the error that says so.
LEGACY_SIGNING_KEYS_RULE = (
    "HMAC signing keys (signing_keys / MASHLINK_SIGNING_KEYS__*) are no longer used: envelopes are signed with "
    "Ed25519. Give each process only its own private key in signing.private_key (MASHLINK_SIGNING__PRIVATE_KEY) "
    "and every process the senders' public keys in signing.public_keys; `mashlink keys generate SENDER` prints "
    "both (docs/operations.md, Key rotation). Remove signing_keys")


def default_config_path() -> Path:
    """The packaged default configuration, found next to this module (not the CWD)."""
    return Path(__file__).resolve().with_name("mashlink.yaml")


def resolve_config_path(path: Path | str | None = None) -> Path:
    """Which YAML file to read: the argument, else ``MASHLINK_CONFIG``, else the packaged file."""
    if path is not None:
        return Path(path)
    from_env = os.environ.get(CONFIG_ENV_VAR)
    return Path(from_env) if from_env else default_config_path()


def _default_rag() -> dict[str, RagTimescales]:
    return {
        "999": RagTimescales(
            red=RagTimescale(hours=4, out_of_hours=True),
            amber=RagTimescale(hours=24),
            green=RagTimescale(hours=72),
        )
    }


def _err(loc: tuple[Any, ...], rule: str, value: Any) -> InitErrorDetails:
    # Message braces are escaped: PydanticCustomError treats {...} as context placeholders.
    message = rule.replace("{", "{{").replace("}", "}}")
    return InitErrorDetails(type=PydanticCustomError("config_rule", message), loc=loc, input=value)


@dataclass
class _Facts:
    """What the cross-section rules look at, from a valid model or raw input."""

    agencies: list[tuple[int, str, bool]]  # (index, id, enabled)
    policies: list[str]
    senders: list[str]
    la_code: str | None
    rag_codes: list[str] | None
    environment: str = "development"
    oidc_missing: bool = True
    dev_key_senders: list[str] = field(default_factory=list)
    broker_is_memory: bool = True
    legacy_keys: bool = False
    private_key_set: bool = False

    @classmethod
    def from_model(cls, m: "MashlinkSettings") -> "_Facts":
        return cls(
            agencies=[(i, a.id, a.enabled) for i, a in enumerate(m.agencies)],
            policies=list(m.sharing_policies), senders=list(m.signing.public_keys),
            la_code=m.local_authority.code, rag_codes=list(m.rag),
            environment=m.environment, oidc_missing=m.security.oidc is None,
            dev_key_senders=m.signing.development_entries() + (
                ["signing.private_key"] if m.signing.own_key is not None and m.signing.own_key.development else []),
            broker_is_memory=m.broker_url.startswith("memory://"),
            legacy_keys=m.legacy_signing_keys is not None, private_key_set=m.signing.private_key is not None,
        )

    @classmethod
    def from_raw(cls, data: dict[str, Any]) -> "_Facts":
        def get(obj: Any, key: str, default: Any = None) -> Any:
            return obj.get(key, default) if isinstance(obj, Mapping) else getattr(obj, key, default)

        agencies = []
        raw_agencies = data.get("agencies")
        if isinstance(raw_agencies, list):
            for i, a in enumerate(raw_agencies):
                agency_id = get(a, "id")
                if isinstance(agency_id, str):
                    agencies.append((i, agency_id, bool(get(a, "enabled", True))))
        policies = data.get("sharing_policies")
        signing = data.get("signing")
        keys = signing.get("public_keys") if isinstance(signing, Mapping) else getattr(signing, "public_keys", None)
        private_key = signing.get("private_key") if isinstance(signing, Mapping) else getattr(
            signing, "private_key", None)
        rag = data.get("rag")
        la = data.get("local_authority")
        la_code = get(la, "code", "999") if la is not None else "999"
        return cls(
            agencies=agencies,
            policies=[str(k) for k in policies] if isinstance(policies, Mapping) else [],
            senders=[str(k) for k in keys] if isinstance(keys, Mapping) else [],
            la_code=str(la_code) if la_code is not None else None,
            rag_codes=[str(k) for k in rag] if isinstance(rag, Mapping) else None,
            environment=str(data.get("environment") or "development"),
            oidc_missing=not (isinstance(data.get("security"), Mapping) and data["security"].get("oidc")),
            dev_key_senders=[],  # judged on the validated model only
            broker_is_memory=str(data.get("broker_url") or "memory://").startswith("memory://"),
            legacy_keys=any(data.get(k) is not None for k in ("signing_keys", "mashlink_signing_keys",
                                                              "legacy_signing_keys")),
            private_key_set=private_key is not None,
        )


def _cross_section_errors(f: _Facts, failed: set[tuple[Any, ...]]) -> list[InitErrorDetails]:
    """Every-agency-has-a-policy and friends; sections that failed on their own are skipped."""
    errors: list[InitErrorDetails] = []
    ids: dict[str, int] = {}
    for index, agency_id, _ in f.agencies:
        if agency_id in ids:
            errors.append(_err(("agencies", index, "id"),
                               f"duplicate agency id {agency_id!r} (also agencies[{ids[agency_id]}].id)",
                               agency_id))
        elif agency_id == HUB_SENDER_ID:
            errors.append(_err(("agencies", index, "id"), "'hub' is reserved for the hub itself", agency_id))
        else:
            ids[agency_id] = index
    if ("sharing_policies",) not in failed:
        for index, agency_id, _ in f.agencies:
            if ids.get(agency_id) == index and agency_id not in f.policies:
                errors.append(_err(("agencies", index, "id"),
                                   f"agency {agency_id!r} has no entry in sharing_policies "
                                   "(every agency needs a sharing policy)", agency_id))
    for agency_id in f.policies:
        if agency_id not in ids:
            errors.append(_err(("sharing_policies", agency_id),
                               f"policy for unknown agency {agency_id!r} (no agencies[].id matches)", agency_id))
    if f.legacy_keys:
        errors.append(_err(("signing_keys",), LEGACY_SIGNING_KEYS_RULE, None))
    if ("signing",) not in failed:
        for sender in f.senders:
            if sender not in (HUB_SENDER_ID, REFERRER_NOTIFIER_ID) and sender not in ids:
                errors.append(_err(("signing", "public_keys", sender),
                                   f"public key of unknown sender {sender!r} (must be 'hub', "
                                   f"'{REFERRER_NOTIFIER_ID}' or an agency id)", None))
        if f.environment == "production":
            # Without them a sender would fall back to its development key, which anyone can derive.
            for sender in dict.fromkeys([HUB_SENDER_ID, *[i for _, i, enabled in f.agencies if enabled]]):
                if sender not in f.senders:
                    errors.append(_err(("signing", "public_keys", sender),
                                       f"environment is production but sender {sender!r} has no public key "
                                       f"(needed to verify its envelopes): run `mashlink keys generate {sender}` "
                                       "and add the printed entry", None))
            if not f.private_key_set:
                errors.append(_err(("signing", "private_key"),
                                   "environment is production but this process has no private key: set "
                                   "MASHLINK_SIGNING__PRIVATE_KEY to the key `mashlink keys generate SENDER` "
                                   "printed for the sender it runs as (hub, an agency id or referrer-notifier)",
                                   None))
    if f.environment == "production" and f.oidc_missing and ("security",) not in failed:
        errors.append(_err(("security", "oidc", "issuer"),
                           "environment is production but no identity provider is configured: set "
                           "security.oidc.issuer and security.oidc.audience (the development issuer "
                           "is refused outside environment: development)", None))
    # Production never runs on a development key: it is in the repository for anyone to read.
    if f.environment == "production" and ("signing",) not in failed:
        for where in f.dev_key_senders:
            if where == "signing.private_key":
                errors.append(_err(("signing", "private_key"),
                                   f"environment is production but the private key is a development key "
                                   f"({DEV_KEY_PREFIX}...): generate a real one with `mashlink keys generate "
                                   "SENDER`", None))
                continue
            sender, key_id = where.split("/", 1)
            errors.append(_err(("signing", "public_keys", sender),
                               f"environment is production but key {key_id!r} of sender {sender!r} is a "
                               f"development key ({DEV_KEY_PREFIX}..., derivable by anyone): replace it with "
                               f"the entry `mashlink keys generate {sender}` prints", None))
    if f.rag_codes is not None and f.la_code is not None and ("rag",) not in failed \
            and ("local_authority",) not in failed and f.la_code not in f.rag_codes:
        errors.append(_err(("rag",), f"no timescales for the served local authority {f.la_code!r} "
                                     "(local_authority.code)", None))
    return errors


SenderId = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]

BROKER_SCHEMES = frozenset({"memory", "amqp", "amqps", "pyamqp"})


def broker_hosts(url: str) -> list[str]:
    """The URLs of a failover broker URL (``amqp://a//;amqp://b//``), in the order given."""
    return [part.strip() for part in url.split(";") if part.strip()]


class BrokerTlsSettings(BaseModel):
    """AMQP over TLS: whom to trust, who we are, which name the broker must carry.

    Used for every ``amqps://`` host of ``broker_url`` (and refused with an
    ``amqp://`` one, where it would silently do nothing). Paths are checked at
    start-up so a typo is a configuration error naming the setting, not a
    handshake failure at the first publish.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: Path | None = Field(
        default=None, description="PEM file of the CA(s) that signed the broker's certificate; "
                                  "unset: the system trust store")
    cert_file: Path | None = Field(
        default=None, description="PEM client certificate (chain) for brokers that require one "
                                  "(RabbitMQ ssl_options.fail_if_no_peer_cert)")
    key_file: Path | None = Field(
        default=None, description="PEM private key of cert_file (unset: the key is inside cert_file)")
    server_name: str | None = Field(
        default=None, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9*][A-Za-z0-9.*-]*$",
        description="Name the broker's certificate must carry, also sent as SNI; unset: each host of broker_url")
    verify: Literal["verify_peer", "verify_none"] = Field(
        default="verify_peer",
        description="verify_peer checks the broker's certificate and name; verify_none encrypts without "
                    "knowing who answers (tests only; refused in production)")

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.is_file():
            raise ValueError(f"file {str(value)!r} does not exist or is not a regular file")
        try:
            with value.open("rb"):
                pass
        except OSError as exc:
            raise ValueError(f"file {str(value)!r} cannot be read by this user ({exc.strerror})") from None
        return value

    @model_validator(mode="after")
    def _key_needs_cert(self) -> "BrokerTlsSettings":
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("broker_tls.key_file is set without broker_tls.cert_file (the key's certificate)")
        return self

    @property
    def configured(self) -> bool:
        """Whether any option differs from the defaults (an amqp:// URL would ignore it)."""
        return self != BrokerTlsSettings()


def with_overrides(base: _Model, overrides: Mapping[str, Any], owner: str) -> _Model:
    """``base`` with some fields replaced, validated as settings are (a constructor's keyword overrides).

    An unknown name is a ``TypeError`` naming ``owner`` and the model whose
    fields are allowed; a bad value is the model's ``ValidationError``.
    """
    if not overrides:
        return base
    model = type(base)
    unknown = sorted(set(overrides) - set(model.model_fields))
    if unknown:
        raise TypeError(f"{owner}() got unknown option(s) {', '.join(unknown)}; the options are the fields of "
                        f"{model.__name__}")
    return model.model_validate({**base.model_dump(), **overrides})


class BrokerRuntimeSettings(BaseModel):
    """How a process uses the broker: confirms, heartbeats, retries, reconnects (``MASHLINK_BROKER_RUNTIME__*``).

    Every ``Broker`` is built from these (keyword arguments may override one
    field for one broker, validated the same way); defaults suit one
    RabbitMQ node on a 2-core machine.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    confirm_timeout_s: float = Field(
        default=10.0, gt=0, le=600,
        description="A publish fails when no publisher confirm arrives this long after the last one")
    heartbeat_s: int = Field(default=30, ge=0, le=600, description="AMQP heartbeat interval (0: none)")
    connect_timeout_s: float = Field(default=5.0, gt=0, le=300, description="One connection attempt to one host")
    publish_window: int = Field(default=1000, ge=1, le=100_000, description="Messages in flight awaiting confirms")
    max_attempts: int = Field(
        default=5, ge=1, le=100, description="Deliveries of one message before it is parked as delivery_limit")
    retry_backoff_s: float = Field(
        default=1.0, ge=0, le=3600, description="First retry's back-off; doubled per attempt up to the maximum")
    retry_backoff_max_s: float = Field(default=60.0, ge=0, le=86_400, description="Longest retry back-off")
    reconnect_attempts: int = Field(
        default=5, ge=0, le=100, description="Reconnects of one operation before it fails with BrokerError")
    polling_interval_s: float = Field(
        default=0.01, gt=0, le=5, description="memory:// only: how often an idle consumer looks for messages")

    @model_validator(mode="after")
    def _backoff_order(self) -> "BrokerRuntimeSettings":
        if self.retry_backoff_max_s < self.retry_backoff_s:
            raise ValueError(f"retry_backoff_max_s ({self.retry_backoff_max_s:g}) is below retry_backoff_s "
                             f"({self.retry_backoff_s:g}): the longest back-off must not be shorter than the first")
        return self


class HubRuntimeSettings(BaseModel):
    """The hub's background loops: relay, consumers, deadline ticks (``MASHLINK_HUB_RUNTIME__*``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tick_interval_s: float = Field(default=5.0, gt=0, le=3600, description="How often deadlines are checked")
    relay_batch_size: int = Field(default=200, ge=1, le=10_000, description="Outbox rows published per batch")
    consumer_prefetch: int = Field(default=200, ge=1, le=10_000, description="Unacked deliveries per hub consumer")
    consumer_max_batch: int = Field(default=100, ge=1, le=10_000, description="Deliveries per handler call")
    consumer_max_wait_s: float = Field(default=0.02, gt=0, le=5, description="How long a batch waits to fill")
    restart_wait_s: float = Field(default=1.0, gt=0, le=300, description="Pause before a failed loop restarts")


class RunnerSettings(BaseModel):
    """How one connector process consumes (``MASHLINK_CONNECTOR_RUNTIME__*``). Defaults suit a 2-core machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    red_workers: int = Field(default=2, ge=1, le=64, description="Worker threads for red enquiries")
    standard_workers: int = Field(default=4, ge=1, le=256, description="Worker threads for amber and green")
    hub_id: str = Field(default=HUB_SENDER_ID, min_length=1, description="Recipient id of responses (the hub's sender id)")
    max_wait_s: float = Field(default=0.02, gt=0, le=5, description="How long a lane waits to fill a batch")
    retry_slots: int = Field(
        default=2, ge=0, le=64,
        description="Extra unacked deliveries per lane, so enquiries waiting out a retry back-off "
        "cannot stall the lane; batches never exceed the lane batch (see lane_batch)",
    )
    restart_backoff_s: float = Field(default=1.0, gt=0, le=60, description="Pause before a failed lane restarts")
    inline_batch: int = Field(
        default=32, ge=1, le=1000,
        description="Batch size (prefetch: this plus retry_slots) of a connector that answers_inline; "
        "its answers cost microseconds, so a batch shares one confirm round trip and one ack frame",
    )

    def lane_batch(self, workers: int, *, inline: bool) -> int:
        """How many deliveries a lane works on at once: its pool, or ``inline_batch`` for inline answers."""
        return max(workers, self.inline_batch) if inline else workers


class MashlinkSettings(BaseSettings):
    """All mashlink settings. Build with ``load_settings()``; the object is immutable."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
        validate_default=True,
        # An empty MASHLINK_* variable means "not set": docker-compose passes ``${OIDC_ISSUER:-}`` as an
        # empty string when the deployment leaves it out, and that must not configure an empty issuer.
        env_ignore_empty=True,
    )

    config_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("config_file", "mashlink_config"),
        description="The YAML file these settings were read from (MASHLINK_CONFIG)",
    )
    broker_url: str = Field(default="memory://", repr=False, description="memory:// on one machine, amqp://... for RabbitMQ")
    broker_namespace: str = Field(
        default="mashlink", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$",
        description="Prefix of every exchange and queue; separate deployments on one broker use different ones",
    )
    broker_tls: BrokerTlsSettings = Field(
        default_factory=BrokerTlsSettings,
        description="CA, client certificate and key, server name and verify mode for amqps:// broker URLs "
                    "(MASHLINK_BROKER_TLS__CA_FILE ...); see docs/broker-tls.md",
    )
    state_dir: Path = Field(default=Path(".mashlink"), description="Local state (SQLite file, spool)")
    database_url: str = Field(default="", repr=False, description="SQLAlchemy URL; default a SQLite file in state_dir")
    local_authority: LocalAuthority = Field(default_factory=LocalAuthority)
    hub_http_host: str = Field(default="127.0.0.1", min_length=1)
    hub_http_port: int = Field(default=8080, ge=1, le=65535)
    broker_runtime: BrokerRuntimeSettings = Field(
        default_factory=BrokerRuntimeSettings,
        description="Confirms, heartbeats, retries and reconnects of every broker connection "
                    "(MASHLINK_BROKER_RUNTIME__PUBLISH_WINDOW ...)")
    hub_runtime: HubRuntimeSettings = Field(
        default_factory=HubRuntimeSettings,
        description="The hub's relay, consumers and deadline ticks (MASHLINK_HUB_RUNTIME__TICK_INTERVAL_S ...)")
    connector_runtime: RunnerSettings = Field(
        default_factory=RunnerSettings,
        description="A connector process's worker lanes and batches (MASHLINK_CONNECTOR_RUNTIME__RED_WORKERS ...)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False
    audit_check_interval_s: float = Field(
        default=3600.0, ge=0, le=7 * 86_400,
        description="How often the hub verifies its audit chain and logs a signed anchor (0: never)")
    signing: SigningSettings = Field(
        default_factory=SigningSettings,
        description="Envelope signatures (Ed25519): this process's private key, every sender's public keys "
                    "with their validity (rotation), the freshness window; see docs/operations.md",
    )
    legacy_signing_keys: Any = Field(
        default=None, exclude=True, repr=False,
        validation_alias=AliasChoices("signing_keys", "mashlink_signing_keys", "legacy_signing_keys"),
        description="Refused: the HMAC keys of earlier versions (the error says what replaces them)",
    )
    agencies: list[AgencyConfig] = Field(default_factory=list, max_length=200)
    sharing_policies: dict[str, SharingPolicy] = Field(default_factory=dict)
    rag: dict[str, RagTimescales] = Field(default_factory=_default_rag, min_length=1)
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    environment: Literal["development", "production"] = Field(
        default="development",
        description="development allows the embedded dev token issuer; production requires security.oidc")
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    lawful_basis_rules: LawfulBasisRules = Field(default_factory=LawfulBasisRules)
    referrer_notify: ReferrerNotifySettings = Field(
        default_factory=ReferrerNotifySettings,
        description="How referrers are told the outcome (`mashlink notify-referrers`): channels, SMTP, templates")
    loop: LoopSettings = Field(
        default_factory=LoopSettings,
        description="Closing the loop: outcome acknowledgement windows, the decision deadline, team alert channels")
    other_local_authorities: list[OtherLocalAuthority] = Field(
        default_factory=list, max_length=500,
        description="Neighbouring authorities a cross-border child is transferred to, with their contact details")

    # -- sources -----------------------------------------------------------------
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Overrides, then environment, then the YAML file (no .env files: one place per setting)."""
        explicit = getattr(init_settings, "init_kwargs", {}).get("config_file")
        yaml_source = MashlinkYamlSource(settings_cls, resolve_config_path(explicit))
        return init_settings, env_settings, yaml_source, file_secret_settings

    # -- field rules ---------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _default_database(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("database_url"):
            state_dir = Path(data.get("state_dir") or ".mashlink")
            data = {**data, "database_url": f"sqlite:///{(state_dir / 'hub.sqlite').as_posix()}"}
        return data

    @model_validator(mode="before")
    @classmethod
    def _legacy_key_variables(cls, data: Any) -> Any:
        """``MASHLINK_SIGNING_KEYS__<SENDER>`` of earlier versions: refused by name, never silently ignored.

        The environment source cannot explode nested variables of an aliased
        field, so they are looked for here (names only; the values are secrets).
        """
        if not isinstance(data, dict) or data.get("legacy_signing_keys") is not None:
            return data
        prefix = ENV_PREFIX + "SIGNING_KEYS__"
        names = sorted(v for v in os.environ if v.upper().startswith(prefix))
        return {**data, "legacy_signing_keys": names} if names else data

    @model_validator(mode="before")
    @classmethod
    def _shell_safe_key_names(cls, data: Any) -> Any:
        """Accept ``MASHLINK_SIGNING__PUBLIC_KEYS__HEALTH_TRUST`` for agency ``health-trust``.

        Agency ids contain hyphens, which a POSIX shell cannot put in a variable
        name (``export`` refuses them), so the environment spells them with
        underscores. A key name is mapped back only when it is not itself a
        sender and a configured agency has the hyphenated id; it then replaces
        that agency's keys from the YAML file, as any environment variable does
        (a sender id in the file cannot contain an underscore).
        """
        signing = data.get("signing") if isinstance(data, dict) else None
        if not isinstance(signing, Mapping) or not isinstance(signing.get("public_keys"), Mapping):
            return data
        agencies = data.get("agencies") or []
        ids = {a.get("id") if isinstance(a, Mapping) else getattr(a, "id", None) for a in agencies}
        ids.discard(None)
        keys = dict(signing["public_keys"])
        for name in list(keys):
            if not isinstance(name, str) or "_" not in name or name in ids or name == HUB_SENDER_ID:
                continue
            hyphenated = name.replace("_", "-")
            if hyphenated in ids or hyphenated == REFERRER_NOTIFIER_ID:  # only the environment spells it so
                keys[hyphenated] = keys.pop(name)
        return {**data, "signing": {**signing, "public_keys": keys}}

    @field_validator("broker_url")
    @classmethod
    def _broker_scheme(cls, value: str) -> str:
        hosts = broker_hosts(value)
        for position, part in enumerate(hosts or [value], start=1):
            scheme = part.split("://", 1)[0].lower() if "://" in part else ""
            where = f" (host {position} of {len(hosts)})" if len(hosts) > 1 else ""
            if scheme not in BROKER_SCHEMES:
                raise ValueError(f"must be memory:// or an amqp:// / amqps:// URL{where}; several RabbitMQ "
                                 "nodes are written amqp://u:p@host1:5672//;amqp://u:p@host2:5672//")
            if scheme == "memory" and len(hosts) > 1:
                raise ValueError("memory:// cannot be one of several hosts: it lives inside one process")
        return value

    @field_validator("broker_tls")
    @classmethod
    def _tls_needs_amqps(cls, value: BrokerTlsSettings, info: ValidationInfo) -> BrokerTlsSettings:
        url = info.data.get("broker_url")
        if not isinstance(url, str) or not value.configured:
            return value
        plain = [i for i, part in enumerate(broker_hosts(url), start=1)
                 if part.split("://", 1)[0].lower() != "amqps"]
        if plain:
            raise ValueError("broker_tls options are set but broker_url host(s) "
                             f"{', '.join(map(str, plain))} use a plain (non-TLS) scheme, where they would do "
                             "nothing: write amqps://user:password@host:5671// for every host, or remove broker_tls")
        return value

    @field_validator("loop")
    @classmethod
    def _loop_in_production(cls, value: LoopSettings, info: ValidationInfo) -> LoopSettings:
        # The rules live with the section (LoopSettings.production_problems); only this model knows the environment.
        problems = value.production_problems() if info.data.get("environment") == "production" else []
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("database_url")
    @classmethod
    def _db_scheme(cls, value: str) -> str:
        if not (value.startswith("sqlite:") or value.startswith("postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// SQLAlchemy URL")
        return value

    @field_validator("rag", "sharing_policies", mode="before")
    @classmethod
    def _string_keys(cls, value: Any) -> Any:
        # YAML reads an unquoted LA code (999) as an int; it is an identifier.
        if isinstance(value, Mapping):
            return {str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _no_unverified_tls_in_production(self) -> "MashlinkSettings":
        if self.environment == "production" and self.broker_tls.verify == "verify_none":
            raise ValueError("broker_tls.verify is verify_none but environment is production: the broker's "
                             "certificate would not be checked, so anyone on the path could pose as it; "
                             "set broker_tls.verify: verify_peer and broker_tls.ca_file")
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _cross_section_rules(cls, data: Any, handler: Any) -> "MashlinkSettings":
        """Rules that span sections, each reported at its own key path.

        Run in a wrap validator so they are reported together with field
        errors (an after-validator would be skipped when any field fails):
        from the validated model when it is valid, else best effort from the
        raw input.
        """
        try:
            model = handler(data)
        except ValidationError as exc:
            field_errors = [
                InitErrorDetails(
                    type=PydanticCustomError(e["type"], str(e["msg"]).replace("{", "{{").replace("}", "}}")),
                    loc=tuple(e["loc"]), input=e.get("input"),
                )
                for e in exc.errors(include_url=False)
            ]
            failed = {tuple(e["loc"][:1]) for e in exc.errors()}
            cross = [] if not isinstance(data, dict) else _cross_section_errors(_Facts.from_raw(data), failed)
            raise ValidationError.from_exception_data(cls.__name__, field_errors + cross) from None
        errors = _cross_section_errors(_Facts.from_model(model), set())
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return model

    def __repr_args__(self) -> Any:
        # URLs may carry passwords: show them masked, never raw.
        yield "broker_url", mask_url(self.broker_url)
        yield "database_url", mask_url(self.database_url)
        yield from super().__repr_args__()

    # -- questions other parts ask -----------------------------------------------------
    def agency(self, agency_id: str) -> AgencyConfig:
        for agency in self.agencies:
            if agency.id == agency_id:
                return agency
        raise KeyError(f"no agency {agency_id!r} is configured")

    def enabled_agencies(self, kind: AgencyKind | None = None) -> list[AgencyConfig]:
        return [a for a in self.agencies if a.enabled and (kind is None or a.kind == kind)]

    def policy_for(self, agency_id: str) -> SharingPolicy:
        """The sharing policy of a configured agency (KeyError naming it otherwise)."""
        try:
            return self.sharing_policies[agency_id]
        except KeyError:
            raise KeyError(f"no sharing policy for agency {agency_id!r}") from None

    # -- signing keys --------------------------------------------------------------------
    def signing_senders(self) -> list[str]:
        """Every sender id this deployment verifies: hub, referrer notifier, agencies, anyone with a public key."""
        return list(dict.fromkeys([HUB_SENDER_ID, REFERRER_NOTIFIER_ID, *(a.id for a in self.agencies),
                                   *self.signing.public_keys]))

    def verifier_keys(self, sender_id: str) -> list[VerifierKey]:
        """Public keys of a sender: configured, else (development only) its development key."""
        return self.signing.verifiers(sender_id, development=self.environment == "development")

    def signer_key(self, sender_id: str) -> SignerKey:
        """This process's private key, for the sender it runs as (``ValueError`` naming the setting otherwise).

        ``signing.private_key`` when set (it must be that sender's key); else,
        in development, the sender's development key. Production never falls
        back (load_settings already refused a missing key).
        """
        own = self.signing.own_key
        if own is not None:
            if own.sender != sender_id:
                raise ValueError(f"signing.private_key is the key of sender {own.sender!r} but this process "
                                 f"signs as {sender_id!r}: give it the key `mashlink keys generate {sender_id}` "
                                 "printed (MASHLINK_SIGNING__PRIVATE_KEY)")
            return own
        if self.environment != "development":
            raise ValueError(f"signing.private_key is not set and environment is {self.environment}: set "
                             f"MASHLINK_SIGNING__PRIVATE_KEY to the key `mashlink keys generate {sender_id}` printed")
        return SignerKey.development_key(sender_id)

    def signing_key(self, sender_id: str) -> bytes:
        """A symmetric secret of ``sender_id`` held by this process (KeyError naming the sender otherwise).

        For HMACs that stay within the sender's own trust (the hub's session
        cookies, its audit anchors), never for envelopes: derived from this
        process's private key when it is ``sender_id``'s, else, in development
        and for a sender with no configured public key, the sender's
        development secret (``dev-insecure-<sender>``, from which its
        development key pair also derives: tests sign with it).
        """
        own = self.signing.own_key
        if own is not None and own.sender == sender_id:
            return own.local_secret()
        if self.environment == "development" and sender_id not in self.signing.public_keys:
            return dev_secret(sender_id)
        raise KeyError(f"no signing key for sender {sender_id!r} in this process")

    def dev_key_senders(self) -> list[str]:
        """Senders verified (or this process signing) with a development key: derivable by anyone."""
        out = {entry.split("/", 1)[0] for entry in self.signing.development_entries()}
        if self.environment == "development":
            out.update(s for s in [HUB_SENDER_ID, *(a.id for a in self.agencies if a.enabled)]
                       if s not in self.signing.public_keys)
        own = self.signing.own_key
        if own is not None and own.development:
            out.add(own.sender)
        return sorted(out)

    def warnings(self) -> list[str]:
        """Things that are valid but unsafe or unusual; shown by ``config check`` and at start-up."""
        out: list[str] = []
        dev = self.dev_key_senders()
        if dev and self.environment == "production" and self.broker_url.startswith("memory://"):
            out.append(f"environment is production with development signing keys for: {', '.join(dev)}; "
                       "generate real ones with `mashlink keys generate SENDER`")
        elif dev and not self.broker_url.startswith("memory://"):
            out.append(
                f"development signing keys in use with broker {self.broker_url.split('@')[-1]!r} "
                f"for: {', '.join(dev)}; generate real ones with `mashlink keys generate SENDER` "
                "(signing.private_key, signing.public_keys)"
            )
        for agency in self.agencies:
            policy = self.sharing_policies.get(agency.id)
            if policy is None:
                continue
            sensitive = sorted(s.value for s in policy.sensitivities & SENSITIVE_HEALTH)
            if sensitive and agency.kind is not AgencyKind.SOCIAL_CARE:
                out.append(f"sharing_policies.{agency.id}: sensitive health ({', '.join(sensitive)}) "
                           f"released to a {agency.kind.value} agency; check local policy allows it")
            if policy.receives_police_intelligence and agency.kind in (AgencyKind.EDUCATION, AgencyKind.OTHER):
                out.append(f"sharing_policies.{agency.id}: {agency.kind.value} receives police intelligence; "
                           "check this is limited to an agreed scheme")
        if not self.agencies:
            out.append("no agencies configured: enquiries have nowhere to go")
        return out

    def ensure_state_dir(self) -> Path:
        """Create the state directory (and a SQLite file's folder) on first use, not at import."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.database_url.startswith("sqlite:///") and self.database_url != "sqlite:///:memory:":
            Path(self.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return self.state_dir

    def masked_dump(self) -> dict[str, Any]:
        """Effective settings as plain data with secrets masked (for ``config show``)."""
        data = self.model_dump(mode="json")
        own = self.signing.own_key
        data["signing"]["private_key"] = (
            None if own is None else f"{own.sender}/{own.key_id}" + (" (dev key, insecure)" if own.development
                                                                     else " ********"))
        data["signing"]["development_keys"] = self.dev_key_senders()
        data["broker_url"] = mask_url(self.broker_url)
        data["database_url"] = mask_url(self.database_url)
        for policy in data["sharing_policies"].values():
            for key in ("subject_fields", "finding_categories", "sensitivities"):
                policy[key] = sorted(policy[key])
        return data


def mask_url(url: str) -> str:
    """Hide the password in ``scheme://user:password@host`` (fit for messages and logs)."""
    if ";" in url:  # a failover URL: mask every host's password, keep every host
        return ";".join(mask_url(part) for part in broker_hosts(url))
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}" if ":" in creds else url


def _env_var_for(top: str) -> str | None:
    """The MASHLINK_* variable that set top-level key ``top``, if any."""
    if top == "config_file":
        return CONFIG_ENV_VAR if CONFIG_ENV_VAR in os.environ else None
    name = (ENV_PREFIX + top).upper()
    for var in os.environ:
        upper = var.upper()
        if upper == name or upper.startswith(name + "__"):
            return var
    return None


def load_settings(path: Path | str | None = None, **overrides: Any) -> MashlinkSettings:
    """Load and validate settings; raise ``ConfigError`` listing every problem.

    ``path`` chooses the YAML file (else ``MASHLINK_CONFIG``, else the packaged
    default). ``overrides`` win over everything (tests, CLI flags).
    """
    config_path = resolve_config_path(path)
    try:
        return MashlinkSettings(config_file=config_path, **overrides)
    except ValidationError as exc:
        try:
            lines = yaml_line_map(config_path.read_text(encoding="utf-8"))
        except OSError:
            lines = {}

        def origin_for(loc: tuple[Any, ...]) -> str:
            top = str(loc[0]) if loc else ""
            if top in overrides:
                return "override"
            env_var = _env_var_for(top) if top else None
            if env_var:
                return f"environment {env_var}"
            line = line_for(lines, loc)
            return f"{config_path.name}:{line}" if line else ""

        raise ConfigError(issues_from_validation_error(exc, origin_for=origin_for), file=config_path) from None
    except SettingsError as exc:
        raise ConfigError([ConfigIssue("", f"environment variable cannot be parsed: {exc}")],
                          file=config_path) from None


__all__ = [
    "BrokerRuntimeSettings", "BrokerTlsSettings", "HubRuntimeSettings", "RunnerSettings", "broker_hosts", "with_overrides",
    "CONFIG_ENV_VAR", "DEV_KEY_PREFIX", "LEGACY_SIGNING_KEYS_RULE", "HUB_SENDER_ID", "REFERRER_NOTIFIER_ID", "MashlinkSettings", "default_config_path", "mask_url",
    "load_settings", "resolve_config_path",
]
