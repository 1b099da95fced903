"""The audit chain is keyed (HMAC-SHA256 with a key the database does not hold), on SQLite and PostgreSQL.

Each tampering test plays someone with write access to the database but not
the audit key, and checks ``verify`` names what they did. Also: where the
key comes from, and anchors the running hub writes to a write-once directory.
"""

from __future__ import annotations

import hashlib
import json
import stat
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.hub.audit import GENESIS_HASH, HEAD_ID, _fields, canonical_json, event_hash, verify_audit_chain
from mashlink.hub.audit_anchor import AuditAnchor
from mashlink.hub.audit_key import KEY_FILE, AuditKeyError, audit_key_for
from mashlink.hub.audit_watch import AuditWatch, anchor_file_name
from mashlink.hub.models import AuditEventRow, AuditHeadRow
from mashlink.hub.service import HubService
from tests.hub.test_hub_audit_anchor import _cli

WRONG_KEY = b"not-the-audit-key-of-this-hub-000"

Sealer = Callable[[dict, str], str]  # (event fields, previous hash) -> hash


def _unkeyed(fields: dict, previous: str) -> str:
    """The chain's former, unkeyed formula: anyone can compute it."""
    payload = {k: v for k, v in fields.items() if k != "hash"}
    return hashlib.sha256((previous + canonical_json(payload)).encode("utf-8")).hexdigest()


def _wrong_key(fields: dict, previous: str) -> str:
    return event_hash(fields, previous, key=WRONG_KEY)


def _chain(hub: HubService, events: int = 8) -> None:
    """Audited actions that depend on nothing but the chain (so these tests test only the chain)."""
    for i in range(events):
        hub.record_ops_action("ops-1", "dlq.replayed", f"msg-{i}", "redelivered after fix")


def _rewrite_from(hub: HubService, sequence: int, seal: Sealer) -> list[int]:
    """Edit one event and re-seal it and every later one (and the head) with ``seal``; the sequences touched."""
    with hub.factory() as session:
        rows = session.execute(select(AuditEventRow).where(AuditEventRow.sequence >= sequence)
                               .order_by(AuditEventRow.sequence)).scalars().all()
        previous = session.execute(select(AuditEventRow.hash).where(AuditEventRow.sequence == sequence - 1)
                                   ).scalar_one_or_none() or GENESIS_HASH
        rows[0].actor = "someone-else"
        for row in rows:
            row.previous_hash = previous
            row.hash = seal(_fields(row), previous)
            previous = row.hash
        session.execute(update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).values(hash=previous))
        session.commit()
        return [row.sequence for row in rows]


def _append_forged(hub: HubService, seal: Sealer) -> int:
    """Seal a made-up event onto the end and move the head to it; its sequence."""
    with hub.factory() as session:
        head = session.get(AuditHeadRow, HEAD_ID)
        assert head is not None
        fields = {
            "sequence": head.sequence + 1, "event_id": uuid.uuid4().hex, "at": "2025-06-02T09:00:00Z",
            "actor": "mash-manager", "action": "decision.recorded", "referral_id": "REF-A", "enquiry_id": None,
            "message_id": None, "detail": {"decision": "no_further_action"}, "reason": None,
            "previous_hash": head.hash,
        }
        digest = seal(fields, head.hash)
        session.execute(insert(AuditEventRow.__table__), [{
            **fields, "at": hub.clock(), "hash": digest}])
        # The forger may even render the row exactly as the hub would: re-seal over the stored form.
        row = session.get(AuditEventRow, head.sequence + 1)
        assert row is not None
        row.hash = seal(_fields(row), head.hash)
        head.sequence, head.hash = row.sequence, row.hash
        session.commit()
        return row.sequence


# ---- tampering by someone without the key ------------------------------------------------------

@pytest.mark.parametrize("seal", [_unkeyed, _wrong_key], ids=["unkeyed", "wrong_key"])
def test_a_consistent_rewrite_without_the_key_is_detected(hub: HubService, seal: Sealer) -> None:
    _chain(hub)
    assert hub.verify_audit().ok
    touched = _rewrite_from(hub, 3, seal)
    result = hub.verify_audit()
    assert not result.ok
    # Every re-sealed event fails, and nothing else: links and head agree, as the forger made sure.
    assert [(p.sequence, p.kind) for p in result.problems] == [(s, "hash_mismatch") for s in touched]


def test_the_same_rewrite_with_the_key_passes_the_chain(hub: HubService) -> None:
    """The control for the test above: only the key makes the difference (anchors cover a leaked key)."""
    _chain(hub)
    _rewrite_from(hub, 3, lambda fields, previous: event_hash(fields, previous, key=hub.store.audit_key))
    assert hub.verify_audit().ok


