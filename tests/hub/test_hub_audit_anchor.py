"""Audit anchors: a rewrite of history that keeps the chain consistent is still caught (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select, update

from mashlink.config.settings import load_settings
from mashlink.hub.audit import GENESIS_HASH, HEAD_ID, _fields, event_hash
from mashlink.hub.audit_anchor import AuditAnchor
from mashlink.hub.models import AuditEventRow, AuditHeadRow
from mashlink.hub.service import HubService
from tests.hub.hub_support import referral_data

ROOT = Path(__file__).resolve().parents[2]


def _chain(hub: HubService) -> None:
    hub.submit_referral(referral_data("REF-A"))
    hub.submit_referral(referral_data("REF-B"), agencies=["police-synth"])
    hub.rerate("REF-B", "red", by="mash-manager", reason="escalating")


def _rewrite_from(hub: HubService, sequence: int, actor: str) -> None:
    """What someone with database write access AND the audit key could do: edit an event, re-seal the rest.

    (Without the key the re-sealed hashes do not verify at all: see test_audit_keyed.py.)
    """
    with hub.factory() as session:
        rows = session.execute(select(AuditEventRow).where(AuditEventRow.sequence >= sequence)
                               .order_by(AuditEventRow.sequence)).scalars().all()
        previous = session.execute(select(AuditEventRow.hash).where(AuditEventRow.sequence == sequence - 1)
                                   ).scalar_one_or_none() or GENESIS_HASH
        rows[0].actor = actor
        for row in rows:
            row.previous_hash = previous
            row.hash = event_hash(_fields(row), previous, key=hub.store.audit_key)
            previous = row.hash
        session.execute(update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).values(hash=previous))
        session.commit()


def _truncate_to(hub: HubService, last: int) -> None:
    with hub.factory() as session:
        session.query(AuditEventRow).filter(AuditEventRow.sequence > last).delete()
        kept = session.execute(select(AuditEventRow.hash).where(AuditEventRow.sequence == last)).scalar_one()
        session.execute(update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).values(sequence=last, hash=kept))
        session.commit()


def test_a_consistent_rewrite_passes_the_chain_but_not_the_anchor(hub: HubService) -> None:
    _chain(hub)
    anchor = hub.audit_anchor()
    assert anchor.sequence >= 8 and len(anchor.signature) == 64
    hub.submit_referral(referral_data("REF-C"))  # the chain grows after the anchor: still agrees with it
    assert hub.verify_audit([anchor]).ok
    _rewrite_from(hub, 3, actor="someone-else")
    alone = hub.verify_audit()
    assert alone.ok  # the limit of a chain whose key leaked, and why anchors exist
    checked = hub.verify_audit([anchor])
    assert not checked.ok and checked.anchors_checked == 1
    assert [(p.sequence, p.kind) for p in checked.problems] == [(anchor.sequence, "anchor_mismatch")]


def test_removed_tail_is_caught_by_an_anchor_past_it(hub: HubService) -> None:
    _chain(hub)
    anchor = hub.audit_anchor()
    _truncate_to(hub, anchor.sequence - 2)
    assert hub.verify_audit().ok
    problems = hub.verify_audit([anchor]).problems
    assert [(p.sequence, p.kind) for p in problems] == [(anchor.sequence, "anchor_missing")]


def test_an_edited_or_foreign_anchor_is_refused(hub: HubService) -> None:
    _chain(hub)
    anchor = hub.audit_anchor()
    edited = anchor.model_copy(update={"sequence": anchor.sequence - 1})
    foreign = anchor.model_copy(update={"signer": "police-synth"})
    kinds = [p.kind for p in hub.verify_audit([edited, foreign]).problems]
    assert kinds == ["anchor_signature", "anchor_signature"]


def test_empty_chain_anchor_is_genesis(hub: HubService) -> None:
    anchor = hub.audit_anchor()
    assert (anchor.sequence, anchor.hash) == (0, GENESIS_HASH)
    _chain(hub)
    assert hub.verify_audit([anchor]).ok


def _cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MASHLINK_STATE_DIR": str(state), "MASHLINK_DATABASE_URL": f"sqlite:///{state / 'hub.sqlite'}"}
    return subprocess.run([sys.executable, "-m", "mashlink.ops.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_anchor_then_verify_and_a_rewrite_exits_1(tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = load_settings(state_dir=str(state), database_url=f"sqlite:///{state / 'hub.sqlite'}")
    hub = HubService.open(settings)
    try:
        _chain(hub)
    finally:
        hub.close()
    taken = _cli(state, "audit", "anchor", "-o", str(tmp_path / "anchor.json"))
    assert taken.returncode == 0, taken.stderr
    anchor = AuditAnchor.model_validate_json((tmp_path / "anchor.json").read_text())
    ok = _cli(state, "audit", "verify", "--anchor", str(tmp_path / "anchor.json"))
    assert ok.returncode == 0, ok.stderr
    assert "audit chain OK" in ok.stdout and "1 anchor(s) checked" in ok.stdout
    listed = _cli(state, "audit", "list", "--referral", "REF-B", "--json")
    assert listed.returncode == 0 and {e["referral_id"] for e in json.loads(listed.stdout)} == {"REF-B"}
    hub = HubService.open(settings)
    try:
        _rewrite_from(hub, 2, actor="someone-else")
    finally:
        hub.close()
    caught = _cli(state, "audit", "verify", "--anchor", str(tmp_path / "anchor.json"))
    assert caught.returncode == 1
    assert f"event {anchor.sequence}: anchor_mismatch" in caught.stderr
    (tmp_path / "junk.json").write_text('{"sequence": -1}')
    bad = _cli(state, "audit", "verify", "--anchor", str(tmp_path / "junk.json"))
    assert bad.returncode == 2 and "junk.json is not a mashlink audit anchor" in bad.stderr


def test_scheduled_check_verifies_only_what_is_new_and_catches_a_rewrite(hub: HubService) -> None:
    from mashlink.hub.audit_watch import AuditWatch

    watch = AuditWatch(hub)
    _chain(hub)
    first = watch.run_once()
    assert first.ok and watch.anchor is not None and watch.anchor.sequence == first.head_sequence
    assert first.events_checked == first.head_sequence
    hub.submit_referral(referral_data("REF-C"))
    second = watch.run_once()
    assert second.ok and 0 < second.events_checked < second.head_sequence  # only the new events recomputed
    good = watch.anchor
    _rewrite_from(hub, 2, actor="someone-else")
    caught = watch.run_once()
    assert not caught.ok and ("anchor_mismatch" in {p.kind for p in caught.problems})
    assert watch.anchor == good  # no new anchor over a broken chain: the next pass fails again
    assert not watch.run_once().ok


def test_scheduled_check_sees_an_edit_after_its_anchor(hub: HubService) -> None:
    from mashlink.hub.audit_watch import AuditWatch

    watch = AuditWatch(hub)
    _chain(hub)
    assert watch.run_once().ok
    anchored = watch.anchor.sequence  # type: ignore[union-attr]
    hub.submit_referral(referral_data("REF-D"))
    with hub.factory() as session:
        session.execute(update(AuditEventRow).where(AuditEventRow.sequence == anchored + 2)
                        .values(actor="someone-else"))
        session.commit()
    problems = watch.run_once().problems
    assert [(p.sequence, p.kind) for p in problems] == [(anchored + 2, "hash_mismatch")]


def test_a_restarted_hub_continues_from_its_saved_anchor(hub: HubService, tmp_path: Path) -> None:
    from mashlink.hub.audit_watch import AuditWatch

    anchor_file = tmp_path / "audit-anchor.json"
    _chain(hub)
    assert AuditWatch(hub, anchor_file=anchor_file).run_once().ok
    saved = AuditAnchor.model_validate_json(anchor_file.read_text())
    hub.submit_referral(referral_data("REF-E"))
    restarted = AuditWatch(hub, anchor_file=anchor_file)
    assert restarted.anchor == saved
    check = restarted.run_once()
    assert check.ok and check.events_checked == check.head_sequence - saved.sequence  # only what is new
    forged = saved.model_copy(update={"sequence": saved.sequence - 1}).model_dump_json()
    anchor_file.write_text(forged)
    kinds = [p.kind for p in AuditWatch(hub, anchor_file=anchor_file).run_once().problems]
    assert kinds[0] == "anchor_signature"  # an edited anchor file is reported, never trusted


def test_an_anchor_with_a_non_ascii_signature_is_a_reported_problem(hub: HubService) -> None:
    """A hand-edited anchor file may hold any text: a problem in the report, never a crash."""
    _chain(hub)
    anchor = hub.audit_anchor()
    garbled = anchor.model_copy(update={"signature": "é" * len(anchor.signature)})
    assert [p.kind for p in hub.verify_audit([garbled]).problems] == ["anchor_signature"]
