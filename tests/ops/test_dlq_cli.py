"""``mashlink dlq``: ops see parked messages redacted; a full read needs the table's grant and is recorded.

The command runs in-process (typer's runner) against a real hub database and
the embedded broker, with a parked message that carries a synthetic referral.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mashlink.broker import Topology
from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.hub.access import AccessService
from mashlink.hub.dead_letters import BODY_READ_ACTION
from mashlink.hub.disclosures import READ_ACTION
from mashlink.hub.service import HubService
from mashlink.ops.cli import app
from tests.hub.dead_letter_support import PERSONAL, SENDER, delete_topology, park_referral

URL = "memory://"
SHELL_USER = f"cli:{getpass.getuser()}"
#: The auditor row of the shipped table plus dlq.body_read, as a council might configure it.
GRANT = json.dumps({"auditor": ["audit.read", "audit.verify", "disclosures.read", "dlq.read", "dlq.body_read"]})


@dataclass
class Shell:
    settings: MashlinkSettings
    env: dict[str, str]
    message_id: str

    def run(self, *args: str, **env: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, ["dlq", *args], env={**self.env, **env}, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    def hub(self) -> HubService:
        return HubService.open(self.settings)


@pytest.fixture
def shell(tmp_path: Path, unique_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    for name in [k for k in os.environ if k.startswith("MASHLINK_")]:
        monkeypatch.delenv(name)
    env = {"MASHLINK_STATE_DIR": str(tmp_path / "state"), "MASHLINK_BROKER_URL": URL,
           "MASHLINK_BROKER_NAMESPACE": f"cli-{unique_name}", "MASHLINK_LOG_LEVEL": "WARNING"}
    settings = load_settings(state_dir=env["MASHLINK_STATE_DIR"], broker_namespace=env["MASHLINK_BROKER_NAMESPACE"])
    HubService.open(settings).close()  # migrated, as `mashlink hub` leaves it
    topology = Topology(settings.broker_namespace)
    message_id = park_referral(settings, URL, topology)
    try:
        yield Shell(settings, env, message_id)
    finally:
        delete_topology(settings, URL, topology)


def _no_personal_data(text: str) -> None:
    leaked = [p for p in PERSONAL if p in text]
    assert leaked == [], f"personal data shown to ops: {leaked}"


def test_list_json_has_metadata_and_never_a_body(shell: Shell) -> None:
    code, out, _err = shell.run("list", "--json")
    assert code == 0
    [item] = json.loads(out)
    assert item["message_id"] == shell.message_id and item["message_type"] == "referral"
    assert "raw" not in item and "body" not in item
    _no_personal_data(out)
    code, table, _err = shell.run("list")
    assert code == 0 and "Parked messages: 1" in table
    _no_personal_data(table)


def test_show_prints_the_body_redacted(shell: Shell) -> None:
    code, out, _err = shell.run("show", shell.message_id)
    assert code == 0
    view = json.loads(out)
    assert view["redacted"] is True and view["message_id"] == shell.message_id
    assert view["body"]["sender"] == SENDER and view["body"]["message_type"] == "referral"
    assert view["body"]["body"]["subjects"][0]["identifiers"][0]["system"] == "nhs_number"
    _no_personal_data(out)
    assert shell.run("show", "no-such-id")[0] == 1


def test_reveal_is_refused_with_exit_2_unless_the_table_grants_body_read(shell: Shell) -> None:
    code, out, err = shell.run("show", shell.message_id, "--reveal", "--reason", "diagnose a mapping fault")
    assert code == 2
    assert "dlq.body_read" in err and "ops may not" in err
    _no_personal_data(out + err)
    code, out, err = shell.run("show", shell.message_id, "--reveal")
    assert code == 2 and "--reason" in err
    # The shipped table grants body_read to nobody: acting as auditor is refused too.
    code, out, err = shell.run("show", shell.message_id, "--reveal", "--reason", "x", "--role", "auditor")
    assert code == 2 and "auditor may not dlq.body_read" in err
    assert shell.run("show", shell.message_id, "--role", "manager")[0] == 2
    hub = shell.hub()
    try:
        assert hub.audit_events(action=READ_ACTION) == []
    finally:
        hub.close()


def test_a_granted_reveal_prints_the_full_body_and_records_the_read(shell: Shell) -> None:
    code, out, err = shell.run("show", shell.message_id, "--reveal", "--reason", "complaint about misrouting",
                               "--role", "auditor", MASHLINK_SECURITY__PERMISSIONS=GRANT)
    assert code == 0, err
    view = json.loads(out)
    assert view["redacted"] is False
    assert view["body"]["body"]["subjects"][0]["names"][0]["family"] == "Testchild"
    hub = shell.hub()
    try:
        [read] = hub.audit_events(action=READ_ACTION)
        assert read.actor == SHELL_USER and read.reason == "complaint about misrouting"
        assert read.detail["what"] == "dlq_body" and read.detail["role"] == "auditor"
        assert read.detail["agencies_shown"] == [SENDER]
        [body_read] = hub.audit_events(action=BODY_READ_ACTION)
        assert body_read.message_id == shell.message_id and body_read.actor == SHELL_USER
        [entry] = AccessService(hub).disclosures(agency_id=SENDER)
        assert entry.what == "dlq_body" and entry.principal_subject == SHELL_USER
        assert hub.verify_audit().ok
    finally:
        hub.close()
    # Ops is still refused in the same configuration.
    assert shell.run("show", shell.message_id, "--reveal", "--reason", "x",
                     MASHLINK_SECURITY__PERMISSIONS=GRANT)[0] == 2


def test_replay_defaults_the_actor_to_the_shell_user(shell: Shell) -> None:
    code, out, err = shell.run("replay", shell.message_id, "--reason", "hub fixed")
    assert code == 0, err
    assert f"replayed {shell.message_id}" in out
    hub = shell.hub()
    try:
        [event] = hub.audit_events(action="dlq.replayed")
        assert event.actor == SHELL_USER and (event.reason or "").startswith("hub fixed")
    finally:
        hub.close()
    assert json.loads(shell.run("list", "--json")[1]) == []


def test_discard_takes_an_explicit_actor_and_needs_a_reason(shell: Shell) -> None:
    assert shell.run("discard", shell.message_id)[0] != 0
    code, _out, err = shell.run("discard", shell.message_id, "--actor", "ops-duty-1", "--reason", "test harness junk")
    assert code == 0, err
    hub = shell.hub()
    try:
        [event] = hub.audit_events(action="dlq.discarded")
        assert event.actor == "ops-duty-1" and event.message_id == shell.message_id
    finally:
        hub.close()
