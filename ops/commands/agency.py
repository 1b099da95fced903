"""``mashlink agency add ID --kind KIND``: everything needed to add a partner agency, printed, nothing changed.

Adding an agency touches three places that must agree: the configuration
(the ``agencies`` entry and its ``sharing_policies`` entry, which the hub
refuses to start without), the broker (a user limited to the agency's own
queues, the rules of ``broker/permissions.py``) and the deployment (a
connector service with only its own credentials, the agency's signing key
for the hub, its broker password for the provisioning job). This command
prints all three from one id and kind, so they cannot drift; it writes
nothing, because the configuration is reviewed (information governance signs
off the sharing policy) and secrets are the operator's to create.

The compose part is an override file: save it next to ``docker-compose.yml``
and add ``-f docker-compose.agency-ID.yml`` to every ``docker-compose``
command (or paste its services into the main file). docs/operations.md
"Adding an agency" walks through it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
import yaml

from ...config.connector_kinds import connector_kinds
from ...config.models import KNOWN_CONNECTORS
from ...config.signing import SignerKey
from ...schemas.codes import AgencyKind

#: Section markers in the output (stable: tests and scripts split on them).
MARKER = "# ==== "
DEFAULT_CONNECTOR = "reference"
#: Placeholder options of a declared ``records`` channel: the operator points them at the export and its spec.
RECORDS_OPTIONS = {"records": "exports/{id}.csv", "spec": "/etc/mashlink/mappings/{id}.yaml"}


def kind_identifiers(kind: str) -> list[str]:
    """A conservative starting policy per kind: the kind's own identifiers (``config/connector_kinds.yaml``)."""
    return list(connector_kinds().agency_kinds[AgencyKind(kind)].starting_identifiers)


def default_connector(kind: str) -> str:
    """The simulated system where the kind has one, else the declared ``records`` channel."""
    return DEFAULT_CONNECTOR if connector_kinds().agency_kinds[AgencyKind(kind)].simulator else "records"


@dataclass(frozen=True)
class AgencyBlocks:
    """The three parts of adding one agency."""

    agency_id: str
    config: dict[str, Any]
    broker_commands: list[list[str]]
    compose: dict[str, Any]
    env_lines: list[str]

    @property
    def env_prefix(self) -> str:
        return env_prefix(self.agency_id)


def env_prefix(agency_id: str) -> str:
    """``police-north`` -> ``POLICE_NORTH`` (as in ``MASHLINK_SIGNING_KEYS__POLICE_NORTH``)."""
    return agency_id.upper().replace("-", "_")


def agency_blocks(agency_id: str, kind: str, *, name: str | None = None, connector: str | None = None,
                  namespace: str = "mashlink", existing_agencies: list[str] | None = None) -> AgencyBlocks:
    """Build the configuration, broker and compose parts; raises ``ValueError`` naming the bad option."""
    from ...broker.permissions import agency_permissions
    from ...broker.topology import Topology
    from ...config.models import SLUG_PATTERN, AgencyConfig

    if not re.match(SLUG_PATTERN, agency_id):
        raise ValueError(f"ID: {agency_id!r} must be lower-case letters, digits and inner hyphens "
                         f"(at most 64 characters), pattern {SLUG_PATTERN}")
    if kind not in {k.value for k in AgencyKind}:
        raise ValueError(f"--kind: {kind!r} must be one of {', '.join(k.value for k in AgencyKind)}")
    existing = list(existing_agencies or [])
    if agency_id in existing:
        raise ValueError(f"ID: {agency_id!r} is already configured")
    connector = connector or default_connector(kind)
    options = {k: v.format(id=agency_id) for k, v in RECORDS_OPTIONS.items()} if connector == "records" else {}
    entry = {"id": agency_id, "kind": kind, "name": name or f"{agency_id} ({kind.replace('_', ' ')})",
             "connector": connector, "formats": [], "enabled": True, "options": options}
    AgencyConfig.model_validate(entry)  # the connector fits the kind, the name is valid
    policy = {
        "subject_fields": ["names", "birth_date", "sex", "addresses", *kind_identifiers(kind)],
        "finding_categories": "all",
        "sensitivities": ["standard"],
        "receives_police_intelligence": False,
    }
    config = {"agencies": [entry], "sharing_policies": {agency_id: policy}}

    topology = Topology(namespace)
    prefix = env_prefix(agency_id)
    commands = [["add_user", agency_id, f"${prefix}_BROKER_PASSWORD"],
                *agency_permissions(topology, agency_id).rabbitmqctl()]

    service = f"connector-{agency_id}"
    password = f"${{{prefix}_BROKER_PASSWORD:?set {prefix}_BROKER_PASSWORD}}"
    key = f"${{{prefix}_SIGNING_KEY:?set {prefix}_SIGNING_KEY (see .env.example)}}"
    compose = {
        "services": {
            service: {
                "build": ".", "image": "mashlink:latest", "restart": "unless-stopped",
                "command": ["connector", agency_id],
                "environment": {
                    "MASHLINK_LOG_JSON": "true",
                    "MASHLINK_CONFIG": "/app/config/mashlink.yaml",
                    "MASHLINK_BROKER_NAMESPACE": namespace,
                    "MASHLINK_BROKER_URL": f"amqp://{agency_id}:{password}@rabbitmq:5672//",
                    # Its own private key only; the hub's public keys come from SIGNING_PUBLIC_KEYS.
                    "MASHLINK_SIGNING__PRIVATE_KEY": key,
                    "MASHLINK_SIGNING__PUBLIC_KEYS": "${SIGNING_PUBLIC_KEYS:?set SIGNING_PUBLIC_KEYS (see .env.example)}",
                },
                "volumes": [f"{service}-state:/var/lib/mashlink"],
                "depends_on": {"hub": {"condition": "service_healthy"}},
            },
            # The provisioning job creates the agency's broker user with its permissions.
            "rabbitmq-init": {"environment": {
                f"{prefix}_BROKER_PASSWORD": password,
                "MASHLINK_AGENCIES": " ".join([*existing, agency_id]),
            }},
        },
        "volumes": {f"{service}-state": {}},
    }
    # The development key (refused in production): replace it with `mashlink keys generate ID`'s private key,
    # and add the printed public key entry to SIGNING_PUBLIC_KEYS, which the hub verifies the agency with.
    env_lines = [f"{prefix}_BROKER_PASSWORD=change-me-{agency_id}-broker-password",
                 f"{prefix}_SIGNING_KEY={SignerKey.development_key(agency_id).text()}"]
    return AgencyBlocks(agency_id, config, commands, compose, env_lines)


