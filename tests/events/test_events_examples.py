"""The commented ``events:`` examples in the shipped example configurations are valid once uncommented.

An operator copies an example block and removes the ``#``; it must then load
and pass the connector's options model (the same check as ``mashlink config
check``), with the channel the comment says.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mashlink.config.settings import load_settings
from mashlink.connectors.delivery.options import parse_connector_options
from mashlink.connectors.factory import OPTION_MODELS, _load, options_issues

CONFIG = Path(__file__).resolve().parents[2] / "config"
EXPECTED = {
    "agencies-example.yaml": {"police-synth": "drop_folder", "education-synth": "webhook",
                              "social-care-synth": "drop_folder"},
    "health-example.yaml": {"synth-trust-fhir": "fhir", "synth-trust-hl7": "hl7v2"},
}
START = re.compile(r"^(?P<indent>\s*)# events:")


def uncomment_events(text: str) -> tuple[str, int]:
    """The text with every commented ``events:`` block uncommented, and how many blocks there were."""
    out: list[str] = []
    indent: str | None = None
    blocks = 0
    for line in text.splitlines():
        match = START.match(line)
        if match:
            indent = match["indent"]
            blocks += 1
            out.append(indent + line[len(indent) + 2:])
            continue
        if indent is not None and line.startswith(indent + "#   "):
            out.append(indent + line[len(indent) + 2:])
            continue
        indent = None
        out.append(line)
    return "\n".join(out) + "\n", blocks


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_uncommented_events_examples_load_with_their_channel(name: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    text, blocks = uncomment_events((CONFIG / name).read_text(encoding="utf-8"))
    assert blocks == len(EXPECTED[name])
    monkeypatch.chdir(tmp_path)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    settings = load_settings(path, broker_url="memory://", state_dir=str(tmp_path / "state"))
    assert options_issues(settings) == []
    for i, agency in enumerate(settings.agencies):
        options = parse_connector_options(_load(OPTION_MODELS[agency.connector]), dict(agency.options), i)
        assert options.events is not None, agency.id
        assert options.events.channel == EXPECTED[name][agency.id], agency.id
    # As shipped (commented) the examples load too, with no events section.
    shipped = load_settings(CONFIG / name, broker_url="memory://", state_dir=str(tmp_path / "state2"))
    assert options_issues(shipped) == []
