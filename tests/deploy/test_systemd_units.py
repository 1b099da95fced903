"""deploy/systemd units run real mashlink commands, stop with SIGTERM, and a connector gets no database secret."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from typer.main import get_command

from mashlink.ops.cli import app

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name, encoding="utf-8")
    return parser


def test_each_unit_runs_a_mashlink_command_and_stops_gracefully() -> None:
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    expected = {"mashlink-hub.service": "hub", "mashlink-connector@.service": "connector",
                "mashlink-notify-referrers.service": "notify-referrers"}
    assert {p.name for p in UNITS.glob("*.service")} == set(expected)
    for name, command in expected.items():
        unit = _unit(name)
        argv = shlex.split(unit["Service"]["ExecStart"])
        assert argv[0] == "/opt/mashlink/bin/mashlink" and argv[1] == command and command in commands, name
        assert unit["Service"]["KillSignal"] == "SIGTERM" and unit["Service"]["User"] == "mashlink", name
        assert unit["Service"]["EnvironmentFile"].startswith("/etc/mashlink/"), name
        assert "MASHLINK_STATE_DIR=/var/lib/mashlink/" in unit["Service"]["Environment"] or any(
            "MASHLINK_STATE_DIR=/var/lib/mashlink/" in line
            for line in (UNITS / name).read_text(encoding="utf-8").splitlines()), name
    connector = (UNITS / "mashlink-connector@.service").read_text(encoding="utf-8")
    assert "DATABASE" not in connector.split("[Service]", 1)[1]
    assert "connector-%i.env" in connector and "connector %i" in connector