@pytest.mark.parametrize("seal", [_unkeyed, _wrong_key], ids=["unkeyed", "wrong_key"])
def test_a_forged_event_appended_after_the_last_anchor_is_detected(hub: HubService, seal: Sealer) -> None:
    watch = AuditWatch(hub)
    _chain(hub)
    assert watch.run_once().ok
    anchored = watch.anchor
    assert anchored is not None
    forged = _append_forged(hub, seal)
    assert forged == anchored.sequence + 1
    assert [(p.sequence, p.kind) for p in hub.verify_audit([anchored]).problems] == [(forged, "hash_mismatch")]
    check = watch.run_once()  # the scheduled check, which only recomputes what is after its anchor
    assert not check.ok and [(p.sequence, p.kind) for p in check.problems] == [(forged, "hash_mismatch")]
    assert watch.anchor == anchored  # never anchors over the forgery


def test_a_forged_event_sealed_with_the_key_verifies(hub: HubService) -> None:
    """Control: the forgery above is caught because of the key, not because of how it was inserted."""
    _chain(hub)
    _append_forged(hub, lambda fields, previous: event_hash(fields, previous, key=hub.store.audit_key))
    assert hub.verify_audit().ok


def test_verifying_with_a_wrong_key_reports_every_event(hub: HubService) -> None:
    _chain(hub)
    with hub.factory() as session:
        good = verify_audit_chain(session, key=hub.store.audit_key)
        bad = verify_audit_chain(session, key=WRONG_KEY)
    assert good.ok and good.events_checked >= 8
    assert not bad.ok
    assert [p.kind for p in bad.problems] == ["hash_mismatch"] * good.events_checked


