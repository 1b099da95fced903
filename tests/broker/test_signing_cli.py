"""``mashlink keys generate`` and a process given the wrong private key, as an operator meets them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml
from typer.testing import CliRunner

from mashlink.config.settings import load_settings
from mashlink.config.signing import SignerKey
from mashlink.connectors.wiring import connector_codec
from mashlink.hub.service import hub_codec
from mashlink.ops.cli import app
from tests.broker.broker_helpers import enquiry_envelope

ROOT = Path(__file__).resolve().parents[2]
MARKER = "# ==== "


def _sections(text: str) -> dict[int, str]:
    parts: dict[int, str] = {}
    current = 0
    for line in text.splitlines():
        if line.startswith(MARKER):
            current = int(line[len(MARKER):].split(".", 1)[0])
            parts[current] = ""
        elif current:
            parts[current] += line + "\n"
    return parts


def test_generated_keys_configure_the_signer_and_every_verifier(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["keys", "generate", "police-synth", "--not-before", "2026-01-01T00:00:00Z",
                                      "--valid-days", "400"])
    assert result.exit_code == 0, result.output
    parts = _sections(result.output)
    name, _, private = parts[1].strip().partition("=")
    assert name == "MASHLINK_SIGNING__PRIVATE_KEY"
    key = SignerKey.parse(private)
    assert key.sender == "police-synth" and not key.development and key.key_id.startswith("police-synth-2026")
    block = yaml.safe_load(parts[2])
    [entry] = block["signing"]["public_keys"]["police-synth"]
    assert entry == json.loads(parts[3]) and entry["key_id"] == key.key_id
    assert entry["not_before"] == "2026-01-01T00:00:00Z" and entry["not_after"] == "2027-02-05T00:00:00Z"
    # The private key signs; a hub configured with the printed entry verifies; a second run is another key.
    police = load_settings(signing={"private_key": private})
    hub = load_settings(signing=block["signing"])
    response = enquiry_envelope(sender="police-synth", recipient="hub").model_copy(update={"sent_at": datetime.now(UTC)})
    raw = connector_codec(police, "police-synth").encode(response)
    assert hub_codec(hub).decode(raw).key_id == key.key_id
    again = CliRunner().invoke(app, ["keys", "generate", "police-synth"])
    assert SignerKey.parse(_sections(again.output)[1].strip().partition("=")[2]).key_id != key.key_id


def test_keys_generate_refuses_a_bad_sender_and_a_backwards_window() -> None:
    bad = CliRunner().invoke(app, ["keys", "generate", "Police North"])
    assert bad.exit_code == 2 and "must be a sender id" in bad.output
    backwards = CliRunner().invoke(app, ["keys", "generate", "hub", "--not-before", "2026-12-07T00:00:00Z",
                                         "--not-after", "2026-12-01T00:00:00Z"])
    assert backwards.exit_code == 2 and "--not-after: must be later than --not-before" in backwards.output


def test_a_connector_given_the_hubs_private_key_refuses_to_start_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASHLINK_")}
    env.update({"MASHLINK_STATE_DIR": str(tmp_path), "MASHLINK_LOG_LEVEL": "WARNING",
                "MASHLINK_SIGNING__PRIVATE_KEY": SignerKey.development_key("hub").text()})
    done = subprocess.run([sys.executable, "-m", "mashlink.ops.cli", "connector", "police-synth", "--simulated"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "signing.private_key is the key of sender 'hub' but this process signs as 'police-synth'" in done.stderr
    assert "Traceback" not in done.stderr
    assert SignerKey.development_key("hub").text().rsplit(":", 1)[1] not in done.stderr + done.stdout