def render(blocks: AgencyBlocks) -> str:
    """The three parts as text, each after a ``MARKER`` line."""
    config_text = yaml.safe_dump(blocks.config, sort_keys=False, default_flow_style=None, width=100)
    placeholder = blocks.broker_commands[0][-1]  # "$PREFIX_BROKER_PASSWORD": expanded by the shell
    broker_text = "\n".join(
        "rabbitmqctl " + " ".join(f'"{arg}"' if arg == placeholder else shlex.quote(arg) for arg in command)
        for command in blocks.broker_commands)
    compose_text = yaml.safe_dump(blocks.compose, sort_keys=False, default_flow_style=False, width=1000)
    return "\n".join([
        f"{MARKER}1. configuration: add to config/mashlink.yaml (agencies and sharing_policies); have your",
        "#      information governance lead review the sharing policy before the hub uses it",
        config_text.rstrip(),
        "",
        f"{MARKER}2. broker: a user limited to {blocks.agency_id}'s own queues (compose does this in",
        "#      rabbitmq-init; by hand, with the password in the environment variable named)",
        broker_text,
        "",
        f"{MARKER}3. compose: save as docker-compose.agency-{blocks.agency_id}.yml and add",
        f"#      '-f docker-compose.yml -f docker-compose.agency-{blocks.agency_id}.yml' to docker-compose commands",
        compose_text.rstrip(),
        "",
        f"{MARKER}4. .env: add, then replace each value with a fresh secret (the signing key: "
        f"`mashlink keys generate {blocks.agency_id}`, its public key entry into SIGNING_PUBLIC_KEYS)",
        *blocks.env_lines,
        "",
    ])


def split_sections(text: str) -> dict[int, str]:
    """The numbered parts of ``render``'s output (for scripts and tests)."""
    parts: dict[int, str] = {}
    current: int | None = None
    for line in text.splitlines():
        if line.startswith(MARKER):
            current = int(line[len(MARKER):].split(".", 1)[0])
            parts[current] = ""
        elif current is not None and not line.startswith("#      "):
            parts[current] += line + "\n"
    return parts


agency_app = typer.Typer(help="Partner agencies: what adding one takes.", no_args_is_help=True)


@agency_app.command("add")
def agency_add(
    agency_id: str = typer.Argument(..., metavar="ID", help="The agency's id (a slug, e.g. police-north)."),
    kind: str = typer.Option(..., "--kind", help=" | ".join(k.value for k in AgencyKind)),
    name: str = typer.Option(None, "--name", help="Display name (default: derived from the id)."),
    connector: str = typer.Option(
        None, "--connector", help=f"{' | '.join(KNOWN_CONNECTORS)} | package.module:factory (default: reference, "
                                  "or records for a kind with no simulated system)"),
    config: Path = typer.Option(None, "--config", help="YAML settings file (default MASHLINK_CONFIG)."),
) -> None:
    """Print the configuration block, broker permissions and compose service for a new agency (changes nothing)."""
    from pydantic import ValidationError

    from ..wiring import settings_or_exit

    settings = settings_or_exit(config)
    try:
        blocks = agency_blocks(agency_id, kind, name=name, connector=connector,
                               namespace=settings.broker_namespace,
                               existing_agencies=[a.id for a in settings.agencies])
    except ValueError as exc:
        message = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()) \
            if isinstance(exc, ValidationError) else str(exc)
        typer.echo(f"cannot add agency {agency_id!r}: {message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(render(blocks), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(agency_app, name="agency")
