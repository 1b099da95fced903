"""Inbound: a child-coming-to-notice / PPN record becomes a referral stored in the hub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mashlink.broker.topology import Topology
from mashlink.config.settings import load_settings
from mashlink.hub.referral_sink import HubReferralSink
from mashlink.connectors.police.referrals import CONSENT_REASON, CctnIntake, CctnReferralBuilder
from mashlink.connectors.police.store import PoleStore
from mashlink.hub.db import make_engine
from mashlink.hub.migrate import migrate_engine
from mashlink.hub.service import HubService


@pytest.fixture
def hub(sqlite_url: str, tmp_path: Path, unique_name: str) -> Iterator[HubService]:
    engine = make_engine(sqlite_url)
    migrate_engine(engine)
    service = HubService(load_settings(state_dir=str(tmp_path / "state")), engine,
                         topology=Topology(f"polref{unique_name}"))
    yield service
    engine.dispose()


def test_cctn_record_creates_a_referral_once(hub: HubService, example_json: Path) -> None:
    store = PoleStore.load([example_json])
    intake = CctnIntake(HubReferralSink(hub), CctnReferralBuilder(default_local_authority="999"))
    report = intake.submit(store.records)
    assert len(report.submitted) == 1 and report.skipped == []
    referral = hub.referral(report.submitted[0])
    assert referral.source.value == "6"
    assert [c.value for c in referral.concerns] == ["domestic_abuse"]
    assert referral.rag.value == "red"  # PPN risk grading high
    assert referral.consent.status.value == "not_sought" and referral.consent.reason == CONSENT_REASON
    assert {b.value for b in referral.lawful_basis} >= {"dpa2018_sch8_para4", "children_act_1989_s47"}
    assert [s.person_id for s in referral.subjects] == ["ZZP0000103"]
    assert [p.person_id for p in referral.household] == ["ZZP0000101"]  # the parent with PR in the household
    assert "ZZ-2025-000103" in referral.referrer
    status = hub.referral_status(referral.referral_id)
    assert len(status.enquiries) == 4  # fanned out to every configured agency
    again = intake.submit(PoleStore.load([example_json]).records)
    assert again.submitted == [] and again.already_submitted == report.submitted


def test_dnd_and_unreadable_ppn_records_are_skipped_with_reason(hub: HubService, example_doc: dict,
                                                                tmp_path: Path) -> None:
    doc = json.loads(json.dumps(example_doc))
    cctn = next(e for e in doc["events"] if e["type"] == "CCTN")
    cctn["handling_code"] = "DND"
    second = {**cctn, "event_id": "EV-6", "reference": "ZZ-2025-000106", "handling_code": "P",
              "ppn": {**cctn["ppn"], "risk_grading": "standard", "concerns": ["NOT-A-CODE"]}}
    doc["events"].append(second)
    doc["links"].append({"link_id": "LK-60", "type": "subject_of_cctn", "from_kind": "person",
                         "from_id": "ZZP0000103", "to_kind": "event", "to_id": "EV-6"})
    path = tmp_path / "ppn.json"
    path.write_text(json.dumps(doc))
    report = CctnIntake(HubReferralSink(hub), CctnReferralBuilder(default_local_authority="999")).submit(PoleStore.load([path]).records)
    assert report.submitted == []
    reasons = dict(report.skipped)
    assert "DND" in reasons["ZZ-2025-000103"]
    assert "ppn_concerns" in reasons["ZZ-2025-000106"] and "police-ppn-concerns" in reasons["ZZ-2025-000106"]