def test_a_hub_configured_with_another_key_sees_a_foreign_chain(hub_db, hub: HubService, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _chain(hub)
    other = HubService(load_settings(state_dir=str(tmp_path / "other"),
                                     security={"audit_key": "a-different-audit-key-0a1b2c3d4e"}),
                       hub_db.engine, topology=hub.topology, clock=hub.clock)
    assert other.store.audit_key != hub.store.audit_key
    result = other.verify_audit()
    assert not result.ok and {p.kind for p in result.problems} == {"hash_mismatch"}


# ---- where the key comes from -------------------------------------------------------------------

def test_a_generated_key_is_private_and_reused(tmp_path: Path) -> None:
    settings = load_settings(state_dir=str(tmp_path / "state"))
    key = audit_key_for(settings)
    path = tmp_path / "state" / KEY_FILE
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 64 and path.read_text().strip().encode() == key
    assert audit_key_for(settings) == key  # reused, not regenerated
    assert audit_key_for(load_settings(state_dir=str(tmp_path / "elsewhere"))) != key
    assert [p.name for p in path.parent.iterdir()] == ["audit.key"]  # no temporary left behind


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    settings = load_settings(state_dir=str(tmp_path / "state"))
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        keys.append(audit_key_for(settings))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert (tmp_path / "state" / KEY_FILE).read_text().strip().encode() == keys[0]


def test_a_configured_key_wins_and_writes_nothing(tmp_path: Path) -> None:
    settings = load_settings(state_dir=str(tmp_path / "state"), security={"audit_key": "configured-key-0a1b2c3d4e"})
    assert audit_key_for(settings) == b"configured-key-0a1b2c3d4e"
    assert not (tmp_path / "state" / KEY_FILE).exists()
    with pytest.raises(AuditKeyError, match="security.audit_key"):
        audit_key_for(load_settings(state_dir=str(tmp_path / "s2"), security={"audit_key": "short"}))


def test_a_generated_key_copied_into_configuration_keeps_the_chain(hub_db, hub: HubService,  # type: ignore[no-untyped-def]
                                                                    hub_settings: MashlinkSettings,
                                                                    tmp_path: Path) -> None:
    _chain(hub)
    text = (hub_settings.state_dir / KEY_FILE).read_text().strip()
    moved = HubService(load_settings(state_dir=str(tmp_path / "moved"), security={"audit_key": text}),
                       hub_db.engine, topology=hub.topology, clock=hub.clock)
    assert moved.verify_audit().ok


def test_an_emptied_key_file_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    settings = load_settings(state_dir=str(tmp_path / "state"))
    audit_key_for(settings)
    (tmp_path / "state" / KEY_FILE).write_text("")
    with pytest.raises(AuditKeyError, match="audit.key holds no usable key"):
        audit_key_for(settings)


# ---- anchors written off the box ----------------------------------------------------------------

def _with_anchor_dir(hub_db, hub: HubService, hub_settings: MashlinkSettings, anchor_dir: Path) -> HubService:  # type: ignore[no-untyped-def]
    """The same hub (database, key, clock) configured with security.audit_anchor_dir."""
    settings = hub_settings.model_copy(update={"security": hub_settings.security.model_copy(
        update={"audit_anchor_dir": anchor_dir})})
    return HubService(settings, hub_db.engine, topology=hub.topology, clock=hub.clock)


def test_each_new_anchor_is_written_once_to_the_anchor_dir(hub_db, hub: HubService, hub_settings: MashlinkSettings,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path) -> None:
    anchor_dir = tmp_path / "worm"
    anchor_dir.mkdir()
    service = _with_anchor_dir(hub_db, hub, hub_settings, anchor_dir)
    watch = AuditWatch(service)
    _chain(service)
    assert watch.run_once().ok
    first = sorted(anchor_dir.iterdir())
    assert [p.name for p in first] == [anchor_file_name(watch.anchor)]  # type: ignore[arg-type]
    assert AuditAnchor.model_validate_json(first[0].read_text()) == watch.anchor
    assert watch.run_once().ok
    assert sorted(anchor_dir.iterdir()) == first  # nothing new in the chain: no new file
    _chain(service, 2)
    hub.clock.advance(minutes=5)  # type: ignore[attr-defined]
    assert watch.run_once().ok
    files = sorted(anchor_dir.iterdir())
    assert len(files) == 2 and files[0] == first[0]
    anchors = [AuditAnchor.model_validate_json(p.read_text()) for p in files]
    assert anchors[1] == watch.anchor and anchors[1].sequence > anchors[0].sequence
    assert hub.verify_audit(anchors).ok


def test_an_existing_anchor_file_is_never_overwritten(hub_db, hub: HubService, hub_settings: MashlinkSettings,  # type: ignore[no-untyped-def]
                                                      tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    anchor_dir = tmp_path / "worm"
    anchor_dir.mkdir()
    service = _with_anchor_dir(hub_db, hub, hub_settings, anchor_dir)
    _chain(service)
    probe = AuditWatch(service, anchor_dir=tmp_path / "probe")
    (tmp_path / "probe").mkdir()
    assert probe.run_once().ok
    squatter = anchor_dir / next((tmp_path / "probe").iterdir()).name  # the name the next anchor will take
    squatter.write_text("kept")
    with capture_logs() as logs:
        check = AuditWatch(service).run_once()
    assert check.ok  # the hub carries on
    assert squatter.read_text() == "kept" and list(anchor_dir.iterdir()) == [squatter]
    assert [e["error"] for e in logs if e["event"] == "audit.anchor_write_failed"] == ["FileExistsError"]


def test_an_unwritable_anchor_dir_is_logged_and_the_hub_carries_on(hub_db, hub: HubService,  # type: ignore[no-untyped-def]
                                                                   hub_settings: MashlinkSettings,
                                                                   tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    service = _with_anchor_dir(hub_db, hub, hub_settings, tmp_path / "missing")
    _chain(service)
    watch = AuditWatch(service)
    with capture_logs() as logs:
        check = watch.run_once()
    assert check.ok and watch.anchor is not None
    failed = [e for e in logs if e["event"] == "audit.anchor_write_failed"]
    assert len(failed) == 1 and failed[0]["log_level"] == "error" and failed[0]["error"] == "FileNotFoundError"
    (tmp_path / "missing").mkdir()
    _chain(service, 2)
    watch.run_once()
    assert len(list((tmp_path / "missing").iterdir())) == 1  # the next pass writes again


def test_cli_verify_checks_every_anchor_in_a_directory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    anchor_dir = tmp_path / "worm"
    anchor_dir.mkdir()
    settings = load_settings(state_dir=str(state), database_url=f"sqlite:///{state / 'hub.sqlite'}",
                             security={"audit_anchor_dir": str(anchor_dir)})
    hub = HubService.open(settings)
    try:
        watch = AuditWatch(hub)
        _chain(hub)
        watch.run_once()
        _chain(hub, 2)
        watch.run_once()
        (anchor_dir / ".anchor-partial.json.tmp").write_text("{")  # temporaries are ignored
        ok = _cli(state, "audit", "verify", "--anchor-dir", str(anchor_dir))
        assert ok.returncode == 0, ok.stderr
        assert "2 anchor(s) checked" in ok.stdout
        _rewrite_from(hub, 2, lambda fields, previous: event_hash(fields, previous, key=hub.store.audit_key))
    finally:
        hub.close()
    caught = _cli(state, "audit", "verify", "--anchor-dir", str(anchor_dir), "--json")
    assert caught.returncode == 1
    kinds = [p["kind"] for p in json.loads(caught.stdout)["problems"]]
    assert kinds == ["anchor_mismatch", "anchor_mismatch"]
    missing = _cli(state, "audit", "verify", "--anchor-dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "cannot read anchor directory" in missing.stderr
