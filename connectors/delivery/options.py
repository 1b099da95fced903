"""Typed ``options.delivery`` of a police, education or social care connector (Model 3).

Any of the native connectors (``pole``, ``ctf``, ``cin``, ``ssda903``) can also
deliver each enquiry into the agency's own tool, as a signed JSON task POSTed
to a web hook or as a file in a drop folder::

    delivery:
      mode: webhook                       # or drop_folder
      url: https://cases.agency.example/mashlink/tasks
      answer_listen: 0.0.0.0:8443         # where the agency POSTs its signed answers
      key_env: POLICE_WEBHOOK_KEY         # or key_file: /run/secrets/police-webhook
      answer_key_env: POLICE_ANSWER_KEY   # optional: the tool signs answers with its own key
      search: true                        # false: deliver only, no Model 2 search

The web-hook HMAC key is never in the YAML: it comes from an environment
variable or a secret file named here, read at start-up, so a missing key stops
the process with the variable's name (``agencies[i].options.delivery.key_env``).
``key_env``/``key_file`` signs the tasks mashlink sends; by default the same
key verifies the answers that come back. Give ``answer_key_env`` or
``answer_key_file`` to verify answers with a second key, so that a leaked
task key (held by whoever reads the tasks) cannot forge answers, and each key
can be rotated on its own.

This module also holds :func:`parse_connector_options`, the one place where a
connector's option dictionary becomes its model with errors named as the
operator finds them in YAML (``agencies[2].options.delivery.url``), with the
file and line when known. It is generic over the options model, so the
connector factory uses it for every connector's ``config check``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ...config.errors import ConfigError, ConfigIssue, format_loc, issues_from_validation_error

DELIVERY_MODES = ("webhook", "drop_folder")
MIN_HOOK_KEY_LENGTH = 16
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("must be host:port, e.g. 0.0.0.0:8443 (port 0 picks a free port)")
    return host.strip("[]"), int(port)


class _DeliveryCommon(_Options):
    search: bool = Field(default=True, description="Also search the agency's records (Model 2); false: deliver only")
    system: str = Field(default="Agency case management system", min_length=1, max_length=200,
                        description="Named as the source system of findings in the agency's answers")
    pending_file: Path | None = Field(
        default=None, description="SQLite file of delivered enquiries awaiting answers (default in state_dir)")


class WebhookDeliveryOptions(_DeliveryCommon):
    """Tasks POSTed (signed, with retries) to the agency's tool; answers POSTed back to ``answer_listen``."""

    mode: Literal["webhook"]
    url: str = Field(min_length=1, description="The agency tool's task endpoint (https:// in production)")
    answer_listen: str = Field(description="host:port of the answer endpoint this connector serves")
    answer_path: str = Field(default="/mashlink/answers", pattern=r"^/[A-Za-z0-9/_.-]*$")
    answer_url: str | None = Field(
        default=None, description="Public URL the agency posts answers to (behind a proxy); default from answer_listen")
    key_env: str | None = Field(default=None, pattern=_ENV_NAME, description="Environment variable with the HMAC key")
    key_file: Path | None = Field(default=None, description="File with the HMAC key (a mounted secret)")
    answer_key_env: str | None = Field(default=None, pattern=_ENV_NAME,
                                       description="Environment variable with the key answers are signed with "
                                                   "(default: the task key)")
    answer_key_file: Path | None = Field(default=None, description="File with the answers' key (a mounted secret)")
    max_attempts: int = Field(default=5, ge=1, le=50)
    backoff_base_s: float = Field(default=0.5, gt=0, le=60)
    backoff_max_s: float = Field(default=30.0, gt=0, le=3600)
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    verify_tls: bool | Path = Field(default=True, description="false, or a CA bundle file for a private CA")
    replay_window_s: int = Field(default=300, ge=10, le=3600, description="Answers signed longer ago are refused")

    @field_validator("url", "answer_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith(("http://", "https://"))
                                  or not value.split("://", 1)[1].strip("/")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("answer_listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        _host_port(value)
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> "WebhookDeliveryOptions":
        if (self.key_env is None) == (self.key_file is None):
            raise ValueError("give exactly one of key_env or key_file (the web-hook key is never written in the "
                             "configuration file)")
        if self.answer_key_env is not None and self.answer_key_file is not None:
            raise ValueError("give at most one of answer_key_env or answer_key_file")
        if self.answer_url is None and self.listen[0] in ("0.0.0.0", "::", ""):
            raise ValueError("answer_url is required when answer_listen binds every interface: the agency's tool "
                             "needs an address it can reach")
        if self.backoff_base_s > self.backoff_max_s:
            raise ValueError("backoff_base_s must not exceed backoff_max_s")
        return self

    @property
    def listen(self) -> tuple[str, int]:
        return _host_port(self.answer_listen)

    def resolve_key(self, environ: dict[str, str] | None = None) -> tuple[bytes | None, str, str]:
        """The HMAC key tasks are signed with, or (None, sub-key, problem) naming what is missing or too weak."""
        return _read_key("key", self.key_env, self.key_file, environ)

    def resolve_answer_key(self, environ: dict[str, str] | None = None) -> tuple[bytes | None, str, str]:
        """The key answers are verified with: its own when configured, else the task key."""
        if self.answer_key_env is None and self.answer_key_file is None:
            return self.resolve_key(environ)
        return _read_key("answer_key", self.answer_key_env, self.answer_key_file, environ)


def _read_key(prefix: str, env_name: str | None, file: Path | None,
              environ: dict[str, str] | None) -> tuple[bytes | None, str, str]:
    """A key from an environment variable or a secret file; (None, option name, problem) when unusable."""
    env = os.environ if environ is None else environ
    if env_name is not None:
        key_name, value = f"{prefix}_env", env.get(env_name, "").strip()
        if not value:
            return None, key_name, f"environment variable {env_name} is not set or empty"
    else:
        assert file is not None
        key_name = f"{prefix}_file"
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            return None, key_name, f"cannot read {file}: {exc.strerror or exc}"
    if len(value) < MIN_HOOK_KEY_LENGTH:
        return None, key_name, f"the web-hook key must be at least {MIN_HOOK_KEY_LENGTH} characters"
    return value.encode("utf-8"), "", ""


class DropFolderDeliveryOptions(_DeliveryCommon):
    """Tasks written atomically to ``path/outbox``; answers read from ``path/inbox``."""

    mode: Literal["drop_folder"]
    path: Path = Field(description="The shared folder (relative paths are under state_dir)")
    poll_interval_s: float = Field(default=2.0, ge=0.05, le=3600, description="How often the inbox is read")


DeliveryOptions = Annotated[WebhookDeliveryOptions | DropFolderDeliveryOptions, Field(discriminator="mode")]


#: Tagged unions in connector options: field name -> (tag key, tags). ``events`` is ``connectors/events/options``.
_UNIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "delivery": ("mode", DELIVERY_MODES),
    "events": ("channel", ("fhir", "hl7v2", "webhook", "drop_folder")),
}


def _union_of(loc: list[Any]) -> tuple[str, tuple[str, ...]]:
    for part in reversed(loc):
        if isinstance(part, str) and part in _UNIONS:
            return _UNIONS[part]
    return _UNIONS["delivery"]


def _clean_loc(err: dict[str, Any]) -> tuple[Any, ...]:
    """Drop pydantic's union tags (``delivery.webhook.url`` -> ``delivery.url``); a bad tag is ``delivery.mode``."""
    loc = list(err.get("loc", ()))
    out: list[Any] = []
    for i, part in enumerate(loc):
        if i > 0 and loc[i - 1] in _UNIONS and part in _UNIONS[loc[i - 1]][1]:
            continue
        out.append(part)
    if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        out.append(_union_of(out)[0])
    return tuple(out)


def _rule(err: dict[str, Any]) -> str:
    tag, tags = _union_of(list(err.get("loc", ())))
    if err.get("type") == "union_tag_invalid":
        given = err.get("input", {}).get(tag) if isinstance(err.get("input"), dict) else None
        return f"must be one of {', '.join(tags)} (got {given!r})"
    if err.get("type") == "union_tag_not_found":
        return f"{tag} is required: one of {', '.join(tags)}"
    return ""


def _origin_for(file: Path | None, agency_index: int) -> Any:
    if file is None:
        return None
    from ...config.yaml_source import line_for, yaml_line_map

    try:
        lines = yaml_line_map(Path(file).read_text(encoding="utf-8"))
    except OSError:
        return None

    def origin(loc: tuple[Any, ...]) -> str:
        line = line_for(lines, ("agencies", agency_index, "options", *loc))
        return f"{Path(file).name}:{line}" if line else ""

    return origin


def parse_connector_options(model: type[BaseModel], options: dict[str, Any], agency_index: int,
                            *, file: Path | None = None) -> Any:
    """Validate ``options`` as ``model``; a ``ConfigError`` lists every problem at ``agencies[i].options.<field>``."""
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        prefix = f"agencies[{agency_index}].options"
        origin = _origin_for(file, agency_index)
        issues: list[ConfigIssue] = []
        for err, issue in zip(exc.errors(include_url=False), issues_from_validation_error(exc)):
            loc = _clean_loc(dict(err))
            where = format_loc(loc)
            issues.append(ConfigIssue(path=f"{prefix}.{where}" if where else prefix,
                                      rule=_rule(dict(err)) or issue.rule,
                                      origin=origin(loc) if origin is not None else ""))
        raise ConfigError(issues, file=file) from None


def resolve_path(state_dir: Path, path: Path) -> Path:
    """Options paths are relative to the state directory unless absolute (and ``~`` is expanded)."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else Path(state_dir) / path
