"""A poison message is parked with its reason and replayed after the cause is fixed.

The cause here is a classic operational fault: an agency rotated its signing
key before the hub was given the new one. The hub cannot verify the agency's
answer, so it parks it (bad_signature) instead of losing it or blocking the
queue; ops see it with `mashlink dlq list`, the hub gets the new key, and
`mashlink dlq replay` (audited) puts the answer through.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mashlink.config.settings import MashlinkSettings
from mashlink.config.signing import SignerKey, SigningSettings, public_entry
from mashlink.connectors.reference.factory import connector_from_config
from mashlink.connectors.runtime import ConnectorRunner
from mashlink.connectors.simulators.referrals import demo_referrals
from mashlink.connectors.wiring import connector_broker_factory
from tests.e2e.loop import ROOT, Loop, make_loop, now, wait_for

ROTATED_KEY = "rotated-social-care-key-0a1b2c3d4eabcdef"
ROTATED = SignerKey.from_secret("social-care-synth", ROTATED_KEY.encode(), key_id="social-care-synth-rotated")


def with_signing(settings: MashlinkSettings, **changes: object) -> MashlinkSettings:
    """``settings`` with some ``signing`` options changed (as another process's configuration would be)."""
    return settings.model_copy(update={"signing": SigningSettings(**{**settings.signing.model_dump(), **changes})})


@pytest.fixture
def loop(tmp_path: Path, amqp_url: str) -> Iterator[Loop]:
    made = make_loop(tmp_path, broker_url=amqp_url)
    try:
        yield made
    finally:
        made.close()


def _cli(loop: Loop, *args: str, new_key: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASHLINK_")}
    env.update({
        "MASHLINK_BROKER_URL": loop.settings.broker_url,
        "MASHLINK_BROKER_NAMESPACE": loop.topology.namespace,
        "MASHLINK_DATABASE_URL": loop.settings.database_url,
        "MASHLINK_STATE_DIR": str(loop.settings.state_dir),
        "MASHLINK_LOG_LEVEL": "WARNING",
    })
    if new_key:
        env["MASHLINK_SIGNING__PUBLIC_KEYS__SOCIAL_CARE_SYNTH"] = json.dumps([public_entry(ROTATED)])
    return subprocess.run([sys.executable, "-m", "mashlink.ops.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_poison_message_is_parked_then_replayed_after_the_fix(loop: Loop) -> None:
    service = loop.start_hub()
    # The agency signs with its new key; the hub does not list its public key yet.
    rotated = with_signing(loop.settings, private_key=ROTATED.text())
    agency = rotated.agency("social-care-synth")
    runner = ConnectorRunner(connector_from_config(agency, population=loop.population),
                             connector_broker_factory(rotated, agency.id, topology=loop.topology))
    runner.start()
    try:
        referral = demo_referrals(loop.population, now())[0]
        service.submit_referral(referral, agencies=["social-care-synth"])

        def parked() -> list[dict]:
            result = _cli(loop, "dlq", "list", "--json")
            assert result.returncode == 0, result.stderr
            return json.loads(result.stdout)

        wait_for(lambda: len(parked()) >= 1, 60, "the unverifiable answer to be parked", 0.5)
        [item] = parked()
        assert item["reason"] == "bad_signature"
        assert item["queue"] == loop.topology.responses_queue
        assert service.referral_status(referral.referral_id).outstanding == ["social-care-synth"]

        shown = _cli(loop, "dlq", "show", item["message_id"])
        assert shown.returncode == 0 and item["message_id"] in shown.stdout
        view = json.loads(shown.stdout)  # ops see it redacted: ids and codes, no names
        assert view["redacted"] is True and view["body"]["message_type"] == "enquiry_response"
        for person in referral.subjects:
            for name in person.names:
                assert all(given not in shown.stdout for given in name.given if len(given) > 2)
        # Listing and showing removed nothing.
        assert len(parked()) == 1

        # Now fix the cause: the hub learns the rotated key and restarts.
        loop.stop_hub()
        loop.settings = with_signing(loop.settings, public_keys={"social-care-synth": [public_entry(ROTATED)]})
        service = loop.start_hub()
        replay = _cli(loop, "dlq", "replay", item["message_id"], "--actor", "ops-1",
                      "--reason", "social care rotated its key; hub updated", new_key=True)
        assert replay.returncode == 0, replay.stderr
        wait_for(lambda: service.referral_status(referral.referral_id).outstanding == [], 60,
                 "the replayed answer to be applied")
        assert parked() == []
        replayed = service.audit_events(action="dlq.replayed")
        assert [e.message_id for e in replayed] == [item["message_id"]]
        assert "rotated" in (replayed[0].reason or "")
        assert service.verify_audit().ok
    finally:
        runner.stop()


def test_dlq_discard_needs_actor_and_reason_and_is_audited(loop: Loop) -> None:
    service = loop.start_hub()
    broker = loop.broker()
    try:
        from mashlink.broker.link import RawMessage

        broker.publish_raw([RawMessage(body=b"{not json", exchange=loop.topology.hub_exchange,
                                       routing_key="responses", message_id="poison-1",
                                       message_type="enquiry_response", headers={})])
    finally:
        broker.close()
    wait_for(lambda: any(p["message_id"] == "poison-1"
                         for p in json.loads(_cli(loop, "dlq", "list", "--json").stdout)), 60, "the poison message")
    missing_reason = _cli(loop, "dlq", "discard", "poison-1", "--actor", "ops-1")
    assert missing_reason.returncode != 0
    done = _cli(loop, "dlq", "discard", "poison-1", "--actor", "ops-1", "--reason", "garbage from a test harness")
    assert done.returncode == 0, done.stderr
    assert json.loads(_cli(loop, "dlq", "list", "--json").stdout) == []
    assert [e.message_id for e in service.audit_events(action="dlq.discarded")] == ["poison-1"]
