"""``mashlink keys generate SENDER``: a new Ed25519 key pair for one sender, printed, nothing stored.

Why printed and not written: the private key is a secret that belongs in the
one process's secret store (``MASHLINK_SIGNING__PRIVATE_KEY``), and the
public key entry goes into every other process's configuration, which is
reviewed; this command cannot know either place. Each key gets a new key id
(``<sender>-<yyyymmdd>-<6 hex>``), so old and new keys can be listed side by
side during a rotation (docs/operations.md "Key rotation").
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import typer
import yaml

from ...config.models import SLUG_PATTERN
from ...config.signing import SignerKey, new_key_id, public_entry

#: Section markers in the output (stable: scripts split on them).
MARKER = "# ==== "

keys_app = typer.Typer(help="Envelope signing keys (Ed25519): generate a key pair for rotation.",
                       no_args_is_help=True)


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{option}: not an ISO 8601 date-time (e.g. 2026-12-07T09:00:00Z)") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def render(key: SignerKey, entry: dict[str, object]) -> str:
    """The private key line and the public key entry (YAML and JSON), each after a ``MARKER`` line."""
    sender = key.sender
    block = yaml.safe_dump({"signing": {"public_keys": {sender: [entry]}}}, sort_keys=False, width=200)
    return "\n".join([
        f"{MARKER}1. private key of {sender!r}: a secret, for the {sender} process only "
        "(its secret store or .env; never in a file others read)",
        f"MASHLINK_SIGNING__PRIVATE_KEY={key.text()}",
        "",
        f"{MARKER}2. public key: add this entry to signing.public_keys.{sender} in EVERY process's "
        "configuration, keeping the current key listed until the new one is in use everywhere",
        block.rstrip(),
        "",
        f"{MARKER}3. the same entry as JSON (an item of SIGNING_PUBLIC_KEYS[{json.dumps(sender)}] for docker-compose)",
        json.dumps(entry),
        "",
    ])


@keys_app.command("generate")
def keys_generate(
    sender: str = typer.Argument(..., metavar="SENDER",
                                 help="Who will sign with it: 'hub', 'referrer-notifier' or an agency id."),
    not_before: str = typer.Option(None, "--not-before",
                                   help="Valid from (ISO 8601, UTC); default now."),
    not_after: str = typer.Option(None, "--not-after",
                                  help="Refused from (ISO 8601, UTC); default: until removed from the configuration."),
    valid_days: int = typer.Option(None, "--valid-days", min=1, max=3660,
                                   help="Refused this many days after --not-before (instead of --not-after)."),
) -> None:
    """Print a new private key (for SENDER's process) and its public key entry (for everyone else)."""
    if not re.match(SLUG_PATTERN, sender):
        typer.echo(f"SENDER {sender!r}: must be a sender id (lower-case letters, digits and hyphens, "
                   "e.g. hub, referrer-notifier, police-north)", err=True)
        raise typer.Exit(2)
    if not_after is not None and valid_days is not None:
        typer.echo("--not-after and --valid-days: give one of them, not both", err=True)
        raise typer.Exit(2)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = _when(not_before, "--not-before") or now
    end = _when(not_after, "--not-after") or (start + timedelta(days=valid_days) if valid_days else None)
    if end is not None and end <= start:
        typer.echo("--not-after: must be later than --not-before", err=True)
        raise typer.Exit(2)
    key = SignerKey.generate(sender, new_key_id(sender, start))
    typer.echo(render(key, public_entry(key, start, end)), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
