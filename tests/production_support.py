"""Real-looking (non-development) signing keys for tests that load production settings.

Production refuses every ``dev-insecure-`` key, whatever the broker; tests
that need ``environment: production`` use these (synthetic, test-only).
"""

from __future__ import annotations

import pytest

SENDERS = ("hub", "police-synth", "health-synth", "education-synth", "social-care-synth")
PRODUCTION_KEYS: dict[str, str] = {sender: f"a-real-secret-for-{sender}-0a1b2c3d4eabcdef" for sender in SENDERS}


def set_production_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same keys through the environment (for commands run as a user would)."""
    for sender, key in PRODUCTION_KEYS.items():
        monkeypatch.setenv(f"MASHLINK_SIGNING_KEYS__{sender.upper().replace('-', '_')}", key)
