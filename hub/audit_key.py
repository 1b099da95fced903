"""The key of the audit chain's HMAC, held outside the hub's database.

An unkeyed hash chain only shows edits by someone who cannot recompute
hashes; anyone with write access to the database can. Keying every link with
HMAC-SHA256 moves the trust from "who can write the database" to "who holds
this key": a database administrator (or an SQL injection) can still change
rows but cannot make them verify again.

The key comes from ``security.audit_key`` (``MASHLINK_SECURITY__AUDIT_KEY``,
preferably from a secret store, on a host other than the database's). When
that is not set, one is generated on first use into
``state_dir/keys/audit.key`` (mode 0600) and reused after, so a one-machine
installation is keyed too. The file holds the key as text exactly as it
would be configured, so moving it into configuration later keeps the chain
valid.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from ..config.atomic_files import atomic_create_bytes
from ..config.settings import MashlinkSettings

KEY_FILE = Path("keys") / "audit.key"
_MIN_KEY_CHARS = 16


class AuditKeyError(RuntimeError):
    """The audit key is configured or stored unusably (names the setting or file)."""


def audit_key_for(settings: MashlinkSettings) -> bytes:
    """The audit chain's HMAC key: configured, or generated once into the state directory."""
    configured = settings.security.audit_key
    if configured is not None:
        value = configured.get_secret_value()
        if len(value) < _MIN_KEY_CHARS:
            raise AuditKeyError(f"security.audit_key: must be at least {_MIN_KEY_CHARS} characters "
                                f"(got {len(value)})")
        return value.encode("utf-8")
    return _stored_key(settings.state_dir / KEY_FILE)


def _stored_key(path: Path) -> bytes:
    """Read the generated key, creating it first if no process has yet (never overwritten)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # 256 bits as hex text: printable, so it can be copied into security.audit_key unchanged.
        atomic_create_bytes(path, (secrets.token_hex(32) + "\n").encode("ascii"), mode=0o600)
    try:
        value = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditKeyError(f"audit key file {path} is unreadable: {type(exc).__name__}") from None
    if len(value) < _MIN_KEY_CHARS:
        raise AuditKeyError(f"audit key file {path} holds no usable key; restore it from backup "
                            "(a new key would make the whole existing chain fail verification)")
    return value.encode("utf-8")
