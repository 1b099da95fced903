"""Real-looking (non-development) signing keys for tests that load production settings.

Production refuses every development key (``dev-insecure-``, derivable from
the sender id) and requires this process's own private key and a public key
for the hub and every enabled agency; tests that need ``environment:
production`` use these (synthetic, test-only, derived from fixed secrets so
runs are repeatable).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mashlink.config.signing import SignerKey, public_entry

SENDERS = ("hub", "referrer-notifier", "police-synth", "health-synth", "education-synth", "social-care-synth")
#: Each sender's private key (a process is given only its own).
PRODUCTION_SIGNERS: dict[str, SignerKey] = {
    sender: SignerKey.from_secret(sender, f"a-real-secret-for-{sender}-0a1b2c3d4eabcdef".encode(),
                                  key_id=f"{sender}-20261201-test")
    for sender in SENDERS
}
#: Everyone's public keys, as every process's configuration lists them.
PRODUCTION_PUBLIC_KEYS: dict[str, list[dict[str, Any]]] = {
    sender: [public_entry(key)] for sender, key in PRODUCTION_SIGNERS.items()}


def production_signing(runs_as: str = "hub") -> dict[str, Any]:
    """The ``signing:`` section of a process running as ``runs_as`` (its private key, everyone's public keys)."""
    return {"private_key": PRODUCTION_SIGNERS[runs_as].text(), "public_keys": PRODUCTION_PUBLIC_KEYS}


#: The hub's ``signing:`` section: ``load_settings(environment="production", signing=PRODUCTION_KEYS)``.
PRODUCTION_KEYS: dict[str, Any] = production_signing("hub")


def set_production_keys(monkeypatch: pytest.MonkeyPatch, runs_as: str = "hub") -> None:
    """The same keys through the environment (for commands run as a user would)."""
    monkeypatch.setenv("MASHLINK_SIGNING__PRIVATE_KEY", PRODUCTION_SIGNERS[runs_as].text())
    monkeypatch.setenv("MASHLINK_SIGNING__PUBLIC_KEYS", json.dumps(PRODUCTION_PUBLIC_KEYS))
